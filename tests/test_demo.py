"""The demo's runtime folder: it empties only a folder that an earlier demo made, and refuses anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from course.cli import main
from course.config import CourseError
from course.demo import RUNTIME_MARKER, prepare_runtime


def test_a_new_folder_is_made_and_marked(tmp_path: Path):
    """A folder that does not exist yet is created, with the marker that lets the next demo empty it."""
    runtime = tmp_path / "demo"
    prepare_runtime(runtime)
    assert [p.name for p in runtime.iterdir()] == [RUNTIME_MARKER]


def test_a_folder_the_demo_made_is_emptied(tmp_path: Path):
    """What an earlier demo left behind is deleted before the next run."""
    runtime = tmp_path / "demo"
    prepare_runtime(runtime)
    (runtime / "gradebook").mkdir()
    (runtime / "gradebook" / "gradebook.db").write_bytes(b"old")
    prepare_runtime(runtime)
    assert [p.name for p in runtime.iterdir()] == [RUNTIME_MARKER]


def test_a_folder_the_demo_did_not_make_is_refused_and_kept(tmp_path: Path):
    """A checkout or any other folder with content is left exactly as it is, with a Japanese reason."""
    runtime = tmp_path / "checkout"
    runtime.mkdir()
    (runtime / "nbgrader_config.py").write_text("# the real course\n")
    (runtime / "gradebook").mkdir()
    (runtime / "gradebook" / "gradebook.db").write_bytes(b"real grades")
    with pytest.raises(CourseError, match="デモが作ったフォルダではない"):
        prepare_runtime(runtime)
    assert (runtime / "gradebook" / "gradebook.db").read_bytes() == b"real grades"
    assert sorted(p.name for p in runtime.iterdir()) == ["gradebook", "nbgrader_config.py"]


def test_the_cli_refuses_the_current_folder(tmp_path: Path, monkeypatch, capsys):
    """`python -m course --runtime . demo` in a folder with files deletes nothing and exits 1."""
    (tmp_path / "keep.txt").write_text("大切なファイル")
    monkeypatch.chdir(tmp_path)
    assert main(["--runtime", ".", "demo"]) == 1
    assert "中身を削除せずに中止しました" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "大切なファイル"
