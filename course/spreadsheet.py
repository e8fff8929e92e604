"""Tables in and out of files that Japanese Excel opens cleanly. The only module that imports openpyxl.

Reading: .xlsx, or CSV in UTF-8, UTF-8 with BOM or CP932 (what Excel's 「CSV UTF-8」 and 「CSV (カンマ区切り)」 write).
Writing: .xlsx with bold, frozen, filtered headers and set widths; CSV with a BOM (or CP932 on request).
Every file is written atomically: a temporary file in the same folder, then a rename.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from course.config import CourseError

Cell = str | int | float | date | datetime | None
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_ENCODINGS = {"utf-8-sig": "UTF-8（BOM付き）", "cp932": "Shift_JIS（CP932）"}


@dataclass(frozen=True)
class Table:
    """A sheet of data: a title (sheet or file name), a header row and value rows."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    widths: tuple[int, ...] = ()


# ---------------------------------------------------------------- reading


def read_rows(path: Path) -> tuple[list[str], list[list[Cell]]]:
    """Header and data rows of an .xlsx (first sheet) or CSV file. Rows keep their file order."""
    if not path.is_file():
        msg = f"{path}: ファイルが見つかりません。"
        raise CourseError(msg)
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm"}:
        rows = _read_xlsx(path)
    elif suffix in {".csv", ".txt"}:
        rows = _read_csv(path)
    else:
        msg = f"{path}: 対応していない形式です。Excel (.xlsx) か CSV (.csv) で保存してください。"
        raise CourseError(msg)
    if not rows:
        msg = f"{path}: 空のファイルです。1行目に見出し（列名）が必要です。"
        raise CourseError(msg)
    header = [unicodedata.normalize("NFKC", str(h or "")).strip() for h in rows[0]]
    return header, rows[1:]


def _read_xlsx(path: Path) -> list[list[Cell]]:
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for damaged files
        msg = f"{path}: Excel ファイルとして開けません（{type(error).__name__}）。Excel で開き直して保存してください。"
        raise CourseError(msg) from error
    try:
        sheet = workbook.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def _read_csv(path: Path) -> list[list[Cell]]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        return [list(row) for row in csv.reader(io.StringIO(text, newline=""))]
    msg = f"{path}: 文字コードを判別できません。UTF-8 か Shift_JIS (CP932) の CSV で保存してください。"
    raise CourseError(msg)


# ---------------------------------------------------------------- writing


def escape_formula(value: Cell) -> Cell:
    """Keep spreadsheet programs from running text as a formula (CSV/formula injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def xlsx_bytes(tables: Sequence[Table]) -> bytes:
    """A workbook with one sheet per table: header bold and frozen, autofilter on, widths set.

    Written in openpyxl's streaming (write-only) mode: a city's workbook has tens of thousands of cells.
    """
    workbook = Workbook(write_only=True)
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    header_font = Font(bold=True)
    header_alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for table in tables:
        sheet = workbook.create_sheet(sheet_title(table.title))
        sheet.freeze_panes = "A2"
        last = get_column_letter(max(len(table.header), 1))
        sheet.auto_filter.ref = f"A1:{last}{max(len(table.rows) + 1, 1)}"
        for index, width in enumerate(table.widths or _auto_widths(table), start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        header = []
        for title in table.header:
            cell = WriteOnlyCell(sheet, value=title)
            cell.font, cell.fill, cell.alignment = header_font, header_fill, header_alignment
            header.append(cell)
        sheet.append(header)
        for row in table.rows:
            sheet.append([_cell(sheet, escape_formula(value)) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(sheet: object, value: Cell) -> Cell | WriteOnlyCell:
    if not isinstance(value, date | datetime):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = "yyyy/mm/dd"
    return cell


def csv_bytes(table: Table, *, encoding: str = "utf-8-sig") -> bytes:
    """The table as CSV with CRLF line ends, every field quoted where needed, formulas escaped."""
    if encoding not in CSV_ENCODINGS:
        msg = f"CSV の文字コード {encoding} には対応していません。{', '.join(CSV_ENCODINGS)} から選んでください。"
        raise CourseError(msg)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.header)
    for row in table.rows:
        writer.writerow([_csv_text(escape_formula(v)) for v in row])
    text = buffer.getvalue()
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as error:
        line = text[: error.start].count("\n") + 1
        char = text[error.start : error.end]
        msg = (
            f"{table.title}.csv {line}行目: 文字「{char}」は {CSV_ENCODINGS[encoding]} で表せません。"
            "UTF-8（BOM付き、既定）で出力してください。"
        )
        raise CourseError(msg) from error


def _csv_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%Y/%m/%d")
    return str(value)


def sheet_title(title: str) -> str:
    """Excel sheet names: at most 31 characters, none of \\ / ? * : [ ]."""
    cleaned = "".join("_" if ch in "\\/?*:[]" else ch for ch in title).strip("'")
    return cleaned[:31] or "Sheet"


def _auto_widths(table: Table) -> list[int]:
    widths = []
    for index, name in enumerate(table.header):
        cells = [name, *(_csv_text(row[index]) for row in table.rows[:500])]
        widths.append(min(max(_display_width(c) for c in cells) + 2, 60))
    return widths


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


@contextmanager
def atomic_open(path: Path) -> Iterator[IO[bytes]]:
    """Write to a temporary file beside ``path`` and rename it into place only if writing succeeded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o644)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> Path:
    with atomic_open(path) as handle:
        handle.write(data)
    return path
