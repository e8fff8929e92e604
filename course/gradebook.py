"""The gradebook: nbgrader's database plus the course's own staff table, in the same database.

Keeping 部・課・役職・推進員 in a table beside nbgrader's ``student`` table means one file (or one PostgreSQL database)
holds everything, and a roster import changes both in a single transaction.

Writers go through nbgrader's own ``Gradebook`` (imported when needed: nbgrader alone takes a second to import).
The readers behind every report live in course/records.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from nbgrader.api import Gradebook

from course.config import Course
from course.curriculum import Curriculum
from course.models import NEUTRALISE, Extension, ImportReport, Neutralisation, Staff
from course.records import (
    COMPLETIONS_TABLE,
    EXTENSIONS_TABLE,
    NEUTRALISATION_LOG_TABLE,
    NEUTRALISED_TABLE,
    STAFF_FIELDS,
    STAFF_TABLE,
    STAFF_YEARS_TABLE,
)
from course.years import FiscalYear

metadata = MetaData()
staff_table = Table(
    STAFF_TABLE,
    metadata,
    Column("staff_id", String(32), primary_key=True),  # = nbgrader student.id
    Column("name", String(128), nullable=False),
    Column("kana", String(128), nullable=False, default=""),
    Column("department", String(128), nullable=False),
    Column("section", String(128), nullable=False),
    Column("position", String(64), nullable=False),
    Column("grade", String(16), nullable=False),
    Column("promoter", Boolean, nullable=False, default=False),
    Column("current", Boolean, nullable=False, default=True),
    Column("updated_at", DateTime, nullable=False),
)
# The roster of each 年度 (fiscal year, by its starting calendar year): who was where, in which grade, that year.
# A roster import writes the year it is for; a person missing from a later import of the same year stays, not current.
staff_years_table = Table(
    STAFF_YEARS_TABLE,
    metadata,
    Column("staff_id", String(32), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    *(
        Column(c.name, c.type, nullable=c.nullable, default=c.default)
        for c in staff_table.columns
        if c.name in STAFF_FIELDS
    ),
    Column("updated_at", DateTime, nullable=False),
)
# Every module completion ever seen, kept when nbgrader replaces the submission (a retake in a later year), with the
# department and grade the person had in the year they completed it.
completions_table = Table(
    COMPLETIONS_TABLE,
    metadata,
    Column("staff_id", String(32), primary_key=True),
    Column("module_id", String(16), primary_key=True),
    Column("completed_at", DateTime, primary_key=True),  # naive UTC, as nbgrader stores submission times
    Column("score_ratio", Float, nullable=False),
    Column("fiscal_year", Integer, nullable=False),
    Column("department", String(128), nullable=False),
    Column("section", String(128), nullable=False),
    Column("grade", String(16), nullable=False),
    Column("recorded_at", DateTime, nullable=False),
)
# Extensions and exemptions (猶予・免除) per person and year, as HR's last imported sheet says; every change is logged.
extensions_table = Table(
    EXTENSIONS_TABLE,
    metadata,
    Column("staff_id", String(32), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("target", String(32), primary_key=True),  # "" = every track of that year, else a track key or module id
    Column("measure", String(8), nullable=False),  # 延長 / 免除
    Column("until", Date, nullable=True),  # the new deadline of an 延長
    Column("reason", String(32), nullable=False),
    Column("note", String(256), nullable=False, default=""),
    Column("imported_at", DateTime, nullable=False),
    Column("imported_by", String(64), nullable=False),
)
extension_log_table = Table(
    "course_extension_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("by", String(64), nullable=False),
    Column("file", String(256), nullable=False),
    Column("change", String(8), nullable=False),  # 追加 / 変更 / 削除
    Column("staff_id", String(32), nullable=False),
    Column("fiscal_year", Integer, nullable=False),
    Column("target", String(32), nullable=False),
    Column("detail", String(512), nullable=False),
)
# Certificates as issued: the completion date printed on a 修了証 is frozen here, whatever later submissions do, and
# each has its number (第N号), sequential in the order of issue. ``number`` came later: ensure_database adds it to a
# gradebook made before and numbers the certificates already there (nullable only because SQLite cannot add a
# NOT NULL column to a table with rows; every row has one).
certificates_table = Table(
    "course_certificates",
    metadata,
    Column("staff_id", String(32), primary_key=True),
    Column("track_key", String(32), primary_key=True),
    Column("completed_on", Date, nullable=False),
    Column("code", String(64), nullable=False, unique=True),
    Column("issued_at", DateTime, nullable=False),
    Column("number", Integer, nullable=True),
)
certificate_numbers = Index("course_certificates_number", certificates_table.c.number, unique=True)

# Department reports (進捗報告) as received from 推進員 (course/reports.py): one row per accepted report, one per 取組.
# A refused report writes nothing. Free text is Text: a long 内容 must not fail on PostgreSQL.
reports_table = Table(
    "course_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("staff_id", String(32), nullable=False),
    Column("department", String(128), nullable=False),
    Column("section", String(128), nullable=False),
    Column("fiscal_year", Integer, nullable=False),
    Column("received_at", DateTime, nullable=False),  # naive UTC
    Column("file", String(256), nullable=False),
)
report_rows_table = Table(
    "course_report_rows",
    metadata,
    Column("report_id", Integer, primary_key=True),
    Column("row", Integer, primary_key=True),  # 1 = the report's first 取組
    Column("report_date", Date, nullable=False),
    Column("department", String(128), nullable=False),
    Column("section", String(128), nullable=False),
    Column("staff_id", String(32), nullable=False),
    Column("initiative", Text, nullable=False),
    Column("step", Integer, nullable=False),
    Column("percent", Integer, nullable=False),
    Column("hours_now", Float, nullable=False),
    Column("hours_later", Float, nullable=False),
    Column("saved_estimate", Float, nullable=False),
    Column("content", Text, nullable=False),
    Column("issues", Text, nullable=False),
    Column("next_steps", Text, nullable=False),
    Column("work", Text, nullable=False),
    Column("method", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("saved_measured", Float, nullable=True),  # None: not measured yet
    Column("shareable", Boolean, nullable=False),
    Column("case_id", String(16), nullable=False),  # the 事例 this 取組 adopts, "" for none
)
# 横展開事例: a 取組 marked shareable becomes a case the first time it is reported; adoptions are recorded by the task
# force (python -m course cases adopt), and undone with --undo.
cases_table = Table(
    "course_cases",
    metadata,
    Column("case_id", String(16), primary_key=True),  # C001, C002 … in the order they arrived
    Column("department", String(128), nullable=False),
    Column("section", String(128), nullable=False),
    Column("initiative", Text, nullable=False),
    Column("report_id", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
)
case_adoptions_table = Table(
    "course_case_adoptions",
    metadata,
    Column("case_id", String(16), primary_key=True),
    Column("section", String(128), primary_key=True),  # the 課 that adopts it
    Column("at", DateTime, nullable=False),
    Column("by", String(64), nullable=False),
)
# Every adoption and every undoing of one, append-only: who, when, what (python -m course cases adopt [--undo]).
case_adoption_log_table = Table(
    "course_case_adoption_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),  # naive UTC
    Column("by", String(64), nullable=False),
    Column("action", String(8), nullable=False),  # 採用 / 取り消し
    Column("case_id", String(16), nullable=False),
    Column("section", String(128), nullable=False),
)

# Items (autograded test cells) an instructor neutralised: every submission of the assignment counts the cell's full
# marks (course/records.py load_submissions). Restoring deletes the row; the log keeps both actions.
neutralised_table = Table(
    NEUTRALISED_TABLE,
    metadata,
    Column("assignment", String(128), primary_key=True),  # nbgrader's assignment name (b05)
    Column("grade_id", String(128), primary_key=True),
    Column("reason", String(512), nullable=False),
    Column("neutralised_by", String(64), nullable=False),
    Column("neutralised_at", DateTime, nullable=False),  # naive UTC
)
neutralisation_log_table = Table(
    NEUTRALISATION_LOG_TABLE,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("by", String(64), nullable=False),
    Column("action", String(8), nullable=False),  # 無効化 / 取り消し
    Column("assignment", String(128), nullable=False),
    Column("grade_id", String(128), nullable=False),
    Column("reason", String(512), nullable=False),
)


# An index of the course's own on nbgrader's grade table, covering what course/records.py sums per submitted notebook:
# the scores of a whole city (tens of thousands of notebooks) are read from it in index order, without a sort, in
# half the time, and one person's scores without reading the whole table.
GRADES_BY_NOTEBOOK = (
    "CREATE INDEX IF NOT EXISTS course_grade_by_notebook "
    "ON grade (notebook_id, manual_score, auto_score, extra_credit, needs_manual_grade)"
)


def ensure_database(course: Course) -> None:
    """Create the gradebook's tables if the database is new, including the course's own.

    nbgrader does this itself, but by running the ``alembic`` command in a subprocess, which costs a second and
    fails when the virtual environment is not on PATH. Here the same schema and alembic stamp are written
    in-process.
    """
    from alembic.script import ScriptDirectory
    from nbgrader.api import Base
    from nbgrader.dbutil import ALEMBIC_DIR

    if (file := course.gradebook_file) is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(course.db_url)
    try:
        with engine.begin() as connection:
            if "alembic_version" not in inspect(connection).get_table_names():
                Base.metadata.create_all(connection)
                head = ScriptDirectory(ALEMBIC_DIR).get_current_head()
                connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
                connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head})
            metadata.create_all(connection)
            connection.execute(text(GRADES_BY_NOTEBOOK))
            _number_certificates(connection)
        if engine.dialect.name == "sqlite":
            # Parallel graders write at the same time: with WAL readers never block the writer, and writers wait
            # for each other up to the URL's timeout (nbgrader_config.py).
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    finally:
        engine.dispose()


@contextmanager
def gradebook_transaction(course: Course) -> Iterator[Connection]:
    """One transaction on the gradebook, its tables made first: everything written inside it is kept, or nothing."""
    ensure_database(course)
    engine = create_engine(course.db_url)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def _number_certificates(connection: Connection) -> None:
    """Give a gradebook made before certificate numbers its ``number`` column, and number the certificates in it in
    the order they were issued. Idempotent: a gradebook with numbered certificates is left as it is."""
    columns = {column["name"] for column in inspect(connection).get_columns(certificates_table.name)}
    if "number" not in columns:
        connection.execute(text(f"ALTER TABLE {certificates_table.name} ADD COLUMN number INTEGER"))
        certificate_numbers.create(connection, checkfirst=True)
    table = certificates_table.c
    unnumbered = connection.execute(
        select(table.staff_id, table.track_key)
        .where(table.number.is_(None))
        .order_by(table.issued_at, table.staff_id, table.track_key)
    ).all()
    if not unnumbered:
        return
    last = connection.execute(select(func.max(table.number))).scalar() or 0
    for offset, (staff_id, track_key) in enumerate(unnumbered, start=1):
        connection.execute(
            update(certificates_table)
            .where(table.staff_id == staff_id, table.track_key == track_key)
            .values(number=last + offset)
        )


def share_engines() -> None:
    """Let every nbgrader Gradebook opened in this process share one SQLAlchemy engine per database URL.

    nbgrader opens a new Gradebook, and with it a new engine, nine times for each submission it autogrades. A new
    engine starts with an empty statement cache, so each of its queries is compiled again. Only grading workers
    call this (forked processes that do nothing else). ``Gradebook.close()`` still disposes of the engine's
    connection pool, so no connection outlives its Gradebook; the engine and its compiled statements stay.
    """
    import nbgrader.api

    engines: dict[str, Engine] = {}

    def shared_engine(url: str, **options: Any) -> Engine:
        key = f"{url} {sorted(options.items())}"
        if key not in engines:
            engines[key] = create_engine(url, **options)
        return engines[key]

    nbgrader.api.create_engine = shared_engine


@contextmanager
def open_gradebook(course: Course) -> Iterator[Gradebook]:
    """nbgrader's Gradebook with the course's own tables created; always closed afterwards."""
    from nbgrader.api import Gradebook

    ensure_database(course)
    gb = Gradebook(course.db_url, course.course_id)
    try:
        yield gb
    finally:
        gb.close()


def sync_staff(
    *, course: Course, staff: Iterable[Staff], year: FiscalYear | None = None, dry_run: bool = False
) -> ImportReport:
    """Make the gradebook match the roster of ``year`` (default: the 年度 of today) in one transaction: add, update,
    and mark the missing as not current, in that year's roster and, unless a later year's roster is already in,
    in the current one. Earlier years' rosters stay as they were."""
    staff = list(staff)
    now = datetime.now(UTC).replace(tzinfo=None)
    year = year or FiscalYear.of(datetime.now(course.timezone).date())
    notes: tuple[str, ...] = ()
    with open_gradebook(course) as gb:
        session = gb.db
        try:
            latest = session.execute(select(func.max(staff_years_table.c.fiscal_year))).scalar()
            changes = _sync(session, staff_years_table, staff, now, fiscal_year=year.start)
            if latest is None or year.start >= latest:
                changes = _sync(session, staff_table, staff, now)
                for person in staff:
                    _upsert_student(session, person)
            else:
                notes = (
                    f"{year.label}の名簿として取り込みました。より新しい年度の名簿があるため、現在の名簿は変えていません。",
                )
            if dry_run:
                session.rollback()
            else:
                session.commit()
        except BaseException:
            session.rollback()
            raise
    added, updated, unchanged, retired = changes
    return ImportReport(added=added, updated=updated, unchanged=unchanged, retired=retired, notes=notes)


