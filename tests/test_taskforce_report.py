"""The task force's progress report: every number is checked against an independent computation from the gradebook.

The independent side reads nbgrader's tables with plain SQL (its own score rule written out: manual score if
given, else the autograded score, plus extra credit) and applies the completion rules with plain Python, so it
shares nothing with course.gradebook, course.completion or course.taskforce.progress.
"""

from __future__ import annotations

import multiprocessing
import re
import sqlite3
import sys
import tomllib
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import nbformat
import pytest
from nbclient import NotebookClient
from openpyxl import load_workbook

from course import export, records, taskforce
from course.config import Course, CourseError
from course.curriculum import load_curriculum
from course.gradebook import open_gradebook
from course.organisation import ROSTER_SETTINGS, load_order
from course.records import load_submissions
from course.taskforce import dashboard, progress, report
from tests import synthetic
from tests.conftest import REPO

TODAY = date(2026, 11, 27)
JST = ZoneInfo("Asia/Tokyo")
SCORES_SQL = """
SELECT sa.student_id, a.name, sa.timestamp,
       SUM(CASE WHEN g.manual_score IS NOT NULL THEN g.manual_score + COALESCE(g.extra_credit, 0)
                WHEN g.auto_score IS NOT NULL THEN g.auto_score + COALESCE(g.extra_credit, 0)
                ELSE 0 END),
       SUM(gc.max_score),
       MAX(g.needs_manual_grade)
FROM submitted_assignment sa
JOIN assignment a ON a.id = sa.assignment_id
JOIN submitted_notebook sn ON sn.assignment_id = sa.id
JOIN grade g ON g.notebook_id = sn.id
JOIN grade_cells gc ON gc.id = g.cell_id
GROUP BY sa.id
"""


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Course:
    course = synthetic.course_folder(tmp_path_factory.mktemp("cohort"))
    curriculum = load_curriculum()
    synthetic.make_cohort(course=course, curriculum=curriculum, staff_count=150, today=TODAY, seed=7, share=0.9)
    return course


def _independent(course: Course):
    """Per person and module: (passed, awaiting, ratio-if-fully-graded, JST submission date), from plain SQL."""
    curriculum = load_curriculum()
    assert course.gradebook_file is not None
    with sqlite3.connect(course.gradebook_file) as db:
        staff = {
            row[0]: row[1:]
            for row in db.execute("SELECT staff_id, department, section, grade, promoter, name FROM course_staff")
        }
        rows = db.execute(SCORES_SQL).fetchall()
    by_name = {m.assignment: m for m in curriculum.modules.values()}
    results: dict[str, dict[str, tuple[bool, bool, float | None, date]]] = defaultdict(dict)
    for student, name, stamp, score, max_score, manual in rows:
        module = by_name[name]
        day = datetime.fromisoformat(stamp).replace(tzinfo=UTC).astimezone(JST).date()
        awaiting = bool(manual)
        passed = not awaiting and score >= module.pass_ratio * max_score - 1e-9
        results[student][module.id] = (passed, awaiting, None if awaiting else score / max_score, day)
    return curriculum, staff, results


def _track_done(track, modules: dict[str, tuple[bool, bool, float | None, date]]) -> date | None:
    passed = {m: v[3] for m, v in modules.items() if v[0]}
    if not all(m in passed for m in track.required):
        return None
    electives = sorted(passed[m] for m in track.electives if m in passed)
    if len(electives) < track.min_electives:
        return None
    return max([passed[m] for m in track.required] + electives[: track.min_electives])


def _views(course: Course) -> report.Views:
    curriculum = load_curriculum()
    completions = records.completion_records(course=course, curriculum=curriculum)
    modules = curriculum.available(course.source_dir)
    return report.views(completions, curriculum, modules, datetime(2026, 11, 27, 18, 0, tzinfo=JST))


def test_load_submissions_equals_nbgraders_own_query(cohort: Course):
    curriculum = load_curriculum()
    names = [m.assignment for m in curriculum.modules.values()]
    ours = {(s.staff_id, s.assignment): (s.score, s.max_score, s.needs_manual_grade) for s in
            load_submissions(course=cohort, assignments=names)}  # fmt: skip
    with open_gradebook(cohort) as gb:
        theirs = {
            (row["student"], name): (float(row["score"]), float(row["max_score"]), bool(row["needs_manual_grade"]))
            for name in names
            for row in gb.submission_dicts(name)
        }
    assert len(ours) > 900
    assert ours == theirs


