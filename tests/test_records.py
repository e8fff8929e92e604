"""The gradebook readers: the same records from SQLite and from an empty or missing gradebook, one column list."""

from __future__ import annotations

from pathlib import Path

from course.config import Course
from course.gradebook import ensure_database, staff_table, sync_staff
from course.models import Staff
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