_Changes = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def _sync(session: Any, table: Table, staff: list[Staff], now: datetime, **scope: object) -> _Changes:
    """Rows of ``table`` within ``scope`` made to match ``staff``: (added, updated, unchanged, no longer current)."""
    where = [table.c[name] == value for name, value in scope.items()]
    existing = {row.staff_id: row for row in session.execute(select(table).where(*where))}
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    for person in staff:
        values = {name: getattr(person, name) for name in STAFF_FIELDS}
        old = existing.get(person.staff_id)
        if old is None:
            session.execute(table.insert().values(staff_id=person.staff_id, updated_at=now, **scope, **values))
            added.append(person.staff_id)
        elif any(getattr(old, name) != value for name, value in values.items()):
            session.execute(
                update(table).where(table.c.staff_id == person.staff_id, *where).values(updated_at=now, **values)
            )
            updated.append(person.staff_id)
        else:
            unchanged.append(person.staff_id)
    present = {person.staff_id for person in staff}
    retired = sorted(sid for sid, row in existing.items() if sid not in present and row.current)
    if retired:
        session.execute(
            update(table).where(table.c.staff_id.in_(retired), *where).values(current=False, updated_at=now)
        )
    return tuple(added), tuple(updated), tuple(unchanged), tuple(retired)


