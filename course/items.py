"""Item analysis for instructors: how each autograded test cell (an item) of a module did, and neutralising one.

Per module and item, over the latest submission of each member of staff (the one completion uses), of every year
or of one fiscal year (by nbgrader's submission timestamp, in the course's timezone): attempts, how
many got the item's full marks, the mean points and a discrimination index. The index is the correlation between
the item's points and the points of the module's other items in the same submission (the corrected item–total
correlation; point-biserial for a right-or-wrong item), so an item never correlates with itself. A neutralised item
is left out of the other items' rest score: once neutralised it no longer drags their index down. Flags, with
thresholds in the course's settings/items.toml: nearly nobody passes, nearly everybody passes, and strong learners
fail it more than weak ones (a wrong expected answer or an ambiguous question: the item may be broken).

An instructor can neutralise a broken item: every submission then counts its full marks (course/records.py
load_submissions), so completion, HR's list and new certificates follow; certificates already issued keep their
date. Restoring the item undoes it. Both are logged in the gradebook with who, when and why.
"""

from __future__ import annotations

import getpass
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from course.completion import StaffCompletion
from course.config import Course, CourseError, read_toml
from course.curriculum import Curriculum, Module
from course.export import caption, file_name
from course.models import NEUTRALISE, RESTORE, CellGrade, Neutralisation
from course.records import completion_records, load_cell_grades, load_items, load_neutralisation_log, load_neutralised
from course.spreadsheet import Cell, Table, write_atomic, xlsx_bytes
from course.years import FiscalYear

ITEM_SETTINGS = "items.toml"  # in the course folder's settings/
WORKBOOK_STEM = "項目分析"  # 項目分析_令和8年度_令和8年12月7日現在.xlsx
FULL_MARKS = 1e-9  # tolerance: points within this of the maximum are full marks


class Flag(StrEnum):
    """Why an instructor should look at an item."""

    HARD = "ほぼ全員が不正解"
    EASY = "ほぼ全員が正解"
    REVERSED = "成績上位者ほど不正解（設問の誤りの疑い）"


ADVICE = {
    Flag.HARD: "説明や問題文が伝わっているか、難しすぎないかを確かめてください。",
    Flag.EASY: (
        "易しすぎるかもしれません。基本を確かめるための設問ならそのままでかまいません。"
        "理解の差を見たい設問なら、問題文や選択肢を見直してください。"
    ),
    Flag.REVERSED: (
        "模範解答と採点テストの期待値を確かめてください。誤りがあれば、ノートブックを直し、"
        "提出済みの分は全員正解扱いにできます。"
    ),
}  # what the instructor does about each flag
JUDGED = "判定済み"
ALL_YEARS = "全年度"  # the analysis of every year's submissions, in the file's name and the captions


@dataclass(frozen=True)
class Item:
    """An autograded test cell of a module: its id, its points (nbgrader's grade cell) and, from the module's
    source notebook, the names the feedback page gives it."""

    grade_id: str
    points: float
    exercise: str = ""  # 練習1 事例はどの重点取組事項か
    check: str = ""  # 練習1（6枚すべて）


@dataclass(frozen=True)
class Thresholds:
    """When an item is flagged (settings/items.toml, [items])."""

    min_attempts: int = 10  # fewer attempts than this: no flags (the numbers would mean little)
    nearly_nobody: float = 0.1  # a pass rate at or below this: ほぼ全員が不正解
    nearly_everybody: float = 0.95  # a pass rate at or above this: ほぼ全員が正解
    reversed_below: float = -0.1  # a discrimination index at or below this: 成績上位者ほど不正解


RANGES = {"min_attempts": (2, 100000), "nearly_nobody": (0.0, 1.0), "nearly_everybody": (0.0, 1.0),
          "reversed_below": (-1.0, 1.0)}  # fmt: skip  # what each threshold may be


def load_thresholds(path: Path) -> Thresholds:
    """The thresholds in ``path``; an unknown name or a value out of range is an error naming the file and key."""
    data = read_toml(path).get("items", {})
    problems = [f"{key}（使えるのは {'・'.join(RANGES)}）" for key in data if key not in RANGES]
    for key, value in data.items():
        if key in RANGES:
            low, high = RANGES[key]
            number = isinstance(value, int if key == "min_attempts" else int | float) and not isinstance(value, bool)
            if not number or not low <= value <= high:
                problems.append(f"{key} = {value!r}（{low} 以上 {high} 以下の数にしてください）")
    if problems:
        msg = f"{path} の [items] に誤りがあります: " + "、".join(problems)
        raise CourseError(msg)
    return Thresholds(**data)


