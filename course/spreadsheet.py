"""Tables in and out of files that Japanese Excel opens cleanly. The only module that reads or writes spreadsheets.

Reading: .xlsx (with openpyxl), or CSV in UTF-8, UTF-8 with BOM or CP932 (what Excel's 「CSV UTF-8」 and
「CSV (カンマ区切り)」 write).
Writing: .xlsx with bold, frozen, filtered headers and set widths (SpreadsheetML written directly); CSV with a BOM
(or CP932 on request).
Every file is written atomically: a temporary file in the same folder, then a rename (several files as one, with
write_all_atomic).
"""

from __future__ import annotations

import csv
import html
import io
import math
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO

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
    key_columns: int = 0  # leftmost columns that name the row (職員番号, 氏名): repeated on every printed page
    caption: str = ""  # printed at the top of every page, e.g. 「修了状況一覧（職員別） 令和8年12月7日現在」


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
    from openpyxl import load_workbook  # loaded only when an .xlsx is read: writing needs no openpyxl

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
    """A workbook with one sheet per table: header bold, shaded and frozen, autofilter on, widths set, dates as dates.

    Written straight as SpreadsheetML (the XML inside an .xlsx): a city's workbook has tens of thousands of cells,
    and building them as openpyxl objects took seconds where joining strings takes a fraction of one.
    """
    titles = _unique_titles([sheet_title(table.title) for table in tables])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as book:
        book.writestr("[Content_Types].xml", _content_types(len(tables)))
        book.writestr("_rels/.rels", _ROOT_RELS)
        book.writestr("xl/workbook.xml", _workbook_xml(titles, tables))
        book.writestr("xl/_rels/workbook.xml.rels", _workbook_rels(len(tables)))
        book.writestr("xl/styles.xml", _STYLES)
        for index, table in enumerate(tables, start=1):
            book.writestr(f"xl/worksheets/sheet{index}.xml", _sheet_xml(table, selected=index == 1))
    return buffer.getvalue()


# Cell formats in xl/styles.xml, by index: plain, header, date, date and time.
_HEADER, _DATE, _DATETIME = 1, 2, 3
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_ROOT_RELS = (
    f'{_XML}<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
    f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_FONT = '<sz val="11"/><name val="游ゴシック"/><family val="3"/><charset val="128"/>'
_STYLES = (
    f'{_XML}<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy/mm/dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy/mm/dd hh:mm"/></numFmts>'
    f'<fonts count="2"><font>{_FONT}</font><font><b/>{_FONT}</font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFDDEBF7"/><bgColor indexed="64"/></patternFill></fill>'
    '</fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1" applyAlignment="1">'
    '<alignment horizontal="center" vertical="center" wrapText="1"/></xf>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="標準" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)
_COLUMNS_PER_PAGE = 20  # more columns than this on one A4 landscape page would print too small to read
_EPOCH = datetime(1899, 12, 30)  # day 0 of Excel's date serial numbers (1900 date system)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SPECIAL = re.compile("[&<>\"'\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # anything _escape has to change


def _content_types(sheets: int) -> str:
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_TYPE}.worksheet+xml"/>'
        for i in range(1, sheets + 1)
    )
    return (
        f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_TYPE}.styles+xml"/>{overrides}</Types>'
    )


def _workbook_xml(titles: Sequence[str], tables: Sequence[Table]) -> str:
    sheets = "".join(
        f'<sheet name="{_escape(title, quote=True)}" sheetId="{i}" r:id="rId{i}"/>'
        for i, title in enumerate(titles, start=1)
    )
    filters = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
        f"{_escape(_quoted(title))}!{_filter_range(table, absolute=True)}</definedName>"
        for i, (title, table) in enumerate(zip(titles, tables, strict=True))
    )
    # Printing: the header row on every page, and the columns that name a row on every page of a wide sheet.
    titles_to_print = "".join(
        f'<definedName name="_xlnm.Print_Titles" localSheetId="{i}">'
        + _escape(
            ",".join(
                ([f"{_quoted(title)}!$A:${get_column_letter(table.key_columns)}"] if table.key_columns else [])
                + [f"{_quoted(title)}!$1:$1"]
            )
        )
        + "</definedName>"
        for i, (title, table) in enumerate(zip(titles, tables, strict=True))
    )
    filters += titles_to_print
    return (
        f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><bookViews><workbookView/></bookViews>'
        f"<sheets>{sheets}</sheets><definedNames>{filters}</definedNames></workbook>"
    )


