"""職員名簿: reading, validating and normalising the staff roster (pure), then importing it into the gradebook."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from course import gradebook
from course import staff_id as staff_ids
from course.config import Course, settings_file
from course.hr_sheet import Problem, SheetError, SheetRow, as_written, data_rows, header_columns, nfkc
from course.models import ImportReport, Staff
from course.organisation import ROSTER_SETTINGS
from course.spreadsheet import Cell, read_rows
from course.years import FiscalYear

REQUIRED_COLUMNS = ("職員番号", "氏名", "部", "課", "役職", "推進員")
OPTIONAL_COLUMNS = ("ふりがな",)


@dataclass(frozen=True)
class RosterSettings:
    positions: Mapping[str, str]  # normalised 役職 -> 職責区分
    promoter_yes: frozenset[str]
    promoter_no: frozenset[str]


class RosterError(SheetError):
    """The roster has mistakes; nothing was written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems, sheet="名簿")


def load_settings(path: Path | None = None) -> RosterSettings:
    """The 役職 → 職責区分 table and the 推進員 flag words (default: settings/roster.toml of the course found here)."""
    data = tomllib.loads((path or settings_file(ROSTER_SETTINGS)).read_text(encoding="utf-8"))
    positions: dict[str, str] = {}
    for grade, names in data["positions"].items():
        for name in names:
            positions[nfkc(name)] = grade
    promoter = data["promoter"]
    return RosterSettings(
        positions=positions,
        promoter_yes=frozenset(nfkc(v).casefold() for v in promoter["yes"]),
        promoter_no=frozenset(nfkc(v).casefold() for v in promoter["no"]),
    )


def parse_roster(
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    file: str,
    settings: RosterSettings,
) -> tuple[list[Staff], list[str]]:
    """Validate and normalise every row. Returns the staff and notes, or raises RosterError listing every mistake."""
    columns, problems, notes = header_columns(header, file=file, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS)
    if problems:
        raise RosterError(problems)

    staff: list[Staff] = []
    first_row_of: dict[str, int] = {}
    for row in data_rows(rows, columns, file=file):
        cells, values, row_number = row.cells, row.values, row.number

        def problem(column: str, message: str, *, row: SheetRow = row) -> None:
            problems.append(row.problem(column, message))

        staff_id = staff_ids.normalise(values["職員番号"])
        if (message := staff_ids.problem(staff_id)) is not None:
            problem("職員番号", message)
        elif staff_id in first_row_of:
            problem("職員番号", f"職員番号が {first_row_of[staff_id]}行目 と重複しています。")
        else:
            first_row_of[staff_id] = row_number
        for column in ("氏名", "部", "課"):
            if not values[column]:
                problem(column, f"{column}が空です。")
        position = values["役職"]
        grade = settings.positions.get(position)
        if not position:
            problem("役職", "役職が空です。")
        elif grade is None:
            problem("役職", "未登録の役職です。settings/roster.toml の役職表に追加するか、名簿を直してください。")
        flag = values["推進員"].casefold()
        if flag not in settings.promoter_yes | settings.promoter_no:
            problem("推進員", "推進員の欄は「○」か空欄（または 1/0、はい/いいえ）にしてください。")
        staff.append(
            Staff(
                staff_id=staff_id,
                name=as_written(cells["氏名"]),  # 「小林　美咲」 keeps HR's full-width space
                kana=as_written(cells.get("ふりがな")),
                department=values["部"],
                section=values["課"],
                position=position,
                grade=grade or "",
                promoter=flag in settings.promoter_yes,
            )
        )
    if not staff and not problems:
        problems.append(Problem(file, 2, "", "", "職員の行が1行もありません。"))
    if problems:
        raise RosterError(problems)
    return staff, notes


def read_roster(path: Path, *, settings: RosterSettings | None = None) -> tuple[list[Staff], list[str]]:
    header, rows = read_rows(path)
    return parse_roster(header, rows, file=path.name, settings=settings or load_settings())


def import_roster(*, course: Course, path: Path, year: FiscalYear | None = None, dry_run: bool = False) -> ImportReport:
    """Read the roster of ``year`` (default: this 年度) and make the gradebook match it, in one transaction.
    Idempotent; deletes nobody; earlier years' rosters are kept."""
    staff, notes = read_roster(path, settings=load_settings(course.settings_file(ROSTER_SETTINGS)))
    report = gradebook.sync_staff(course=course, staff=staff, year=year, dry_run=dry_run)
    return dataclasses.replace(report, notes=(*report.notes, *notes))