@dataclass(frozen=True)
class ItemStats:
    """One item of one module, over the latest submissions."""

    module_id: str
    grade_id: str
    max_score: float  # the item's points, as the gradebook's grade cell has them
    attempts: int
    passed: int  # submissions with the item's full marks
    mean_score: float | None
    discrimination: float | None  # None when it cannot be computed (fewer than two attempts, or no spread)
    flags: tuple[Flag, ...] = ()
    judged: bool = True  # enough attempts to flag
    neutralised: Neutralisation | None = None
    exercise: str = ""  # the 練習 and 確認 names of the Item
    check: str = ""

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.attempts if self.attempts else None

    @property
    def remark(self) -> str:
        """The flags as a list shows them ("" for none)."""
        return "、".join(self.flags)

    @property
    def judgement(self) -> str:
        """「判定済み」, or 「判定なし（受験者 3 人）」 when too few attempted for flags to mean anything."""
        return JUDGED if self.judged else f"判定なし（受験者 {self.attempts} 人）"

    @property
    def advice(self) -> str:
        return "".join(ADVICE[flag] for flag in self.flags)


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r, or None when there are fewer than two pairs or either side does not vary."""
    if len(xs) < 2 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return statistics.correlation(xs, ys)


def latest_submissions(grades: Iterable[CellGrade]) -> dict[tuple[str, str], dict[str, CellGrade]]:
    """Per (職員番号, assignment), the item grades of the latest submission, by grade_id."""
    by_submission: dict[tuple[str, str], dict[float, dict[str, CellGrade]]] = {}
    for grade in grades:
        by_time = by_submission.setdefault((grade.staff_id, grade.assignment), {})
        moment = grade.timestamp.timestamp() if grade.timestamp is not None else float("-inf")
        by_time.setdefault(moment, {})[grade.grade_id] = grade
    return {key: by_time[max(by_time)] for key, by_time in by_submission.items()}


def analyse(
    *,
    grades: Iterable[CellGrade],
    modules: Sequence[Module],
    items: Mapping[str, Sequence[Item]],
    thresholds: Thresholds,
    neutralised: Sequence[Neutralisation] = (),
) -> list[ItemStats]:
    """Statistics and flags for each item (``items``: per assignment, its items in the order to list them), from
    the points as graded. Pure."""
    by_assignment: dict[str, list[dict[str, CellGrade]]] = {}
    for (_, name), cells in sorted(latest_submissions(grades).items()):
        by_assignment.setdefault(name, []).append(cells)
    off = {(n.assignment, n.grade_id): n for n in neutralised}
    results = []
    for module in modules:
        submissions = by_assignment.get(module.assignment, [])
        for item in items.get(module.assignment, ()):
            grade_id = item.grade_id
            taken = [cells for cells in submissions if grade_id in cells]
            points = [cells[grade_id].score for cells in taken]
            # The rest score leaves out the item itself and any neutralised item (no longer part of the test).
            rest = [
                sum(g.score for g in cells.values() if g.grade_id != grade_id and (g.assignment, g.grade_id) not in off)
                for cells in taken
            ]
            maximum = item.points
            passed = sum(p >= maximum - FULL_MARKS for p in points) if maximum > 0 else 0
            stats = ItemStats(
                module_id=module.id,
                grade_id=grade_id,
                max_score=maximum,
                attempts=len(taken),
                passed=passed,
                mean_score=statistics.fmean(points) if points else None,
                discrimination=correlation(points, rest),
                neutralised=off.get((module.assignment, grade_id)),
                exercise=item.exercise,
                check=item.check,
            )
            results.append(_flagged(stats, thresholds))
    return results


def _flagged(stats: ItemStats, thresholds: Thresholds) -> ItemStats:
    if stats.attempts < thresholds.min_attempts or stats.pass_rate is None:
        return replace(stats, judged=False)
    flags = []
    if stats.pass_rate <= thresholds.nearly_nobody:
        flags.append(Flag.HARD)
    if stats.pass_rate >= thresholds.nearly_everybody:
        flags.append(Flag.EASY)
    if stats.discrimination is not None and stats.discrimination <= thresholds.reversed_below:
        flags.append(Flag.REVERSED)
    return replace(stats, flags=tuple(flags))


# ---------------------------------------------------------------- tables (pure)

ITEM_HEADER = (
    "モジュール", "モジュール名", "設問ID", "練習", "確認の内容", "配点", "受験者数", "正答者数", "正答率(%)", "平均点",
    "識別力", "判定", "注意", "全員正解扱い",
)  # fmt: skip
LOG_HEADER = ("日時", "操作", "モジュール", "設問ID", "理由", "実施者")


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def describe(neutralisation: Neutralisation | None) -> str:
    """「2026/12/07 鈴木: 期待値の誤り」 for an item neutralised now, else ""."""
    if neutralisation is None:
        return ""
    return f"{neutralisation.at:%Y/%m/%d} {neutralisation.by}: {neutralisation.reason}"


def items_table(stats: Sequence[ItemStats], modules: Sequence[Module]) -> Table:
    titles = {m.id: m.title for m in modules}
    rows = tuple(
        (
            s.module_id, titles.get(s.module_id, ""), s.grade_id, s.exercise, s.check, s.max_score, s.attempts,
            s.passed, _round(None if s.pass_rate is None else s.pass_rate * 100, 1), _round(s.mean_score, 2),
            _round(s.discrimination, 2), s.judgement, s.remark, describe(s.neutralised),
        )
        for s in stats
    )  # fmt: skip
    widths = (10, 18, 22, 24, 30, 6, 9, 9, 10, 8, 8, 18, 30, 30)
    return Table("設問別", ITEM_HEADER, rows, widths, key_columns=3)


def log_table(log: Sequence[Neutralisation], modules: Sequence[Module]) -> Table:
    ids = {m.assignment: m.id for m in modules}
    rows: tuple[tuple[Cell, ...], ...] = tuple(
        (n.at.replace(tzinfo=None), n.action, ids.get(n.assignment, n.assignment), n.grade_id, n.reason, n.by)
        for n in log
    )
    return Table("操作記録", LOG_HEADER, rows, (18, 10, 10, 24, 60, 16))


def notes_table(thresholds: Thresholds, generated_at: datetime, scope: str) -> Table:
    rows: tuple[tuple[Cell, ...], ...] = (
        ("出力日時", generated_at.strftime("%Y/%m/%d %H:%M")),
        ("対象", f"{scope}の、自動採点のテスト（設問）。振り返りなど講師が採点する欄は含みません。"),
        ("正答者数・正答率", "その設問で満点だった提出の数と割合。"),
        ("平均点", "その設問の得点の平均（全員正解扱いにする前の、採点どおりの点）。"),
        (
            "識別力",
            "その設問の得点と、同じモジュールのほかの設問の合計点との相関（-1〜+1）。"
            "+ なら成績のよい人ほど正解、- なら成績のよい人ほど不正解で、設問か採点テストの誤りが疑われます。",
        ),
        (
            "練習・確認の内容",
            "教材のノートブックでその設問がある練習の見出しと、採点テストのセルの1行目の説明。"
            "職員のフィードバックのページと同じ名前です。",
        ),
        (Flag.HARD, f"正答率 {thresholds.nearly_nobody:.0%} 以下。{ADVICE[Flag.HARD]}"),
        (Flag.EASY, f"正答率 {thresholds.nearly_everybody:.0%} 以上。{ADVICE[Flag.EASY]}"),
        (Flag.REVERSED, f"識別力 {thresholds.reversed_below:+.2f} 以下。{ADVICE[Flag.REVERSED]}"),
        (
            "判定",
            f"受験者が {thresholds.min_attempts} 人未満の設問は「判定なし（受験者 N 人）」で、注意を出しません"
            "（数字がまだ当てになりません）。注意の列で絞り込めば、判定した設問の注意だけが残ります。",
        ),
        (
            "全員正解扱い",
            "誤りのある設問は python -m course items neutralise モジュール 設問ID --reason 理由 で全員を満点にできます。"
            "修了判定は直ちに変わり、人事課向けの一覧と修了証は次の出力から反映されます。"
            "python -m course items restore モジュール 設問ID で元に戻せます。操作はすべて「操作記録」に残ります。",
        ),
        ("目安の変更", f"注意を出す基準はコースのフォルダの settings/{ITEM_SETTINGS} で変えられます。"),
    )
    return Table("説明", ("項目", "内容"), rows, (30, 100))


# ---------------------------------------------------------------- reading and writing


def notebook_names(course: Course, module: Module) -> dict[str, tuple[str, str]]:
    """grade id → (exercise, check) for the graded cells of the module's source notebook, in the order they come,
    named as the feedback page names them (course/feedback.py)."""
    path = module.notebook(course.source_dir)
    if not path.is_file():
        return {}
    import nbformat

    from course.feedback import check_names

    return check_names(nbformat.read(path, as_version=4).cells)


def _items_in_order(course: Course, modules: Sequence[Module]) -> dict[str, list[Item]]:
    """Per assignment, the items the gradebook knows, in the notebook's order, with their names."""
    known = load_items(course=course, assignments=[m.assignment for m in modules])
    ordered = {}
    for module in modules:
        names = notebook_names(course, module)
        position = {grade_id: index for index, grade_id in enumerate(names)}
        points = known.get(module.assignment, {})
        ordered[module.assignment] = [
            Item(grade_id, points[grade_id], *names.get(grade_id, ("", "")))
            for grade_id in sorted(points, key=lambda g: (position.get(g, len(position)), g))
        ]
    return ordered


