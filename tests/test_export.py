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
from course.spreadsheet import Table, csv_bytes, write_atomic, xlsx_bytes

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
    return build_tables(completions, cur, modules, datetime(2026, 11, 27, 12, 0, tzinfo=JST))


def test_workbook_sheets_headers_and_layout(tmp_path: Path):
    """Three lists plus an explanation sheet; headers bold, frozen, filtered, with widths set."""
    path = write_atomic(tmp_path / "修了状況一覧.xlsx", xlsx_bytes(_tables()))
    book = load_workbook(path)
    assert book.sheetnames == ["職員別", "モジュール別", "部署別", "説明"]
    sheet = book["職員別"]
    header = [c.value for c in sheet[1]]
    assert header[:12] == ["職員番号", "氏名", "ふりがな", "部", "課", "役職", "職責区分", "推進員",
                           "必須修了数", "必須数", "状況", "修了日"]  # fmt: skip
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:S{sheet.max_row}"
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


def test_module_sheet_has_score_percentages():
    """モジュール別 shows the score in percent and the status per module."""
    table = _tables()[1]
    row = dict(zip(table.header, table.rows[1], strict=True))
    assert row["B05 情報セキュリティ基礎 得点率(%)"] == 90.0 and row["B05 状況"] == "修了"


def test_department_sheet_counts_current_staff_only():
    """部署別: per 部/課 and track, with 部 and overall totals; staff no longer on the roster are left out."""
    table = _tables()[2]
    rows = {(r[0], r[1], r[2]): r for r in table.rows}
    assert rows[("総務部", "人事課", "一般職")][3:6] == (1, 0, 0.0)
    assert ("市民生活部", "市民課", "課長職以上") not in rows
    assert rows[("（合計）", "", "係長職")][3] == 1


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
