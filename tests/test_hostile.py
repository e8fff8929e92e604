"""Hostile submissions: every attack plain nbgrader falls for, and more, graded in one run next to honest ones.

Plain nbgrader lets student code read the model answer, rewrite the gradebook, strip asserts, read expected values
from the test's own source line, abort the whole batch with a copied cell and keep a 50 MB line of output. Here
none of them earns a point or harms anyone else: the copied cell is repaired and the long line is cut.

Each case asserts the exact score (against a reference submission graded in the same run, so the expectation does
not hard-code the module's points), that nothing outside the sandbox changed, and that everyone else was graded.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import socket
import threading
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from course import demo, lifecycle
from course.autograde import grader
from course.autograde.preprocessors import HIDDEN_BEGIN, HIDDEN_END
from course.config import Course
from course.curriculum import load_curriculum
from tests.conftest import REPO
from tests.grading import copy_of, enrol, grader_settings, hand_in

pytestmark = pytest.mark.pipeline
MODULE = load_curriculum().modules["B03"]
NB = f"{MODULE.assignment}.ipynb"


def _attack(code: str) -> str:
    """An answer cell for 練習5 that runs ``code`` and then defines the function correctly."""
    return code + "\n\n" + CORRECT["answer_count_elderly_by_district"]


def _wrong5(code: str) -> str:
    """An answer cell for 練習5 that runs ``code`` and defines a wrong function (returns an empty Series)."""
    return code + "\n\ndef count_elderly_by_district(df, ref):\n    return pd.Series(dtype=int)\n"


CORRECT: dict[str, str] = {}
PEEK = """
import inspect, re
from datetime import date as _d
def to_seireki(s):
    for frame in inspect.stack()[1:4]:
        for line in frame.code_context or []:
            m = re.search(r"date\\((\\d+), (\\d+), (\\d+)\\)", line)
            if m:
                return _d(*map(int, m.groups()))
    return None
"""
TRANSFORMER = """
get_ipython().input_transformers_cleanup.append(lambda lines: [l for l in lines if not l.lstrip().startswith("assert")])
"""
BUILTINS = """
import builtins
_real_isinstance = builtins.isinstance
class _Any:
    def __eq__(self, other): return True
    def equals(self, other): return True
    def __getattr__(self, name): return lambda *a, **k: self
builtins.isinstance = lambda obj, cls: True if cls is pd.Series else _real_isinstance(obj, cls)
def count_elderly_by_district(df, ref):
    return _Any()
"""
HIJACK = """
_kernel = get_ipython().kernel
async def _fake(code, silent, *args, **kwargs):
    return {"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []}
_kernel.do_execute = _fake
"""
BACKGROUND = """
import os, subprocess
subprocess.Popen(["sleep", "987"])
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "986"])
    os._exit(0)
"""
MEMORY = """
try:
    _big = bytearray(8 * 2**30)
except MemoryError:
    print("MEMORY-LIMIT-HELD")
"""


def _read_solution(root: Path) -> str:
    return f"""