@dataclass(frozen=True)
class ItemAnalysis:
    submitted_in: FiscalYear | None  # None: submissions of every year
    stats: tuple[ItemStats, ...]
    log: tuple[Neutralisation, ...]
    thresholds: Thresholds
    workbook: Path | None = None

    @property
    def flagged(self) -> tuple[ItemStats, ...]:
        return tuple(s for s in self.stats if s.flags)

    @property
    def scope(self) -> str:
        """Which submissions, as the command and the workbook say it."""
        which = f"{self.submitted_in.label}に提出された" if self.submitted_in else "すべての年度の"
        return f"{which}各職員の最新の提出"

    @property
    def period(self) -> FiscalYear | str:
        """What the file's name and the captions say: the year analysed, or 全年度."""
        return self.submitted_in or ALL_YEARS


def submitted_in(grades: Iterable[CellGrade], year: FiscalYear) -> list[CellGrade]:
    """The grades of submissions made in ``year`` (a grade without a timestamp belongs to no year)."""
    return [g for g in grades if g.timestamp is not None and g.timestamp.date() in year]


def analyse_items(*, course: Course, modules: Sequence[Module], year: FiscalYear | None = None) -> ItemAnalysis:
    """Every item of ``modules`` with its statistics and flags, over the submissions of ``year`` (None: every
    year), and the log of neutralisations."""
    assignments = [m.assignment for m in modules]
    thresholds = load_thresholds(course.settings_file(ITEM_SETTINGS))
    grades = load_cell_grades(course=course, assignments=assignments)
    stats = analyse(
        grades=grades if year is None else submitted_in(grades, year),
        modules=modules,
        items=_items_in_order(course, modules),
        thresholds=thresholds,
        neutralised=load_neutralised(course=course),
    )
    log = [n for n in load_neutralisation_log(course=course) if n.assignment in assignments]
    return ItemAnalysis(year, tuple(stats), tuple(log), thresholds)


