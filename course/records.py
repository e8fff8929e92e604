"""Completion records: who has completed what, read from the gradebook and judged by the curriculum's rules.

This is the one read model behind every output (HR's list, the task force's report and dashboard, certificates,
the CLI's summary). It reads; it writes nothing.

The two queries are plain SQL that SQLite and PostgreSQL both run. A SQLite gradebook (the usual one) is read with
Python's own sqlite3, so HR's export and the report start without importing SQLAlchemy or nbgrader (together over a
second); another database is read through SQLAlchemy. What they return is checked against nbgrader's own
``Gradebook.submission_dicts`` in tests/test_taskforce_report.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from course.completion import StaffCompletion, evaluate
from course.config import Course
from course.curriculum import Curriculum
from course.models import Staff, Submission

# The course's staff table (created in course/gradebook.py; tests/test_records.py checks the columns agree).
STAFF_TABLE = "course_staff"
STAFF_FIELDS = ("name", "kana", "department", "section", "position", "grade", "promoter", "current")
_STAFF = f"SELECT staff_id, {', '.join(STAFF_FIELDS)} FROM {STAFF_TABLE} {{where}} ORDER BY staff_id"

# nbgrader's tables. The score is nbgrader's Grade.score (the manual score if there is one, else the automatic one,
# plus extra credit); the maximum is nbgrader's Assignment.max_score (its grade cells' and task cells' points).
_SCORES = """
SELECT sa.student_id, a.name, sa.timestamp,
       SUM(CASE WHEN g.manual_score IS NOT NULL THEN g.manual_score + COALESCE(g.extra_credit, 0.0)
                WHEN g.auto_score IS NOT NULL THEN g.auto_score + COALESCE(g.extra_credit, 0.0)
                ELSE 0.0 END),
       MAX(CASE WHEN g.needs_manual_grade THEN 1 ELSE 0 END)
FROM submitted_assignment sa
JOIN assignment a ON sa.assignment_id = a.id
JOIN submitted_notebook sn ON sn.assignment_id = sa.id
JOIN grade g ON g.notebook_id = sn.id
WHERE a.course_id = :course AND a.name IN ({names}) {student}
GROUP BY sa.id, sa.student_id, a.name, sa.timestamp
"""
_MAXIMA = """
SELECT a.name, SUM(c.max_score)
FROM assignment a
JOIN notebook n ON n.assignment_id = a.id
JOIN base_cell b ON b.notebook_id = n.id
JOIN {cells} c ON c.id = b.id
WHERE a.course_id = :course AND a.name IN ({names})
GROUP BY a.name
"""
_NEEDED = {STAFF_TABLE, "grade", "submitted_assignment"}


class _Reader(Protocol):
    def __call__(self, sql: str, params: Mapping[str, object]) -> list[tuple[Any, ...]]: ...


@contextmanager
def _reading(course: Course) -> Iterator[_Reader | None]:
    """A function that runs a query on the gradebook, or None when there is no gradebook yet (nothing to report)."""
    file = course.gradebook_file
    if file is not None:
        if not file.is_file():
            yield None
            return
        connection = sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True, timeout=60)
        try:
            # The aggregate groups tens of thousands of rows: keep its scratch space in memory.
            connection.execute("PRAGMA temp_store = MEMORY")
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            yield (lambda sql, params: connection.execute(sql, dict(params)).fetchall()) if tables >= _NEEDED else None
        finally:
            connection.close()
        return
    from sqlalchemy import create_engine, inspect, text  # a server database: SQLAlchemy speaks its dialect

    engine = create_engine(course.db_url)
    try:
        with engine.connect() as link:

            def run(sql: str, params: Mapping[str, object]) -> list[tuple[Any, ...]]:
                return [tuple(row) for row in link.execute(text(sql), dict(params))]

            yield run if set(inspect(link).get_table_names()) >= _NEEDED else None
    finally:
        engine.dispose()


def load_staff(*, course: Course, staff_id: str | None = None) -> list[Staff]:
    """Everyone the course has ever known, current or not, ordered by 職員番号 (with ``staff_id``: that person only)."""
    where, params = ("WHERE staff_id = :staff", {"staff": staff_id}) if staff_id is not None else ("", {})
    with _reading(course) as read:
        rows = [] if read is None else read(_STAFF.format(where=where), params)
    return [
        Staff(staff_id, name, kana, department, section, position, grade, bool(promoter), bool(current))
        for staff_id, name, kana, department, section, position, grade, promoter, current in rows
    ]


def load_submissions(*, course: Course, assignments: Iterable[str], staff_id: str | None = None) -> list[Submission]:
    """The graded latest submission of every member of staff (or of ``staff_id`` only) for the given assignments, in
    the given order.

    Two aggregate queries for all assignments together; nbgrader's ``Gradebook.submission_dicts`` gives the same
    scores with several correlated subqueries per assignment and takes minutes for a whole city.
    """
    names = list(assignments)
    if not names:
        return []
    order = {name: index for index, name in enumerate(names)}
    params: dict[str, object] = {"course": course.course_id, **{f"a{i}": name for i, name in enumerate(names)}}
    student = ""
    if staff_id is not None:
        student, params["student"] = "AND sa.student_id = :student", staff_id
    placeholders = ", ".join(f":a{i}" for i in range(len(names)))
    maxima: dict[str, float] = {}
    with _reading(course) as read:
        if read is None:
            return []
        for cells in ("grade_cells", "task_cells"):
            for name, points in read(_MAXIMA.format(cells=cells, names=placeholders), params):
                maxima[name] = maxima.get(name, 0.0) + float(points or 0.0)
        rows = read(_SCORES.format(names=placeholders, student=student), params)
    tz = course.timezone
    rows.sort(key=lambda row: (order[row[1]], row[0]))
    return [
        Submission(
            staff_id=student,
            assignment=name,
            score=float(points),
            max_score=maxima.get(name, 0.0),
            needs_manual_grade=bool(manual),
            timestamp=_local(stamp, tz),
        )
        for student, name, stamp, points, manual in rows
    ]


def _local(stamp: datetime | str | None, tz: Any) -> datetime | None:
    """nbgrader stores naive UTC timestamps (SQLite gives them back as text)."""
    if stamp is None:
        return None
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    return moment.replace(tzinfo=UTC).astimezone(tz)


def completion_records(*, course: Course, curriculum: Curriculum) -> list[StaffCompletion]:
    """Every member of staff in the gradebook, with their module and track records for the published modules."""
    return _evaluated(course=course, curriculum=curriculum, staff_id=None)


def completion_record(*, course: Course, curriculum: Curriculum, staff_id: str) -> StaffCompletion | None:
    """One member of staff's records, as ``completion_records`` gives them, read for that person alone (the staff's
    own service asks this on every page); None if the course does not know them."""
    found = _evaluated(course=course, curriculum=curriculum, staff_id=staff_id)
    return found[0] if found else None


def _evaluated(*, course: Course, curriculum: Curriculum, staff_id: str | None) -> list[StaffCompletion]:
    modules = curriculum.available(course.source_dir)
    return evaluate(
        curriculum=curriculum,
        staff=load_staff(course=course, staff_id=staff_id),
        submissions=load_submissions(course=course, assignments=[m.assignment for m in modules], staff_id=staff_id),
        available=[m.id for m in modules],
    )
