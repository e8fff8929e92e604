"""Departments' reports handed in to the task force: validated on the way in, stored, aggregated in the progress
report and its workbook, and shareable 取組 turned into 横展開 cases. Every number is checked against a plain
recomputation over the stored rows."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from course import cases, department_report, reports
from course.config import Course, CourseError
from course.curriculum import load_curriculum
from course.roster import import_roster
from course.taskforce import report
from course.years import FiscalYear
from tests.conftest import write_csv

TZ = ZoneInfo("Asia/Tokyo")
YEAR = FiscalYear(2026)
ROSTER = (
    ("300001", "架空　総一", "", "総務部", "人事課", "主任", "○"),
    ("300002", "架空　市子", "", "市民生活部", "市民課", "主事", "○"),
    ("300003", "架空　民男", "", "市民生活部", "保険年金課", "主事", "○"),  # 市民生活部 has two: more than planned
    ("300004", "架空　都子", "", "都市建設部", "道路河川課", "主査", "○"),
    ("300005", "架空　福太", "", "こども福祉部", "こども課", "主事", ""),  # こども福祉部 has no 推進員
    ("300006", "架空　一般", "", "総務部", "人事課", "主事", ""),
)


def at(month: int, day: int) -> datetime:
    return datetime(2026 if month >= 4 else 2027, month, day, 10, 0, tzinfo=TZ)


def row(staff_id: str, department: str, section: str, name: str, **values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "報告日": "2026-10-05", "部": department, "課": section, "職員番号": staff_id, "取組名": name,
        "ステップ": 3, "進捗率": 50, "現状時間": 100, "見込時間": 60, "削減時間": 40, "内容": "試行した",
        "課題": "なし", "次の予定": "本格実施", "業務": "窓口受付", "手法": "Excel", "状況": "実施中",
        "削減時間実績": None, "他課への展開": "いいえ", "事例番号": None,
    }  # fmt: skip
    base.update(values)
    return base


def save(tmp: Path, name: str, rows: list[dict[str, object]]) -> Path:
    return department_report.save(pd.DataFrame(rows, columns=department_report.COLUMN_NAMES), tmp / name)


@pytest.fixture
def city(course: Course, tmp_path: Path) -> Course:
    import_roster(course=course, path=write_csv(tmp_path / "roster.csv", ROSTER), year=YEAR)
    return course


def stored(course: Course) -> tuple[int, int]:
    file = course.gradebook_file
    assert file is not None
    with sqlite3.connect(file) as db:
        return (
            db.execute("SELECT COUNT(*) FROM course_reports").fetchone()[0],
            db.execute("SELECT COUNT(*) FROM course_report_rows").fetchone()[0],
        )


def plain_hours(course: Course) -> dict[str, tuple[float, float | None]]:
    """Per 部: estimated and measured hours of the latest row of every 取組 not 中止, in plain SQL (measured is
    NULL, 未測定, when none of the 部's 取組 was measured: SQL's SUM of only NULLs)."""
    file = course.gradebook_file
    assert file is not None
    with sqlite3.connect(file) as db:
        rows = db.execute(
            """
            SELECT r.department, SUM(r.saved_estimate), SUM(r.saved_measured)
            FROM course_report_rows r
            WHERE r.status != '中止' AND NOT EXISTS (
                SELECT 1 FROM course_report_rows n
                WHERE n.department = r.department AND n.section = r.section AND n.initiative = r.initiative
                  AND (n.report_date > r.report_date OR (n.report_date = r.report_date AND n.report_id > r.report_id)))
            GROUP BY r.department
            """
        ).fetchall()
    return {
        department: (float(estimated), None if measured is None else float(measured))
        for department, estimated, measured in rows
    }


def hand_in_three(city: Course, tmp: Path) -> None:
    """総務部 and 市民生活部 report (総務部 twice: the later 報告日 wins); 都市建設部's report is malformed."""
    reports.receive_report(
        course=city, staff_id="300001", at=at(7, 5),
        path=save(tmp, "somu_q1.csv", [row("300001", "総務部", "人事課", "勤怠集計の自動化", 報告日="2026-07-01",
                                           手法="RPA", 他課への展開="はい", 現状時間=200, 見込時間=80, 削減時間=120)]),
    )  # fmt: skip
    reports.receive_report(
        course=city, staff_id="300001", at=at(10, 8),
        path=save(tmp, "somu_q2.csv", [
            row("300001", "総務部", "人事課", "勤怠集計の自動化", 手法="RPA", 他課への展開="はい", 現状時間=200,
                見込時間=80, 削減時間=120, 削減時間実績=100, 状況="完了", 内容="勤怠データをRPAで集計表に転記した",
                課題="月末に処理が集中する"),
            row("300001", "総務部", "人事課", "研修申込のフォーム化", 状況="中止", 削減時間実績=5),
        ]),
    )  # fmt: skip
    reports.receive_report(
        course=city, staff_id="300002", at=at(10, 9),
        path=save(tmp, "shimin.csv", [
            row("300002", "市民生活部", "市民課", "転入届の事前入力", 削減時間実績=30.5),
            row("300002", "市民生活部", "市民課", "勤怠集計の自動化（人事課の事例）", 事例番号="c1", 状況="検討中"),
        ]),
    )  # fmt: skip


