"""職員名簿: reading, validating and normalising the staff roster (pure), then importing it into the gradebook."""

from __future__ import annotations

import dataclasses
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from course import gradebook
from course import staff_id as staff_ids
from course.config import Course, CourseError, settings_file
from course.models import ImportReport, Staff
from course.spreadsheet import Cell, read_rows

ROSTER_SETTINGS = "roster.toml"  # in the course folder's settings/
REQUIRED_COLUMNS = ("職員番号", "氏名", "部", "課", "役職", "推進員")
OPTIONAL_COLUMNS = ("ふりがな",)


@dataclass(frozen=True)
class RosterSettings:
    positions: Mapping[str, str]  # normalised 役職 -> 職責区分
    promoter_yes: frozenset[str]
    promoter_no: frozenset[str]


@dataclass(frozen=True)
class Problem:
    """One mistake in the roster, located by file, row (as Excel numbers it) and column."""

    file: str
    row: int
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file} {self.row}行目" if self.row else self.file
        column = f" 「{self.column}」列" if self.column else ""
        value = f"（値: 「{self.value}」）" if self.value else ""
        return f"{where}{column}: {self.message}{value}"


class RosterError(CourseError):
    """The roster has mistakes; nothing was written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(f"名簿に {len(self.problems)} 件の誤りがあります。何も取り込んでいません。\n{lines}")


def nfkc(value: Cell) -> str:
    """NFKC, trimmed, inner runs of whitespace collapsed to one space; numbers from Excel lose their ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(unicodedata.normalize("NFKC", str(value)).split())


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
    problems: list[Problem] = []
    notes: list[str] = []
    columns = {name: index for index, name in reversed(list(enumerate(header))) if name}
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            problems.append(Problem(file, 1, name, "", "必須の列がありません。1行目の見出しに追加してください。"))
    for index, name in enumerate(header):
        if name and columns[name] != index:
            problems.append(Problem(file, 1, name, "", "同じ見出しの列が2つあります。どちらか一方にしてください。"))
    unknown = [h for h in header if h and h not in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)]
    if unknown:
        notes.append(f"{file}: 次の列は使いません: {', '.join(unknown)}")
    if problems:
        raise RosterError(problems)

    staff: list[Staff] = []
    first_row_of: dict[str, int] = {}
    for offset, raw in enumerate(rows):
        row_number = offset + 2  # row 1 is the header, as Excel shows it
        values = {name: nfkc(raw[i] if i < len(raw) else None) for name, i in columns.items()}
        if not any(values.values()):
            continue  # blank line

        def problem(column: str, message: str, *, row_number: int = row_number, values: dict = values) -> None:
            problems.append(Problem(file, row_number, column, values.get(column, ""), message))

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
                name=values["氏名"],
                kana=values.get("ふりがな", ""),
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


def import_roster(*, course: Course, path: Path, dry_run: bool = False) -> ImportReport:
    """Read the roster and make the gradebook match it, in one transaction. Idempotent; deletes nobody."""
    staff, notes = read_roster(path, settings=load_settings(course.settings_file(ROSTER_SETTINGS)))
    report = gradebook.sync_staff(course=course, staff=staff, dry_run=dry_run)
    return dataclasses.replace(report, notes=tuple(notes))
