"""Completion records: who has completed what, read from the gradebook and judged by the curriculum's rules.

This is the one read model behind every output (HR's list, the task force's report and dashboard, certificates,
the CLI's summary). It reads; it writes nothing.

The queries are plain SQL that SQLite and PostgreSQL both run. A SQLite gradebook (the usual one) is read with
Python's own sqlite3, so HR's export and the report start without importing SQLAlchemy or nbgrader (together over a
second); another database is read through SQLAlchemy. What they return is checked against nbgrader's own
``Gradebook.submission_dicts`` in tests/test_taskforce_report.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, tzinfo
from typing import Any, Protocol, overload

from course.completion import Period, StaffCompletion, evaluate
from course.config import Course
from course.curriculum import Curriculum
from course.models import NEUTRALISE, CellGrade, Completion, Extension, Neutralisation, Staff, Submission
from course.years import PLAN_FILE, FiscalYear, YearPlan, plan_for, read_year_plans, year_roster

# The course's staff table (created in course/gradebook.py; tests/test_records.py checks the columns agree).
STAFF_TABLE = "course_staff"
STAFF_YEARS_TABLE = "course_staff_years"  # each 年度's roster
COMPLETIONS_TABLE = "course_completions"  # every completion the course has recorded
EXTENSIONS_TABLE = "course_extensions"  # HR's extensions and exemptions
NEUTRALISED_TABLE = "course_neutralised_items"  # the items an instructor has neutralised (full marks for everyone)
NEUTRALISATION_LOG_TABLE = "course_neutralisation_log"  # every neutralisation and restoration, append-only
STAFF_FIELDS = ("name", "kana", "department", "section", "position", "grade", "promoter", "current")
_STAFF = f"SELECT staff_id, {', '.join(STAFF_FIELDS)} FROM {STAFF_TABLE} {{where}} ORDER BY staff_id"
_STAFF_YEARS = (
    f"SELECT fiscal_year, staff_id, {', '.join(STAFF_FIELDS)} FROM {STAFF_YEARS_TABLE} "
    "WHERE fiscal_year <= :year ORDER BY fiscal_year, staff_id"
)
_RECORDED = f"SELECT staff_id, module_id, completed_at, score_ratio FROM {COMPLETIONS_TABLE}"
_EXTENSIONS = (
    "SELECT staff_id, fiscal_year, target, measure, until, reason, note, imported_at, imported_by "
    f"FROM {EXTENSIONS_TABLE} ORDER BY fiscal_year, staff_id, target"
)

# nbgrader's tables. The score is nbgrader's Grade.score (the manual score if there is one, else the automatic one,
# plus extra credit); the maximum is nbgrader's Assignment.max_score (its grade cells' and task cells' points).
# The points of a graded cell (_POINTS). Grades are summed per submitted notebook first and matched to their submissions
# in Python: one join of every grade row with three tables keyed by text ids took twice as long as these two queries.
_POINTS = """CASE WHEN g.manual_score IS NOT NULL THEN g.manual_score + COALESCE(g.extra_credit, 0.0)
            WHEN g.auto_score IS NOT NULL THEN g.auto_score + COALESCE(g.extra_credit, 0.0)
            ELSE 0.0 END"""
_NOTEBOOK_SCORES = f"""
SELECT g.notebook_id, SUM({_POINTS}), MAX(CASE WHEN g.needs_manual_grade THEN 1 ELSE 0 END)
FROM grade g
{{where}}
GROUP BY g.notebook_id
"""
# One person's notebooks (the staff's own service reads one person per page).
_OWN_NOTEBOOKS = """WHERE g.notebook_id IN (
    SELECT sn.id FROM submitted_notebook sn JOIN submitted_assignment sa ON sn.assignment_id = sa.id
    WHERE sa.student_id = :student)"""
_SUBMITTED = """
SELECT sa.id, sa.student_id, a.name, sa.timestamp, sn.id
FROM assignment a
JOIN submitted_assignment sa ON sa.assignment_id = a.id
JOIN submitted_notebook sn ON sn.assignment_id = sa.id
WHERE a.course_id = :course AND a.name IN ({names}) {student}
ORDER BY sa.student_id
"""
# An item is an autograded test cell: a code grade cell that is not also an answer (solution) cell of its notebook.
# Manually graded cells (reflections, graded answers) and tasks are not items.
_ITEM_CELLS = """
FROM assignment a
JOIN notebook n ON n.assignment_id = a.id
JOIN base_cell b ON b.notebook_id = n.id
JOIN grade_cells gc ON gc.id = b.id
{join}
WHERE a.course_id = :course AND a.name IN ({names}) AND gc.cell_type = 'code'
  AND NOT EXISTS (SELECT 1 FROM base_cell s JOIN solution_cells sc ON sc.id = s.id
                  WHERE s.notebook_id = b.notebook_id AND s.name = b.name)