def test_three_promoters_hand_in_and_the_malformed_report_is_refused_in_japanese_and_not_recorded(city, tmp_path):
    """Every problem is listed at once, the template's mistakes with the 部 and the 事例番号 that are not right, and
    rows are numbered as Excel shows the file (the header is row 1)."""
    hand_in_three(city, tmp_path)
    assert stored(city) == (3, 5)
    bad = tmp_path / "toshi.csv"
    table = department_report.template(2)
    for number, name in enumerate(("通報フォーム", "点検記録")):
        for column, value in row("300004", "総務部", "道路河川課", name).items():
            table.loc[number, column] = value
    table.loc[0, "ステップ"] = 7
    table.loc[0, "手法"] = "魔法"
    table.loc[0, "事例番号"] = "C999"
    table.loc[1, "部"] = "都市建設部"
    table.loc[1, "職員番号"] = "300001"
    table.to_csv(bad, index=False, encoding="utf-8-sig")
    with pytest.raises(reports.ReportRefused) as refused:
        reports.receive_report(course=city, staff_id="300004", path=bad, at=at(10, 9))
    message = str(refused.value)
    assert "受け付けられませんでした（記録していません）" in message
    methods = "、".join(reports.settings(city).methods)
    assert refused.value.problems == (
        "2行目「ステップ」: 7 は 1〜4 のどれでもありません",
        f"2行目「手法」: 「魔法」は手法の一覧（{methods}）にありません",
        "2行目「部」: 「総務部」ですが、あなたの所属は都市建設部です",
        "2行目「事例番号」: C999 という事例はありません（横展開事例集で番号を確かめてください）",
        "3行目「職員番号」: 「300001」は報告する人（300004）と違います",
    )
    assert stored(city) == (3, 5)


def test_only_a_current_promoter_may_hand_in(city, tmp_path):
    path = save(tmp_path, "r.csv", [row("300006", "総務部", "人事課", "x")])
    with pytest.raises(reports.ReportRefused, match="推進員になっていません"):
        reports.receive_report(course=city, staff_id="300006", path=path, at=at(10, 1))
    with pytest.raises(reports.ReportRefused, match="今年度の名簿にありません"):
        reports.receive_report(course=city, staff_id="999999", path=path, at=at(10, 1))
    assert stored(city) == (0, 0)


def test_a_section_not_of_the_senders_department_is_named_with_the_ones_that_are(city, tmp_path):
    path = save(tmp_path, "r.csv", [row("300002", "市民生活部", "人事課", "x")])
    with pytest.raises(reports.ReportRefused) as refused:
        reports.receive_report(course=city, staff_id="300002", path=path, at=at(10, 6))
    assert refused.value.problems == (
        "2行目「課」: 「人事課」は名簿の市民生活部にありません（保険年金課、市民課 のどれかを書いてください）",
    )


def test_reports_written_before_the_new_columns_still_validate():
    old = pd.DataFrame([row("300001", "総務部", "人事課", "x")]).drop(
        columns=["業務", "手法", "状況", "削減時間実績", "他課への展開", "事例番号"]
    )
    clean = department_report.normalise(old)
    assert list(clean.columns) == list(department_report.COLUMN_NAMES)
    assert clean.loc[0, "他課への展開"] == "いいえ" and clean.loc[0, "状況"] == ""
    shared = pd.DataFrame([row("300001", "総務部", "人事課", "x", 他課への展開="はい", 業務="")])
    assert department_report.check(shared) == ["1行目「業務」: 他課への展開が「はい」の取組には書いてください"]


