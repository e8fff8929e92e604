"""course/child_process.py: work in a forked child comes back as its result or as its error, and never outlives the
block that started it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from course.child_process import beside
from course.config import CourseError


def test_the_childs_result_comes_back_while_the_parent_works():
    parent = os.getpid()
    with beside(lambda: (os.getpid(), [n * n for n in range(1000)])) as aside:
        mine = sum(range(1000))
        pid, squares = aside.result()
    assert pid != parent  # done in another process
    assert squares[999] == 998001 and mine == 499500


def test_an_error_in_the_child_is_raised_in_the_parent():
    def refuse() -> None:
        raise CourseError("課別ファイル 3 行目: 文字「髙」は Shift_JIS で表せません。")

    with pytest.raises(CourseError, match="3 行目"), beside(refuse) as aside:
        aside.result()


def test_an_error_that_cannot_be_pickled_still_says_what_happened():
    class Local(Exception):  # defined in a function: pickle cannot find it again
        pass

    def fail() -> None:
        raise Local("ローカルな例外")

    with pytest.raises(CourseError, match="Local: ローカルな例外"), beside(fail) as aside:
        aside.result()


def test_a_child_that_dies_is_reported_in_japanese():
    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(CourseError, match="途中で終了しました"), beside(die) as aside:
        aside.result()


def test_leaving_early_stops_and_reaps_the_child(tmp_path: Path):
    marker = tmp_path / "pid"

    def slow() -> bytes:
        marker.write_text(str(os.getpid()))
        time.sleep(0.3)
        return b"x" * 1_000_000  # more than a pipe holds: the child would wait forever for a reader

    with pytest.raises(RuntimeError, match="親の処理"), beside(slow):
        while not marker.exists():
            time.sleep(0.01)
        raise RuntimeError("親の処理が先に失敗しました")
    pid = int(marker.read_text())
    with pytest.raises(ChildProcessError):  # already reaped: no zombie left behind
        os.waitpid(pid, os.WNOHANG)