def test_module_numbers_match_the_gradebook(cohort: Course):
    curriculum, _, results = _independent(cohort)
    stats = {s.module.id: s for s in _views(cohort).module_stats}
    assert set(stats) == set(curriculum.modules)
    for module_id, stat in stats.items():
        entries = [r[module_id] for r in results.values() if module_id in r]
        graded = [r for r in entries if not r[1]]
        assert stat.submitted == len(entries)
        assert stat.graded == len(graded)
        assert stat.passed == sum(r[0] for r in graded)
        ratios = [r[2] for r in graded if r[2] is not None]
        assert stat.mean_score == pytest.approx(sum(ratios) / len(ratios))


def test_department_rates_match_the_gradebook(cohort: Course):
    curriculum, staff, results = _independent(cohort)
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for staff_id, (department, _section, grade, promoter, _name) in staff.items():
        tracks = [curriculum.track_for_grade(grade), *([curriculum.promoter_track()] if promoter else [])]
        for track in tracks:
            expected[(department, track.name)][0] += 1
            expected[(department, track.name)][1] += _track_done(track, results.get(staff_id, {})) is not None
    rates = {(r.department, r.track): [r.staff_count, r.completed] for r in _views(cohort).departments}
    assert rates == dict(expected)
    assert sum(done for _, done in expected.values()) > 5  # the cohort does contain completions


def test_departments_and_sections_follow_the_organisations_order(cohort: Course, tmp_path: Path):
    """The report lists 部 and 課 in the order settings/roster.toml gives (as HR's lists do), not by name."""
    named = tomllib.loads(cohort.settings_file(ROSTER_SETTINGS).read_text(encoding="utf-8"))["organisation"]
    order = load_order(cohort.settings_file(ROSTER_SETTINGS))
    curriculum = load_curriculum()
    v = report.views(records.completion_records(course=cohort, curriculum=curriculum), curriculum,
                     curriculum.available(cohort.source_dir), datetime(2026, 11, 27, 18, 0, tzinfo=JST), order=order)  # fmt: skip
    departments = list(dict.fromkeys(r.department for r in v.departments))
    assert set(departments) == set(synthetic.DEPARTMENTS)
    assert departments == [d for d in named["departments"] if d in departments]
    assert departments != sorted(departments)  # by name they would come in another order
    units = list(dict.fromkeys((r.department, r.section) for r in v.sections))
    assert units == sorted(units, key=lambda unit: order(*unit)) and units != sorted(units)
    page = report.write_report(course=cohort, curriculum=curriculum, out_dir=tmp_path).html.read_text(encoding="utf-8")
    first_section = page[page.index("<h2>1. ") : page.index("<h2>2. ")]
    assert sorted(departments, key=first_section.index) == departments


def test_weekly_trend_matches_the_gradebook(cohort: Course):
    curriculum, staff, results = _independent(cohort)
    v = _views(cohort)
    assert v.trend[0].week_start == date(2026, 9, 28)  # the Monday of the week the course opened (2026-10-01)
    assert v.trend[-1].week_start == date(2026, 11, 23)
    for point in v.trend:
        end = point.week_start + timedelta(days=6)
        for track in curriculum.tracks.values():
            done = 0
            for staff_id, (_, _, grade, promoter, _) in staff.items():
                if track.grade == grade or (track.promoter and promoter):
                    day = _track_done(track, results.get(staff_id, {}))
                    done += day is not None and day <= end
            assert point.completed[track.name] == done, (point.week_start, track.name)


def test_people_lists_match_the_gradebook(cohort: Course):
    _, staff, results = _independent(cohort)
    v = _views(cohort)
    assert {s.staff_id for s in v.not_started} == {s for s in staff if s not in results}
    waiting = {(s, m) for s, modules in results.items() for m, r in modules.items() if r[1]}
    assert {(w.staff.staff_id, w.module.id) for w in v.waiting} == waiting
    stamps = [w.submitted_at for w in v.waiting]
    assert stamps == sorted(stamps)  # oldest first