"""
_GRADED = """
JOIN grade g ON g.cell_id = b.id
JOIN submitted_notebook sn ON sn.id = g.notebook_id
JOIN submitted_assignment sa ON sa.id = sn.assignment_id
"""
_ITEMS = "SELECT a.name, b.name, gc.max_score" + _ITEM_CELLS.format(join="", names="{names}")
_CELL_GRADES = f"SELECT sa.student_id, a.name, sa.timestamp, b.name, gc.max_score, {_POINTS}" + _ITEM_CELLS.format(
    join=_GRADED, names="{names}"
)
# What a neutralised item adds to a submission: its full marks minus the points the submission got for it.
_NEUTRALISED_POINTS = (
    f"SELECT sa.id, SUM(gc.max_score - ({_POINTS}))"
    + _ITEM_CELLS.format(
        join=f"JOIN {NEUTRALISED_TABLE} ni ON ni.assignment = a.name AND ni.grade_id = b.name{_GRADED}", names="{names}"
    )
    + "GROUP BY sa.id"
)
_NEUTRALISED = f"SELECT assignment, grade_id, reason, neutralised_by, neutralised_at FROM {NEUTRALISED_TABLE}"
_NEUTRALISATION_LOG = (
    f'SELECT assignment, grade_id, reason, "by", at, action FROM {NEUTRALISATION_LOG_TABLE} ORDER BY id'
)
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
    tables: set[str]  # the gradebook's tables (an older gradebook may lack the course's newer ones)

    def __call__(self, sql: str, params: Mapping[str, object]) -> list[tuple[Any, ...]]: ...


@dataclass
class _Query:
    run: Callable[[str, Mapping[str, object]], list[tuple[Any, ...]]]
    tables: set[str]

    def __call__(self, sql: str, params: Mapping[str, object]) -> list[tuple[Any, ...]]:
        return self.run(sql, params)


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
            query = _Query(lambda sql, params: connection.execute(sql, dict(params)).fetchall(), tables)
            yield query if tables >= _NEEDED else None
        finally:
            connection.close()
        return
    from sqlalchemy import create_engine, inspect, text  # a server database: SQLAlchemy speaks its dialect

    engine = create_engine(course.db_url)
    try:
        with engine.connect() as link:

            def run(sql: str, params: Mapping[str, object]) -> list[tuple[Any, ...]]:
                return [tuple(row) for row in link.execute(text(sql), dict(params))]

            names = set(inspect(link).get_table_names())
            yield _Query(run, names) if names >= _NEEDED else None
    finally:
        engine.dispose()


def load_staff(*, course: Course, staff_id: str | None = None) -> list[Staff]:
    """Everyone the course has ever known, current or not, as the latest roster says, ordered by 職員番号 (with
    ``staff_id``: that person only)."""
    where, params = ("WHERE staff_id = :staff", {"staff": staff_id}) if staff_id is not None else ("", {})
    with _reading(course) as read:
        rows = [] if read is None else read(_STAFF.format(where=where), params)
    return [_staff(*row) for row in rows]


def read_course_table(
    *, course: Course, table: str, columns: Sequence[str], order: Sequence[str]
) -> list[dict[str, Any]]:
    """Rows of one of the course's own tables as dicts of ``columns`` (none while the gradebook has no such table),
    read like every other record here: without SQLAlchemy for a SQLite gradebook. Dates and times come back as
    SQLite stores them (text) or as the server's driver gives them."""
    with _reading(course) as read:
        if read is None or table not in read.tables:
            return []
        names, ordering = (", ".join(f'"{c}"' for c in some) for some in (columns, order))
        rows = read(f"SELECT {names} FROM {table} ORDER BY {ordering}", {})
    return [dict(zip(columns, row, strict=True)) for row in rows]


def load_rosters(*, course: Course, upto: FiscalYear) -> dict[FiscalYear, list[Staff]]:
    """Each 年度's roster up to ``upto``, as imported for that year (empty for a gradebook older than 年度)."""
    with _reading(course) as read:
        if read is None or STAFF_YEARS_TABLE not in read.tables:
            return {}
        rows = read(_STAFF_YEARS, {"year": upto.start})
    rosters: dict[FiscalYear, list[Staff]] = {}
    for year, *row in rows:
        rosters.setdefault(FiscalYear(int(year)), []).append(_staff(*row))
    return rosters


def _staff(staff_id: str, name: str, kana: str, department: str, section: str, position: str, grade: str,
           promoter: object, current: object) -> Staff:  # fmt: skip
    return Staff(staff_id, name, kana, department, section, position, grade, bool(promoter), bool(current))


