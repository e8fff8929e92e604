"""年度: year plans, rosters per year (transfers, promotions, new hires, leavers), extensions, and HR's lists per year,
checked against a plain recomputation from the inputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, select

from course import export, extensions, gradebook
from course.completion import TrackStatus
from course.config import Course
from course.curriculum import Curriculum, load_curriculum
from course.gradebook import extension_log_table, open_gradebook
from course.hr_sheet import SheetError
from course.models import Staff
from course.records import completion_records, load_extensions
from course.years import FiscalYear, parse_year_plans
from tests.conftest import write_csv
from tests.synthetic import course_folder

JST = ZoneInfo("Asia/Tokyo")
Y1, Y2 = FiscalYear(2025), FiscalYear(2026)  # 令和7年度, 令和8年度
AS_OF = datetime(2026, 12, 7, 12, 0, tzinfo=JST)
PLAN = (
    ("年度", "対象", "開始日", "期限", "備考"),
    *((Y1.label, name, "2025-10-01", "2026-03-15", "") for name in ("一般職", "係長職", "課長職以上")),
    ("令和8年度", "一般職", "2026/10/1", "2026/11/30", "一般職は11月中に"),
    ("2026", "係長職", "2026-10-01", "2027-03-15", ""),
    ("R8", "B05", "", "2026-11-15", "情報セキュリティは早めに"),
)


def test_fiscal_year_runs_april_to_march_and_reads_as_hr_writes_it():
    assert FiscalYear.of(date(2027, 3, 31)) == Y2 and FiscalYear.of(date(2027, 4, 1)) == FiscalYear(2027)
    assert [FiscalYear.parse(t) for t in ("令和8年度", "R8", "2026", "２０２６年度", 2026.0)] == [Y2] * 5
    assert FiscalYear.parse("令和元年度") == FiscalYear(2019) and FiscalYear(2019).label == "令和元年度"
    assert FiscalYear.parse("来年") is None and FiscalYear.parse("1999") is None
    assert Y2.full_label == "令和8年度（2026年度）" and date(2026, 4, 1) in Y2 and date(2026, 3, 31) not in Y2


def test_a_bad_year_plan_lists_every_mistake_with_row_column_and_value():
    cur = load_curriculum()
    rows = [
        ("来年", "一般職", "2026-10-01", "", ""),  # 2: year
        ("令和8年度", "一般", "2026-10-01", "", ""),  # 3: target
        ("令和8年度", "係長職", "10月1日", "2026-09-01", ""),  # 4: start not a date
        ("令和8年度", "課長職以上", "2026-10-01", "2026-09-01", ""),  # 5: deadline before start
        ("令和8年度", "B05", "2026-10-01", "", ""),  # 6: start on a module row, and no deadline
        ("令和8年度", "係長職", "2025-10-01", "", ""),  # 7: start outside the year; 係長職 again
    ]
    with pytest.raises(SheetError) as caught:
        parse_year_plans(list(PLAN[0]), rows, file="year_plan.csv", curriculum=cur)
    text = str(caught.value)
    assert text.startswith("年度計画に 8 件の誤りがあります。何も取り込んでいません。")
    for expected in (
        "year_plan.csv 2行目 「年度」列: 年度は「令和8年度」か「2026」のように書いてください。（値: 「来年」）",
        "year_plan.csv 3行目 「対象」列: 対象は研修区分（一般職・係長職・課長職以上・業務デジタル化推進員）",
        "year_plan.csv 4行目 「開始日」列: 日付は 2026-10-01 か 2026/10/1 の形で書いてください。（値: 「10月1日」）",
        "year_plan.csv 5行目 「期限」列: 期限が開始日より前になっています。（値: 「2026-09-01」）",
        "year_plan.csv 6行目 「開始日」列: 開始日は研修区分の行に書いてください",
        "year_plan.csv 6行目 「期限」列: モジュールの行には期限が必要です。",
        "year_plan.csv 7行目 「開始日」列: 開始日が令和8年度（2026/04/01〜2027/03/31）の外です。（値: 「2025-10-01」）",
        "year_plan.csv 7行目 「対象」列: 令和8年度の「係長職」は 4行目 にもあります。",
    ):
        assert expected in text, (expected, text)


def test_a_plan_gives_each_module_its_deadline():
    plans = parse_year_plans(list(PLAN[0]), [list(r) for r in PLAN[1:]], file="p.csv", curriculum=load_curriculum())
    plan = plans[Y2]
    assert plan.tracks == frozenset({"ippan", "kakaricho"}) and plan.opened == date(2026, 10, 1)
    assert plan.deadline("ippan", "B01") == date(2026, 11, 30) and plan.deadline("ippan", "B05") == date(2026, 11, 15)
    assert plan.offers("kakaricho") and not plan.offers("kacho") and plans[Y1].offers("kacho")


# ---------------------------------------------------------------- a city across two years


@dataclass(frozen=True)
class Hand:
    """One graded submission: who, which module, the score out of 10, and when (JST)."""

    staff_id: str
    module: str
    score: float
    at: datetime


def _day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 10, 0, tzinfo=JST)


IPPAN = ("B00", "B01", "B05", "B07", "B02", "B06")
YEAR1_ROSTER = (
    ("300001", "青木　一郎", "", "総務部", "人事課", "主事", ""),  # stays; 一般職 is retaken every year
    ("300002", "石田　二葉", "", "総務部", "人事課", "主事", ""),  # transferred in April
    ("300003", "上野　三郎", "", "総務部", "人事課", "主任", ""),  # promoted to 係長 in April
    ("300005", "江藤　五月", "", "市民生活部", "市民課", "主事", ""),  # leaves in March
    ("300006", "大野　六花", "", "市民生活部", "市民課", "主事", ""),  # on 育児休業 in year 2, extension
    ("300007", "加藤　七海", "", "市民生活部", "市民課", "主事", ""),  # exempted in year 2
)
YEAR2_ROSTER = (
    ("300001", "青木　一郎", "", "総務部", "人事課", "主事", ""),
    ("300002", "石田　二葉", "", "市民生活部", "市民課", "主事", ""),
    ("300003", "上野　三郎", "", "総務部", "人事課", "係長", ""),
    ("300004", "木村　四葉", "", "総務部", "人事課", "主事", ""),  # new hire
    ("300006", "大野　六花", "", "市民生活部", "市民課", "主事", ""),
    ("300007", "加藤　七海", "", "市民生活部", "市民課", "主事", ""),
)
YEAR1_WORK = (
    *(Hand("300001", m, 9, _day(2025, 11, 4 + i)) for i, m in enumerate(IPPAN)),
    *(Hand("300002", m, 8, _day(2025, 12, 1 + i)) for i, m in enumerate(IPPAN[:3])),
    *(Hand("300003", m, 10, _day(2026, 1, 5 + i)) for i, m in enumerate(("B00", "B01", "B05", "B07"))),
    Hand("300005", "B00", 10, _day(2026, 2, 2)),
    Hand("300006", "B00", 3, _day(2026, 2, 3)),  # below the pass mark
)
YEAR2_WORK = (
    Hand("300001", "B00", 7, _day(2026, 10, 20)),  # retake: replaces last year's submission in nbgrader
    Hand("300001", "B05", 4, _day(2026, 10, 21)),  # retake, failed
    Hand("300002", "B07", 10, _day(2026, 10, 22)),
    Hand("300003", "K01", 9, _day(2026, 11, 2)),
    Hand("300004", "B00", 10, _day(2026, 11, 3)),
)
EXTENSIONS = (
    ("職員番号", "氏名", "年度", "対象", "措置", "期限", "理由", "備考"),
    ("300006", "大野　六花", "令和8年度", "", "延長", "2027-09-30", "育児休業", "復職後半年"),
    ("300007", "加藤　七海", "令和8年度", "一般職", "免除", "", "合理的配慮", ""),
)


def _plan_carry_over(course: Course) -> Curriculum:
    """The course's curriculum with the 一般職 track retaken every year (carry_over = false)."""
    path = course.root / "settings" / "curriculum.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[tracks.ippan]\n", "[tracks.ippan]\ncarry_over = false\n"), encoding="utf-8")
    write_csv(course.root / "settings" / "year_plan.csv", PLAN[1:], header=PLAN[0])
    return load_curriculum(path)


