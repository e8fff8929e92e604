"""`make demo`: the whole course job on fictional staff, in a throwaway runtime folder.

Roster import → build and release → simulated staff fetch, answer and submit through the real exchange →
collect → autograde → simulated manual grading of some reflections → feedback → HR export → item analysis.
The simulated answers are deterministic (seeded by 職員番号), so every run gives the same workbook.

A planted broken item: in B05 練習4 (answer_genai), the simulated staff who know the material best give the answer
that fails its first check (test_genai_1to4) and everybody else gives the right one, as if the check expected a
wrong answer. The item analysis flags it 「成績上位者ほど不正解」, and the summary says so.
"""

from __future__ import annotations

import random
import shutil
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import nbformat
import pandas as pd
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeSubmit
from traitlets.config import Config

from course import (
    cases,
    certificate,
    completion,
    curriculum,
    department_report,
    export,
    extensions,
    items,
    lifecycle,
    records,
    reports,
    roster,
    years,
)
from course.autograde import grader
from course.config import SETTINGS_DIR, Course, CourseError
from course.curriculum import Module
from course.gradebook import open_gradebook
from course.models import Staff
from course.records import load_staff
from course.taskforce import report
from course.years import FiscalYear, plan_for

# How a simulated member of staff answers a module: (weight, per-cell choices).
PROFILES: dict[str, tuple[int, tuple[str, ...]]] = {
    "correct": (40, ("correct",)),
    "mixed": (20, ("correct", "correct", "partial", "wrong")),
    "wrong": (10, ("wrong", "partial", "missing")),
    "blank": (5, ("missing",)),  # opened it and submitted without answering
    "absent": (25, ()),  # never submitted
}
# The planted broken item (see the module docstring): (module, answer cell) → the answer the strong give, and the
# test cell the item analysis should flag.
PLANTED_ANSWER = ("B05", "answer_genai")
PLANTED_KIND = "partial"  # demo/answers/b05.toml: misses 4 → test_genai_1to4 fails, test_genai_5to8 passes
PLANTED_ITEM = ("B05", "test_genai_1to4")
MANUALLY_GRADED_SHARE = 0.75  # the instructors have graded the reflections of this share of the staff so far
CONSISTENCY = 0.85  # how often someone answers a module the way they usually do


@dataclass(frozen=True)
class DemoAnswers:
    """Correct answers come from the source notebook; partial and wrong ones from demo/answers/<module>.toml."""

    correct: dict[str, str]
    variants: dict[str, dict[str, str]]
    reflections: tuple[str, ...]

    @classmethod
    def load(cls, course: Course, module: Module) -> DemoAnswers:
        source = nbformat.read(module.notebook(course.source_dir), as_version=4)
        correct = {}
        for cell in source.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and cell.cell_type == "code":
                lines = [
                    line
                    for line in cell.source.splitlines()
                    if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
                ]
                correct[meta["grade_id"]] = "\n".join(lines)
        file = course.root / "demo" / "answers" / f"{module.assignment}.toml"
        data = tomllib.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
        reflections = tuple(data.get("reflection", {}).get("texts", ()))
        return cls(correct=correct, variants=data.get("answer", {}), reflections=reflections)

    def answer(self, grade_id: str, kind: str) -> str | None:
        """The cell source for this kind of answer, or None to leave the student's stub untouched."""
        if kind == "correct":
            return self.correct.get(grade_id)
        return self.variants.get(grade_id, {}).get(kind)


def _profile(rng: random.Random) -> str:
    names = list(PROFILES)
    return rng.choices(names, weights=[PROFILES[n][0] for n in names])[0]


def _as_student(course: Course, staff_id: str, assignment: str, home: Path) -> tuple[CourseDirectory, Config]:
    config = course.nbgrader_config()
    config.Exchange.assignment_dir = str(home)
    coursedir = CourseDirectory(config=config)
    coursedir.student_id = staff_id
    coursedir.assignment_id = assignment
    return coursedir, config


def choose_profile(person: Staff, module: Module) -> str:
    """How this member of staff answers this module; the same every run.

    People are fairly consistent: most of the time they answer as they usually do, so some finish whole tracks.
    """
    usual = _profile(random.Random(person.staff_id))
    rng = random.Random(f"{person.staff_id}:{module.id}")
    return usual if rng.random() < CONSISTENCY else _profile(rng)