def load_recorded(*, course: Course) -> list[Completion]:
    """Every module completion the course has recorded (course/gradebook.py record_completions)."""
    rows = _course_rows(course, COMPLETIONS_TABLE, _RECORDED)
    tz = course.timezone
    return [
        Completion(staff_id, module_id, _local(stamp, tz), float(ratio)) for staff_id, module_id, stamp, ratio in rows
    ]


def load_extensions(*, course: Course) -> list[Extension]:
    """HR's extensions and exemptions, every year's."""
    rows = _course_rows(course, EXTENSIONS_TABLE, _EXTENSIONS)
    return [
        Extension(staff_id, int(year), target, measure, _day(until), reason, note, _local(at, course.timezone), by)
        for staff_id, year, target, measure, until, reason, note, at, by in rows
    ]


def _day(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value[:10])


def _about(course: Course, names: Sequence[str]) -> tuple[str, dict[str, object]]:
    """The placeholders and parameters of a query about these assignments of the course."""
    params: dict[str, object] = {"course": course.course_id, **{f"a{i}": name for i, name in enumerate(names)}}
    return ", ".join(f":a{i}" for i in range(len(names))), params


def load_submissions(
    *, course: Course, assignments: Iterable[str], staff_id: str | None = None, neutralised: bool = True
) -> list[Submission]:
    """The graded latest submission of every member of staff (or of ``staff_id`` only) for the given assignments, in
    the given order.

    An item an instructor neutralised counts its full marks in every submission (``neutralised=False``: the scores
    as graded). A few plain queries for all assignments together; nbgrader's ``Gradebook.submission_dicts`` gives
    the same scores with several correlated subqueries per assignment and takes minutes for a whole city.
    """
    names = list(assignments)
    if not names:
        return []
    placeholders, params = _about(course, names)
    student = ""
    if staff_id is not None:
        student, params["student"] = "AND sa.student_id = :student", staff_id
    maxima: dict[str, float] = {}
    # One connection, one query after the other: SQLite gives the GIL back for every row it steps to, so a second
    # reading thread made the two fight over it (thousands of futex calls) and took longer than reading in turn.
    with _reading(course) as read:
        if read is None:
            return []
        notebooks = _notebook_scores(read, staff_id)
        for cells in ("grade_cells", "task_cells"):
            for name, points in read(_MAXIMA.format(cells=cells, names=placeholders), params):
                maxima[name] = maxima.get(name, 0.0) + float(points or 0.0)
        submitted = read(_SUBMITTED.format(names=placeholders, student=student), params)
        awarded: dict[str, float] = {}
        if neutralised and NEUTRALISED_TABLE in read.tables:
            awarded = {key: float(add) for key, add in read(_NEUTRALISED_POINTS.format(names=placeholders), params)}
    # One row per submitted notebook: an assignment's score is the sum over its graded notebooks.
    graded: dict[str, list[Any]] = {}
    for submission_id, student, name, stamp, notebook in submitted:
        if (score := notebooks.get(notebook)) is None:
            continue  # not graded yet
        points, manual = score
        if (row := graded.get(submission_id)) is None:
            graded[submission_id] = [submission_id, student, name, stamp, float(points), manual]
        else:
            row[4] += float(points)
            row[5] = max(row[5], manual)
    # In the given order of assignments, each by 職員番号 (as the query sorted them): a list per assignment, joined.
    by_assignment: dict[str, list[Submission]] = {name: [] for name in names}
    tz = course.timezone
    for key, student, name, stamp, points, manual in graded.values():
        # Positional: a city's tens of thousands of records are made a third faster than with keywords.
        by_assignment[name].append(
            Submission(
                student, name, points + awarded.get(key, 0.0), maxima.get(name, 0.0), bool(manual), _local(stamp, tz)
            )
        )
    return [submission for name in by_assignment for submission in by_assignment[name]]


