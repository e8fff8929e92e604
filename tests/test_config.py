"""Where the course keeps things: the folders agree with nbgrader's own answers."""

from __future__ import annotations

from pathlib import Path

from nbgrader.coursedir import CourseDirectory

from course.config import NBGRADER_FOLDERS, Course
from tests.conftest import REPO


def test_folder_defaults_are_nbgraders_own():
    """A folder nbgrader_config.py leaves unset resolves to nbgrader's default, without importing nbgrader."""
    defaults = CourseDirectory()
    assert {trait: getattr(defaults, trait) for trait in NBGRADER_FOLDERS} == NBGRADER_FOLDERS


def test_course_folders_match_nbgrader(tmp_path: Path):
    """Every folder the course uses is the one nbgrader itself would use with the same configuration."""
    course = Course.load(REPO, runtime=tmp_path / "rt")
    nbgrader = CourseDirectory(config=course.config)
    assert course.source_dir == REPO / nbgrader.source_directory
    assert course.release_dir == REPO / nbgrader.release_directory
    assert course.submitted_dir == REPO / nbgrader.submitted_directory
    assert course.autograde_dir == REPO / nbgrader.autograded_directory
    assert course.feedback_dir == REPO / nbgrader.feedback_directory
