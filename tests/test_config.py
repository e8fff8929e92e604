"""Where the course keeps things: the folders agree with nbgrader's own answers."""

from __future__ import annotations

from pathlib import Path

from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

from course.config import CONFIG_FILE, NBGRADER_FOLDERS, Course, read_settings
from tests.conftest import REPO


def test_folder_defaults_are_nbgraders_own():
    """A folder nbgrader_config.py leaves unset resolves to nbgrader's default, without importing nbgrader."""
    defaults = CourseDirectory()
    assert {trait: getattr(defaults, trait) for trait in NBGRADER_FOLDERS} == NBGRADER_FOLDERS


def test_course_folders_match_nbgrader(tmp_path: Path):
    """Every folder the course uses is the one nbgrader itself would use with the same configuration."""
    course = Course.load(REPO, runtime=tmp_path / "rt")
    nbgrader = CourseDirectory(config=course.nbgrader_config())
    assert course.source_dir == REPO / nbgrader.source_directory
    assert course.release_dir == REPO / nbgrader.release_directory
    assert course.submitted_dir == REPO / nbgrader.submitted_directory
    assert course.autograde_dir == REPO / nbgrader.autograded_directory
    assert course.feedback_dir == REPO / nbgrader.feedback_directory


def test_settings_are_what_traitlets_reads(tmp_path: Path, monkeypatch):
    """The course reads nbgrader_config.py without traitlets; every value is the one traitlets itself reads."""
    monkeypatch.setenv("COURSE_EXCHANGE_ROOT", str(tmp_path / "exchange"))
    ours = read_settings(REPO / CONFIG_FILE)
    theirs = PyFileConfigLoader(CONFIG_FILE, path=str(REPO)).load_config()
    assert ours == {name: dict(values) for name, values in theirs.items()}
    assert ours.Exchange.root == str(tmp_path / "exchange")
    assert Course.load(REPO).nbgrader_config() == theirs


def test_a_file_that_needs_traitlets_is_read_by_traitlets(tmp_path: Path):
    """load_subconfig and c.X.y.append(...) are traitlets' own: such a file is read by traitlets, not half-read."""
    (tmp_path / "base.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "sano_dx"\n', encoding="utf-8")
    (tmp_path / CONFIG_FILE).write_text(
        "c = get_config()\nload_subconfig('base.py')\nc.CourseDirectory.ignore.append('*.bak')\n", encoding="utf-8"
    )
    settings = read_settings(tmp_path / CONFIG_FILE)
    assert settings.CourseDirectory.course_id == "sano_dx"
    assert Course(root=tmp_path, config=settings).course_id == "sano_dx"
    assert "*.bak" in CourseDirectory(config=Course(root=tmp_path, config=settings).nbgrader_config()).ignore


def test_setting_a_value_reaches_nbgrader(tmp_path: Path):
    """A value set on the course's settings (the demo turns nbgrader's owner check off) is in what nbgrader gets."""
    course = Course.load(REPO, runtime=tmp_path / "rt")
    course.config.ExchangeCollect.check_owner = False
    assert course.nbgrader_config().ExchangeCollect.check_owner is False
    assert course.db_url == f"sqlite:///{(tmp_path / 'rt').resolve() / 'gradebook' / 'gradebook.db'}?timeout=60"