def test_report_and_workbook_show_status_missing_promoters_and_hours_equal_to_a_plain_recomputation(city, tmp_path):
    from openpyxl import load_workbook

    hand_in_three(city, tmp_path)
    today = date(2026, 10, 20)  # the 7〜9月分 was due on 10/10: 総務部 and 市民生活部 reported, 都市建設部 did not
    loop = report.loop_view(course=city, today=today)
    expected = plain_hours(city)
    assert {h.label: (h.estimated, h.measured) for h in loop.by_department if h.initiatives} == expected
    assert expected == {"総務部": (120.0, 100.0), "市民生活部": (80.0, 30.5)}
    status = {d.department: d for d in loop.departments}
    assert status["総務部"].state == "提出済み（7〜9月分、10月8日受付）"
    assert status["市民生活部"].state == "提出済み（7〜9月分、10月9日受付）"
    assert (
        status["都市建設部"].overdue and status["都市建設部"].state == "未提出（令和8年7〜9月分、期限 令和8年10月10日）"
    )
    assert status["こども福祉部"].promoter_note == "推進員なし"
    assert status["市民生活部"].promoter_note == "計画より多い（2人 / 計画1人）"
    # per quarter, as of each quarter's end: by 6/30 nothing, by 9/30 the 7/1 report, by 12/31 everything
    quarters = {h.label[:5]: (h.estimated, h.measured) for h in loop.by_quarter}
    assert quarters == {"第1四半期": (0.0, None), "第2四半期": (120.0, None), "第3四半期": (200.0, 130.5)}

    # 都市建設部 reports after the 7〜9月分's due day (10/10), nothing measured yet: 未測定, not 0, and 期限後
    reports.receive_report(
        course=city, staff_id="300004", at=at(10, 29),
        path=save(tmp_path, "toshi.csv", [row("300004", "都市建設部", "道路河川課", "通報フォーム", 報告日="2026-10-29")]),
    )  # fmt: skip
    loop = report.loop_view(course=city, today=date(2026, 10, 30))
    expected = plain_hours(city)
    assert {h.label: (h.estimated, h.measured) for h in loop.by_department if h.initiatives} == expected
    assert expected["都市建設部"] == (40.0, None)
    status = {d.department: d for d in loop.departments}
    assert status["都市建設部"].state == "提出済み（10〜12月分、10月29日受付）・7〜9月分は期限後"
    assert status["総務部"].state == "提出済み（7〜9月分、10月8日受付）"

    result = report.write_report(
        course=city, curriculum=load_curriculum(), out_dir=tmp_path / "out", generated_at=at(10, 30)
    )
    book = load_workbook(result.workbook, read_only=True)
    sheet = [list(r) for r in book["削減時間_部別"].iter_rows(values_only=True)]
    assert {r[0]: (r[2], r[3]) for r in sheet[1:] if r[1]} == expected  # unmeasured: a blank cell
    assert {r[0]: r[3] for r in sheet[1:] if not r[1]} == {"こども福祉部": None}  # no 取組 at all: blank as well
    statuses = {r[0]: r for r in book["部別の報告状況"].iter_rows(values_only=True)}
    assert statuses["こども福祉部"][4] == "推進員なし" and statuses["都市建設部"][7].endswith("7〜9月分は期限後")
    counts = {r[0]: r[1:] for r in book["取組の状況"].iter_rows(values_only=True)}
    assert counts["総務部"] == (0, 0, 1, 1, 0) and counts["市民生活部"] == (1, 1, 0, 0, 0)
    page = result.html.read_text(encoding="utf-8")
    assert "7. 各部の進捗報告と削減時間" in page and "推進員がいない部<b>1 部</b>こども福祉部" in page
    assert "削減時間（見込 / 実績）<b>240.0 / 130.5</b>時間/年。実績は測った取組 2 / 4 件の合計" in page
    hours = "".join(f"<td class='n'>{cell}</td>" for cell in ("{}", "{}", "{}", "{}"))
    assert "<td>総務部</td>" + hours.format(1, "120.0", "100.0", 1) in page
    assert "<td>都市建設部</td>" + hours.format(1, "40.0", "未測定", 0) in page
    assert "<td>こども福祉部</td>" + hours.format(0, "0.0", "未測定", 0) in page
    assert "python -m course" not in page  # how reports arrive, in words; commands are in the README
    for word in ("削減時間 見込", "削減時間 実績", "未測定", "横展開", "計画人数", "推進員の配置", "期限後"):
        assert f"<li>{word}: " in page, word  # the glossary explains the section's words
    for title in load_workbook(result.workbook).worksheets:  # every sheet prints with its year and date
        assert "令和8年度（2026年度） 令和8年10月30日現在" in title.oddHeader.left.text, title.title


