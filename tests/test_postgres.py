"""The gradebook on PostgreSQL (through nbgrader's db_url): roster, parallel autograde and export all work."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from nbgrader.api import Gradebook

from course import demo, export, items, lifecycle, records, roster
from course.autograde import grader
from course.config import Course
from course.curriculum import load_curriculum
from course.models import NEUTRALISE
from tests import synthetic
from tests.conftest import STAFF_ROWS, write_csv

pytestmark = pytest.mark.pipeline


def _server_binaries() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    assert found, "PostgreSQL is not installed: `make test` installs it (Debian package postgresql)"
    return found[-1].parent


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on a Unix socket (no TCP), owned by the postgres user when run as root."""
    bin_dir = _server_binaries()
    holder = tempfile.TemporaryDirectory(prefix="sano-pg-")  # pytest's own folders are closed to other users
    base = Path(holder.name)
    base.chmod(0o755)
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "postgres"], check=True, capture_output=True
    )
    server = subprocess.Popen(
        [*run_as, bin_dir / "postgres", "-D", data, "-k", sockets, "-c", "listen_addresses=", "-p", "5439"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            ready = subprocess.run([bin_dir / "pg_isready", "-h", sockets, "-p", "5439"], capture_output=True)
            if ready.returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run([bin_dir / "createdb", "-h", sockets, "-p", "5439", "-U", "postgres", "gradebook"], check=True)
        yield f"postgresql+psycopg2://postgres@/gradebook?host={sockets}&port=5439"
    finally:
        server.terminate()
        server.wait(timeout=30)
        holder.cleanup()


def test_pipeline_on_postgresql(course_root: Path, tmp_path: Path, postgres_url: str):
    """Roster import, release, submissions, two parallel graders and the HR export, with PostgreSQL as gradebook."""
    course = Course.load(course_root, runtime=tmp_path / "rt")
    course.config.CourseDirectory.db_url = postgres_url
    course.config.ExchangeCollect.check_owner = False
    assert course.gradebook_file is None  # no SQLite file: backups are the database's own business
    module = load_curriculum().modules["B03"]
    roster.import_roster(course=course, path=write_csv(tmp_path / "roster.csv", STAFF_ROWS))
    lifecycle.release(course=course, modules=[module])
    answers = demo.DemoAnswers.load(course, module)
    staff = {s.staff_id: s for s in roster.read_roster(tmp_path / "roster.csv")[0]}
    for staff_id, profile in (("100001", "correct"), ("100002", "blank"), ("100003", "correct")):
        home = tmp_path / "home" / staff_id
        demo.simulate_submission(course, module, staff[staff_id], answers, profile=profile, home=home)
    lifecycle.collect(course=course, modules=[module])
    report = grader.autograde(course=course, modules=[module], progress=False, workers=2)
    assert (len(report.done), report.failures, report.backup) == (3, (), None)
    gb = Gradebook(course.db_url, course.course_id)
    try:
        scores = {s.student_id: (s.code_score, s.max_code_score) for s in gb.assignment_submissions("b03")}
    finally:
        gb.close()
    assert scores["100001"][0] == scores["100003"][0] == scores["100001"][1] > 0
    assert scores["100002"][0] == 0
    result = export.export(course=course, curriculum=load_curriculum())
    assert result.staff_count == len(STAFF_ROWS)


def test_item_analysis_and_neutralising_on_postgresql(tmp_path: Path, postgres_url: str):
    """The item readers and the neutralised scores give on PostgreSQL what they give on SQLite for the same cohort."""
    sockets = postgres_url.split("host=")[1].split("&")[0]
    subprocess.run(
        [_server_binaries() / "createdb", "-h", sockets, "-p", "5439", "-U", "postgres", "items"], check=True
    )
    curriculum = load_curriculum()
    today = date(2026, 11, 27)
    at = datetime(2026, 11, 27, 18, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    results = []
    for name, url in (("sqlite", None), ("postgresql", postgres_url.replace("/gradebook?", "/items?"))):
        course = synthetic.course_folder(tmp_path / name)
        if url is not None:
            course.config.CourseDirectory.db_url = url
        synthetic.make_cohort(
            course=course, curriculum=curriculum, staff_count=60, today=today, seed=3,
            planted={("B01", "test_b"): "reversed"},
        )  # fmt: skip
        modules = curriculum.available(course.source_dir)
        stats = items.analyse_items(course=course, modules=modules).stats
        change = items.change_item(
            course=course, curriculum=curriculum, action=NEUTRALISE, module_id="B01", grade_id="test_b",
            reason="誤り", by="講師", at=at,
        )  # fmt: skip
        names = [m.assignment for m in modules]
        scores = sorted(
            (s.staff_id, s.assignment, s.score) for s in records.load_submissions(course=course, assignments=names)
        )
        results.append((stats, change.changes, scores, records.load_neutralisation_log(course=course)))
    assert results[0] == results[1]
    assert results[0][1]  # neutralising changed someone's completion