def _hand_in(course: Course, work: tuple[Hand, ...]) -> None:
    """Graded submissions as nbgrader leaves them; a second one of the same module replaces the first."""
    with open_gradebook(course) as gb:
        for hand in work:
            name = hand.module.lower()
            if not any(a.name == name for a in gb.assignments):
                gb.update_or_create_assignment(name)
                gb.update_or_create_notebook(name, name)
                gb.update_or_create_grade_cell("answer", name, name, max_score=10, cell_type="code")
            stamp = hand.at.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
            gb.update_or_create_submission(name, hand.staff_id, timestamp=stamp)
            grade = gb.find_grade("answer", name, name, hand.staff_id)
            grade.auto_score, grade.needs_manual_grade = hand.score, False
            gb.db.commit()


def _import_roster(course: Course, rows: tuple[tuple[str, ...], ...], year: FiscalYear, tmp: Path) -> None:
    from course.roster import import_roster

    import_roster(course=course, path=write_csv(tmp / f"roster{year.start}.csv", rows), year=year)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Course, Curriculum]:
    """Two years of a small city: year 1 roster and work, then April's roster, HR's extensions and year 2's work."""
    tmp = tmp_path_factory.mktemp("city")
    course = course_folder(tmp / "course")
    cur = _plan_carry_over(course)
    _import_roster(course, YEAR1_ROSTER, Y1, tmp)
    _hand_in(course, YEAR1_WORK)
    gradebook.record_completions(course=course, curriculum=cur)  # what autograding does before it grades again
    _import_roster(course, YEAR2_ROSTER, Y2, tmp)
    extensions.import_extensions(
        course=course, curriculum=cur, path=write_csv(tmp / "ext.csv", EXTENSIONS[1:], header=EXTENSIONS[0]),
        by="人事課 試験",
    )  # fmt: skip
    _hand_in(course, YEAR2_WORK)
    gradebook.record_completions(course=course, curriculum=cur)
    return course, cur