def test_a_shareable_initiative_becomes_a_case_and_adoption_is_counted_when_reported(city, tmp_path):
    hand_in_three(city, tmp_path)
    [case] = cases.load_cases(course=city)
    assert (case.case_id, case.section, case.method, case.saved_measured) == ("C001", "人事課", "RPA", 100.0)
    # What was done and what was hard, from the latest report of the 取組 (報告日 2026-10-05), not the first one.
    assert (case.content, case.issues, case.reported_on) == (
        "勤怠データをRPAで集計表に転記した",
        "月末に処理が集中する",
        date(2026, 10, 5),
    )
    assert (
        case.contact == "総務部 人事課 架空　総一（推進員）" and case.wanted_by == ("市民課",) and case.spread_to == ()
    )
    with pytest.raises(CourseError, match="人事課自身の事例"):
        cases.adopt_case(course=city, case_id="C001", section="人事課", by="TF", at=at(10, 12))
    cases.adopt_case(course=city, case_id="c-1", section="市民課", by="TF 事務局", at=at(10, 12))
    with pytest.raises(CourseError, match="すでに採用しています"):
        cases.adopt_case(course=city, case_id="C001", section="市民課", by="TF", at=at(10, 13))
    [case] = cases.load_cases(course=city)
    assert case.adopted_by == ("市民課",) and case.wanted_by == () and case.spread_to == ()
    reports.receive_report(
        course=city, staff_id="300002", at=at(11, 5),
        path=save(tmp_path, "shimin2.csv", [row("300002", "市民生活部", "市民課", "勤怠集計の自動化（人事課の事例）",
                                                 報告日="2026-11-01", 事例番号="C001", 状況="実施中")]),
    )  # fmt: skip
    [case] = cases.load_cases(course=city)
    assert case.spread_to == ("市民課",)
    result = cases.write_cases(course=city, out_dir=tmp_path / "out", at=at(11, 6))
    assert result.html.name == "横展開事例集_令和8年度_令和8年11月6日現在.html"
    page = result.html.read_text(encoding="utf-8")
    assert "<html lang='ja'>" in page and "C001 勤怠集計の自動化" in page and "採用後に報告があった横展開 1 件" in page


def test_the_case_list_says_what_was_done_when_and_how_to_ask_with_a_legend(city, tmp_path):
    """The page and the workbook carry 内容, 課題, 最終報告日, the 課 with its promoter, how to ask (the city's
    setting, not a sentence in code) and what the adoption columns mean."""
    from openpyxl import load_workbook

    how = "架空の内線 9999 の事務局（テスト用の問い合わせ方法）へ"
    own = city.runtime / "settings"  # the runtime folder's own copy of a settings file wins (Course.settings_file)
    own.mkdir(parents=True, exist_ok=True)
    (own / cases.CASES_SETTINGS).write_text(f'[contact]\nhow = "{how}"\n', encoding="utf-8")
    hand_in_three(city, tmp_path)
    result = cases.write_cases(course=city, out_dir=tmp_path / "out", at=at(11, 6))
    page = result.html.read_text(encoding="utf-8")
    for text in ("<dt>内容</dt><dd>勤怠データをRPAで集計表に転記した</dd>", "<dt>課題</dt><dd>月末に処理が集中する</dd>",
                 "<dt>最終報告日</dt><dd>令和8年10月5日</dd>", "<dt>問い合わせ先</dt><dd>総務部 人事課 架空　総一（推進員）</dd>",
                 f"<dt>問い合わせ方法</dt><dd>{how}</dd>", "<h2>この事例集の見方</h2>"):  # fmt: skip
        assert text in page, text
    for name, meaning in {**cases.READING, **cases.LEGEND}.items():
        assert f"<dt>{name}</dt><dd>{meaning}</dd>" in page
    book = load_workbook(result.workbook)
    assert book.sheetnames == ["横展開事例", "説明"]
    header, *rows = book["横展開事例"].iter_rows(values_only=True)
    [case] = [dict(zip(header, r, strict=True)) for r in rows]
    assert case["内容"] == "勤怠データをRPAで集計表に転記した" and case["課題"] == "月末に処理が集中する"
    assert case["最終報告日"].date() == date(2026, 10, 5) and case["問い合わせ方法"] == how
    assert (case["希望している課"], case["採用した課"], case["展開済みの課"]) == ("市民課", None, None)
    notes = dict(book["説明"].iter_rows(values_only=True))
    explained = {**cases.READING, **cases.LEGEND}  # the page's 見方 and the sheet's 説明 say the same
    assert notes["問い合わせ方法"] == how and all(notes[name] == meaning for name, meaning in explained.items())


