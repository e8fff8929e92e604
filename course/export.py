"""HR's completion list (修了状況一覧): which columns and rows, declared once. File formats live in spreadsheet.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from course.completion import ModuleStatus, StaffCompletion, TrackRecord, TrackStatus
from course.config import Course
from course.curriculum import Curriculum, Module
from course.records import completion_records
from course.spreadsheet import Cell, Table, csv_bytes, write_all_atomic, xlsx_bytes
from course.wareki import wareki

WORKBOOK_NAME = "修了状況一覧.xlsx"
CSV_PREFIX = "修了状況_"

STAFF_HEADER = (
    "職員番号", "氏名", "ふりがな", "部", "課", "役職", "職責区分", "推進員",
    "必須修了数", "必須数", "状況", "修了日",
    "推進員研修 必須修了数", "推進員研修 必須数", "推進員研修 選択修了数", "推進員研修 選択必要数",
    "推進員研修 状況", "推進員研修 修了日", "未修了の必須モジュール", "在籍",
)  # fmt: skip
DEPARTMENT_HEADER = ("部", "課", "研修区分", "対象者数", "修了者数", "修了率(%)", "採点待ち", "受講中", "未着手")
TOTAL = "（合計）"
NOT_REQUIRED = "対象外"  # a module none of the person's tracks includes, and that they have not submitted


@dataclass(frozen=True)
class ExportResult:
    workbook: Path
    csv_files: tuple[Path, ...]
    staff_count: int


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
                "在籍" if s.current else "名簿外",
            )
        )
    return Table("職員別", STAFF_HEADER, tuple(rows), key_columns=2)


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


def department_tables(completions: Sequence[StaffCompletion], curriculum: Curriculum) -> tuple[Table, Table]:
    """Completion rate per 部/課 and track, for staff currently on the roster; the totals per 部 and overall go on a
    sheet of their own, so that filtering or summing the 課 rows never counts a total twice."""
    groups: dict[tuple[str, str, str], list[TrackStatus]] = defaultdict(list)
    names = {key: track.name for key, track in curriculum.tracks.items()}
    for c in completions:
        if not c.staff.current:
            continue
        for record in c.tracks:
            track = names[record.track_key]
            for key in (
                (c.staff.department, c.staff.section, track),
                (c.staff.department, TOTAL, track),
                (TOTAL, "", track),
            ):
                groups[key].append(record.status)
    order = {name: index for index, name in enumerate(names.values())}

    def sort_key(key: tuple[str, str, str]) -> tuple[bool, str, bool, str, int]:
        department, section, track = key
        return (department == TOTAL, department, section == TOTAL, section, order[track])

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
    ]
    rows += [(f"{m.id} {m.title}", f"合格基準 {round(m.pass_ratio * 100)}%") for m in modules]
    for track in curriculum.tracks.values():
        required = "・".join(track.required)
        extra = f"、選択 {'・'.join(track.electives)} から {track.min_electives} 以上" if track.min_electives else ""
        rows.append((f"研修区分 {track.name}", f"必須 {required}{extra}"))
    return Table("説明", ("項目", "内容"), tuple(rows), (24, 100))


def build_tables(
    completions: Sequence[StaffCompletion], curriculum: Curriculum, modules: Sequence[Module], generated_at: datetime
) -> list[Table]:
    """The HR workbook's sheets, in order (pure). Every printed page says as of when (「令和8年12月7日現在」)."""
    ordered = sorted(completions, key=lambda c: (c.staff.department, c.staff.section, c.staff.staff_id))
    sections, totals = department_tables(ordered, curriculum)
    tables = [
        staff_table(ordered, curriculum),
        module_table(ordered, modules, curriculum),
        sections,
        totals,
        notes_table(curriculum, modules, generated_at),
    ]
    as_of = f"{wareki(generated_at.date())}現在"
    return [replace(t, caption=f"{curriculum.title} 修了状況一覧（{t.title}） {as_of}") for t in tables]


def export(
    *, course: Course, curriculum: Curriculum, out_dir: Path | None = None, encoding: str = "utf-8-sig"
) -> ExportResult:
    """Write 修了状況一覧.xlsx and the same lists as CSV. Everything is rendered before the first file is written, and
    the old files are replaced only once every new one is on disk."""
    out_dir = out_dir or course.export_dir
    completions = completion_records(course=course, curriculum=curriculum)
    modules = curriculum.available(course.source_dir)
    tables = build_tables(completions, curriculum, modules, datetime.now(course.timezone))
    files = {out_dir / WORKBOOK_NAME: xlsx_bytes(tables)}
    for table in tables[:4]:
        files[out_dir / f"{CSV_PREFIX}{table.title}.csv"] = csv_bytes(table, encoding=encoding)
    paths = write_all_atomic(files)
    return ExportResult(workbook=paths[0], csv_files=tuple(paths[1:]), staff_count=len(completions))
