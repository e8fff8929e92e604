"""One small run of the whole job: roster → release → submissions → collect → autograde → export."""

from __future__ import annotations

from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from openpyxl import load_workbook

from course import demo, export, grader
from course.config import Course
from course.curriculum import load_curriculum
from tests.conftest import STAFF_ROWS, write_csv

pytestmark = pytest.mark.pipeline


def test_demo_pipeline_on_a_small_roster(course_root: Path, tmp_path: Path):
    """Four fictional staff run through the demo; the workbook agrees with the gradebook for every one of them."""
    roster_file = write_csv(tmp_path / "roster.csv", STAFF_ROWS)
    runtime = tmp_path / "demo"
    profiles = {"100001": "correct", "100002": "blank", "100003": "wrong", "100004": "absent"}
    original = demo.choose_profile
    demo.choose_profile = lambda person, module: profiles[person.staff_id]  # fixed spread of answers
    try:
        result, summary = demo.run(
            course_root=course_root, runtime=runtime, roster_file=roster_file, module_ids=["B03"]
        )
    finally:
        demo.choose_profile = original
    assert result.workbook.name == "修了状況一覧.xlsx" and result.workbook.is_file()
    assert any("B03 の状況" in line for line in summary)

    course = Course.load(course_root, runtime=runtime)
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
    records = {
        r.staff.staff_id: r for r in export.completions_from_gradebook(course=course, curriculum=load_curriculum())
    }
    for staff_id, row in rows.items():
        assert row["B03 状況"] == str(records[staff_id].modules["B03"].status)
    assert (course.feedback_dir / "100001" / "b03" / "b03.html").is_file()


def test_autograde_is_incremental(course_root: Path, tmp_path: Path):
    """A second autograde run skips unchanged submissions; --force grades them again."""
    roster_file = write_csv(tmp_path / "roster.csv", STAFF_ROWS[:1])
    runtime = tmp_path / "demo"
    original = demo.choose_profile
    demo.choose_profile = lambda person, module: "correct"
    try:
        demo.run(course_root=course_root, runtime=runtime, roster_file=roster_file, module_ids=["B03"])
    finally:
        demo.choose_profile = original
    course = Course.load(course_root, runtime=runtime)
    modules = [load_curriculum().modules["B03"]]
    again = grader.autograde(course=course, modules=modules, progress=False)
    assert (again.done, len(again.skipped)) == ((), 1)
    forced = grader.autograde(course=course, modules=modules, force=True, progress=False)
    assert len(forced.done) == 1 and forced.backup is not None and forced.backup.is_file()