@pytest.mark.parametrize("text", ['[contact]\nhow = ""\n', "[contact]\nhow = 3\n", "[contact\n"])
def test_a_bad_contact_setting_names_the_file_and_the_key_and_writes_nothing(city, tmp_path, text):
    own = city.runtime / "settings"
    own.mkdir(parents=True, exist_ok=True)
    (own / cases.CASES_SETTINGS).write_text(text, encoding="utf-8")
    with pytest.raises(CourseError) as caught:
        cases.write_cases(course=city, out_dir=tmp_path / "out", at=at(11, 6))
    assert cases.CASES_SETTINGS in str(caught.value)
    assert "[contact] how" in str(caught.value) or "TOML" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_an_adoption_is_undone_logged_and_no_longer_counted(city, tmp_path):
    hand_in_three(city, tmp_path)
    cases.adopt_case(course=city, case_id="C001", section="市民課", by="TF 事務局", at=at(10, 12))
    reports.receive_report(
        course=city, staff_id="300002", at=at(11, 5),
        path=save(tmp_path, "shimin2.csv", [row("300002", "市民生活部", "市民課", "勤怠集計の自動化（人事課の事例）",
                                                 報告日="2026-11-01", 事例番号="C001")]),
    )  # fmt: skip

    def counts() -> list[tuple[int, int]]:
        """Adoptions and 横展開 that happened, per case, as the task force's report counts them."""
        return [
            (len(c.adopted_by), len(c.spread_to)) for c in report.loop_view(course=city, today=at(11, 25).date()).cases
        ]

    assert counts() == [(1, 1)]
    undone = cases.adopt_case(course=city, case_id="c1", section="市民課", by="TF 課長", at=at(11, 10), undo=True)
    assert (undone.case_id, undone.section, undone.by) == ("C001", "市民課", "TF 課長")
    [case] = cases.load_cases(course=city)
    assert (case.adopted_by, case.spread_to, case.wanted_by) == ((), (), ("市民課",))  # it still points to the case
    assert counts() == [(0, 0)]
    page = cases.write_cases(course=city, out_dir=tmp_path / "out", at=at(11, 11)).html.read_text(encoding="utf-8")
    assert "ほかの課での採用 0 件、採用後に報告があった横展開 0 件" in page
    with pytest.raises(CourseError, match="市民課が C001 を採用した記録はありません。取り消すものがありません"):
        cases.adopt_case(course=city, case_id="C001", section="市民課", by="TF", at=at(11, 12), undo=True)
    with pytest.raises(CourseError, match="事例番号 C009 はありません"):
        cases.adopt_case(course=city, case_id="C009", section="市民課", by="TF", at=at(11, 12), undo=True)
    cases.adopt_case(course=city, case_id="C001", section="市民課", by="TF", at=at(11, 20))  # adopted again
    assert cases.load_cases(course=city)[0].adopted_by == ("市民課",)
    file = city.gradebook_file
    assert file is not None
    with sqlite3.connect(file) as db:
        log = db.execute(
            'SELECT at, "by", action, case_id, section FROM course_case_adoption_log ORDER BY id'
        ).fetchall()
    assert log == [
        ("2026-10-12 01:00:00.000000", "TF 事務局", "採用", "C001", "市民課"),
        ("2026-11-10 01:00:00.000000", "TF 課長", "取り消し", "C001", "市民課"),
        ("2026-11-20 01:00:00.000000", "TF", "採用", "C001", "市民課"),
    ]