import json
_nb = json.load(open({str(root / "source" / "b03" / NB)!r}, encoding="utf-8"))
for _cell in _nb["cells"]:
    _src = "".join(_cell["source"]) if isinstance(_cell["source"], list) else _cell["source"]
    if "def count_elderly_by_district" in _src:
        exec(_src, globals())
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One course, one grading run over every hostile case and its references."""
    tmp = tmp_path_factory.mktemp("hostile")
    root = tmp / "course"
    root.mkdir()
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "settings", root / "settings")
    shutil.copytree(REPO / "source" / MODULE.assignment, root / "source" / MODULE.assignment)
    shutil.copytree(REPO / "demo", root / "demo")
    course = Course.load(root, runtime=tmp / "runtime")
    lifecycle.build(course=course, modules=[MODULE])
    CORRECT.update(demo.DemoAnswers.load(course, MODULE).correct)

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    contacts: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                contacts.append(server.accept())
            except OSError:
                continue

    threading.Thread(target=serve, daemon=True).start()

    stub = "# ここにコードを書いてください\nraise NotImplementedError()"
    network = f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"leak")
except OSError as error:
    print("NETWORK-BLOCKED", error)
"""
    gradebook_attack = f"""
import sqlite3
try:
    _db = sqlite3.connect({str(course.gradebook_file)!r})
    _db.execute("UPDATE grade SET manual_score = 0")
    _db.commit()
except Exception as error:
    print("GRADEBOOK-BLOCKED", error)
"""
    write_attack = f"""
for _path in ({str(root / "source" / "b03" / "PWNED.txt")!r}, {str(root / "PWNED.txt")!r}):
    try:
        open(_path, "w").write("x")
    except OSError as error:
        print("WRITE-BLOCKED", error)
"""
    cases: dict[str, dict] = {
        "400100": {"name": "control"},
        "400101": {"name": "ref_ex5_stub", "cells": {"answer_count_elderly_by_district": stub}},
        "400102": {"name": "ref_ex3_stub", "cells": {"answer_to_seireki": stub}},
        "400110": {"name": "read_solution", "cells": {"answer_count_elderly_by_district": _read_solution(root)}},
        "400111": {"name": "transformer", "cells": {"answer_count_elderly_by_district": _wrong5(TRANSFORMER)}},
        "400112": {"name": "frame_peek", "cells": {"answer_to_seireki": PEEK}},
        "400113": {"name": "builtins", "cells": {"answer_count_elderly_by_district": BUILTINS}},
        "400114": {"name": "hijack", "cells": {"answer_count_elderly_by_district": _wrong5(HIJACK)}},
        "400120": {"name": "network", "cells": {"answer_count_elderly_by_district": _attack(network)}},
        "400121": {"name": "gradebook", "cells": {"answer_count_elderly_by_district": _attack(gradebook_attack)}},
        "400122": {"name": "write", "cells": {"answer_count_elderly_by_district": _attack(write_attack)}},
        "400123": {"name": "background", "cells": {"answer_count_elderly_by_district": _attack(BACKGROUND)}},
        "400124": {
            "name": "huge_output",
            "cells": {"answer_count_elderly_by_district": _attack("print('x' * 50_000_000)")},
        },
        "400125": {"name": "memory", "cells": {"answer_count_elderly_by_district": _attack(MEMORY)}},
        "400126": {"name": "infinite_loop", "cells": {"answer_count_elderly_by_district": "while True:\n    pass"}},
        "400130": {"name": "duplicate_cell", "duplicate": "answer_normalize_text"},
        "400131": {"name": "deleted_tests", "delete": ("test_normalize_text_nfkc", "test_normalize_text_spaces")},
        "400132": {"name": "malformed"},
        "400133": {"name": "symlink"},
        "400134": {"name": "kernelspec"},
    }
    release = nbformat.read(course.release_dir / MODULE.assignment / NB, as_version=4)
    for staff_id, case in cases.items():
        nb = copy_of(release)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
                cell.source = case.get("cells", {}).get(grade_id, CORRECT[grade_id])
        if "duplicate" in case:
            index = next(
                i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == case["duplicate"]
            )
            copy = copy_of(nb.cells[index])
            copy.id = "pasted-copy"  # JupyterLab gives a pasted cell a new id but keeps nbgrader's metadata
            nb.cells.insert(index + 1, copy)
        if "delete" in case:
            nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in case["delete"]]
        if case["name"] == "kernelspec":
            nb.metadata.kernelspec = {"name": "ir", "display_name": "R", "language": "R"}
        notebook = '{"cells": [ this is not json' if case["name"] == "malformed" else nb
        jumin = course.release_dir / MODULE.assignment / "jumin.csv"
        folder = hand_in(course, staff_id, MODULE.assignment, notebook, files=[jumin])
        if case["name"] == "symlink":
            (folder / "secret.txt").symlink_to("/etc/hostname")
    enrol(course, cases)

    def fingerprint() -> dict[str, str]:
        files = [p for p in root.rglob("*") if p.is_file()]
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    before = fingerprint()
    settings = grader_settings(cell_timeout=5)
    report = grader.autograde(course=course, modules=[MODULE], progress=False, settings=settings, workers=2)
    after = fingerprint()
    stop.set()
    server.close()
    for connection, _ in contacts:  # type: ignore[misc]
        connection.close()
    gb = Gradebook(course.db_url, course.course_id)
    try:
        scores = {s.student_id: s.code_score for s in gb.assignment_submissions(MODULE.assignment)}
        max_score = gb.find_assignment(MODULE.assignment).max_code_score
    finally:
        gb.close()
    names = {case["name"]: staff_id for staff_id, case in cases.items()}
    return {
        "course": course, "report": report, "scores": scores, "max": max_score, "names": names,
        "before": before, "after": after, "contacts": contacts,
    }  # fmt: skip


def score(graded: dict, name: str) -> float:
    return graded["scores"][graded["names"][name]]


def output_of(graded: dict, name: str) -> str:
    """What the cells of the autograded notebook printed (their outputs only, not their code)."""
    path = graded["course"].autograde_dir / graded["names"][name] / MODULE.assignment / NB
    nb = nbformat.read(path, as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells], ensure_ascii=False)


