"""The shared 進捗報告 template used by P04 and P05 and aggregated for the task force."""

import pandas as pd
import pytest

from course import department_report


def _report(**changes):
    row = {
        "報告日": "2026-10-01",
        "部": "総務部",
        "課": "人事課",
        "職員番号": "201001",
        "取組名": "研修申込の電子化",
        "ステップ": 3,
        "進捗率": 50,
        "現状時間": 120.0,
        "見込時間": 40.0,
        "削減時間": 80.0,
        "内容": "申込書を電子フォームに置き換えた",
        "課題": "なし",
        "次の予定": "全課へ展開",
    }
    row.update(changes)
    return pd.DataFrame([row], columns=list(department_report.COLUMN_NAMES))


def test_valid_report_round_trips_through_csv(tmp_path):
    path = department_report.save(_report(), tmp_path / "進捗報告.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    loaded = department_report.load(path)
    assert loaded.loc[0, "職員番号"] == "201001"
    assert loaded.loc[0, "ステップ"] == 3
    assert loaded.loc[0, "削減時間"] == 80.0
    assert list(loaded.columns) == list(department_report.COLUMN_NAMES)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"ステップ": 5}, "1行目「ステップ」: 5 は 1〜4 のどれでもありません"),
        ({"進捗率": 120}, "1行目「進捗率」: 120 は 0〜100 の整数ではありません"),
        ({"職員番号": "201-001"}, "1行目「職員番号」: 「201-001」は職員番号ではありません"),
        ({"報告日": "令和8年10月1日"}, "1行目「報告日」: 「令和8年10月1日」は日付（YYYY-MM-DD）ではありません"),
        ({"課": " "}, "1行目「課」: 空欄です"),
        ({"削減時間": 70.0}, "1行目「削減時間」: 70 ですが、現状時間 − 見込時間 は 80 です"),
        ({"見込時間": -1.0, "削減時間": 121.0}, "1行目「見込時間」: -1.0 は 0 以上ではありません"),
    ],
)
def test_each_mistake_names_row_and_column(changes, expected):
    assert department_report.check(_report(**changes)) == [expected]


def test_missing_and_extra_columns_are_reported():
    report = _report().drop(columns=["課題"]).assign(備考="x")
    assert department_report.check(report) == ["列が足りません: 課題", "テンプレートにない列があります: 備考"]


def test_invalid_report_writes_nothing(tmp_path):
    target = tmp_path / "進捗報告.csv"
    with pytest.raises(department_report.ReportError, match="進捗率"):
        department_report.save(_report(進捗率=-5), target)
    assert list(tmp_path.iterdir()) == []


def test_load_names_the_file_and_the_row_as_excel_shows_it(tmp_path):
    """The first report row of a file is row 2 in Excel (row 1 is the header); a table in a notebook counts from 1."""
    path = tmp_path / "人事課.csv"
    _report(ステップ=9).to_csv(path, index=False, encoding="cp932")
    with pytest.raises(department_report.ReportError) as error:
        department_report.load(path)
    assert error.value.problems == ["人事課.csv: 2行目「ステップ」: 9 は 1〜4 のどれでもありません"]
    assert department_report.check(_report(ステップ=9)) == ["1行目「ステップ」: 9 は 1〜4 のどれでもありません"]


def test_columns_out_of_order_are_named_in_japanese_in_the_templates_order():
    columns = list(department_report.COLUMN_NAMES)
    swapped = _report()[[columns[1], columns[0], *columns[2:]]]
    [problem] = department_report.check(swapped)
    assert "COLUMN_NAMES" not in problem and "department_report" not in problem
    assert problem == "列の順番がテンプレートと違います（左から " + "、".join(columns) + " の順にしてください）"


def test_summary_keeps_the_latest_report_of_each_initiative():
    older = _report(報告日="2026-09-01", 進捗率=20)
    newer = _report(報告日="2026-10-01", 進捗率=60)
    other = _report(課="企画課", 取組名="会議録作成の自動化", ステップ=2, 現状時間=50, 見込時間=50, 削減時間=0)
    summary = department_report.summary([newer, older, other])
    assert summary.to_dict("records") == [
        {"部": "総務部", "課": "人事課", "取組数": 1, "最大ステップ": 3, "平均進捗率": 60.0, "削減時間合計": 80.0},
        {"部": "総務部", "課": "企画課", "取組数": 1, "最大ステップ": 2, "平均進捗率": 50.0, "削減時間合計": 0.0},
    ]