def _workbook_rels(sheets: int) -> str:
    parts = [
        f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, sheets + 1)
    ]
    parts.append(f'<Relationship Id="rId{sheets + 1}" Type="{_REL}/styles" Target="styles.xml"/>')
    return f'{_XML}<Relationships xmlns="{_PKG_REL}">{"".join(parts)}</Relationships>'


def _sheet_xml(table: Table, *, selected: bool) -> str:
    letters = [get_column_letter(i) for i in range(1, max(len(table.header), 1) + 1)]
    widths = "".join(
        f'<col min="{i}" max="{i}" width="{width}" customWidth="1"/>'
        for i, width in enumerate(table.widths or _auto_widths(table), start=1)
    )
    tab = ' tabSelected="1"' if selected else ""
    parts = [
        f'{_XML}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">',
        '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>',
        f'<sheetViews><sheetView workbookViewId="0"{tab}>'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>',
        '<sheetFormatPr defaultRowHeight="18.75"/>',
        f"<cols>{widths}</cols>" if widths else "",
        "<sheetData>",
        _row_xml(1, table.header, letters, style=_HEADER),
    ]
    parts += [_row_xml(number, row, letters) for number, row in enumerate(table.rows, start=2)]
    parts.append(f'</sheetData><autoFilter ref="{_filter_range(table)}"/>')
    parts.append('<printOptions horizontalCentered="1"/>')
    parts.append('<pageMargins left="0.4" right="0.4" top="0.75" bottom="0.6" header="0.3" footer="0.3"/>')
    # A4 landscape, as wide as the page (a sheet too wide to read that way spans a few pages, names repeated), as
    # many pages down as it needs.
    pages_wide = max(1, math.ceil(len(table.header) / _COLUMNS_PER_PAGE))
    parts.append(f'<pageSetup paperSize="9" orientation="landscape" fitToWidth="{pages_wide}" fitToHeight="0"/>')
    caption = _escape(table.caption.replace("&", "&&"))
    header = f"<oddHeader>&amp;L{caption}</oddHeader>" if caption else ""
    parts.append(f"<headerFooter>{header}<oddFooter>&amp;C&amp;P / &amp;N</oddFooter></headerFooter>")
    parts.append("</worksheet>")
    return "".join(parts)


def _row_xml(number: int, values: Sequence[Cell], letters: Sequence[str], *, style: int = 0) -> str:
    # The hot loop of a city's workbook (tens of thousands of cells): plain text and numbers take the short paths.
    styled = f' s="{style}"' if style else ""
    cells = []
    for letter, value in zip(letters, values, strict=False):
        if type(value) is str:
            if value:
                if value.startswith(FORMULA_PREFIXES):
                    value = "'" + value
                cells.append(
                    f'<c r="{letter}{number}"{styled} t="inlineStr"><is><t xml:space="preserve">'
                    f"{_escape(value)}</t></is></c>"
                )
        elif type(value) is int or (type(value) is float and math.isfinite(value)):
            cells.append(f'<c r="{letter}{number}"><v>{value!r}</v></c>')
        elif value is not None and type(value) is not float:
            cells.append(_other_cell(f"{letter}{number}", escape_formula(value), styled))
    return f'<row r="{number}">{"".join(cells)}</row>'