def load_items(*, course: Course, assignments: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per assignment, its items (autograded test cells) by grade_id with their points, as the gradebook has them."""
    if not assignments:
        return {}
    placeholders, params = _about(course, assignments)
    items: dict[str, dict[str, float]] = {}
    with _reading(course) as read:
        rows = [] if read is None else read(_ITEMS.format(names=placeholders), params)
    for name, grade_id, points in sorted(rows):
        items.setdefault(name, {})[grade_id] = float(points or 0.0)
    return items


def load_cell_grades(*, course: Course, assignments: Sequence[str]) -> list[CellGrade]:
    """The points every submission got for each item (autograded test cell) of the given assignments, as graded:
    a neutralisation changes nothing here."""
    if not assignments:
        return []
    placeholders, params = _about(course, assignments)
    with _reading(course) as read:
        rows = [] if read is None else read(_CELL_GRADES.format(names=placeholders), params)
    tz = course.timezone
    return [
        CellGrade(student, name, grade_id, float(points), float(maximum or 0.0), _local(stamp, tz))
        for student, name, stamp, grade_id, maximum, points in rows
    ]


def _course_rows(course: Course, table: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of a query on one of the course's own tables; none before the gradebook or the table exists."""
    with _reading(course) as read:
        return [] if read is None or table not in read.tables else read(sql, {})


def load_neutralised(*, course: Course) -> list[Neutralisation]:
    """The items neutralised now (course/gradebook.py set_neutralised)."""
    rows = [(*row, NEUTRALISE) for row in sorted(_course_rows(course, NEUTRALISED_TABLE, _NEUTRALISED))]
    return _neutralisations(rows, course.timezone)


def load_neutralisation_log(*, course: Course) -> list[Neutralisation]:
    """Every neutralisation and restoration, oldest first."""
    return _neutralisations(_course_rows(course, NEUTRALISATION_LOG_TABLE, _NEUTRALISATION_LOG), course.timezone)


def _neutralisations(rows: Iterable[tuple[Any, ...]], tz: Any) -> list[Neutralisation]:
    return [
        Neutralisation(name, grade_id, reason, by, _local(at, tz), action)
        for name, grade_id, reason, by, at, action in rows
    ]


def _notebook_scores(read: _Reader, staff_id: str | None) -> dict[str, tuple[float, int]]:
    """Score and "needs manual grading" of every graded notebook (or of one person's), by nbgrader's
    submitted_notebook id, summed through the course's index on the grade table (course/gradebook.py)."""
    where, params = (_OWN_NOTEBOOKS, {"student": staff_id}) if staff_id is not None else ("", {})
    return {
        notebook: (points, manual) for notebook, points, manual in read(_NOTEBOOK_SCORES.format(where=where), params)
    }


@overload
def _local(stamp: datetime | str, tz: tzinfo) -> datetime: ...
@overload
def _local(stamp: None, tz: tzinfo) -> None: ...
def _local(stamp: datetime | str | None, tz: tzinfo) -> datetime | None:
    """nbgrader stores naive UTC timestamps (SQLite gives them back as text)."""
    if stamp is None:
        return None
    if isinstance(stamp, str):
        return datetime.fromisoformat(f"{stamp}+00:00").astimezone(tz)  # read as UTC: a third of replace()'s cost
    return stamp.replace(tzinfo=UTC).astimezone(tz)


def year_plans(*, course: Course, curriculum: Curriculum) -> dict[FiscalYear, YearPlan]:
    """Every 年度's plan, from the course's settings/year_plan.csv."""
    return read_year_plans(course.settings_file(PLAN_FILE), curriculum=curriculum)


def completion_record(*, course: Course, curriculum: Curriculum, staff_id: str) -> StaffCompletion | None:
    """One member of staff's records this 年度, as ``completion_records`` gives them, read for that person alone (the
    staff's own service asks this on every page); None if this year's roster does not know them."""
    found = completion_records(course=course, curriculum=curriculum, staff_id=staff_id)
    return found[0] if found else None


def completion_records(
    *,
    course: Course,
    curriculum: Curriculum,
    year: FiscalYear | None = None,
    as_of: datetime | None = None,
    staff_id: str | None = None,
) -> list[StaffCompletion]:
    """Everyone on the roster of ``year`` (default: the 年度 of ``as_of``, default now), with their module and track
    records for the published modules as that year judges them: its plan and deadlines, what counts from earlier
    years, HR's extensions. People who left since the year before are listed as not current (名簿外). With
    ``staff_id``, that person only."""
    as_of = as_of or datetime.now(course.timezone)
    year = year or FiscalYear.of(as_of.date())
    modules = curriculum.available(course.source_dir)
    rosters = load_rosters(course=course, upto=year)
    staff, changes = year_roster(rosters, year) if rosters else (load_staff(course=course, staff_id=staff_id), {})
    if staff_id is not None:
        staff = [person for person in staff if person.staff_id == staff_id]
    period = Period(
        plan=plan_for(year_plans(course=course, curriculum=curriculum), year),
        as_of=as_of.date(),
        recorded=load_recorded(course=course),
        extensions=load_extensions(course=course),
    )
    people = evaluate(
        curriculum=curriculum,
        staff=staff,
        submissions=load_submissions(course=course, assignments=[m.assignment for m in modules], staff_id=staff_id),
        available=[m.id for m in modules],
        period=period,
    )
    return [replace(p, change=changes[p.staff.staff_id]) if p.staff.staff_id in changes else p for p in people]
