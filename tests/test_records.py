"""The gradebook readers: the same records from SQLite and from an empty or missing gradebook, one column list."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from nbgrader.api import Grade, SubmittedAssignment, SubmittedNotebook

from course.config import Course
from course.gradebook import ensure_database, open_gradebook, staff_table, sync_staff
from course.models import Staff, Submission
from course.records import (
    STAFF_FIELDS,
    load_cell_grades,
    load_items,
    load_neutralisation_log,
    load_neutralised,
    load_staff,
    load_submissions,
)


def test_the_readers_select_the_columns_the_staff_table_has():
    """The plain SQL reads exactly the columns course/gradebook.py creates (besides the update time)."""
    assert [c.name for c in staff_table.columns] == ["staff_id", *STAFF_FIELDS, "updated_at"]


def test_no_gradebook_yet_reads_as_nobody(course: Course):
    """Before the first roster import there is no database file: the readers return nothing and create nothing."""
    assert course.gradebook_file is not None and not course.gradebook_file.exists()
    assert load_staff(course=course) == [] and load_submissions(course=course, assignments=["b00"]) == []
    assert (
        load_cell_grades(course=course, assignments=["b00"]) == []
        and load_items(course=course, assignments=["b00"]) == {}
    )
    assert load_neutralised(course=course) == [] and load_neutralisation_log(course=course) == []
    assert not course.gradebook_file.exists()


def test_staff_round_trip_through_sqlite(course: Course, tmp_path: Path):
    """What a roster import writes is what the reader gives back: names as written, flags as booleans, sorted."""
    people = [
        Staff("a00123", "小林　美咲", "こばやし みさき", "総務部", "人事課", "主事", "一般職", True),
        Staff("201001", "山田 花子", "", "市民生活部", "市民課", "課長", "課長職以上", False),
    ]
    ensure_database(course)
    sync_staff(course=course, staff=people)
    assert load_staff(course=course) == sorted(people, key=lambda s: s.staff_id)
    assert load_submissions(course=course, assignments=[]) == []


def test_a_submission_of_two_notebooks_scores_their_sum(course: Course):
    """Grades are summed per notebook, then per submission: both notebooks count, one manually graded cell still to
    grade in either keeps the submission waiting, and a submission not yet autograded (no grades) is not read."""
    ensure_database(course)
    sync_staff(
        course=course,
        staff=[
            Staff("400001", "佐藤 花子", "", "総務部", "人事課", "主事", "一般職", False),
            Staff("400002", "鈴木 一郎", "", "総務部", "人事課", "主事", "一般職", False),
        ],
    )
    with open_gradebook(course) as gb:
        gb.update_or_create_assignment("b01")
        cells = {}
        for notebook in ("part1", "part2"):
            gb.update_or_create_notebook(notebook, "b01")
            for name, cell_type in (("test", "code"), ("reflection", "markdown")):
                cell = gb.update_or_create_grade_cell(name, notebook, "b01", max_score=5.0, cell_type=cell_type)
                cells[(notebook, name)] = cell.id
        notebooks = {n.name: n.id for n in gb.find_assignment("b01").notebooks}
        assignment_id = gb.find_assignment("b01").id
        stamp = datetime(2026, 10, 1, 0, 30)  # nbgrader's naive UTC
        submissions = [
            {"id": f"sa{staff_id}", "assignment_id": assignment_id, "student_id": staff_id, "timestamp": stamp}
            for staff_id in ("400001", "400002")
        ]
        submitted_notebooks = [
            {"id": f"sn{staff_id}{notebook}", "assignment_id": f"sa{staff_id}", "notebook_id": notebooks[notebook]}
            for staff_id in ("400001", "400002")
            for notebook in ("part1", "part2")
        ]
        grades = [  # 400001 only: 400002's notebooks are not graded yet
            ("part1", "test", 4.0, None, None, False),
            ("part1", "reflection", None, 2.0, None, False),
            ("part2", "test", 3.0, None, 1.0, False),
            ("part2", "reflection", None, None, None, True),
        ]
        gb.db.execute(SubmittedAssignment.__table__.insert(), submissions)
        gb.db.execute(SubmittedNotebook.__table__.insert(), submitted_notebooks)
        gb.db.execute(
            Grade.__table__.insert(),
            [
                {
                    "id": f"g{notebook}{name}",
                    "notebook_id": f"sn400001{notebook}",
                    "cell_id": cells[(notebook, name)],
                    "auto_score": auto,
                    "manual_score": manual,
                    "extra_credit": extra,
                    "needs_manual_grade": waiting,
                }
                for notebook, name, auto, manual, extra, waiting in grades
            ],
        )
        gb.db.commit()
    expected = Submission(
        staff_id="400001",
        assignment="b01",
        score=4.0 + 2.0 + 3.0 + 1.0,
        max_score=20.0,
        needs_manual_grade=True,
        timestamp=datetime(2026, 10, 1, 9, 30, tzinfo=ZoneInfo("Asia/Tokyo")),
    )
    assert load_submissions(course=course, assignments=["b01"]) == [expected]