def test_promoter_steps_match_the_gradebook(cohort: Course):
    curriculum, staff, results = _independent(cohort)
    track = curriculum.promoter_track()
    expected = {}
    for staff_id, (_, _, _, promoter, _) in staff.items():
        if not promoter:
            continue
        passed = {m for m, r in results.get(staff_id, {}).items() if r[0]}
        done = [
            len(passed & set(track.electives)) >= track.min_electives if step.electives else set(step.modules) <= passed
            for step in track.steps
        ]
        expected[staff_id] = done.index(False) if False in done else len(done)
    assert {p.staff.staff_id: p.reached for p in _views(cohort).promoters} == expected
    assert len(expected) == sum(len(sections) for sections in synthetic.DEPARTMENTS.values())  # one per 課
    assert len(set(expected.values())) > 1  # promoters stand at different steps


def test_report_files_show_the_same_numbers(cohort: Course, tmp_path: Path):
    result = report.write_report(course=cohort, curriculum=load_curriculum(), out_dir=tmp_path)
    page = result.html.read_text(encoding="utf-8")
    v = _views(cohort)
    people = progress.current(v.completions)
    assert page.count('<img src="data:image/png;base64,') == 4
    assert "http" not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # self-contained
    assert f"対象職員<b>{len(people)} 人</b>" in page
    assert f"採点待ち<b>{len(v.waiting)} 件</b>" in page
    assert f"未着手<b>{len(v.not_started)} 人</b>" in page
    assert result.workbook.name == report.TABLES_NAME
    assert not list(tmp_path.glob(f"{export.WORKBOOK_STEM}*")), "HR's workbook has one writer: course.export"
    workbook = load_workbook(result.workbook, read_only=True)
    assert workbook.sheetnames == [
        "部別の修了率", "課別の修了率", "モジュール成績", "週別推移", "推進員ステップ", "未着手者", "採点待ち",
        "部別の報告状況", "取組の状況", "削減時間_部別", "削減時間_四半期別", "取組一覧",
    ]  # fmt: skip
    sheet = {row[0]: row for row in workbook["モジュール成績"].iter_rows(min_row=2, values_only=True)}
    for stat in v.module_stats:
        assert sheet[stat.module.id][2:5] == (stat.submitted, stat.graded, stat.passed)
    assert len(list(workbook["採点待ち"].iter_rows(min_row=2))) == len(v.waiting)
    # the heatmap's and the 課 table's numbers, as the footer says: 部 × 研修区分 and 部/課 × 研修区分
    by_department = {
        (r[0], r[1]): (r[2], r[3]) for r in workbook["部別の修了率"].iter_rows(min_row=2, values_only=True)
    }
    assert by_department == {(r.department, r.track): (r.staff_count, r.completed) for r in v.departments}
    by_section = {r[:5] for r in workbook["課別の修了率"].iter_rows(min_row=2, values_only=True)}
    assert by_section == {(r.department, r.section, r.track, r.staff_count, r.completed) for r in v.sections}
    # the promoters' list says how far each has come in the chart's words, not as a bare number
    steps = {row[0]: row[-1] for row in workbook["推進員ステップ"].iter_rows(min_row=2, values_only=True)}
    labels = {p.staff.staff_id: p.reached for p in v.promoters}
    assert {s for s, reached in labels.items() if reached == 0} == {
        s for s, w in steps.items() if w == "ステップ1の途中"
    }
    assert all(steps[s].startswith(f"{reached}. ") for s, reached in labels.items() if reached)
    workbook.close()


def test_the_cli_says_the_reports_own_count_of_staff(tmp_path: Path, monkeypatch, capsys):
    """Staff who left (名簿外) are not in the report's 対象職員, nor in the number the command prints."""
    from course import cli
    from course.gradebook import sync_staff

    course = synthetic.course_folder(tmp_path / "course")
    staff = synthetic.make_cohort(course=course, curriculum=load_curriculum(), staff_count=12, today=TODAY, seed=3)
    sync_staff(course=course, staff=staff[2:])  # two of them have left
    monkeypatch.setenv("COURSE_ROOT", str(course.root))
    assert cli.main(["--runtime", str(course.runtime), "report", "--out", str(tmp_path)]) == 0
    assert "進捗報告書を出力しました（対象職員 10 人、在籍者のみ）" in capsys.readouterr().out
    assert "対象職員<b>10 人</b>在籍者のみ" in (tmp_path / report.REPORT_NAME).read_text(encoding="utf-8")