def _expected(cur: Curriculum, year: FiscalYear) -> dict[str, dict[str, object]]:
    """A plain recomputation from the inputs above, not using the course's rules code."""
    roster = {r[0]: r for r in (YEAR1_ROSTER if year == Y1 else YEAR2_ROSTER)}
    previous = {r[0]: r for r in YEAR1_ROSTER} if year == Y2 else {}
    grades = {"主事": "一般職", "主任": "一般職", "係長": "係長職"}
    track_of = {"一般職": "ippan", "係長職": "kakaricho"}
    plan = {r[1]: r for r in PLAN[1:] if FiscalYear.parse(r[0]) == year}
    work = [*YEAR1_WORK, *(YEAR2_WORK if year == Y2 else ())]
    granted = {r[0]: r for r in EXTENSIONS[1:]} if year == Y2 else {}
    people = {}
    for staff_id in sorted({*roster, *previous}):
        row = roster.get(staff_id) or previous[staff_id]
        key = track_of[grades[row[5]]]
        track = cur.tracks[key]
        first = year.first_day - timedelta(days=36500) if track.carry_over else year.first_day

        def done(module: str, *, first: date = first, staff_id: str = staff_id) -> bool:
            return any(
                h.staff_id == staff_id and h.module == module and h.score >= 6 and first <= h.at.date() <= year.last_day
                for h in work
            )

        pending = [m for m in track.required if not done(m)]
        deadlines = []
        for m in pending:
            due = plan.get(m, plan[track.name])[3]
            deadlines.append(_slash(due.replace("-", "/")))
        extension = granted.get(staff_id)
        if extension and extension[4] == "延長":
            deadlines = [date.fromisoformat(extension[5])] * len(deadlines)
        exempt = extension is not None and extension[4] == "免除"
        people[staff_id] = {
            "department": row[3],
            "section": row[4],
            "current": staff_id in roster,
            "track": key,
            "complete": not pending,
            "exempt": exempt and bool(pending),
            "pending": () if exempt else tuple(pending),
            "overdue": bool(pending) and not exempt and min(deadlines) < AS_OF.date(),
            "deadline": None if exempt or not deadlines else min(deadlines),
        }
    return people


def _slash(text: str) -> date:
    y, m, d = (int(p) for p in text.split("/"))
    return date(y, m, d)


