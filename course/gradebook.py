"""The gradebook: nbgrader's database plus the course's own staff table, in the same database.

Keeping 部・課・役職・推進員 in a table beside nbgrader's ``student`` table means one file (or one PostgreSQL database)
holds everything, and a roster import changes both in a single transaction.

Writers go through nbgrader's own ``Gradebook`` (imported when needed: nbgrader alone takes a second to import).
The readers behind every report live in course/records.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
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
from course.models import ImportReport, Staff
from course.records import STAFF_FIELDS, STAFF_TABLE

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
            _number_certificates(connection)
        if engine.dialect.name == "sqlite":
            # Parallel graders write at the same time: with WAL readers never block the writer, and writers wait
            # for each other up to the URL's timeout (nbgrader_config.py).
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
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


def sync_staff(*, course: Course, staff: Iterable[Staff], dry_run: bool = False) -> ImportReport:
    """Make the gradebook match the roster in one transaction: add, update, and mark the missing as not current."""
    staff = list(staff)
    now = datetime.now(UTC).replace(tzinfo=None)
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    with open_gradebook(course) as gb:
        session = gb.db
        try:
            existing = {row.staff_id: row for row in session.execute(select(staff_table))}
            for person in staff:
                values = {name: getattr(person, name) for name in STAFF_FIELDS}
                old = existing.get(person.staff_id)
                if old is None:
                    session.execute(staff_table.insert().values(staff_id=person.staff_id, updated_at=now, **values))
                    added.append(person.staff_id)
                elif any(getattr(old, name) != value for name, value in values.items()):
                    session.execute(
                        update(staff_table)
                        .where(staff_table.c.staff_id == person.staff_id)
                        .values(updated_at=now, **values)
                    )
                    updated.append(person.staff_id)
                else:
                    unchanged.append(person.staff_id)
                _upsert_student(session, person)
            present = {person.staff_id for person in staff}
            retired = sorted(sid for sid, row in existing.items() if sid not in present and row.current)
            if retired:
                session.execute(
                    update(staff_table).where(staff_table.c.staff_id.in_(retired)).values(current=False, updated_at=now)
                )
            if dry_run:
                session.rollback()
            else:
                session.commit()
        except BaseException:
            session.rollback()
            raise
    return ImportReport(added=tuple(added), updated=tuple(updated), unchanged=tuple(unchanged), retired=tuple(retired))


def _upsert_student(session: object, person: Staff) -> None:
    from nbgrader.api import Student

    family, given = person.family_and_given
    student = session.get(Student, person.staff_id)  # type: ignore[attr-defined]
    if student is None:
        session.add(Student(id=person.staff_id, last_name=family, first_name=given))  # type: ignore[attr-defined]
    elif (student.last_name, student.first_name) != (family, given):
        student.last_name, student.first_name = family, given
