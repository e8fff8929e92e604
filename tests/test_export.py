"""HR's workbook and CSV files: read back as Excel would see them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from course.completion import evaluate
from course.curriculum import load_curriculum
from course.export import build_tables
from course.models import Staff, Submission
from course.organisation import unit_order
from course.spreadsheet import Table, csv_bytes, write_atomic, xlsx_bytes
from course.years import FiscalYear

JST = ZoneInfo("Asia/Tokyo")


def _tables() -> list[Table]:
    cur = load_curriculum()
    staff = [
        Staff("100001", "山田 花子", "やまだ はなこ", "総務部", "人事課", "主事", "一般職", False),
        Staff("100002", '=HYPERLINK("x")', "", "総務部", "人事課", "係長", "係長職", True),
        Staff("100003", "鈴木 次郎", "", "市民生活部", "市民課", "課長", "課長職以上", False, current=False),
    ]
    subs = [Submission("100001", "b05", 9, 10, False, datetime(2026, 11, 20, 9, 30, tzinfo=JST))]
    modules = [cur.modules["B05"]]
    completions = evaluate(curriculum=cur, staff=staff, submissions=subs, available=["B05"])
    return build_tables(completions, cur, modules, datetime(2026, 11, 27, 12, 0, tzinfo=JST), FiscalYear(2026))


def test_workbook_sheets_headers_and_layout(tmp_path: Path):
    """Four lists plus an explanation sheet; headers bold, frozen, filtered, with widths set."""
    path = write_atomic(tmp_path / "修了状況一覧.xlsx", xlsx_bytes(_tables()))
    book = load_workbook(path)
    assert book.sheetnames == ["職員別", "モジュール別", "部署別", "部別合計", "説明"]
    sheet = book["職員別"]
    header = [c.value for c in sheet[1]]
    assert header[:12] == ["職員番号", "氏名", "ふりがな", "部", "課", "役職", "職責区分", "推進員",
                           "必須修了数", "必須数", "状況", "修了日"]  # fmt: skip
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:X{sheet.max_row}"
    assert sheet.column_dimensions["B"].width >= 10


def test_staff_rows_carry_status_and_completion_date():
    """A member of staff's row shows their grade track's progress; B05 passed counts 1 of 6 for 一般職."""
    staff = _tables()[0]
    row = dict(zip(staff.header, staff.rows[1], strict=True))  # 総務部 sorted first: 100001, 100002
    assert row["職員番号"] == "100001"
    assert (row["必須修了数"], row["必須数"], row["状況"], row["修了日"]) == (1, 6, "受講中", None)
    promoter = dict(zip(staff.header, staff.rows[2], strict=True))
    assert promoter["推進員"] == "○" and promoter["推進員研修 状況"] == "未着手"
    retired = dict(zip(staff.header, staff.rows[0], strict=True))
    assert retired["在籍"] == "名簿外"


def test_staff_rows_name_the_required_modules_still_missing():
    """Each row names what is left of each track, so a 課長 sees what their staff still have to take."""
    staff = _tables()[0]
    ippan = dict(zip(staff.header, staff.rows[1], strict=True))
    assert ippan["未修了の必須モジュール"] == "B00・B01・B07・B02・B06"  # B05 is done
    promoter = dict(zip(staff.header, staff.rows[2], strict=True))
    assert (
        promoter["未修了の必須モジュール"]
        == "B00・B01・B05・B07・K01・K02 ／ 推進員: B03・B04・P01・P02・P03・P04・P05"
    )


def test_module_sheet_has_score_percentages():
    """モジュール別 shows the score in percent and the status per module."""
    table = _tables()[1]
    row = dict(zip(table.header, table.rows[1], strict=True))
    assert row["B05 情報セキュリティ基礎 得点率(%)"] == 90.0 and row["B05 状況"] == "修了"


def test_modules_outside_a_persons_tracks_are_not_required():
    """A 一般職 is not asked for K01 or a 推進員 module: 対象外, not 未提出; their own unfinished module is 未提出."""
    cur = load_curriculum()
    staff = [Staff("100001", "山田 花子", "", "総務部", "人事課", "主事", "一般職", False)]
    modules = [cur.modules[m] for m in ("B05", "K01", "E01")]
    completions = evaluate(curriculum=cur, staff=staff, submissions=[], available=["B05", "K01", "E01"])
    table = build_tables(completions, cur, modules, datetime(2026, 11, 27, 12, 0, tzinfo=JST), FiscalYear(2026))[1]
    row = dict(zip(table.header, table.rows[0], strict=True))
    assert (row["B05 状況"], row["K01 状況"], row["E01 状況"]) == ("未提出", "対象外", "対象外")


def test_department_sheet_counts_current_staff_only():
    """部署別: per 部/課 and track; totals per 部 and overall on their own sheet; staff no longer on the roster are
    left out."""
    sections, totals = _tables()[2:4]
    rows = {(r[0], r[1], r[2]): r for r in sections.rows}
    assert rows[("総務部", "人事課", "一般職")][3:6] == (1, 0, 0.0)
    assert ("市民生活部", "市民課", "課長職以上") not in rows
    assert not any("（合計）" in r[:2] for r in sections.rows)
    total_rows = {(r[0], r[1], r[2]): r for r in totals.rows}
    assert total_rows[("（合計）", "", "係長職")][3] == 1 and total_rows[("総務部", "（合計）", "一般職")][3] == 1


def test_every_printed_page_says_as_of_when_and_repeats_names(tmp_path: Path):
    """A4 landscape, fit to the page width, header row (and 職員番号・氏名) on every page, 「…現在」 in the header."""
    book = load_workbook(write_atomic(tmp_path / "a.xlsx", xlsx_bytes(_tables())))
    sheet = book["職員別"]
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
    assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToHeight == 0
    assert sheet.print_title_rows == "$1:$1" and sheet.print_title_cols == "$A:$B"
    assert "令和8年度（2026年度） 令和8年11月27日現在" in sheet.oddHeader.left.text


def test_escaping_reaches_the_files(tmp_path: Path):
    """The injected name appears escaped in both the workbook and the CSV."""
    tables = _tables()
    book = load_workbook(write_atomic(tmp_path / "a.xlsx", xlsx_bytes(tables)))
    names = [c.value for c in book["職員別"]["B"]]
    assert '\'=HYPERLINK("x")' in names
    assert "'=HYPERLINK" in csv_bytes(tables[0]).decode("utf-8-sig")


def test_csv_has_a_bom_by_default_and_cp932_on_request():
    """UTF-8 CSV starts with EF BB BF so Japanese Excel opens it without mojibake; cp932 has no BOM."""
    table = _tables()[0]
    data = csv_bytes(table)
    assert data[:3] == b"\xef\xbb\xbf"
    assert data.decode("utf-8-sig").splitlines()[0].startswith("職員番号,氏名,")
    sjis = csv_bytes(table, encoding="cp932")
    assert sjis[:3] != b"\xef\xbb\xbf" and "山田 花子" in sjis.decode("cp932")
    assert b"\r\n" in data


def test_rows_follow_the_organisations_order_not_the_code_point_order():
    """部 and 課 in the order settings/roster.toml gives; a 部 it does not name comes last (by name)."""
    cur = load_curriculum()
    staff = [
        Staff("100001", "山田 花子", "", "総務部", "人事課", "主事", "一般職", False),
        Staff("100002", "佐藤 一郎", "", "市民生活部", "市民課", "主事", "一般職", False),
        Staff("100003", "鈴木 次郎", "", "会計課", "会計課", "主事", "一般職", False),
        Staff("100004", "高橋 三奈", "", "総務部", "行政経営課", "主事", "一般職", False),
    ]
    completions = evaluate(curriculum=cur, staff=staff, submissions=[], available=[])
    order = unit_order(["総務部", "市民生活部"], ["行政経営課", "人事課"])
    tables = build_tables(completions, cur, [], datetime(2026, 11, 27, 12, 0, tzinfo=JST), FiscalYear(2026), order)
    assert [row[0] for row in tables[0].rows] == ["100004", "100001", "100002", "100003"]
    assert [row[:2] for row in tables[2].rows] == [
        ("総務部", "行政経営課"), ("総務部", "人事課"), ("市民生活部", "市民課"), ("会計課", "会計課"),
    ]  # fmt: skip
    assert [row[0] for row in tables[3].rows][:3] == ["総務部", "市民生活部", "会計課"]


def test_a_staff_number_with_leading_zeros_stays_text_in_every_file(tmp_path: Path):
    """「001234」 is text in the workbook (not the number 1234) and written as it is in the CSV."""
    cur = load_curriculum()
    staff = [Staff("001234", "山田 花子", "", "総務部", "人事課", "主事", "一般職", False)]
    completions = evaluate(curriculum=cur, staff=staff, submissions=[], available=[])
    tables = build_tables(completions, cur, [], datetime(2026, 11, 27, 12, 0, tzinfo=JST), FiscalYear(2026))
    book = load_workbook(write_atomic(tmp_path / "a.xlsx", xlsx_bytes(tables)))
    cell = book["職員別"]["A2"]
    assert cell.value == "001234" and cell.data_type == "s"
    assert csv_bytes(tables[0]).decode("utf-8-sig").splitlines()[1].startswith("001234,")