def modules_taken(person: Staff, cur: curriculum.Curriculum, published: Sequence[Module]) -> list[Module]:
    """The published modules of this person's tracks; a 推進員 takes two or three of the electives."""
    wanted: set[str] = set()
    rng = random.Random(f"electives:{person.staff_id}")
    for track in cur.tracks_for(grade=person.grade, promoter=person.promoter):
        wanted |= set(track.required)
        if track.electives:
            wanted |= set(
                rng.sample(track.electives, min(len(track.electives), track.min_electives + rng.randrange(2)))
            )
    return [m for m in published if m.id in wanted]


def submission_time(
    person: Staff, module: Module, order: int, count: int, *, start: datetime, end: datetime
) -> datetime:
    """When this person submitted their ``order``-th module: people work through their modules over the weeks."""
    rng = random.Random(f"when:{person.staff_id}:{module.id}")
    pace = random.Random(f"pace:{person.staff_id}").uniform(0.35, 1.0)  # some finish in a few weeks, some take all
    span = (end - start).total_seconds() * pace
    share = min(1.0, (order + rng.uniform(0.2, 1.0)) / count)
    stamp = start + timedelta(seconds=span * share)
    return stamp.replace(hour=rng.randrange(9, 17), minute=rng.randrange(60)) if stamp.date() < end.date() else end


def simulate_submission(
    course: Course,
    module: Module,
    person: Staff,
    answers: DemoAnswers,
    *,
    profile: str,
    home: Path,
    submitted_at: datetime | None = None,
) -> None:
    """Fetch, answer and submit as this member of staff would in JupyterLab (optionally dated in the past)."""
    if profile == "absent":
        return
    rng = random.Random(f"answers:{person.staff_id}:{module.id}")
    coursedir, config = _as_student(course, person.staff_id, module.assignment, home)
    auth = Authenticator(config=config)
    ExchangeFetchAssignment(coursedir=coursedir, authenticator=auth, config=config).start()
    path = home / module.assignment / f"{module.assignment}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        if cell.cell_type == "markdown":
            if profile != "blank" and answers.reflections:
                cell.source = rng.choice(answers.reflections)
            continue
        kind = rng.choice(PROFILES[profile][1])
        if (module.id, meta["grade_id"]) == PLANTED_ANSWER and profile != "blank":
            kind = PLANTED_KIND if profile == "correct" else "correct"
        if (source := answers.answer(meta["grade_id"], kind)) is not None:
            cell.source = source
    nbformat.write(notebook, path)
    submit = ExchangeSubmit(coursedir=coursedir, authenticator=auth, config=config)
    submit.start()
    if submitted_at is not None:
        # The demo cohort works over several weeks: date the submission as nbgrader's submit would have then.
        inbound = course.exchange_root / course.course_id / "inbound" / submit.assignment_filename
        (inbound / "timestamp.txt").write_text(submitted_at.strftime(submit.timestamp_format), encoding="utf-8")


def simulate_manual_grading(course: Course, modules: Iterable[Module]) -> int:
    """An instructor grades most reflections: fuller answers get more points. Returns how many were graded."""
    graded = 0
    with open_gradebook(course) as gb:
        for module in modules:
            for submission in gb.assignment_submissions(module.assignment):
                rng = random.Random(f"grader:{submission.student_id}")  # graded person by person
                if rng.random() > MANUALLY_GRADED_SHARE:
                    continue
                for notebook in submission.notebooks:
                    path = course.autograde_dir / submission.student_id / module.assignment / f"{notebook.name}.ipynb"
                    cells = {
                        c.metadata.get("nbgrader", {}).get("grade_id"): c.source
                        for c in nbformat.read(path, as_version=4).cells
                    }
                    for grade in notebook.grades:
                        if grade.cell.cell_type == "markdown" and grade.needs_manual_grade:
                            text = cells.get(grade.name, "")
                            grade.manual_score = round(grade.max_score * min(len(text) / 200, 1.0))
                            grade.needs_manual_grade = False  # what the formgrader does on saving a score
                            graded += 1
        gb.db.commit()
    return graded


