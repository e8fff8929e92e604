"""The command line: Japanese help, Japanese errors, and a non-zero exit on failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from course.cli import build_parser, main
from tests.conftest import STAFF_ROWS, write_csv

COMMANDS = (
    "curriculum",
    "roster",
    "build",
    "release",
    "collect",
    "autograde",
    "feedback",
    "completion",
    "export",
    "demo",
)


def test_help_lists_every_command_in_japanese():
    """`python -m course --help` (a real subprocess) names every command with a Japanese description."""
    out = subprocess.run([sys.executable, "-m", "course", "--help"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("使い方: python -m course")
    for command in COMMANDS:
        line = next(line for line in out.splitlines() if line.strip().startswith(command + " "))
        assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in line), line


def test_every_subcommand_has_help():
    """No command is left without a description."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "==SUPPRESS==" or a.__class__.__name__ == "_SubParsersAction")
    for name, child in sub.choices.items():
        assert child.description, name


def test_roster_errors_are_printed_in_japanese_and_exit_non_zero(
    course_root: Path, tmp_path: Path, capsys, monkeypatch
):
    """A CP932 roster with a duplicate and an unknown 役職 prints one line per mistake, exits 1, writes nothing."""
    monkeypatch.setenv("COURSE_ROOT", str(course_root))
    bad = write_csv(
        tmp_path / "bad.csv",
        [*STAFF_ROWS, ("100001", "重複　太郎", "", "総務部", "人事課", "参与", "")],
        encoding="cp932",
    )
    code = main(["--runtime", str(tmp_path / "rt"), "roster", "import", str(bad)])
    err = capsys.readouterr().err
    assert code == 1
    assert "エラー: 名簿に 2 件の誤りがあります" in err
    assert "bad.csv 6行目 「職員番号」列: 職員番号が 2行目 と重複しています。" in err
    assert "bad.csv 6行目 「役職」列: 未登録の役職です" in err and "参与" in err
    assert not (tmp_path / "rt" / "gradebook" / "gradebook.db").exists()


def test_roster_import_then_export_through_the_cli(course_root: Path, tmp_path: Path, capsys, monkeypatch):
    """import prints counts; export prints the workbook path and writes it."""
    monkeypatch.setenv("COURSE_ROOT", str(course_root))
    runtime = str(tmp_path / "rt")
    assert main(["--runtime", runtime, "roster", "import", str(write_csv(tmp_path / "r.csv", STAFF_ROWS))]) == 0
    assert "追加 4 人" in capsys.readouterr().out
    assert main(["--runtime", runtime, "export"]) == 0
    out = capsys.readouterr().out
    assert "修了状況一覧.xlsx" in out and (tmp_path / "rt" / "exports" / "修了状況一覧.xlsx").is_file()


def test_unknown_module_is_a_clear_error(capsys, tmp_path: Path):
    """Asking for a module that does not exist says how to list the modules."""
    assert main(["--runtime", str(tmp_path), "build", "Z99"]) == 1
    assert "python -m course curriculum" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["roster"], ["export", "--encoding", "latin-1"]])
def test_usage_errors_are_japanese(argv, capsys):
    """argparse's own messages are shown in Japanese too."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "エラー" in capsys.readouterr().err
