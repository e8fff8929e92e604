"""Shared fixtures: a throwaway copy of the course, and tiny fictional rosters built in code."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from course.config import Course

REPO = Path(__file__).resolve().parents[1]
HEADER = ("職員番号", "氏名", "ふりがな", "部", "課", "役職", "推進員")
STAFF_ROWS = (
    ("100001", "山田　花子", "やまだ はなこ", "総務部", "人事課", "主事", ""),
    ("100002", "佐藤　一郎", "さとう いちろう", "総務部", "人事課", "係長", "○"),
    ("100003", "鈴木　次郎", "すずき じろう", "市民生活部", "市民課", "課長", ""),
    ("100004", "高橋　三奈", "たかはし みな", "市民生活部", "市民課", "主任", ""),
)


def write_csv(
    path: Path, rows: Sequence[Sequence[str]], *, header: Sequence[str] = HEADER, encoding: str = "utf-8-sig"
) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def course_root(tmp_path: Path) -> Path:
    """A copy of the course (config, curriculum sources, demo data) in tmp_path; release/ starts empty."""
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "settings", root / "settings")
    shutil.copytree(REPO / "source", root / "source")
    shutil.copytree(REPO / "demo", root / "demo")
    return root


@pytest.fixture
def course(course_root: Path, tmp_path: Path) -> Course:
    """The copied course with all runtime state (gradebook, exchange, submissions, exports) under tmp_path."""
    return Course.load(course_root, runtime=tmp_path / "runtime")
