"""Every module's notebook is honest both ways, and release/ is exactly what source/ generates.

One parametrised suite covers all modules: adding a module folder and its curriculum entry is enough to have it
checked. Each notebook executes once per run:
- the instructor version (source/) runs under nbval (pytest collects source/ with --nbval-lax): every cell, the
  hidden tests included, must run without an error, so the source passes every one of its tests;
- the student version (release/) runs under nbgrader's Validator from Python (`nbgrader validate` exits 0 even when
  tests fail) and must pass no graded test.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import re
import shutil
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.validator import Validator

from course import lifecycle
from course.config import Course
from course.curriculum import Module, load_curriculum
from tests.conftest import REPO

# COURSE_TEST_MODULES=B05,K01 narrows the suite to the modules being worked on.
_ONLY = {m.strip().upper() for m in os.environ.get("COURSE_TEST_MODULES", "").split(",") if m.strip()}
MODULES = [m for m in load_curriculum().available(REPO / "source") if not _ONLY or m.id in _ONLY]
IDS = [m.id for m in MODULES]
SECRET_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "採点基準", "模範解答")


def _nb(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _meta(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def _regions(source: str, begin: str, end: str) -> list[str]:
    return re.findall(rf"{re.escape(begin)}\n(.*?)\n[ \t]*{re.escape(end)}", source, flags=re.S)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Course:
    """A copy of the course whose release/ was generated now, from source/, by nbgrader."""
    tmp = tmp_path_factory.mktemp("generated")
    shutil.copy2(REPO / "nbgrader_config.py", tmp / "nbgrader_config.py")
    shutil.copytree(REPO / "settings", tmp / "settings")
    shutil.copytree(REPO / "source", tmp / "source")
    course = Course.load(tmp, runtime=tmp / "runtime")
    lifecycle.build(course=course, modules=MODULES)
    return course


def test_source_notebooks_run_under_nbval():
    """pytest collects source/ with nbval, so a plain `make test` runs every instructor notebook once."""
    options = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert "source" in options["testpaths"] and "--nbval-lax" in options["addopts"]


def test_there_is_at_least_one_module():
    """The suite is not vacuous: the spine's module exists (or the modules asked for)."""
    assert MODULES and (_ONLY or "B03" in IDS)


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_source_is_stored_clean(module: Module):
    """No outputs or execution counts; nbgrader metadata valid (schema v3) and grade ids unique."""
    nb = _nb(module.notebook(REPO / "source"))
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.get("id")
    MetadataValidator().validate_nb(nb)
    ids = [_meta(c)["grade_id"] for c in nb.cells if _meta(c)]
    assert len(ids) == len(set(ids))
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_module_has_the_template_parts(module: Module):
    """≥3 autograded test cells with visible and hidden tests, a manual reflection, and self-check widgets."""
    nb = _nb(module.notebook(REPO / "source"))
    tests = [c for c in nb.cells if c.cell_type == "code" and _meta(c).get("grade") and not _meta(c).get("solution")]
    with_hidden = [c for c in tests if "### BEGIN HIDDEN TESTS" in c.source]
    visible = [c for c in tests if re.search(r"^assert ", c.source.split("### BEGIN HIDDEN TESTS")[0], re.M)]
    assert len(tests) >= 3 and len(with_hidden) >= 3 and len(visible) >= 3
    assert all(_meta(c).get("locked") for c in tests), "test cells must be locked"
    manual = [c for c in nb.cells if c.cell_type == "markdown" and _meta(c).get("grade") and _meta(c).get("solution")]
    assert manual, "a manually graded reflection is required"
    assert all("採点基準" in c.source for c in manual), "the rubric belongs in the instructor version"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert re.search(r"^from course(\.selfcheck)? import", code, flags=re.M), "self-checks come from course.selfcheck"
    checks = re.findall(r"^(?:\w+\s*=\s*)?(?:selfcheck\.)?(?:choice|text)\(", code, flags=re.M)
    assert len(checks) >= 3, "each section needs a self-check widget"


@pytest.mark.notebook
@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_student_version_fails_every_graded_test(module: Module, generated: Course):
    """The blank student version passes no graded test, so no test can be passed by doing nothing."""
    path = generated.release_dir / module.assignment / f"{module.assignment}.ipynb"
    result = Validator(config=generated.nbgrader_config(), invert=True).validate(str(path))
    assert "passed" not in result and "changed" not in result, json.dumps(result, ensure_ascii=False)[:3000]


def _names(source: str) -> tuple[set[str], set[str]]:
    """Names a cell binds anywhere (assignments, loops, imports, definitions, arguments), and names it reads."""
    tree = ast.parse(source)
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound, read