RUNTIME_MARKER = ".sano-demo-runtime"  # written into every runtime folder the demo creates


def prepare_runtime(runtime: Path) -> None:
    """Give the demo an empty ``runtime`` folder, deleting only a folder that an earlier demo created.

    A folder that does not exist, or is empty, is taken and marked. A folder with the marker is emptied. Anything
    else (a checkout, a home folder, a real gradebook) is refused, and nothing is deleted.
    """
    runtime = runtime.resolve()
    if runtime.exists() and not runtime.is_dir():
        msg = f"デモの作業フォルダに指定された {runtime} はファイルです。別のフォルダを指定してください。"
        raise CourseError(msg)
    if runtime.is_dir() and any(runtime.iterdir()):
        if not (runtime / RUNTIME_MARKER).is_file():
            msg = (
                f"{runtime} はデモが作ったフォルダではないため、中身を削除せずに中止しました。"
                "まだないフォルダか空のフォルダを --runtime に指定してください（既定は runtime/demo です）。"
            )
            raise CourseError(msg)
        shutil.rmtree(runtime)
    runtime.mkdir(parents=True, exist_ok=True)
    (runtime / RUNTIME_MARKER).write_text(
        "python -m course demo が作った作業フォルダです。次のデモで削除されます。\n", encoding="utf-8"
    )


def run(
    *, course_root: Path, runtime: Path, roster_file: Path | None = None, module_ids: Sequence[str] | None = None
) -> tuple[export.ExportResult, list[str]]:
    """Run the whole demo in ``runtime`` (emptied first if an earlier demo made it). Returns the export and a
    Japanese summary."""
    prepare_runtime(runtime)
    course = Course.load(course_root, runtime=runtime)
    # Every simulated member of staff is the same OS user here, so nbgrader's owner check would only warn.
    course.config.ExchangeCollect.check_owner = False
    cur = curriculum.load_curriculum()
    modules = lifecycle.select_modules(cur, course, module_ids)

    end = datetime.now(course.timezone)
    year = FiscalYear.of(end.date())
    write_year_plan(runtime, cur, today=end.date())
    if roster_file is None:  # last year's roster first: this April brought a promotion, a transfer, a hire, a leaver
        roster.import_roster(course=course, path=course_root / "demo" / "roster_last_year.csv", year=year.previous())
    roster.import_roster(course=course, path=roster_file or course_root / "demo" / "roster.csv", year=year)
    staff = [s for s in load_staff(course=course) if s.current]
    granted = extensions.import_extensions(
        course=course, curriculum=cur, path=write_extensions(runtime, staff, year), by="デモ（人事課）"
    )
    lifecycle.release(course=course, modules=modules)
    profiles: dict[str, int] = {}
    answers = {module.id: DemoAnswers.load(course, module) for module in modules}
    opened = plan_for(records.year_plans(course=course, curriculum=cur), year).opened
    start = max(datetime.combine(opened or end.date(), time(9), course.timezone), end - timedelta(weeks=12))
    for person in staff:
        taken = modules_taken(person, cur, modules)
        for order, module in enumerate(taken):
            profile = choose_profile(person, module)
            simulate_submission(
                course, module, person, answers[module.id], profile=profile, home=runtime / "home" / person.staff_id,
                submitted_at=submission_time(person, module, order, len(taken), start=start, end=end),
            )  # fmt: skip
            profiles[profile] = profiles.get(profile, 0) + 1
    lifecycle.collect(course=course, modules=modules)
    graded = grader.autograde(course=course, modules=modules)
    manual = simulate_manual_grading(course, modules)
    lifecycle.feedback(course=course, modules=modules)
    result = export.export(course=course, curriculum=cur)
    handed_in = hand_in_reports(course, staff, runtime / "hokoku", end=end)
    case_list = cases.write_cases(course=course, at=end)
    progress_report = report.write_report(course=course, curriculum=cur)
    certificates = certificate.write_certificates(course=course, curriculum=cur)
    analysis = items.write_item_analysis(course=course, curriculum=cur, modules=modules, as_of=end)

    people = records.completion_records(course=course, curriculum=cur, as_of=end)
    overdue = [p for p in people if any(t.overdue for t in p.tracks)]
    changes = [f"{p.staff.name}（{p.change}）" for p in people if p.change]
    lines = [
        "デモが完了しました（架空の職員による試行です）。",
        f"  名簿: {year.label} {len(staff)} 人（{', '.join(sorted({s.department for s in staff}))}）",
        f"  公開モジュール: {', '.join(f'{m.id} {m.title}' for m in modules)}",
        f"  提出: {sum(v for k, v in profiles.items() if k != 'absent')} 件（未提出 {profiles.get('absent', 0)} 件）、"
        f"自動採点 {len(graded.done)} 件、失敗 {len(graded.failures)} 件、手動採点（模擬） {manual} 件",
    ]
    for module in modules:
        statuses = [r.modules[module.id].status for r in people]
        detail = "、".join(f"{s} {statuses.count(s)}" for s in completion.ModuleStatus if statuses.count(s))
        lines.append(f"  {module.id} の状況: {detail}")
    for name, counts in completion.track_counts(people, cur).items():
        lines.append(f"  {name}（{counts.total()} 人）: {completion.describe_counts(counts)}")
    lines.append(f"  {year.full_label}: 期限超過 {len(overdue)} 人、猶予・免除 {len(granted.added)} 件")
    lines += [f"  前年度からの変更: {change}" for change in changes]
    lines += handed_in
    lines.append(f"  項目分析: 注意が必要な設問 {len(analysis.flagged)} 件")
    lines += [f"    {s.module_id} {s.grade_id}: {s.remark}" for s in analysis.flagged]
    if PLANTED_ITEM[0] in {m.id for m in modules}:
        lines.append(
            f"    （{' の '.join(PLANTED_ITEM)} はデモが仕込んだ誤りのある設問です。全員正解扱いにするには: "
            f"python -m course --runtime {runtime} items neutralise {' '.join(PLANTED_ITEM)} --reason 理由）"
        )
    lines.append("出力ファイル:")
    lines += [f"  {progress_report.html}（進捗報告書: まずこれをブラウザーで開いてください）"]
    lines += [f"  {case_list.html}（横展開事例集 {case_list.count} 件）", f"  {case_list.workbook}"]
    lines += [f"  {result.workbook}", *(f"  {p}" for p in result.csv_files)]
    lines += [f"  {result.section_dir}/ に課別の未修了者一覧 {len(result.section_files)} 件（各課長に送る Excel）"]
    lines += [f"  {certificate.certificate_dir(course)}/ に修了証 {len(certificates)} 件（PDF）"]
    lines += [f"  {analysis.workbook}（項目分析: 講師向け）"]
    lines.append("提出日時は、コース開始から今日までの数週間に散らした模擬のものです。")
    return result, lines


