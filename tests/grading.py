"""Support for tests that grade crafted submissions: fictional staff on the roster, hand-ins, grader settings."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from course.autograde import sandbox
from course.config import Course
from course.gradebook import sync_staff
from course.models import Staff

STAMP = "2026-11-27 10:00:00.000000 JST"  # what nbgrader's collect writes into timestamp.txt


def grader_settings(**limits: int) -> sandbox.GraderSettings:
    """The course's grader settings (grader.toml) with some per-submission limits changed, e.g. cell_timeout=5."""
    settings = sandbox.load_grader_settings()
    return replace(settings, limits=replace(settings.limits, **limits))


def enrol(course: Course, staff_ids: Iterable[str]) -> None:
    """Put fictional staff on the roster: the grader turns away submissions of anyone who is not on it."""
    staff = [Staff(i, f"架空 {i}", "", "総務部", "人事課", "主事", "一般職", False) for i in staff_ids]
    sync_staff(course=course, staff=staff)


def copy_of(nb: NotebookNode) -> NotebookNode:
    """A deep copy of a notebook, to craft one submission from the released version."""
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def hand_in(
    course: Course, staff_id: str, assignment: str, notebook: NotebookNode | str, *, files: Iterable[Path] = ()
) -> Path:
    """A submission in submitted/<staff>/<assignment>/ as nbgrader's collect leaves it: the notebook (text stands for
    a damaged file and is written as it is), the extra files and timestamp.txt. Returns the folder."""
    folder = course.submitted_dir / staff_id / assignment
    folder.mkdir(parents=True)
    for file in files:
        shutil.copy2(file, folder / file.name)
    path = folder / f"{assignment}.ipynb"
    if isinstance(notebook, str):
        path.write_text(notebook, encoding="utf-8")
    else:
        nbformat.write(notebook, path)
    (folder / "timestamp.txt").write_text(STAMP, encoding="utf-8")
    return folder
