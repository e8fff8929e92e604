"""HR's completion list (修了状況一覧): which columns and rows, declared once. File formats live in spreadsheet.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from course.child_process import beside
from course.completion import UNMEASURED, ModuleStatus, StaffCompletion, TrackRecord, TrackStatus
from course.config import Course
from course.curriculum import Curriculum, Module
from course.organisation import BY_NAME, ROSTER_SETTINGS, UnitOrder, load_order
from course.records import completion_records
from course.spreadsheet import Cell, Table, csv_bytes, write_all_atomic, xlsx_bytes
from course.wareki import wareki
from course.years import FiscalYear

WORKBOOK_STEM = "修了状況一覧"  # 修了状況一覧_令和8年度_令和8年12月7日現在.xlsx
CSV_STEM = "修了状況"  # 修了状況_職員別_令和8年度_令和8年12月7日現在.csv
SECTION_STEM = "未修了者一覧"  # one file per 課: 総務部人事課_未修了者一覧_令和8年度_令和8年12月7日現在.xlsx
SECTION_DIR = "課別"

STAFF_HEADER = (
    "職員番号", "氏名", "ふりがな", "部", "課", "役職", "職責区分", "推進員",
    "必須修了数", "必須数", "状況", "修了日",
    "推進員研修 必須修了数", "推進員研修 必須数", "推進員研修 選択修了数", "推進員研修 選択必要数",
    "推進員研修 状況", "推進員研修 修了日", "未修了の必須モジュール", "期限", "期限超過", "猶予・免除",
    "前年度からの変更", "在籍",
)  # fmt: skip
SECTION_HEADER = (
    "職員番号", "氏名", "役職", "研修区分", "状況", "未修了の必須モジュール", "期限", "期限超過", "猶予・免除",
    "前年度からの変更",
)  # fmt: skip
OVERDUE = "期限超過"
DEPARTMENT_HEADER = ("部", "課", "研修区分", "対象者数", "修了者数", "修了率(%)", "採点待ち", "受講中", "未着手")
TOTAL = "（合計）"
NOT_REQUIRED = "対象外"  # a module none of the person's tracks includes, and that they have not submitted


@dataclass(frozen=True)
class ExportResult:
    year: FiscalYear
    workbook: Path
    csv_files: tuple[Path, ...]
    staff_count: int
    section_dir: Path
    section_files: tuple[Path, ...]


def file_name(stem: str, year: FiscalYear | str, as_of: date, suffix: str) -> str:
    """修了状況一覧_令和8年度_令和8年12月7日現在.xlsx: what, which year (or a period's own name, such as 全年度) and as
    of when, as HR files them."""
    period = year.label if isinstance(year, FiscalYear) else year
    return f"{stem}_{period}_{wareki(as_of)}現在{suffix}"


def _day(stamp: datetime | None) -> date | None:
    return stamp.date() if stamp is not None else None


def _track_cells(record: TrackRecord | None, *, electives: bool) -> list[Cell]:
    if record is None:
        return [None] * (6 if electives else 4)
    cells: list[Cell] = [record.required_passed, record.required_total]
    if electives:
        cells += [record.electives_passed, record.electives_needed]
    return [*cells, str(record.status), _day(record.completed_at)]


def missing_required(completion: StaffCompletion, curriculum: Curriculum) -> str:
    """The required modules not yet completed, per track: 「B05・B07」, and for a 推進員 「／ 推進員: P03・P04」."""
    parts = []
    for record in completion.tracks:
        track = curriculum.tracks[record.track_key]
        missing = [m for m in track.required if completion.modules[m].status is not ModuleStatus.PASSED]
        if missing:
            parts.append(("推進員: " if track.promoter else "") + "・".join(missing))
    return " ／ ".join(parts)


def _deadline(completion: StaffCompletion) -> date | None:
    return min((d for r in completion.tracks if (d := r.deadline) is not None), default=None)


def _overdue(completion: StaffCompletion) -> str:
    return OVERDUE if any(r.overdue for r in completion.tracks) else ""


def _extensions(completion: StaffCompletion) -> str:
    return " ／ ".join(r.extension.describe() for r in completion.tracks if r.extension is not None)


def staff_table(completions: Sequence[StaffCompletion], curriculum: Curriculum) -> Table:
    rows = []
    for c in completions:
        s = c.staff
        rows.append(
            (
                s.staff_id,
                s.name,
                s.kana,
                s.department,
                s.section,
                s.position,
                s.grade,
                "○" if s.promoter else "",
                *_track_cells(c.grade_track, electives=False),
                *_track_cells(c.promoter_track, electives=True),
                missing_required(c, curriculum),
                _deadline(c),
                _overdue(c),
                _extensions(c),
                c.change,
                "在籍" if s.current else "名簿外",
            )
        )
    return Table("職員別", STAFF_HEADER, tuple(rows), key_columns=2)


def section_tables(completions: Sequence[StaffCompletion], curriculum: Curriculum) -> list[Table]:
    """For each 課 (and its 課長): who on the roster has not finished a track due this year, by when, whether it is
    overdue, and who has an extension or exemption. Every 課 with staff gets its table, also when nobody is left."""
    by_section: dict[tuple[str, str], list[tuple[Cell, ...]]] = {}
    for c in completions:
        if not c.staff.current:
            continue
        rows = by_section.setdefault((c.staff.department, c.staff.section), [])
        for record in c.tracks:
            if record.status in (TrackStatus.COMPLETE, TrackStatus.NOT_OFFERED) and record.extension is None:
                continue
            missing = "・".join(module for module, _ in record.pending)
            rows.append(
                (
                    c.staff.staff_id, c.staff.name, c.staff.position, curriculum.tracks[record.track_key].name,
                    str(record.status), missing, record.deadline, OVERDUE if record.overdue else "",
                    record.extension.describe() if record.extension else "", c.change,
                )
            )  # fmt: skip
    tables = []
    for (department, section), rows in by_section.items():
        body = tuple(rows) or (("", "（未修了の職員はいません）", *[""] * (len(SECTION_HEADER) - 2)),)
        tables.append(Table(f"{department}{section}", SECTION_HEADER, body, key_columns=2))
    return tables


def module_table(completions: Sequence[StaffCompletion], modules: Sequence[Module], curriculum: Curriculum) -> Table:
    header = ["職員番号", "氏名", "部", "課", "職責区分"]
    for module in modules:
        header += [f"{module.id} {module.title} 得点率(%)", f"{module.id} 状況"]
    rows = []
    for c in completions:
        s = c.staff
        row: list[Cell] = [s.staff_id, s.name, s.department, s.section, s.grade]
        taken = {m for r in c.tracks for m in (*curriculum.tracks[r.track_key].required,
                                                *curriculum.tracks[r.track_key].electives)}  # fmt: skip
        for module in modules:
            record = c.modules[module.id]
            ratio = None if record.score_ratio is None else round(record.score_ratio * 100, 1)
            not_required = module.id not in taken and record.status is ModuleStatus.NOT_SUBMITTED
            row += [ratio, NOT_REQUIRED if not_required else str(record.status)]
        rows.append(tuple(row))
    widths = (12, 14, 14, 16, 12, *([14, 10] * len(modules)))
    return Table("モジュール別", tuple(header), tuple(rows), widths, key_columns=2)


def department_tables(
    completions: Sequence[StaffCompletion], curriculum: Curriculum, unit_key: UnitOrder = BY_NAME
) -> tuple[Table, Table]:
    """Completion rate per 部/課 and track, for staff currently on the roster; the totals per 部 and overall go on a
    sheet of their own, so that filtering or summing the 課 rows never counts a total twice."""
    groups: dict[tuple[str, str, str], list[TrackStatus]] = defaultdict(list)
    names = {key: track.name for key, track in curriculum.tracks.items()}
    for c in completions:
        if not c.staff.current:
            continue
        for record in c.tracks:
            if record.status in UNMEASURED:
                continue
            track = names[record.track_key]
            for key in (
                (c.staff.department, c.staff.section, track),
                (c.staff.department, TOTAL, track),
                (TOTAL, "", track),
            ):
                groups[key].append(record.status)
    order = {name: index for index, name in enumerate(names.values())}

    def sort_key(key: tuple[str, str, str]) -> tuple[object, ...]:
        department, section, track = key
        rank = unit_key(department, "" if section == TOTAL else section)
        return (department == TOTAL, rank[:2], section == TOTAL, rank[2:], order[track])

    sections: list[tuple[Cell, ...]] = []
    totals: list[tuple[Cell, ...]] = []
    for key in sorted(groups, key=sort_key):
        statuses = groups[key]
        done = statuses.count(TrackStatus.COMPLETE)
        row = (
            *key, len(statuses), done, round(100 * done / len(statuses), 1),
            statuses.count(TrackStatus.AWAITING_GRADING), statuses.count(TrackStatus.IN_PROGRESS),
            statuses.count(TrackStatus.NOT_STARTED),
        )  # fmt: skip
        (totals if TOTAL in key[:2] else sections).append(row)
    return Table("部署別", DEPARTMENT_HEADER, tuple(sections)), Table("部別合計", DEPARTMENT_HEADER, tuple(totals))


def notes_table(curriculum: Curriculum, modules: Sequence[Module], generated_at: datetime) -> Table:
    rows: list[tuple[Cell, ...]] = [
        ("出力日時", generated_at.strftime("%Y/%m/%d %H:%M")),
        (
            "修了",
            "モジュール: 得点率が合格基準以上で、手動採点もすべて済んでいる。研修区分: 必須（と選択必要数）をすべて修了。",
        ),
        ("採点待ち", "提出済みで、講師の手動採点がまだ済んでいない。"),
        ("受講中", "提出済みで、得点率が合格基準に届いていない（再提出できます）。"),
        ("未提出 / 未着手", "まだ提出がない。"),
        ("準備中", "教材を準備中のモジュール。必須に含まれるため、公開後に受講が必要です。"),
        ("対象外", "その職員の研修区分に含まれないモジュール（受講は任意）。"),
        ("未修了の必須モジュール", "研修区分ごとに、まだ修了していない必須モジュール（推進員研修は「推進員:」の後）。"),
        ("部署別・部別合計", "部署別は課ごと、部別合計は部ごとと全体の集計です（名簿外の職員は含みません）。"),
        ("修了日", "修了が確定した提出の日付（日本時間）。"),
        (
            "職員番号",
            "どのファイルでも文字列です（先頭の 0 も残ります）。CSV を Excel で直接開くと数値に変わるため、Excel で見るときはこの .xlsx を使ってください。",
        ),
        ("期限", "未修了の必須モジュールのうち最も早い期限（年度計画。延長があれば延長後の期限）。"),
        ("期限超過", "期限を過ぎても未修了の必須モジュールがある。"),
        ("猶予・免除", "人事課が認めた延長・免除と理由。免除の研修区分は部署別の集計に含みません。"),
        (
            "前年度からの変更",
            "前年度の名簿と比べた新規・異動・昇任など。昇任した職員は今年度の職責区分の研修で測ります。",
        ),
    ]
    rows += [(f"{m.id} {m.title}", f"合格基準 {round(m.pass_ratio * 100)}%") for m in modules]
    for track in curriculum.tracks.values():
        required = "・".join(track.required)
        extra = f"、選択 {'・'.join(track.electives)} から {track.min_electives} 以上" if track.min_electives else ""
        rows.append((f"研修区分 {track.name}", f"必須 {required}{extra}"))
    return Table("説明", ("項目", "内容"), tuple(rows), (24, 100))


def build_tables(
    completions: Sequence[StaffCompletion],
    curriculum: Curriculum,
    modules: Sequence[Module],
    generated_at: datetime,
    year: FiscalYear,
    unit_key: UnitOrder = BY_NAME,
) -> list[Table]:
    """The HR workbook's sheets, in order (pure). Every printed page says which year and as of when. Rows follow
    the organisation's order of 部 and 課 (``unit_key``), then 職員番号."""
    ordered = in_order(completions, unit_key)
    sections, totals = department_tables(ordered, curriculum, unit_key)
    tables = [
        staff_table(ordered, curriculum),
        module_table(ordered, modules, curriculum),
        sections,
        totals,
        notes_table(curriculum, modules, generated_at),
    ]
    return [replace(t, caption=caption(curriculum, f"修了状況一覧（{t.title}）", year, generated_at)) for t in tables]


def in_order(completions: Sequence[StaffCompletion], unit_key: UnitOrder) -> list[StaffCompletion]:
    return sorted(completions, key=lambda c: (unit_key(c.staff.department, c.staff.section), c.staff.staff_id))


def caption(curriculum: Curriculum, what: str, year: FiscalYear | str, generated_at: datetime) -> str:
    """「佐野市デジタル人材育成 e-ラーニング 修了状況一覧（職員別） 令和8年度（2026年度） 令和8年12月7日現在」 (a
    period's own name, such as 全年度, instead of the year)."""
    period = year.full_label if isinstance(year, FiscalYear) else year
    return f"{curriculum.title} {what} {period} {wareki(generated_at.date())}現在"


def export(
    *,
    course: Course,
    curriculum: Curriculum,
    out_dir: Path | None = None,
    encoding: str = "utf-8-sig",
    year: FiscalYear | None = None,
    as_of: datetime | None = None,
) -> ExportResult:
    """Write the year's 修了状況一覧 (.xlsx and CSV) and one 未修了者一覧 per 課, named with the year and the date
    (``as_of``, default now). Everything is rendered before the first file is written, and the old files are replaced
    only once every new one is on disk."""
    out_dir = out_dir or course.export_dir
    generated_at = as_of or datetime.now(course.timezone)
    year = year or FiscalYear.of(generated_at.date())
    completions = completion_records(course=course, curriculum=curriculum, year=year, as_of=generated_at)
    modules = curriculum.available(course.source_dir)
    unit_key = load_order(course.settings_file(ROSTER_SETTINGS))
    tables = build_tables(completions, curriculum, modules, generated_at, year, unit_key)
    today = generated_at.date()
    section_dir = out_dir / f"{SECTION_DIR}_{year.label}_{wareki(today)}現在"

    def csv_and_section_files() -> dict[Path, bytes]:
        files = {
            out_dir / file_name(f"{CSV_STEM}_{table.title}", year, today, ".csv"): csv_bytes(table, encoding=encoding)
            for table in tables[:4]
        }
        for table in section_tables(in_order(completions, unit_key), curriculum):
            titled = replace(table, caption=caption(curriculum, f"{table.title} {SECTION_STEM}", year, generated_at))
            path = section_dir / file_name(f"{table.title}_{SECTION_STEM}", year, today, ".xlsx")
            files[path] = xlsx_bytes([replace(titled, title=SECTION_STEM)])
        return files

    # The workbook here, the CSV files and the per-課 lists on the other core.
    with beside(csv_and_section_files) as others:
        files = {out_dir / file_name(WORKBOOK_STEM, year, today, ".xlsx"): xlsx_bytes(tables), **others.result()}
    paths = write_all_atomic(files)
    section_files = [path for path in paths if path.parent == section_dir]
    return ExportResult(
        year=year,
        workbook=paths[0],
        csv_files=tuple(paths[1:5]),
        staff_count=len(completions),
        section_dir=section_dir,
        section_files=tuple(section_files),
    )
