"""Tables in and out of files: rosters read as Excel and Japanese CSV save them, CSV written as Excel reads it."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from course import spreadsheet
from course.config import CourseError
from course.spreadsheet import (
    Table,
    atomic_open,
    csv_bytes,
    escape_formula,
    read_rows,
    sheet_title,
    write_all_atomic,
    write_atomic,
)

ROWS = [["100001", "山田 花子", "総務部"], ["100002", "髙橋 一郎", "市民生活部"]]  # 髙: CP932, not Shift_JIS


def _csv(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# ---------------------------------------------------------------- reading


def test_read_rows_from_xlsx_first_sheet_with_cleaned_header(tmp_path: Path):
    """An .xlsx: the first sheet only, header NFKC-normalised and trimmed, values as Excel typed them, in order."""
    book = Workbook()
    sheet = book.active
    sheet.append(["　職員番号 ", "氏名", "ＩＤ", None])
    sheet.append([100001, "山田 花子", "a", None])
    sheet.append(["100002", None, "b", date(2026, 4, 1)])
    book.create_sheet("別").append(["ignored"])
    book.save(tmp_path / "名簿.xlsx")
    header, rows = read_rows(tmp_path / "名簿.xlsx")
    assert header == ["職員番号", "氏名", "ID", ""]
    assert rows == [[100001, "山田 花子", "a", None], ["100002", None, "b", datetime(2026, 4, 1)]]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "cp932"])
def test_read_rows_from_csv_in_every_encoding_excel_writes(tmp_path: Path, encoding: str):
    """UTF-8 with BOM (Excel's 「CSV UTF-8」), plain UTF-8 and CP932 (「CSV (カンマ区切り)」) read the same."""
    text = "職員番号,氏名,部\r\n" + "".join(",".join(row) + "\r\n" for row in ROWS)
    header, rows = read_rows(_csv(tmp_path / "名簿.csv", text, encoding))
    assert header == ["職員番号", "氏名", "部"]  # no BOM left on the first column name
    assert rows == ROWS


def test_read_rows_keeps_quoted_commas_quotes_and_line_breaks(tmp_path: Path):
    """Quoted CSV fields keep their commas, doubled quotes and line breaks; the header is cleaned like xlsx's."""
    text = '"ＩＤ ",備考\r\n1,"a, b"\r\n2,"彼は""はい""と言った"\r\n3,"1行目\r\n2行目"\r\n'
    header, rows = read_rows(_csv(tmp_path / "x.csv", text, "utf-8-sig"))
    assert header == ["ID", "備考"]
    assert rows == [["1", "a, b"], ["2", '彼は"はい"と言った'], ["3", "1行目\r\n2行目"]]


def test_unreadable_encoding_is_a_japanese_error_naming_the_file(tmp_path: Path):
    """Bytes that are neither UTF-8 nor CP932 stop with a Japanese message that names the file."""
    path = tmp_path / "名簿.csv"
    path.write_bytes("職員番号\r\n".encode() + b"\x81\x20\r\n")  # a CP932 lead byte with no valid second byte
    with pytest.raises(CourseError, match="文字コードを判別できません") as caught:
        read_rows(path)
    assert str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("名簿.xlsx", b"PK\x03\x04 not really a workbook", "Excel ファイルとして開けません"),
        ("名簿.csv", b"", "空のファイルです"),
        ("名簿.pdf", b"%PDF-1.7", "対応していない形式です"),
        ("ない.csv", None, "ファイルが見つかりません"),
    ],
    ids=["damaged_xlsx", "empty_csv", "unknown_format", "missing"],
)
def test_files_that_cannot_be_read_are_japanese_errors_naming_the_file(tmp_path: Path, name, content, message):
    """A damaged workbook, an empty CSV, an unknown format or a missing file: a Japanese message with the path."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CourseError, match=message) as caught:
        read_rows(path)
    assert str(caught.value).startswith(f"{path}: ")


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize("value", ["=1+1", "+81", "-3", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("x")'])
def test_formula_like_text_is_escaped(value: str):
    """Text starting with = + - @ tab or CR is prefixed with ' so Excel shows it instead of running it."""
    assert escape_formula(value) == "'" + value


@pytest.mark.parametrize("value", ["山田 花子", "a=b", "", " =1", -3, 2.5, None, date(2026, 4, 1)])
def test_everything_else_is_left_as_it_is(value):
    """Plain text (even with = inside), numbers (negative ones too), empty cells and dates are unchanged."""
    assert escape_formula(value) == value


def test_csv_bytes_quotes_where_needed_with_crlf_and_a_bom():
    """UTF-8 with BOM by default, CRLF line ends, fields with commas, quotes or line breaks quoted, formulas escaped."""
    table = Table(
        "職員別",
        ("氏名", "備考", "日付", "点"),
        (
            ("山田, 花子", '"至急"', date(2026, 4, 1), 9.5),
            ("=HYPERLINK(1)", "1行目\n2行目", datetime(2026, 11, 27, 9, 30), None),
        ),
    )
    data = csv_bytes(table)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig") == (
        '氏名,備考,日付,点\r\n"山田, 花子","""至急""",2026/04/01,9.5\r\n\'=HYPERLINK(1),"1行目\n2行目",2026/11/27,\r\n'
    )