DEMO_REPORTS = (  # (部, 取組名, 業務, 手法, 状況, 現状, 見込, 実績, 他課への展開, 事例番号, days before today)
    ("総務部", "出退勤集計の自動化", "勤怠集計", "RPA", "完了", 240, 60, 150, "はい", "", 40),
    ("総合政策部", "会議録の下書き作成", "会議録作成", "AI", "実施中", 300, 180, None, "はい", "", 30),
    ("市民生活部", "証明書交付の集計表", "窓口統計", "Excel", "実施中", 120, 70, 35, "いいえ", "", 25),
    ("都市建設部", "道路損傷通報のフォーム化", "通報受付", "ローコード", "完了", 180, 90, 80, "はい", "", 20),
    ("市民生活部", "出退勤集計の自動化（C001）", "勤怠集計", "RPA", "実施中", 200, 60, None, "いいえ", "C001", 5),
)


def hand_in_reports(course: Course, staff: Sequence[Staff], folder: Path, *, end: datetime) -> list[str]:
    """The demo's 推進員 hand in their 部's reports: 総務部's shareable 取組 becomes case C001, the task force marks
    市民課 as adopting it and 市民課 reports it; こども福祉部's report has mistakes and is refused; 産業文化部 sends
    nothing (overdue). Returns the summary's lines."""
    promoters = {p.department: p for p in staff if p.promoter}
    year = FiscalYear.of(end.date())
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for number, (department, name, work, method, status, now, later, measured, shared, case, days) in enumerate(
        DEMO_REPORTS, start=1
    ):
        person = promoters.get(department)
        if person is None or (case and case not in {c.case_id for c in reports.load_case_rows(course=course)}):
            continue  # a smaller roster (the tests'): only the reports its 推進員 can hand in
        moment = max(end - timedelta(days=days), datetime.combine(year.first_day, time(9), course.timezone))
        if case:
            cases.adopt_case(course=course, case_id=case, section=person.section, by="デモ（タスクフォース）",
                             at=moment - timedelta(days=1))  # fmt: skip
        row = {
            "報告日": moment.date().isoformat(), "部": department, "課": person.section, "職員番号": person.staff_id,
            "取組名": name, "ステップ": 3, "進捗率": 100 if status == "完了" else 60, "現状時間": now,
            "見込時間": later, "削減時間": now - later, "内容": f"{work}を{method}で見直した", "課題": "なし",
            "次の予定": "効果を測って報告する", "業務": work, "手法": method, "状況": status,
            "削減時間実績": measured, "他課への展開": shared, "事例番号": case,
        }  # fmt: skip
        path = department_report.save(pd.DataFrame([row]), folder / f"報告{number}_{department}.csv")
        receipt = reports.receive_report(course=course, staff_id=person.staff_id, path=path, at=moment)
        lines.append(f"  進捗報告: {receipt.message}")
    refused = promoters.get("こども福祉部")
    if refused is None:
        return lines
    bad = folder / "報告_こども福祉部.csv"
    bad.write_text(
        "報告日,部,課,職員番号,取組名,ステップ,進捗率,現状時間,見込時間,削減時間,内容,課題,次の予定\n"
        f"{end.date().isoformat()},総務部,{refused.section},{refused.staff_id},保育園入園の点数計算,5,40,"
        "100,70,20,点数表をExcelにした,,来月に試行\n",
        encoding="utf-8-sig",
    )
    try:
        reports.receive_report(course=course, staff_id=refused.staff_id, path=bad, at=end)
    except reports.ReportRefused as error:
        lines.append(f"  進捗報告（受付不可の例）: {str(error).splitlines()[0]}")
        lines += [f"    - {problem}" for problem in error.problems]
    return lines