def _upsert_student(session: object, person: Staff) -> None:
    from nbgrader.api import Student

    family, given = person.family_and_given
    student = session.get(Student, person.staff_id)  # type: ignore[attr-defined]
    if student is None:
        session.add(Student(id=person.staff_id, last_name=family, first_name=given))  # type: ignore[attr-defined]
    elif (student.last_name, student.first_name) != (family, given):
        student.last_name, student.first_name = family, given


def sync_extensions(
    *, course: Course, extensions: Sequence[Extension], by: str, file: str, at: datetime, dry_run: bool = False
) -> tuple[tuple[Extension, ...], tuple[Extension, ...], tuple[Extension, ...]]:
    """Make the extensions of every 年度 in ``extensions`` match them, in one transaction, and log each change.
    Returns (added, changed, removed). Years the sheet does not mention are left alone."""
    table = extensions_table
    years = sorted({e.fiscal_year for e in extensions})
    stamp = at.astimezone(UTC).replace(tzinfo=None)
    fields = ("measure", "until", "reason", "note")
    added: list[Extension] = []
    changed: list[Extension] = []
    removed: list[Extension] = []
    ensure_database(course)
    engine = create_engine(course.db_url)
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            rows = connection.execute(select(table).where(table.c.fiscal_year.in_(years))).all()
            existing = {(r.staff_id, r.fiscal_year, r.target): r for r in rows}
            wanted = {(e.staff_id, e.fiscal_year, e.target): e for e in extensions}
            log = []
            for key, extension in wanted.items():
                values = {name: getattr(extension, name) for name in fields}
                old = existing.get(key)
                where = (table.c.staff_id == key[0], table.c.fiscal_year == key[1], table.c.target == key[2])
                if old is None:
                    connection.execute(
                        table.insert().values(
                            staff_id=key[0], fiscal_year=key[1], target=key[2], imported_at=stamp, imported_by=by,
                            **values,
                        )
                    )  # fmt: skip
                    added.append(extension)
                    log.append(("追加", key, _extension_text(values)))
                elif any(getattr(old, name) != value for name, value in values.items()):
                    connection.execute(update(table).where(*where).values(imported_at=stamp, imported_by=by, **values))
                    changed.append(extension)
                    before = _extension_text({name: getattr(old, name) for name in fields})
                    log.append(("変更", key, f"{before} → {_extension_text(values)}"))
            for key, old in existing.items():
                if key not in wanted:
                    connection.execute(
                        table.delete().where(
                            table.c.staff_id == key[0], table.c.fiscal_year == key[1], table.c.target == key[2]
                        )
                    )
                    removed.append(
                        Extension(
                            old.staff_id, old.fiscal_year, old.target, old.measure, old.until, old.reason, old.note
                        )
                    )
                    log.append(("削除", key, _extension_text({name: getattr(old, name) for name in fields})))
            for change, (staff_id, year, target), detail in log:
                connection.execute(
                    extension_log_table.insert().values(
                        at=stamp, by=by, file=file, change=change, staff_id=staff_id, fiscal_year=year, target=target,
                        detail=detail,
                    )
                )  # fmt: skip
            if dry_run:
                transaction.rollback()
    finally:
        engine.dispose()
    return tuple(added), tuple(changed), tuple(removed)