def test_the_cli_refuses_a_malformed_report_in_japanese_and_receives_a_good_one(city, tmp_path, monkeypatch, capsys):
    from course import cli

    monkeypatch.setenv("COURSE_ROOT", str(city.root))
    runtime = str(city.runtime)
    bad = tmp_path / "bad.csv"
    bad.write_text("報告日,部\n2026-10-01,総務部\n", encoding="utf-8-sig")
    assert cli.main(["--runtime", runtime, "reports", "receive", str(bad), "--staff", "300001"]) == 1
    assert "列が足りません" in capsys.readouterr().err
    good = save(tmp_path, "good.csv", [row("300001", "総務部", "人事課", "x", 報告日="2026-04-10")])
    assert cli.main(["--runtime", runtime, "reports", "receive", str(good), "--staff", "300001"]) == 0
    assert "総務部の進捗報告（1 件の取組" in capsys.readouterr().out
    assert cli.main(["--runtime", runtime, "cases", "adopt", "C001", "--section", "市民課", "--by", "TF"]) == 1
    assert "事例番号 C001 はありません" in capsys.readouterr().err
    shared = save(
        tmp_path, "shared.csv", [row("300001", "総務部", "人事課", "y", 報告日="2026-04-10", 他課への展開="はい")]
    )
    assert cli.main(["--runtime", runtime, "reports", "receive", str(shared), "--staff", "300001"]) == 0
    capsys.readouterr()
    adopt = ["--runtime", runtime, "cases", "adopt", "C001", "--section", "市民課", "--by", "TF"]
    assert cli.main([*adopt, "--undo"]) == 1
    assert "取り消すものがありません" in capsys.readouterr().err
    assert cli.main(adopt) == 0
    assert "市民課が C001 を採用したことを記録しました（TF、" in capsys.readouterr().out
    assert cli.main([*adopt, "--undo"]) == 0
    assert (
        "市民課が C001 を採用を取り消しました" not in (out := capsys.readouterr().out)
        and "C001 の採用を取り消しました" in out
    )
    out = tmp_path / "out"
    assert cli.main(["--runtime", runtime, "cases", "--out", str(out)]) == 0
    assert "横展開事例集を出力しました（1 件）" in capsys.readouterr().out
    assert len(list(out.glob("横展開事例集_*現在.html"))) == 1