def write_item_analysis(
    *,
    course: Course,
    curriculum: Curriculum,
    modules: Sequence[Module],
    out_dir: Path | None = None,
    as_of: datetime | None = None,
    year: FiscalYear | None = None,
) -> ItemAnalysis:
    """The item analysis of ``modules`` as 項目分析_<年度>_<日付>現在.xlsx (sheets 設問別, 操作記録, 説明), over the
    submissions of ``year``; None: every year, and the file is 項目分析_全年度_<日付>現在.xlsx."""
    generated_at = as_of or datetime.now(course.timezone)
    analysis = analyse_items(course=course, modules=modules, year=year)
    tables = [
        items_table(analysis.stats, modules),
        log_table(analysis.log, modules),
        notes_table(analysis.thresholds, generated_at, analysis.scope),
    ]
    period = analysis.period
    titled = [replace(t, caption=caption(curriculum, f"項目分析（{t.title}）", period, generated_at)) for t in tables]
    path = (out_dir or course.export_dir) / file_name(WORKBOOK_STEM, period, generated_at.date(), ".xlsx")
    write_atomic(path, xlsx_bytes(titled))
    return replace(analysis, workbook=path)


# ---------------------------------------------------------------- neutralising


@dataclass(frozen=True)
class StatusChange:
    """One person's module or track status, before and after a neutralisation or a restoration."""

    staff_id: str
    what: str  # a module id or a track's name
    before: str
    after: str


