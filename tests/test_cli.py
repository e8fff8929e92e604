"""The command line: Japanese help, Japanese errors, and a non-zero exit on failure."""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
from pathlib import Path

import pytest

from course.cli import build_parser, main
from tests.conftest import STAFF_ROWS, write_csv


def _children(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The commands directly under ``parser`` (argparse keeps them in its sub-parsers action)."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: child for action in actions for name, child in action.choices.items()}


def _listed_help(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    """The one-line help each command under ``parser`` shows in its parent's --help."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {choice.dest: choice.help for action in actions for choice in action._choices_actions}


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command and nested command (``roster import``) of the parser, with its path of names."""
    found = []
    for name, child in _children(parser).items():
        found.append(((*path, name), child))
        found += _walk(child, (*path, name))
    return found


PARSER = build_parser()
COMMANDS = {path: child for path, child in _walk(PARSER)}
PATHS = [" ".join(path) for path in COMMANDS]


def _japanese(text: str | None) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text or "")


def test_the_command_list_is_read_from_the_parser():
    """The walk finds every command, the nested `roster import` and the ones a hand-written list had missed."""
    assert {"curriculum", "roster", "roster import", "autograde", "report", "certificate", "demo"} <= set(PATHS)
    assert len(PATHS) == len(set(PATHS)) > 10


@pytest.mark.parametrize("path", PATHS)
def test_every_command_is_described_in_japanese(path: str):
    """Each command has a Japanese description, and a Japanese line in its parent's list of commands."""
    names = tuple(path.split())
    assert _japanese(COMMANDS[names].description), path
    parent = COMMANDS[names[:-1]] if len(names) > 1 else PARSER
    assert _japanese(_listed_help(parent)[names[-1]]), path


def test_help_lists_every_command_in_japanese():
    """`python -m course --help` (a real subprocess) names every top-level command with a Japanese description."""
    out = subprocess.run([sys.executable, "-m", "course", "--help"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("使い方: python -m course")
    for command in _children(PARSER):
        line = next((line for line in out.splitlines() if line.strip().startswith(command + " ")), "")
        assert _japanese(line), (command, out)


@pytest.mark.parametrize("path", PATHS)
def test_every_command_has_japanese_help(path: str, capsys):
    """`python -m course <command> --help` exits 0 and prints Japanese usage, the description and its sub-commands."""
    names = tuple(path.split())
    with pytest.raises(SystemExit) as caught:
        main([*names, "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"使い方: python -m course {path}"), out
    assert "このヘルプを表示して終了します" in out
    assert "".join(COMMANDS[names].description.split()) in "".join(out.split())  # argparse wraps long lines
    for child in _children(COMMANDS[names]):
        assert any(line.strip().startswith(child + " ") for line in out.splitlines()), (child, out)


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
    [workbook] = (tmp_path / "rt" / "exports").glob("修了状況一覧_令和*年度_令和*現在.xlsx")
    assert str(workbook) in out and "課別の未修了者一覧 2 件" in out


@pytest.mark.parametrize("command", ["export", "completion"])
def test_a_short_reader_leaves_the_garbage_collector_as_it_found_it(
    course_root: Path, tmp_path: Path, monkeypatch, command: str
):
    """export and completion run without the cyclic garbage collector, and switch it back on when they return."""
    monkeypatch.setenv("COURSE_ROOT", str(course_root))
    seen: list[bool] = []

    def records(**_: object) -> list[object]:
        seen.append(gc.isenabled())
        return []

    monkeypatch.setattr("course.records.completion_records", records)
    monkeypatch.setattr("course.export.completion_records", records)
    assert gc.isenabled()
    assert (
        main(["--runtime", str(tmp_path / "rt"), command, *(["--out", str(tmp_path)] if command == "export" else [])])
        == 0
    )
    assert seen == [False]
    assert gc.isenabled()


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