def test_hand_in_outside_a_hub_receives_the_report_in_the_course_folder(city, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(reports.SERVICE_URL_ENV, raising=False)
    monkeypatch.delenv(reports.TOKEN_ENV, raising=False)
    monkeypatch.setattr(Course, "load", lambda *_, **__: city)
    monkeypatch.setenv("JUPYTERHUB_USER", "300001")
    receipt = reports.hand_in(save(tmp_path, "somu.csv", [row("300001", "総務部", "人事課", "x", 報告日="2026-04-10")]))
    assert receipt is not None and receipt.staff_id == "300001" and stored(city) == (1, 1)
    assert capsys.readouterr().out.strip() == receipt.message
    assert reports.hand_in(save(tmp_path, "shimin.csv", [row("300002", "市民生活部", "市民課", "y")])) is None
    assert "「部」: 「市民生活部」ですが、あなたの所属は総務部です" in capsys.readouterr().out
    assert stored(city) == (1, 1)


def test_the_schedule_says_which_period_is_due_and_when_its_window_opens():
    quarterly = reports.ReportSettings(months=3, due_day=10)
    period = quarterly.latest_due(date(2026, 10, 20))
    assert period is not None and period.label == "令和8年7〜9月分" and period.due == date(2026, 10, 10)
    assert quarterly.window(period) == (date(2026, 7, 11), date(2026, 10, 10))
    assert quarterly.latest_due(date(2026, 4, 5)).label == "令和7年10〜12月分"  # type: ignore[union-attr]
    monthly = reports.ReportSettings(months=1, due_day=5)
    assert monthly.latest_due(date(2026, 12, 4)).label == "令和8年10月分"  # type: ignore[union-attr]


def glyphs(postscript_name: str) -> set[int]:
    """The code points the installed font with this PostScript name has glyphs for (fontconfig finds the file)."""
    import subprocess

    from fontTools.ttLib import TTFont

    found = subprocess.run(
        ["fc-list", f":postscriptname={postscript_name}", "file", "index"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert found, f"fontconfig does not know the font {postscript_name}"
    file, _, index = found[0].partition(": :index=")
    with TTFont(file, fontNumber=int(index or 0), lazy=True) as font:
        return set(font.getBestCmap())


def page_texts(pdf: bytes) -> list[str]:
    """The text of each page of a PDF."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


@pytest.mark.hub
def test_the_case_list_renders_its_japanese_as_real_text_without_missing_glyphs_in_chromium(city, tmp_path):
    """Every character of the case list's visible text (innerText: real text, not an image) has a glyph in a font
    Chromium drew the page with, so no character shows as tofu, and axe-core finds no serious or critical WCAG 2.1
    A/AA violation. Printed (A4, as the task force prints it), no case breaks across pages: each case's heading is
    on exactly one page, and so is the rest of it. The screenshot and the PDF are kept for a person to look at."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import REPO
    from tests.feedback_support import AXE, AXE_RUN, WCAG_TAGS
    from tests.hub_support import CHROMIUM, CHROMIUM_ARGS

    assert AXE.is_file(), "axe-core がありません: make proxy で deploy/ に npm ci を行います"

    hand_in_three(city, tmp_path)
    cases.adopt_case(course=city, case_id="C001", section="市民課", by="TF", at=at(10, 12))
    long = "申請書の記載内容を表計算で確かめ、誤りのある行に印を付ける手順を作った。"
    more = [
        row("300003", "市民生活部", "保険年金課", f"保険料照会の効率化その{n}", 他課への展開="はい",
            内容="\n".join([long] * (1 + n % 4)), 課題=f"担当の引き継ぎ（その{n}）")
        for n in range(2, 11)
    ]  # fmt: skip
    reports.receive_report(course=city, staff_id="300003", at=at(10, 15), path=save(tmp_path, "hoken.csv", more))
    page_file = cases.write_cases(course=city, out_dir=tmp_path / "out", at=at(10, 20)).html
    shots = REPO / "runtime" / "test-artifacts"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="ja-JP")
            page.goto(page_file.resolve().as_uri())
            page.screenshot(path=str(shots / "case-list.png"), full_page=True)
            text = page.inner_text("body")
            cdp = page.context.new_cdp_session(page)
            cdp.send("DOM.enable")
            cdp.send("CSS.enable")
            root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
            fonts = {
                font["postScriptName"]
                for node in cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": "body *"})["nodeIds"]
                for font in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
            }
            page.add_script_tag(path=str(AXE))
            violations = page.evaluate(AXE_RUN, WCAG_TAGS)
            printed = page.pdf(format="A4", path=str(shots / "case-list.pdf"))
        finally:
            browser.close()
    assert "横展開事例集（令和8年度（2026年度）・令和8年10月20日現在）" in text
    assert "勤怠集計の自動化" in text and "問い合わせ先" in text and "人事課 架空　総一" in text
    assert fonts, "Chromium reported no fonts for the page's text"
    drawn = set().union(*(glyphs(name) for name in fonts))
    missing = sorted({ch for ch in text if not ch.isspace() and ord(ch) not in drawn})
    assert not missing, f"characters without a glyph in the fonts used ({fonts}): {missing}"
    assert not [v for v in violations if v["impact"] in ("serious", "critical")], violations
    pages = page_texts(printed)
    headings = [f"{c.case_id} {c.initiative}" for c in cases.load_cases(course=city)]
    assert len(headings) == 10 and len(pages) >= 3  # enough cases that some would fall on a page break
    for heading in headings:
        found = [text for text in pages if heading in text]
        assert len(found) == 1, (heading, len(found))
        rest = found[0].split(heading, 1)[1]
        following = [rest.index(h) for h in headings if h in rest] or [len(rest)]
        assert "展開済みの課" in rest[: min(following)], f"{heading} is cut by a page break"