def _extension_text(values: dict[str, Any]) -> str:
    until = f" {values['until']:%Y-%m-%d}" if values["until"] is not None else ""
    note = f" {values['note']}" if values["note"] else ""
    return f"{values['measure']}{until}（{values['reason']}）{note}"


def record_completions(*, course: Course, curriculum: Curriculum) -> int:
    """Record every module completion in the gradebook that the course has not recorded yet, with the department
    and grade the person had in the 年度 of the completion, so that a later submission replacing it (a retake next
    year) loses nothing. Autograding is what replaces submissions, so it calls this first (and afterwards). Returns how many were added.

    Only passes as graded are recorded: a pass that needs a neutralised item stays live, so restoring the item
    takes it back."""
    from course.completion import ModuleStatus, module_record
    from course.records import load_rosters, load_staff, load_submissions

    modules = {m.assignment: m for m in curriculum.available(course.source_dir)}
    passed = [
        (s, record)
        for s in load_submissions(course=course, assignments=list(modules), neutralised=False)
        if (record := module_record(modules[s.assignment], s)).status is ModuleStatus.PASSED and s.timestamp
    ]
    if not passed:
        return 0
    rosters = load_rosters(course=course, upto=FiscalYear.of(datetime.now(course.timezone).date()))
    by_year = {year: {p.staff_id: p for p in people} for year, people in sorted(rosters.items())}
    current = {p.staff_id: p for p in load_staff(course=course)}

    def as_then(staff_id: str, year: FiscalYear) -> Staff | None:
        earlier = [people[staff_id] for y, people in by_year.items() if y <= year and staff_id in people]
        return earlier[-1] if earlier else current.get(staff_id)

    now = datetime.now(UTC).replace(tzinfo=None)
    table = completions_table
    with gradebook_transaction(course) as connection:
        known = {
            tuple(r) for r in connection.execute(select(table.c.staff_id, table.c.module_id, table.c.completed_at))
        }
        new = []
        for submission, record in passed:
            assert submission.timestamp is not None
            stamp = submission.timestamp.astimezone(UTC).replace(tzinfo=None)
            module_id = modules[submission.assignment].id
            if (submission.staff_id, module_id, stamp) in known:
                continue
            year = FiscalYear.of(submission.timestamp.date())
            person = as_then(submission.staff_id, year)
            new.append(
                {
                    "staff_id": submission.staff_id, "module_id": module_id, "completed_at": stamp,
                    "score_ratio": record.score_ratio or 0.0, "fiscal_year": year.start,
                    "department": person.department if person else "", "section": person.section if person else "",
                    "grade": person.grade if person else "", "recorded_at": now,
                }
            )  # fmt: skip
        if new:
            connection.execute(table.insert(), new)
    return len(new)


def set_neutralised(*, course: Course, change: Neutralisation) -> bool:
    """Neutralise an item (``change.action`` 無効化) or restore it (取り消し), and log it, in one transaction.
    Returns False, writing nothing, when the item is already in that state."""
    table = neutralised_table
    stamp = change.at.astimezone(UTC).replace(tzinfo=None)
    where = (table.c.assignment == change.assignment, table.c.grade_id == change.grade_id)
    with gradebook_transaction(course) as connection:
        current = connection.execute(select(table).where(*where)).first()
        if (current is not None) == (change.action == NEUTRALISE):
            return False
        if change.action == NEUTRALISE:
            connection.execute(
                table.insert().values(
                    assignment=change.assignment, grade_id=change.grade_id, reason=change.reason,
                    neutralised_by=change.by, neutralised_at=stamp,
                )
            )  # fmt: skip
        else:
            connection.execute(table.delete().where(*where))
        connection.execute(
            neutralisation_log_table.insert().values(
                at=stamp, by=change.by, action=change.action, assignment=change.assignment,
                grade_id=change.grade_id, reason=change.reason,
            )
        )  # fmt: skip
    return True
