"""Sheets HR keeps (the roster, the extension list, the year plan): their cells, their mistakes, and how a mistake is
reported. Every reader collects all the mistakes of a sheet, then raises one SheetError; nothing is written."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from course.config import CourseError
from course.spreadsheet import Cell

FIRST_DATA_ROW = 2  # the row number Excel shows for the first row under the header (row 1)


@dataclass(frozen=True)
class Problem:
    """One mistake in a sheet, located by file, row (as Excel numbers it) and column."""

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


class SheetError(CourseError):
    """A sheet has mistakes; nothing was written."""

    def __init__(self, problems: Sequence[Problem], *, sheet: str) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(f"{sheet}に {len(self.problems)} 件の誤りがあります。何も取り込んでいません。\n{lines}")


def nfkc(value: Cell) -> str:
    """NFKC, trimmed, inner runs of whitespace collapsed to one space; numbers from Excel lose their ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(unicodedata.normalize("NFKC", str(value)).split())


def as_written(value: Cell) -> str:
    """A cell as HR wrote it (a name keeps its full-width space), only trimmed at both ends."""
    return "" if value is None else str(value).strip()


def header_columns(
    header: Sequence[str], *, file: str, required: Sequence[str], optional: Sequence[str] = ()
) -> tuple[dict[str, int], list[Problem], list[str]]:
    """Where each column is, the header's mistakes (missing or repeated columns) and notes (columns not used)."""
    problems: list[Problem] = []
    columns = {name: index for index, name in reversed(list(enumerate(header))) if name}
    for name in required:
        if name not in columns:
            problems.append(Problem(file, 1, name, "", "必須の列がありません。1行目の見出しに追加してください。"))
    for index, name in enumerate(header):
        if name and columns[name] != index:
            problems.append(Problem(file, 1, name, "", "同じ見出しの列が2つあります。どちらか一方にしてください。"))
    unknown = [h for h in header if h and h not in (*required, *optional)]
    notes = [f"{file}: 次の列は使いません: {', '.join(unknown)}"] if unknown else []
    return columns, problems, notes


_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
_WAREKI = re.compile(r"(令和|R)(元|\d{1,2})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")


def parse_date(value: Cell) -> date | None:
    """A date cell: an Excel date, 2027-03-31, 2027/3/31, 2027年3月31日 or 令和9年3月31日. None if it is not one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = nfkc(value).replace(" ", "")
    try:
        if match := _DATE.fullmatch(text):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _WAREKI.fullmatch(text):
            year = 1 if match[2] == "元" else int(match[2])
            return date(2018 + year, int(match[3]), int(match[4]))
    except ValueError:
        return None
    return None


@dataclass(frozen=True)
class SheetRow:
    """One non-blank data row: its number as Excel shows it, its cells by column name, and their NFKC text."""

    file: str
    number: int
    cells: dict[str, Cell]
    values: dict[str, str]

    def problem(self, column: str, message: str) -> Problem:
        return Problem(self.file, self.number, column, self.values.get(column, ""), message)


def data_rows(rows: Sequence[Sequence[Cell]], columns: dict[str, int], *, file: str) -> Iterator[SheetRow]:
    """The data rows under the header (row 1), blank lines skipped."""
    for offset, raw in enumerate(rows):
        cells = {name: raw[i] if i < len(raw) else None for name, i in columns.items()}
        values = {name: nfkc(cell) for name, cell in cells.items()}
        if any(values.values()):
            yield SheetRow(file, offset + FIRST_DATA_ROW, cells, values)