# Staff fetch, check and submit in the 研修 panel (docs/panel.md); nbgrader's English screens are not shown to them.
NBGRADER_SCREENS = re.compile(r"Assignment|Fetch|Validate|Submit|Nbgrader|課題の画面")
# How to submit, in the same words at the end of every module (docs/authoring-modules.md, part 8).
SUBMIT_SENTENCE = (
    "**Ctrl + S** で保存し、左の「研修」の一覧で、この教材の「**提出前の確認**」を押します。"
    "「提出できます」と出たら「**提出する**」を押します"
)


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_notebook_names_the_panel_not_nbgrader_screens(module: Module):
    """No cell sends staff to nbgrader's Assignment List or its Fetch / Validate / Submit buttons, and the closing
    section says how to submit in the panel's words, the same in every module."""
    nb = _nb(module.notebook(REPO / "source"))
    stale = [(c.get("id"), m.group()) for c in nb.cells for m in NBGRADER_SCREENS.finditer(c.source)]
    assert stale == []
    closing = [c for c in nb.cells if c.cell_type == "markdown" and SUBMIT_SENTENCE in c.source]
    assert closing and closing[-1] is nb.cells[-1], "the last cell says how to submit"


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_test_cells_stand_alone(module: Module):
    """The grader runs each test cell in a copy of the namespace (course/autograde/kernelguard.py), so a test cell
    may not read a name that only another test cell binds: it would pass under nbval and fail when graded."""
    nb = _nb(module.notebook(REPO / "source"))
    cells = [
        (c, bool(_meta(c).get("grade")) and not _meta(c).get("solution")) for c in nb.cells if c.cell_type == "code"
    ]
    outside = set(dir(builtins)).union(*(_names(c.source)[0] for c, test in cells if not test))
    for cell, test in cells:
        if test:
            bound, read = _names(cell.source)
            others = set().union(*(_names(c.source)[0] for c, t in cells if t and c is not cell))
            borrowed = (read - bound - outside) & others
            assert not borrowed, f"{_meta(cell)['grade_id']} reads {sorted(borrowed)}, bound only in another test cell"


@pytest.mark.pipeline  # builds every student version with nbgrader (half a minute): not in `make check`
@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_release_holds_no_solution_or_hidden_test(module: Module, generated: Course):
    """Neither markers nor any line of a solution or hidden test reaches the student version."""
    source = _nb(module.notebook(REPO / "source"))
    released = (generated.release_dir / module.assignment / f"{module.assignment}.ipynb").read_text(encoding="utf-8")
    committed = (REPO / "release" / module.assignment / f"{module.assignment}.ipynb").read_text(encoding="utf-8")
    for text in (released, committed):
        for marker in SECRET_MARKERS:
            assert marker not in text
    secret_lines = set()
    for cell in source.cells:
        for begin, end in (
            ("### BEGIN SOLUTION", "### END SOLUTION"),
            ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
        ):
            for region in _regions(cell.source, begin, end):
                secret_lines |= {line.strip() for line in region.splitlines() if len(line.strip()) > 25}
    student_lines = {
        line.strip()
        for c in _nb(REPO / "release" / module.assignment / f"{module.assignment}.ipynb").cells
        for line in c.source.splitlines()
    }
    assert not (secret_lines & student_lines)


def _released_files(folder: Path, course: Course) -> list[str]:
    """Files nbgrader would hand out from ``folder``: what notebooks write while they run (output/, caches) is
    left out by nbgrader's own ignore patterns, so it is left out here too."""
    ignore = list(course.config.CourseDirectory.ignore)
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not any(fnmatch(part, pattern) for part in p.relative_to(folder).parts for pattern in ignore)
    )


@pytest.mark.pipeline  # builds every student version with nbgrader (half a minute): not in `make check`
@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_committed_release_equals_a_fresh_build(module: Module, generated: Course):
    """release/ is generated: rebuilding it from source/ gives the committed files, byte for byte in content."""
    fresh = generated.release_dir / module.assignment
    committed = REPO / "release" / module.assignment
    names = _released_files(fresh, generated)
    assert names == _released_files(committed, generated)
    for name in names:
        if name.endswith(".ipynb"):
            assert json.loads((fresh / name).read_text("utf-8")) == json.loads((committed / name).read_text("utf-8")), (
                f"release/{module.assignment}/{name} is stale: run `make build` and commit it"
            )
        else:
            assert (fresh / name).read_bytes() == (committed / name).read_bytes(), name