@pytest.mark.parametrize("year", [Y1, Y2], ids=["令和7年度", "令和8年度"])
def test_each_years_records_equal_a_plain_recomputation(city: tuple[Course, Curriculum], year: FiscalYear):
    course, cur = city
    expected = _expected(cur, year)
    records = {r.staff.staff_id: r for r in completion_records(course=course, curriculum=cur, year=year, as_of=AS_OF)}
    assert set(records) == set(expected)
    for staff_id, want in expected.items():
        record = records[staff_id]
        track = record.grade_track
        got = {
            "department": record.staff.department,
            "section": record.staff.section,
            "current": record.staff.current,
            "track": track.track_key,
            "complete": track.status is TrackStatus.COMPLETE,
            "exempt": track.status is TrackStatus.EXEMPT,
            "pending": () if track.status is TrackStatus.EXEMPT else tuple(m for m, _ in track.pending),
            "overdue": track.overdue,
            "deadline": None if track.status is TrackStatus.EXEMPT else track.deadline,
        }
        assert got == want, staff_id


def test_april_brings_a_transfer_a_promotion_a_new_hire_and_a_leaver(city: tuple[Course, Curriculum]):
    course, cur = city
    records = {r.staff.staff_id: r for r in completion_records(course=course, curriculum=cur, year=Y2, as_of=AS_OF)}
    assert records["300002"].change == "異動（総務部人事課→市民生活部市民課）"
    assert records["300003"].change == "昇任（一般職→係長職）"
    assert records["300004"].change == "新規"
    assert not records["300005"].staff.current and "名簿から外れました" in records["300005"].change
    # The promoted 係長 is measured on the 係長 track; last year's B00・B01・B05・B07 count, K01 done this year.
    assert records["300003"].grade_track.track_key == "kakaricho"
    assert [m for m, _ in records["300003"].grade_track.pending] == ["K02"]
    # Last year's list is unchanged by this year's retake: 300001 completed 一般職 in 令和7年度.
    last_year = {r.staff.staff_id: r for r in completion_records(course=course, curriculum=cur, year=Y1, as_of=AS_OF)}
    assert last_year["300001"].grade_track.status is TrackStatus.COMPLETE
    assert last_year["300003"].staff.section == "人事課" and last_year["300002"].staff.department == "総務部"


def test_hr_lists_per_year_and_per_section_match_the_recomputation(city: tuple[Course, Curriculum], tmp_path: Path):
    course, cur = city
    for year in (Y1, Y2):
        result = export.export(course=course, curriculum=cur, out_dir=tmp_path, year=year, as_of=AS_OF)
        assert result.workbook.name == f"修了状況一覧_{year.label}_令和8年12月7日現在.xlsx"
        expected = _expected(cur, year)
        book = load_workbook(result.workbook, read_only=True)
        rows = list(book["職員別"].iter_rows(values_only=True))
        staff = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
        assert set(staff) == set(expected)
        for staff_id, want in expected.items():
            row = staff[staff_id]
            assert (row["部"], row["課"]) == (want["department"], want["section"])
            assert row["期限超過"] == ("期限超過" if want["overdue"] else None), staff_id
            assert row["在籍"] == ("在籍" if want["current"] else "名簿外")
        # One file per 課 on this year's roster; each lists exactly the unfinished (or exempted) people of the 課.
        files = {p.name.split("_")[0]: p for p in result.section_files}
        sections = {want["department"] + want["section"] for want in expected.values() if want["current"]}
        assert set(files) == sections
        for name, path in files.items():
            sheet = load_workbook(path, read_only=True).worksheets[0]
            listed = [r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0]]
            want_ids = sorted(
                staff_id
                for staff_id, want in expected.items()
                if want["current"] and want["department"] + want["section"] == name and not want["complete"]
            )
            assert sorted(r[0] for r in listed) == want_ids, name
            for row in listed:
                want = expected[row[0]]
                assert (row[5] or "") == "・".join(want["pending"]), row
                assert (row[7] == "期限超過") is want["overdue"], row
    y2 = {p.name.split("_")[0]: p for p in result.section_files}
    sheet = load_workbook(y2["市民生活部市民課"], read_only=True).worksheets[0]
    rows = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["300006"][8] == "延長 2027/09/30まで（育児休業）" and rows["300007"][4] == "免除"


