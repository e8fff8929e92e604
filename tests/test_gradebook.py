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