@dataclass(frozen=True)
class ItemChange:
    action: Neutralisation
    module: Module
    changes: tuple[StatusChange, ...]

    def summary(self) -> dict[tuple[str, str, str], int]:
        """How many people went from one status to another, per module or track: {(what, before, after): count}."""
        counts: dict[tuple[str, str, str], int] = {}
        for change in self.changes:
            key = (change.what, change.before, change.after)
            counts[key] = counts.get(key, 0) + 1
        return counts


def status_changes(
    before: Sequence[StaffCompletion], after: Sequence[StaffCompletion], curriculum: Curriculum
) -> list[StatusChange]:
    """Every module and track status that differs between two sets of records of the same people. Pure."""
    later = {p.staff.staff_id: p for p in after}
    changes = []
    for person in before:
        now = later.get(person.staff.staff_id)
        if now is None:
            continue
        staff_id = person.staff.staff_id
        for module_id, record in person.modules.items():
            if record.status is not now.modules[module_id].status:
                changes.append(StatusChange(staff_id, module_id, record.status, now.modules[module_id].status))
        for old, new in zip(person.tracks, now.tracks, strict=True):
            if old.status is not new.status:
                changes.append(StatusChange(staff_id, curriculum.tracks[old.track_key].name, old.status, new.status))
    return changes


def _item(course: Course, curriculum: Curriculum, module_id: str, grade_id: str) -> Module:
    """The module, after checking that ``grade_id`` is one of its items; else a Japanese error naming both."""
    from course.lifecycle import select_modules

    module = select_modules(curriculum, course, [module_id])[0]
    items = load_items(course=course, assignments=[module.assignment]).get(module.assignment, {})
    if grade_id not in items:
        listed = _items_in_order(course, [module])[module.assignment]
        known = "、".join(i.grade_id for i in listed) or "なし（まだ採点の記録がありません）"
        msg = (
            f"{module.id} に設問 {grade_id} はありません（自動採点のテストのみが対象です）。{module.id} の設問: {known}"
        )
        raise CourseError(msg)
    return module


def change_item(
    *,
    course: Course,
    curriculum: Curriculum,
    action: str,
    module_id: str,
    grade_id: str,
    reason: str = "",
    by: str | None = None,
    at: datetime | None = None,
) -> ItemChange:
    """Neutralise an item (``action`` 無効化: every submission counts its full marks) or restore it (取り消し), log
    it, and say whose completion it changed (compared with the records just before). A neutralisation needs a
    reason. Nothing is written when the module, the item or the reason is wrong."""
    if action not in (NEUTRALISE, RESTORE):
        raise ValueError(action)
    reason = reason.strip()
    if action == NEUTRALISE and not reason:
        msg = '全員正解扱いにする理由を --reason で書いてください（例: --reason "採点テストの期待値の誤り"）。'
        raise CourseError(msg)
    module = _item(course, curriculum, module_id, grade_id)
    at = at or datetime.now(course.timezone)
    change = Neutralisation(module.assignment, grade_id, reason, by or getpass.getuser(), at, action)
    from course.gradebook import set_neutralised

    before = completion_records(course=course, curriculum=curriculum, as_of=at)
    if not set_neutralised(course=course, change=change):
        if action == NEUTRALISE:
            msg = f"{module.id} の設問 {grade_id} はすでに全員正解扱いです。元に戻すには restore を使ってください。"
        else:
            msg = f"{module.id} の設問 {grade_id} は全員正解扱いになっていません（元に戻すものがありません）。"
        raise CourseError(msg)
    after = completion_records(course=course, curriculum=curriculum, as_of=at)
    return ItemChange(change, module, tuple(status_changes(before, after, curriculum)))
