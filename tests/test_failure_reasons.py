"""nbgrader's autograde log → the Japanese reason an instructor reads (``FAILURE_REASONS`` in the grader).

Each pattern is checked against a real log: a crafted submission of a tiny fictional module is graded by the real
grader (sandboxed workers, nbgrader's own Autograde) and fails the way the pattern describes; the log nbgrader wrote
for it is kept, and the pattern must be the first one found in it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook

from course import lifecycle
from course.autograde import grader
from course.autograde.grader import FAILURE_REASONS, _failure_reason
from course.config import Course
from course.curriculum import Module
from tests.conftest import REPO
from tests.grading import copy_of, enrol, grader_settings, hand_in

MODULE = Module("Z99", "架空のモジュール（採点失敗の確認用）", 0.6, ("一般職",))
ANSWER = "def double(x):\n    return 2 * x"
REASONS = dict(FAILURE_REASONS)
FALLBACK = "自動採点できませんでした（{}）。"


def _meta(grade_id: str, **flags: object) -> dict:
    base = {"grade_id": grade_id, "schema_version": 3, "grade": False, "solution": False, "locked": False}
    return {"nbgrader": {**base, "task": False, **flags}}


def _source_notebook() -> NotebookNode:
    """The instructor's version: one answer cell and one graded test of it."""
    nb = new_notebook(
        cells=[
            new_code_cell(f"### BEGIN SOLUTION\n{ANSWER}\n### END SOLUTION", metadata=_meta("answer", solution=True)),
            new_code_cell("assert double(2) == 4", metadata=_meta("test_double", grade=True, locked=True, points=1)),
        ]
    )
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _answer(code: str):
    def craft(nb: NotebookNode) -> None:
        nb.cells[0].source = code

    return craft


def _schema(version: int):
    def craft(nb: NotebookNode) -> None:
        for cell in nb.cells:
            cell.metadata.nbgrader["schema_version"] = version

    return craft


def _answer_made_graded(nb: NotebookNode) -> None:
    """The answer cell carries grade: true, as in another version of the notebook; the gradebook has no grade cell."""
    nb.cells[0].metadata.nbgrader.update(grade=True, points=1)


def _extra_graded_cell(nb: NotebookNode) -> None:
    """A graded cell with an id the gradebook never saw (pasted from another notebook)."""
    nb.cells.append(
        new_code_cell("assert True", metadata=_meta("test_from_elsewhere", grade=True, locked=True, points=1))
    )


def _points_removed(nb: NotebookNode) -> None:
    """The test cell's metadata lost its points: nbgrader itself fails on it with a KeyError."""
    del nb.cells[1].metadata.nbgrader["points"]


IGNORES_INTERRUPTS = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
# case → (staff id, how the submission differs from a correct one); all graded in one run.
CASES = {
    "control": ("600100", lambda nb: None),
    "exits": ("600101", _answer("import os\nos._exit(1)")),
    "ignores_interrupts": ("600102", _answer(IGNORES_INTERRUPTS)),
    "schema_too_old": ("600103", _schema(1)),
    "schema_too_new": ("600104", _schema(4)),
    "answer_made_graded": ("600105", _answer_made_graded),
    "unknown_graded_cell": ("600106", _extra_graded_cell),
    "points_removed": ("600107", _points_removed),
}
# A second run, whose memory limit is too small for a kernel to start at all: the kernel dies before any cell runs.
STARTUP_CASE = ("kernel_cannot_start", "600200")
# pattern → (the cases whose real log it must decide, what its reason must tell the instructor)
PRODUCED_BY = {
    "DeadKernel": (["exits"], "カーネルが止まりました"),
    "Kernel died": (["kernel_cannot_start"], "カーネルが止まりました"),
    "CellTimeoutError": (["ignores_interrupts"], "時間内に終わらないセル"),
    "nbgrader metadata format": (["schema_too_old", "schema_too_new"], "セルの情報が壊れています"),
    "MissingEntry": (["answer_made_graded"], "成績簿にない採点用のセル"),
    "does not exist in the database": (["unknown_graded_cell"], "成績簿にない採点用のセル"),
}


@dataclass
class Run:
    staff: dict[str, str]  # case → staff id
    reasons: dict[str, str]  # staff id → the reason in the grader's report
    done: set[str]  # staff ids graded successfully
    logs: dict[str, str]  # staff id → nbgrader's log of the failed grading