def test_control_and_references_are_graded_as_plain_answers(graded):
    """The honest control gets every point; the references lose exactly their exercise (and what depends on it)."""
    assert score(graded, "control") == graded["max"] > 0
    assert 0 < score(graded, "ref_ex5_stub") < graded["max"]
    assert 0 < score(graded, "ref_ex3_stub") < score(graded, "ref_ex5_stub")


@pytest.mark.parametrize("name", ["read_solution", "transformer", "builtins", "hijack", "infinite_loop"])
def test_gaming_tricks_earn_nothing_for_exercise_5(graded, name):
    """Reading the solution, stripping asserts, patching builtins, hijacking the kernel, hanging: no points."""
    assert score(graded, name) == score(graded, "ref_ex5_stub")


def test_frame_peeking_earns_nothing(graded):
    """Reading the expected value from the running test's source gives the score of no answer at all."""
    assert score(graded, "frame_peek") == score(graded, "ref_ex3_stub")


@pytest.mark.parametrize("name", ["network", "gradebook", "write", "background", "huge_output", "memory"])
def test_blocked_side_effects_leave_the_honest_answer_its_points(graded, name):
    """Attacks that fail harmlessly inside the sandbox; the correct function after them still scores fully."""
    assert score(graded, name) == graded["max"]


def test_sandbox_blocked_network_gradebook_and_writes(graded):
    """No connection reached the loopback server; the gradebook and course files were not reachable."""
    assert graded["contacts"] == []
    assert "NETWORK-BLOCKED" in output_of(graded, "network")
    assert "GRADEBOOK-BLOCKED" in output_of(graded, "gradebook")
    assert output_of(graded, "write").count("WRITE-BLOCKED") == 2
    assert "MEMORY-LIMIT-HELD" in output_of(graded, "memory")
    assert graded["before"] == graded["after"], "nothing in the course folder may change"


def test_nothing_started_by_a_submission_survives(graded):
    """The sleep processes a submission started (even double-forked into a new session) are gone."""
    alive = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"sleep 98" in cmdline:
                alive.append(cmdline)
    assert alive == []


def test_huge_output_is_cut(graded):
    """A 50 MB print is cut to the byte budget in the autograded notebook."""
    path = graded["course"].autograde_dir / graded["names"]["huge_output"] / MODULE.assignment / NB
    assert path.stat().st_size < 2 * 2**20
    assert "出力が長すぎるため" in output_of(graded, "huge_output")


@pytest.mark.parametrize("name", ["duplicate_cell", "deleted_tests", "symlink", "kernelspec"])
def test_tampered_but_honest_submissions_are_repaired_and_graded(graded, name):
    """A copied cell, deleted tests, a symlink and a changed kernel: repaired, graded in full, and noted."""
    assert score(graded, name) == graded["max"]


def test_repairs_are_reported_in_japanese(graded):
    """The instructor is told what pre-flight changed, per submission."""
    notes = {(sid, note) for sid, _, note in graded["report"].notes}
    names = graded["names"]
    assert any(sid == names["duplicate_cell"] and "重複" in note for sid, note in notes)
    assert any(sid == names["deleted_tests"] and "元に戻して" in note for sid, note in notes)
    assert any(sid == names["symlink"] and "リンク" in note for sid, note in notes)


def test_a_broken_notebook_fails_alone_with_a_reason(graded):
    """The malformed notebook is reported in Japanese; every other submission was graded."""
    report = graded["report"]
    assert [(f.staff_id, "壊れていて" in f.reason) for f in report.failures] == [(graded["names"]["malformed"], True)]
    assert len(report.done) == len(graded["names"]) - 1


def test_feedback_never_shows_hidden_tests(graded):
    """Neither hidden test code nor what hidden tests reported appears in any feedback file."""
    course = graded["course"]
    lifecycle.feedback(course=course, modules=[MODULE])
    source = nbformat.read(course.source_dir / MODULE.assignment / NB, as_version=4)
    hidden_lines = set()
    for cell in source.cells:
        if HIDDEN_BEGIN in cell.source:
            region = cell.source.split(HIDDEN_BEGIN, 1)[1].split(HIDDEN_END, 1)[0]
            hidden_lines |= {line.strip() for line in region.splitlines() if len(line.strip()) > 25}
    pages = list(course.feedback_dir.rglob("*.html"))
    assert len(pages) >= len(graded["names"]) - 1
    # The detector works: the autograded notebook of the control does contain the hidden tests.
    control = graded["course"].autograde_dir / graded["names"]["control"] / MODULE.assignment / NB
    control_code = "\n".join(c.source for c in nbformat.read(control, as_version=4).cells)
    assert any(line in control_code for line in hidden_lines)
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        assert HIDDEN_BEGIN not in text
        leaked = [line for line in hidden_lines if line in text]
        assert not leaked, (page, leaked[:2])