def write_year_plan(runtime: Path, cur: curriculum.Curriculum, *, today: date) -> Path:
    """The demo's year plans, dated from the day it runs, in its runtime folder's settings/ (the course's own plan is
    left alone): last year's, and this year's, opened twelve weeks ago, with 情報セキュリティ (B05) due yesterday."""
    year = FiscalYear.of(today)
    last = year.previous()
    opened = max(year.first_day, today - timedelta(weeks=12))
    rows = [(last.label, t.name, f"{last.start}-10-01", f"{last.start + 1}-03-15") for t in cur.tracks.values()]
    rows += [(year.label, t.name, opened.isoformat(), f"{year.start + 1}-03-15") for t in cur.tracks.values()]
    rows.append((year.label, "B05", "", (today - timedelta(days=1)).isoformat()))
    return _write_sheet(runtime / SETTINGS_DIR / years.PLAN_FILE, ("年度", "対象", "開始日", "期限"), rows)


def write_extensions(runtime: Path, staff: Sequence[Staff], year: FiscalYear) -> Path:
    """HR's sheet of extensions for the demo: one person on 育児休業 with a later deadline, one mid-year hire
    exempted from this year's grade track."""
    measures = (
        ("", "延長", f"{year.start + 1}-09-30", "育児休業", "復職後半年"),
        ("一般職", "免除", "", "途中採用", "来年度に受講"),
    )
    ippan = [s for s in staff if s.grade == "一般職"][::-1][1:]  # the last but one, then the one before
    rows = [(p.staff_id, p.name, year.label, *measure) for p, measure in zip(ippan, measures, strict=False)]
    return _write_sheet(runtime / "猶予・免除.csv", extensions.COLUMNS_IN_ORDER, rows)


def _write_sheet(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header), *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return path


def main(*, course_root: Path, runtime: Path | None = None) -> int:
    _, lines = run(course_root=course_root, runtime=runtime or course_root / "runtime" / "demo")
    print("\n".join(lines))
    return 0