def _grade(tmp: Path, cases: dict, **limits: int) -> Run:
    """Build the fictional module, hand in the crafted submissions and grade them, keeping nbgrader's logs."""
    root = tmp / "course"
    (root / "source" / MODULE.assignment).mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "settings", root / "settings")
    nbformat.write(_source_notebook(), MODULE.notebook(root / "source"))
    course = Course.load(root, runtime=tmp / "runtime")
    lifecycle.build(course=course, modules=[MODULE])
    release = nbformat.read(course.release_dir / MODULE.assignment / f"{MODULE.assignment}.ipynb", as_version=4)
    for staff_id, craft in cases.values():
        nb = copy_of(release)
        nb.cells[0].source = ANSWER
        craft(nb)
        hand_in(course, staff_id, MODULE.assignment, nb)
    enrol(course, [staff_id for staff_id, _ in cases.values()])

    logs = tmp / "logs"
    logs.mkdir()

    def keep_log(log: str) -> str:
        """In the grading worker: nbgrader's log, saved under the staff id of the submission it is about."""
        staff_id = re.search(r"/staging/(\w+)/", log)
        (logs / f"{staff_id[1] if staff_id else 'unknown'}.log").write_text(log, encoding="utf-8")
        return _failure_reason(log)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grader, "_failure_reason", keep_log)  # the workers are forks: they see the patched function
        report = grader.autograde(
            course=course, modules=[MODULE], progress=False, settings=grader_settings(**limits), workers=2
        )
    return Run(
        staff={case: staff_id for case, (staff_id, _) in cases.items()},
        reasons={f.staff_id: f.reason for f in report.failures},
        done={staff_id for staff_id, _ in report.done},
        logs={p.stem: p.read_text(encoding="utf-8") for p in logs.glob("*.log")},
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Run, str]]:
    """Every case graded: case → (its run, its staff id)."""
    crafted = _grade(tmp_path_factory.mktemp("failures"), CASES, cell_timeout=3)
    name, staff_id = STARTUP_CASE
    startup = _grade(tmp_path_factory.mktemp("startup"), {name: (staff_id, lambda nb: None)}, memory_mb=32)
    return {**{case: (crafted, crafted.staff[case]) for case in CASES}, name: (startup, staff_id)}


def test_every_pattern_has_a_real_failure_to_check():
    """Each pattern in FAILURE_REASONS has a crafted submission below, and each one listed here is still a pattern."""
    assert {needle for needle, _ in FAILURE_REASONS} == set(PRODUCED_BY)


def _first_pattern(log: str) -> str | None:
    return next((needle for needle, _ in FAILURE_REASONS if needle in log), None)


@pytest.mark.pipeline
@pytest.mark.parametrize("needle", [needle for needle, _ in FAILURE_REASONS])
def test_each_pattern_decides_the_reason_of_a_real_failure(graded, needle):
    """The real log of a submission that fails this way holds the pattern before any other; the report gives its reason."""
    cases, says = PRODUCED_BY.get(needle, ([], ""))
    assert cases, f"no crafted submission fails with {needle!r} in its log"
    assert says in REASONS[needle]
    for case in cases:
        run, staff_id = graded[case]
        log = run.logs[staff_id]
        assert _first_pattern(log) == needle, (case, log[-3000:])
        assert run.reasons[staff_id] == REASONS[needle], case


@pytest.mark.pipeline
def test_a_kernel_that_dies_at_start_is_told_apart_only_by_kernel_died(graded):
    """A kernel dying before it answers leaves "Kernel died" but no DeadKernelError: that pattern is needed alone."""
    run, staff_id = graded[STARTUP_CASE[0]]
    assert "Kernel died before replying to kernel_info" in run.logs[staff_id]
    assert "DeadKernel" not in run.logs[staff_id]


@pytest.mark.pipeline
def test_only_the_crafted_submissions_fail(graded):
    """The correct submission in the same run is graded; every crafted one fails with a reason."""
    run, control = graded["control"]
    assert run.done == {control}
    assert set(run.reasons) == {staff_id for case, (staff_id, _) in CASES.items() if case != "control"}


@pytest.mark.pipeline
def test_an_unforeseen_real_error_is_shown_in_the_reason(graded):
    """A failure no pattern knows (nbgrader's KeyError on a test cell without points) shows that error."""
    run, staff_id = graded["points_removed"]
    assert _first_pattern(run.logs[staff_id]) is None
    assert "KeyError: 'points'" in run.reasons[staff_id]


def test_an_unknown_error_keeps_the_last_exception_or_error_line_shortened():
    """No pattern matches: the reason carries the last exception the log names (nbgrader's closing [ERROR] line only
    points at the traceback), else the last [ERROR] line; stripped and cut to 300 characters."""
    log = "[INFO] Autograding z99\n    ValueError: boom\n[ERROR] Please see the above traceback\n[INFO] done\n"
    assert _failure_reason(log) == FALLBACK.format("ValueError: boom")
    last = "[ERROR] " + "あ" * 400
    assert _failure_reason(f"[ERROR] an earlier error\n  {last}  \n[INFO] done") == FALLBACK.format(last[:300])


def test_a_log_without_any_error_line_points_to_nbgraders_record():
    """Nothing in the log names an error: the reason says where to look instead."""
    assert _failure_reason("[INFO] Autograding z99\n") == FALLBACK.format("詳細は nbgrader の記録を確認してください")
    assert _failure_reason("") == FALLBACK.format("詳細は nbgrader の記録を確認してください")


def test_the_first_pattern_in_the_list_wins():
    """A log holding two patterns gets the reason of the one listed first."""
    (first, first_reason), (last, _) = FAILURE_REASONS[0], FAILURE_REASONS[-1]
    assert _failure_reason(f"[WARNING] {last}\n[ERROR] {first}\n") == first_reason
