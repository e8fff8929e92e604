"""One small run of the whole job: roster → release → submissions → collect → autograde → export."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from openpyxl import load_workbook

from course import demo, lifecycle, records
from course.autograde import grader
from course.config import Course
from course.curriculum import load_curriculum
from course.records import load_staff
from tests.conftest import STAFF_ROWS, write_csv

pytestmark = pytest.mark.pipeline


def _run_demo(course_root: Path, tmp_path: Path, rows: tuple, profile: object) -> tuple[Course, tuple]:
    """The demo on ``rows`` with a fixed answer profile (a name, or a dict per 職員番号), for module B03 only.

    B03 (code, on the promoters' path) is taken only by 推進員, so everyone here is made one."""
    roster_file = write_csv(tmp_path / "roster.csv", tuple((*row[:6], "○") for row in rows))
    runtime = tmp_path / "demo"
    original = demo.choose_profile
    demo.choose_profile = lambda person, module: profile[person.staff_id] if isinstance(profile, dict) else profile
    try:
        outcome = demo.run(course_root=course_root, runtime=runtime, roster_file=roster_file, module_ids=["B03"])
    finally:
        demo.choose_profile = original
    return Course.load(course_root, runtime=runtime), outcome


def test_demo_pipeline_on_a_small_roster(course_root: Path, tmp_path: Path):
    """Four fictional staff run through the demo; the workbook agrees with the gradebook for every one of them."""
    profiles = {"100001": "correct", "100002": "blank", "100003": "wrong", "100004": "absent"}
    course, (result, summary) = _run_demo(course_root, tmp_path, STAFF_ROWS, profiles)
    assert result.workbook.name.startswith(f"修了状況一覧_{result.year.label}_") and result.workbook.is_file()
    assert any("B03 の状況" in line for line in summary)
    gb = Gradebook(course.db_url, course.course_id)
    try:
        scores = {s.student_id: (s.code_score, s.max_code_score) for s in gb.assignment_submissions("b03")}
    finally:
        gb.close()
    assert set(scores) == {"100001", "100002", "100003"}  # the absent one never submitted
    assert scores["100001"][0] == scores["100001"][1] > 0  # correct answers get every autograded point
    assert scores["100002"][0] == 0  # the untouched student version scores nothing
    assert 0 <= scores["100003"][0] < scores["100001"][0]

    book = load_workbook(result.workbook)
    sheet = book["モジュール別"]
    header = [c.value for c in sheet[1]]
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert set(rows) == {"100001", "100002", "100003", "100004"}
    assert rows["100004"]["B03 状況"] == "未提出"
    assert rows["100002"]["B03 状況"] in {"受講中", "採点待ち"}
    by_id = {r.staff.staff_id: r for r in records.completion_records(course=course, curriculum=load_curriculum())}
    for staff_id, row in rows.items():
        assert row["B03 状況"] == str(by_id[staff_id].modules["B03"].status)
    assert (course.feedback_dir / "100001" / "b03" / "b03.html").is_file()


def test_demo_shows_a_year_with_deadlines_extensions_and_april_changes(course_root: Path, tmp_path: Path):
    """The demo's own roster and year plan: last year's roster then this year's (a promotion, a transfer, a new hire,
    a leaver), HR's extensions, B05 due yesterday; the summary and the per-課 lists show them. The item analysis
    flags the broken item the demo planted in B05 as one the strongest fail."""
    _, (result, summary) = _run_demo_default(course_root, tmp_path)
    text = "\n".join(summary)
    overdue = int(re.search(r"期限超過 (\d+) 人、猶予・免除 2 件", text)[1])
    assert overdue > 0
    assert "昇任（一般職→係長職）" in text and "異動（" in text and "（新規）" in text and "名簿から外れました" in text
    assert len(result.section_files) == 10 and all(p.is_file() for p in result.section_files)
    cells = {
        c for p in result.section_files for r in load_workbook(p, read_only=True).worksheets[0].iter_rows(values_only=True)
        for c in r
    }  # fmt: skip
    assert "期限超過" in cells and any(str(c).startswith("延長 ") for c in cells) and "免除" in cells
    # the 推進員 hand in their reports: five accepted, こども福祉部's refused with its reasons; a case list is written
    assert text.count("の進捗報告（1 件の取組") == 5
    assert "進捗報告（受付不可の例）" in text and "2行目「ステップ」: 5 は 1〜4 のどれでもありません" in text
    assert "2行目「部」: 「総務部」ですが、あなたの所属はこども福祉部です" in text  # with the template's, at once
    assert "横展開事例集 3 件" in text
    module, item = demo.PLANTED_ITEM
    assert f"    {module} {item}: 成績上位者ほど不正解（設問の誤りの疑い）" in summary, text
    report_page = (result.workbook.parent / "進捗報告書.html").read_text(encoding="utf-8")
    assert "7. 各部の進捗報告と削減時間" in report_page and "報告が遅れている部" in report_page


def _run_demo_default(course_root: Path, tmp_path: Path) -> tuple[Course, tuple]:
    runtime = tmp_path / "demo"
    outcome = demo.run(course_root=course_root, runtime=runtime, module_ids=[demo.PLANTED_ITEM[0]])
    return Course.load(course_root, runtime=runtime), outcome


def test_autograde_is_incremental(course_root: Path, tmp_path: Path):
    """A second autograde run skips unchanged submissions; --force grades them again."""
    course, _ = _run_demo(course_root, tmp_path, STAFF_ROWS[:1], "correct")
    modules = [load_curriculum().modules["B03"]]
    again = grader.autograde(course=course, modules=modules, progress=False)
    assert (again.done, len(again.skipped)) == ((), 1)
    forced = grader.autograde(course=course, modules=modules, force=True, progress=False)
    assert len(forced.done) == 1 and forced.backup is not None and forced.backup.is_file()


def test_regrading_keeps_manual_grades_and_comments(course_root: Path, tmp_path: Path):
    """A forced re-grade leaves the instructor's manual score and comment in place."""
    course, _ = _run_demo(course_root, tmp_path, STAFF_ROWS[:1], "correct")
    gb = Gradebook(course.db_url, course.course_id)
    try:
        grade = gb.find_grade("reflection", "b03", "b03", "100001")
        grade.manual_score = 2.0
        comment = gb.find_comment("reflection", "b03", "b03", "100001")
        comment.manual_comment = "具体的でよく書けています。"
        gb.db.commit()
    finally:
        gb.close()
    grader.autograde(course=course, modules=[load_curriculum().modules["B03"]], force=True, progress=False)
    gb = Gradebook(course.db_url, course.course_id)
    try:
        assert gb.find_grade("reflection", "b03", "b03", "100001").manual_score == 2.0
        assert gb.find_comment("reflection", "b03", "b03", "100001").manual_comment == "具体的でよく書けています。"
    finally:
        gb.close()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_run_can_simply_be_started_again(course_root: Path, tmp_path: Path, how: signal.Signals):
    """Ctrl-C or kill -9 in the middle of grading: the gradebook stays intact and the next run grades the rest."""
    # Twelve people, so that the grader is still busy when the signal arrives (one submission takes well under 1 s).
    staff = tuple((f"1002{i:02d}", f"架空 {i}", "", "総務部", "人事課", "主事", "") for i in range(12))
    course, _ = _run_demo(course_root, tmp_path, staff, "correct")
    markers = list(course.autograde_dir.glob(f"*/b03/{grader.MARKER}"))
    for marker in markers:
        marker.unlink()  # as if never graded: the next run must grade every one again
    command = [sys.executable, "-m", "course", "--runtime", str(course.runtime), "autograde", "B03", "--workers", "1"]
    env = {**os.environ, "COURSE_ROOT": str(course_root)}
    log = tmp_path / "autograde.log"
    with log.open("wb") as output:
        # As from a terminal: a shell started in the background (nohup … &) ignores SIGINT, and children inherit that.
        process = subprocess.Popen(
            command,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    deadline = time.monotonic() + 120
    while not list(course.autograde_dir.glob(f"*/b03/{grader.MARKER}")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, how)
    process.wait(timeout=60)
    graded_before = len(list(course.autograde_dir.glob(f"*/b03/{grader.MARKER}")))
    assert 1 <= graded_before < len(staff), log.read_text(encoding="utf-8", errors="replace")[-3000:]
    with sqlite3.connect(course.gradebook_file) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    again = grader.autograde(course=course, modules=[load_curriculum().modules["B03"]], progress=False)
    assert len(again.done) == len(staff) - graded_before and not again.failures
    gb = Gradebook(course.db_url, course.course_id)
    try:
        scores = {s.student_id: (s.code_score, s.max_code_score) for s in gb.assignment_submissions("b03")}
    finally:
        gb.close()
    assert all(score == maximum > 0 for score, maximum in scores.values())


def test_demo_dates_submissions_in_the_past_and_writes_report_and_certificates(course_root: Path, tmp_path: Path):
    """Demo submissions are spread over the weeks since the course opened; the report and certificates exist."""
    course, (_, summary) = _run_demo(course_root, tmp_path, STAFF_ROWS, "correct")
    people = records.completion_records(course=course, curriculum=load_curriculum())
    stamps = [r.modules["B03"].submitted_at for r in people if r.modules["B03"].submitted_at is not None]
    assert len(stamps) == len(STAFF_ROWS)
    now = datetime.now(course.timezone)
    assert all(now - timedelta(weeks=13) <= stamp <= now for stamp in stamps)
    assert (course.export_dir / "進捗報告書.html").is_file()
    certificates = sorted(p.name for p in (course.export_dir / "修了証").glob("*.pdf"))
    assert len(certificates) == sum(t.status == "修了" for r in people for t in r.tracks)
    assert any("進捗報告書" in line for line in summary)


def test_collect_says_per_person_what_changed(course_root: Path, tmp_path: Path):
    """Collecting again reports 変更なし for everyone; after one person resubmits, only that person is 再提出."""
    course, _ = _run_demo(course_root, tmp_path, STAFF_ROWS, {"100001": "correct", "100002": "wrong",
                                                                 "100003": "absent", "100004": "absent"})  # fmt: skip
    module = load_curriculum().modules["B03"]
    again = lifecycle.collect(course=course, modules=[module])
    assert {(who, what.split("（")[0]) for who, _, what in again.people} == {
        ("100001", "変更なし"),
        ("100002", "変更なし"),
    }
    person = next(s for s in load_staff(course=course) if s.staff_id == "100002")
    demo.simulate_submission(
        course, module, person, demo.DemoAnswers.load(course, module), profile="correct",
        home=tmp_path / "home-again" / "100002", submitted_at=datetime.now(course.timezone),
    )  # fmt: skip
    later = {who: what for who, _, what in lifecycle.collect(course=course, modules=[module]).people}
    assert later["100001"].startswith("変更なし") and later["100002"].startswith("再提出")


def test_submission_times_are_kept_in_japan_time(course_root: Path, tmp_path: Path):
    """A submission handed in at 16:38 JST is recorded as 16:38 JST, not 9 hours later (nbgrader's "JST" trap)."""
    course, _ = _run_demo(course_root, tmp_path, STAFF_ROWS[:1], "absent")
    module = load_curriculum().modules["B03"]
    person = next(s for s in load_staff(course=course) if s.staff_id == "100001")
    handed_in = datetime(2026, 10, 3, 16, 38, 9, tzinfo=course.timezone)
    demo.simulate_submission(
        course, module, person, demo.DemoAnswers.load(course, module), profile="correct",
        home=tmp_path / "home-jst", submitted_at=handed_in,
    )  # fmt: skip
    lifecycle.collect(course=course, modules=[module])
    grader.autograde(course=course, modules=[module], progress=False)
    record = next(r for r in records.completion_records(course=course, curriculum=load_curriculum()))
    assert record.modules["B03"].submitted_at == handed_in