def _other_cell(ref: str, value: Cell, styled: str) -> str:
    """A cell that is not plain text or a plain number: a date, a boolean, or a subclass of str or int."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return f'<c r="{ref}"{styled} t="inlineStr"><is><t xml:space="preserve">{_escape(value)}</t></is></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, datetime):
        serial = (value.replace(tzinfo=None) - _EPOCH).total_seconds() / 86400
        return f'<c r="{ref}" s="{_DATETIME}"><v>{serial!r}</v></c>'
    if isinstance(value, date):
        return f'<c r="{ref}" s="{_DATE}"><v>{(value - _EPOCH.date()).days}</v></c>'
    if isinstance(value, int | float) and math.isfinite(value):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return ""


def _filter_range(table: Table, *, absolute: bool = False) -> str:
    last = get_column_letter(max(len(table.header), 1))
    rows = max(len(table.rows) + 1, 1)
    return f"$A$1:${last}${rows}" if absolute else f"A1:{last}{rows}"


def _escape(text: str, *, quote: bool = False) -> str:
    if _SPECIAL.search(text) is None:
        return text  # nearly every cell: one scan, no copy
    return html.escape(_NOT_XML.sub("", text), quote=quote)


def _quoted(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _unique_titles(titles: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for title in titles:
        candidate, n = title, 2
        while candidate.casefold() in seen:
            suffix = f"_{n}"
            candidate, n = title[: 31 - len(suffix)] + suffix, n + 1
        seen.add(candidate.casefold())
        unique.append(candidate)
    return unique


def get_column_letter(index: int) -> str:
    """Excel's column name for a 1-based column number: 1 → A, 27 → AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def csv_bytes(table: Table, *, encoding: str = "utf-8-sig") -> bytes:
    """The table as CSV with CRLF line ends, every field quoted where needed, formulas escaped."""
    if encoding not in CSV_ENCODINGS:
        msg = f"CSV の文字コード {encoding} には対応していません。{', '.join(CSV_ENCODINGS)} から選んでください。"
        raise CourseError(msg)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.header)
    for row in table.rows:
        writer.writerow([_csv_cell(v) for v in row])
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


def _csv_cell(value: Cell) -> Cell:
    """A cell as the csv module should write it: text with formulas escaped, numbers and None as they are (the csv
    module writes those as str() and as an empty field), dates as text."""
    if type(value) is str:
        return "'" + value if value.startswith(FORMULA_PREFIXES) else value
    if type(value) is int or type(value) is float or value is None:
        return value
    return _csv_text(escape_formula(value))


def _csv_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%Y/%m/%d")
    return str(value)


def sheet_title(title: str) -> str:
    """Excel sheet names: at most 31 characters, none of \\ / ? * : [ ]."""
    cleaned = "".join("_" if ch in "\\/?*:[]" else ch for ch in title)
    return cleaned.strip("'")[:31].strip("'") or "Sheet"


def _auto_widths(table: Table) -> list[int]:
    widths = []
    sample = table.rows[:500]
    for index, name in enumerate(table.header):
        # A column repeats a few values (状況, 部, dates): each is measured once.
        texts = {value if type(value) is str else _csv_text(value) for value in (row[index] for row in sample)}
        texts.add(name)
        widths.append(min(max(map(_display_width, texts)) + 2, 60))
    return widths


def _display_width(text: str) -> int:
    if text.isascii():
        return len(text)
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


def write_all_atomic(files: Mapping[Path, bytes]) -> list[Path]:
    """Write several files as one: each to a temporary file beside it, all flushed to disk together (side by side, so
    the disk commits them at once), then all renamed into place. If any cannot be written, none is replaced."""
    temporary: list[Path] = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temporary.append(Path(name))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        with ThreadPoolExecutor(max_workers=min(max(len(temporary), 1), 16)) as pool:  # fsync waits without the GIL
            list(pool.map(_flush_to_disk, temporary))
        for tmp, path in zip(temporary, files, strict=True):
            tmp.chmod(0o644)
            tmp.replace(path)
    except BaseException:
        for tmp in temporary:
            tmp.unlink(missing_ok=True)
        raise
    return list(files)


def _flush_to_disk(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
