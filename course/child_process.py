"""Work done in a forked child process while the parent does its own: two cores render two halves of an export.

A fork costs a few milliseconds and copies nothing up front (the child sees the parent's records as they are), so a
command that has read the gradebook once can hand part of its rendering to a second core. The child's result comes
back pickled through a pipe; an error raised in the child is raised again in the parent. Where there is no fork
(Windows), the work is done in the parent, after its own.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Generic, TypeVar

from course.config import CourseError

T = TypeVar("T")


class Aside(Generic[T]):
    """The result of work running beside the caller; ``result()`` waits for it."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._pid = 0
        self._pipe = -1
        if hasattr(os, "fork"):
            self._start()

    def _start(self) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: do the work, send the outcome, and leave without running the parent's exit code
            status = 0
            try:
                os.close(read_end)
                try:
                    payload = pickle.dumps((True, self._work()), protocol=pickle.HIGHEST_PROTOCOL)
                except BaseException as error:
                    payload = _pickled_error(error)
                with os.fdopen(write_end, "wb") as pipe:
                    pipe.write(payload)
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        os.close(write_end)
        self._pid, self._pipe = pid, read_end

    def result(self) -> T:
        if not self._pid:
            return self._work()
        pipe, self._pipe = self._pipe, -1
        with os.fdopen(pipe, "rb") as reading:
            payload = reading.read()
        self._reap()
        if not payload:
            raise CourseError("並行して処理していたプロセスが途中で終了しました。もう一度実行してください。")
        done, value = pickle.loads(payload)
        if not done:
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child if the caller gave up before asking for the result (nothing to do after ``result()``)."""
        if self._pipe >= 0:
            os.close(self._pipe)
            self._pipe = -1
        if self._pid:
            with suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)  # its work is not wanted any more: do not wait for it
            self._reap()

    def _reap(self) -> None:
        os.waitpid(self._pid, 0)
        self._pid = 0


def _pickled_error(error: BaseException) -> bytes:
    try:
        return pickle.dumps((False, error))
    except Exception:
        return pickle.dumps((False, CourseError(f"{type(error).__name__}: {error}")))


@contextmanager
def beside(work: Callable[[], T]) -> Iterator[Aside[T]]:
    """Run ``work`` in a forked child while the ``with`` block runs; call ``.result()`` inside the block to get what it
    returned. Leaving the block early stops the child."""
    aside = Aside(work)
    try:
        yield aside
    finally:
        aside.cancel()