def test_extensions_are_logged_and_a_reimport_changes_and_removes(city: tuple[Course, Curriculum], tmp_path: Path):
    course, cur = city
    before = load_extensions(course=course)
    sheet = write_csv(tmp_path / "ext2.csv", [("300006", "", "令和8年度", "", "延長", "2027-12-31", "育児休業", "")],
                      header=EXTENSIONS[0])  # fmt: skip
    preview = extensions.import_extensions(course=course, curriculum=cur, path=sheet, by="試行", dry_run=True)
    assert (len(preview.changed), len(preview.removed)) == (1, 1) and load_extensions(course=course) == before
    try:
        extensions.import_extensions(course=course, curriculum=cur, path=sheet, by="人事課 二人目")
        after = load_extensions(course=course)
        assert [(e.staff_id, e.until) for e in after] == [("300006", date(2027, 12, 31))]
        engine = create_engine(course.db_url)
        log = [(r.change, r.staff_id, r.by) for r in engine.connect().execute(select(extension_log_table))]
        engine.dispose()
        assert ("追加", "300007", "人事課 試験") in log
        assert ("変更", "300006", "人事課 二人目") in log and ("削除", "300007", "人事課 二人目") in log
    finally:
        extensions.import_extensions(
            course=course, curriculum=cur, path=write_csv(tmp_path / "ext.csv", EXTENSIONS[1:], header=EXTENSIONS[0]),
            by="人事課 試験",
        )  # fmt: skip


def test_a_bad_extension_sheet_lists_every_mistake_and_writes_nothing(city: tuple[Course, Curriculum], tmp_path: Path):
    course, cur = city
    before = load_extensions(course=course)
    rows = [
        ("999999", "", "令和8年度", "", "延長", "2027-01-31", "育児休業", ""),  # 2: not on the roster
        ("300001", "", "来年", "", "延長", "2027-01-31", "育児休業", ""),  # 3: year
        ("300001", "", "令和8年度", "一般", "延長", "2027-01-31", "育児休業", ""),  # 4: target
        ("300002", "", "令和8年度", "", "延期", "", "育児休業", ""),  # 5: measure
        ("300003", "", "令和8年度", "", "延長", "", "育児休業", ""),  # 6: no deadline
        ("300004", "", "令和8年度", "", "免除", "2027-01-31", "出張", ""),  # 7: deadline on 免除, reason
    ]
    with pytest.raises(SheetError) as caught:
        extensions.import_extensions(
            course=course, curriculum=cur, path=write_csv(tmp_path / "bad.csv", rows, header=EXTENSIONS[0])
        )
    text = str(caught.value)
    assert text.startswith("猶予・免除の一覧に 7 件の誤りがあります。何も取り込んでいません。")
    for expected in (
        "bad.csv 2行目 「職員番号」列: 名簿にない職員番号です。",
        "bad.csv 3行目 「年度」列: 年度は「令和8年度」か「2026」のように書いてください。（値: 「来年」）",
        "bad.csv 4行目 「対象」列: 対象は空欄（すべて）、研修区分",
        "bad.csv 5行目 「措置」列: 措置は「延長」か「免除」にしてください。（値: 「延期」）",
        "bad.csv 6行目 「期限」列: 延長には新しい期限（例: 2027-06-30）が必要です。",
        "bad.csv 7行目 「期限」列: 免除の行には期限を書かないでください。（値: 「2027-01-31」）",
        "bad.csv 7行目 「理由」列: 理由は 育児休業・病気休暇・合理的配慮・途中採用・その他 のいずれかにしてください",
    ):
        assert expected in text, (expected, text)
    assert load_extensions(course=course) == before


def test_importing_an_earlier_years_roster_keeps_the_current_one(city: tuple[Course, Curriculum], tmp_path: Path):
    """HR backfilling last year's roster must not turn today's 係長 back into a 主任."""
    from course.records import load_staff
    from course.roster import import_roster

    course, _ = city
    before = load_staff(course=course)
    report = import_roster(course=course, path=write_csv(tmp_path / "old.csv", YEAR1_ROSTER), year=Y1)
    assert "現在の名簿は変えていません" in report.notes[0]
    assert load_staff(course=course) == before
    assert next(s for s in before if s.staff_id == "300003") == Staff(
        "300003", "上野　三郎", "", "総務部", "人事課", "係長", "係長職", False
    )