def test_report_for_an_empty_gradebook_still_reads_well(course: Course, tmp_path: Path):
    result = report.write_report(course=course, curriculum=load_curriculum(), out_dir=tmp_path)
    page = result.html.read_text(encoding="utf-8")
    assert "対象職員<b>0 人</b>" in page
    assert "推進員が名簿にいません" in page


def test_dashboard_filters_narrow_every_view(cohort: Course):
    board = dashboard.build(course=cohort, curriculum=load_curriculum())
    everyone = progress.current(records.completion_records(course=cohort, curriculum=load_curriculum()))
    assert f"対象職員<b>{len(everyone)} 人</b>" in board.view.value
    board.department.value = "総務部"
    board.grade.value = "一般職"
    chosen = [c for c in everyone if c.staff.department == "総務部" and c.staff.grade == "一般職"]
    assert 0 < len(chosen) < len(everyone)
    assert f"対象職員<b>{len(chosen)} 人</b>" in board.view.value
    waiting = progress.awaiting_grading(chosen, load_curriculum().available(cohort.source_dir))
    assert f"採点待ち<b>{len(waiting)} 件</b>" in board.view.value
    assert "都市建設部" not in board.view.value
    board.reload.click()  # re-reading the gradebook keeps the chosen filters
    assert board.department.value == "総務部"
    assert f"対象職員<b>{len(chosen)} 人</b>" in board.view.value


@pytest.mark.notebook
def test_dashboard_notebook_runs_against_a_gradebook(cohort: Course, monkeypatch):
    notebook = nbformat.read(REPO / "instructor" / "dashboard.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")  # stored without outputs
    monkeypatch.setenv(dashboard.RUNTIME_ENV, str(cohort.runtime))
    NotebookClient(notebook, timeout=120, resources={"metadata": {"path": str(REPO / "instructor")}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def _broken_chart(v: object) -> str:
    raise RuntimeError("描画テスト用の失敗")


@pytest.mark.parametrize("cores", [1, 2], ids=["drawn here", "drawn in the chart process"])
def test_a_chart_that_cannot_be_drawn_leaves_no_report(cohort: Course, tmp_path: Path, monkeypatch, cores: int):
    """The error is in Japanese and names the cause; neither file is written, and no chart process is left over."""
    from course.taskforce import charts

    monkeypatch.setattr(report.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(charts, "CHARTS", (*charts.CHARTS[:2], _broken_chart, charts.CHARTS[3]))
    with pytest.raises(
        CourseError, match=r"グラフを描けませんでした（RuntimeError: 描画テスト用の失敗）。ファイルは書き込んでいません"
    ):
        report.write_report(course=cohort, curriculum=load_curriculum(), out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert multiprocessing.active_children() == []


def test_a_chart_process_that_cannot_import_matplotlib_leaves_no_report(cohort: Course, tmp_path: Path, monkeypatch):
    """The chart process stops before it is sent anything: the report says why, in Japanese, and writes nothing."""
    monkeypatch.setattr(report.os, "cpu_count", lambda: 2)
    # Importing the chart module fails in the forked process, as it would without matplotlib.
    monkeypatch.setitem(sys.modules, "course.taskforce.charts", None)
    monkeypatch.delattr(taskforce, "charts", raising=False)
    with pytest.raises(
        CourseError, match=r"グラフを描けませんでした（ModuleNotFoundError: .*ファイルは書き込んでいません"
    ):
        report.write_report(course=cohort, curriculum=load_curriculum(), out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("failing", ["completion_records", "xlsx_bytes"])
def test_a_failure_beside_the_chart_process_leaves_no_report(cohort: Course, tmp_path: Path, monkeypatch, failing: str):
    """Whether the chart process is still waiting for data or already drawing, the report's own error is the one
    shown, nothing is written and the chart process ends."""

    def fail(*args: object, **kwargs: object) -> None:
        raise CourseError("テスト用の失敗")

    monkeypatch.setattr(report, failing, fail)
    with pytest.raises(CourseError, match="テスト用の失敗"):
        report.write_report(course=cohort, curriculum=load_curriculum(), out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert multiprocessing.active_children() == []
