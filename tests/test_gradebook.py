"""The gradebook as grading workers use it: one shared engine per process, no write lost."""

from __future__ import annotations

import nbgrader.api
import pytest
from nbgrader.api import Gradebook

from course.config import Course
from course.gradebook import ensure_database, share_engines


def test_shared_engine_serves_every_gradebook_and_keeps_writes(course: Course, monkeypatch: pytest.MonkeyPatch):
    """Gradebooks opened after share_engines() reuse one engine; what they write is there for a fresh engine."""
    monkeypatch.setattr(nbgrader.api, "create_engine", nbgrader.api.create_engine)  # undone after the test
    ensure_database(course)
    share_engines()
    with Gradebook(course.db_url, course.course_id) as first:
        first.add_student("900001", first_name="架空")
        engine = first.engine
    with Gradebook(course.db_url, course.course_id) as second:  # usable after the first one's close()
        assert second.engine is engine
        second.add_student("900002", first_name="仮名")
    monkeypatch.undo()
    with Gradebook(course.db_url, course.course_id) as fresh:
        assert fresh.engine is not engine
        assert sorted(s.id for s in fresh.students) == ["900001", "900002"]


def test_scores_are_read_through_the_courses_index(course: Course):
    """ensure_database adds the course's index on nbgrader's grade table (again and again without harm), and the
    queries of course/records.py read a city's scores and one person's through it instead of scanning the table."""
    import sqlite3

    from course import records

    ensure_database(course)
    ensure_database(course)
    assert course.gradebook_file is not None
    with sqlite3.connect(course.gradebook_file) as db:
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "course_grade_by_notebook" in indexes
        for where, params in (("", {}), (records._OWN_NOTEBOOKS, {"student": "900001"})):
            plan = " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + records._NOTEBOOK_SCORES.format(
                where=where), params))  # fmt: skip
            assert "USING COVERING INDEX course_grade_by_notebook" in plan, plan
            assert "SCAN g " not in plan.replace("SCAN g USING COVERING INDEX", ""), plan