def test_csv_bytes_reads_back_as_written(tmp_path: Path):
    """A CSV written here (UTF-8 with BOM or CP932) reads back with the same header and text."""
    table = Table("職員別", ("職員番号", "氏名"), tuple(tuple(row[:2]) for row in ROWS))
    for encoding in ("utf-8-sig", "cp932"):
        path = write_atomic(tmp_path / f"{encoding}.csv", csv_bytes(table, encoding=encoding))
        assert read_rows(path) == (["職員番号", "氏名"], [row[:2] for row in ROWS])


def test_cp932_has_no_bom_and_an_unknown_encoding_is_refused():
    """CP932 output starts with the data itself; any other encoding is refused, naming the ones offered."""
    table = Table("職員別", ("氏名",), (("髙橋 一郎",),))
    assert csv_bytes(table, encoding="cp932") == "氏名\r\n髙橋 一郎\r\n".encode("cp932")
    with pytest.raises(CourseError, match="latin-1 には対応していません。utf-8-sig, cp932 から選んでください"):
        csv_bytes(table, encoding="latin-1")


def test_cp932_refuses_characters_it_cannot_hold_with_a_clear_message():
    """A character outside CP932 stops the export with the file and line, instead of writing '?'."""
    table = Table("職員別", ("氏名",), (("山田 花子",), ("𠮷野 太郎",)))
    with pytest.raises(CourseError, match=r"職員別\.csv 3行目: 文字「𠮷」は Shift_JIS（CP932） で表せません"):
        csv_bytes(table, encoding="cp932")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("部署/課:集計[2026]", "部署_課_集計_2026_"),
        ("a\\b?c*d", "a_b_c_d"),
        ("'引用'", "引用"),
        ("あ" * 40, "あ" * 31),
        ("い" * 31, "い" * 31),
        ("", "Sheet"),
        ("''", "Sheet"),
    ],
)
def test_sheet_titles_are_cleaned(title: str, expected: str):
    """Excel forbids \\ / ? * : [ ], apostrophes at either end, and more than 31 characters in sheet names."""
    assert sheet_title(title) == expected


def test_a_cut_sheet_title_does_not_end_with_an_apostrophe():
    """Cutting a long title to 31 characters must not leave an apostrophe at its end (Excel refuses the name)."""
    assert not sheet_title("あ" * 30 + "'s list").endswith("'")


# ---------------------------------------------------------------- atomic files


def test_write_atomic_creates_folders_and_replaces_the_old_file(tmp_path: Path):
    """The file appears with exactly the bytes given (readable by all), folders are made, nothing else is left."""
    target = tmp_path / "exports" / "一覧.csv"
    assert write_atomic(target, b"old") == target
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["一覧.csv"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_write_failing_midway_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path, error):
    """An error or Ctrl-C after part of the data was written: the previous export stays whole, no temp file stays."""
    target = write_atomic(tmp_path / "x.csv", b"old")
    with pytest.raises(error), atomic_open(target) as handle:
        handle.write(b"half")
        raise error
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_a_failing_flush_to_disk_keeps_the_old_file(tmp_path: Path, monkeypatch):
    """The disk refusing the data at fsync (full disk) leaves the old file and no temporary file."""
    target = write_atomic(tmp_path / "x.csv", b"old")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spreadsheet.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_a_failed_first_write_leaves_nothing(tmp_path: Path):
    """When there was no file before, a failed write leaves no file at all (not an empty or partial one)."""
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "new.csv") as handle:
        handle.write(b"half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_write_all_atomic_replaces_every_file_together(tmp_path: Path):
    """Several files written as one: each with exactly its bytes (readable by all), in order, no temporary file left."""
    first, second = tmp_path / "out" / "一覧.xlsx", tmp_path / "out" / "一覧.csv"
    write_atomic(first, b"old")
    assert write_all_atomic({first: b"new xlsx", second: b"new csv"}) == [first, second]
    assert (first.read_bytes(), second.read_bytes()) == (b"new xlsx", b"new csv")
    assert {p.stat().st_mode & 0o777 for p in (first, second)} == {0o644}
    assert sorted(p.name for p in first.parent.iterdir()) == ["一覧.csv", "一覧.xlsx"]


def test_write_all_atomic_replaces_nothing_when_one_file_cannot_be_flushed(tmp_path: Path, monkeypatch):
    """The disk refusing one file's data (full disk) leaves every old file as it was and no temporary file."""
    first = write_atomic(tmp_path / "a.xlsx", b"old a")
    second = write_atomic(tmp_path / "b.csv", b"old b")
    real_fsync = spreadsheet.os.fsync
    flushed: list[int] = []

    def full_on_the_second(fd: int) -> None:
        flushed.append(fd)
        if len(flushed) == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(spreadsheet.os, "fsync", full_on_the_second)
    with pytest.raises(OSError, match="No space left"):
        write_all_atomic({first: b"new a", second: b"new b"})
    assert (first.read_bytes(), second.read_bytes()) == (b"old a", b"old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xlsx", "b.csv"]
