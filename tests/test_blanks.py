"""Judgment items: recognised by their content, and given blanks (not a code stub) in the student version."""

from __future__ import annotations

from nbformat.v4 import new_code_cell
from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import ClearSolutions

from course.blanks import ClearSolutionsWithBlanks, is_judgment_item, literal_answers
from course.config import Course
from tests.conftest import REPO

STUB = {"python": "# ここにコードを書いてください\nraise NotImplementedError()"}


def _cleared(source: str) -> str:
    cell = new_code_cell(source, metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "a"}})
    ClearSolutionsWithBlanks(code_stub=STUB)._replace_solution_region(cell, "python")
    return str(cell.source)


def test_literal_assignments_are_a_judgment_item():
    """Strings, numbers, lists and comments count; anything computed does not."""
    assert literal_answers('回答 = "イ"\n# 理由はメモ\n違反 = [2, 4, 7]\n件数 = -3') == {
        "回答": "イ", "違反": [2, 4, 7], "件数": -3,
    }  # fmt: skip
    assert literal_answers("回答 = sorted([2, 1])") is None
    assert literal_answers("a = b = 1") is None
    assert literal_answers("print('イ')") is None
    assert literal_answers("") is None
    assert not is_judgment_item("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")


def test_a_judgment_item_gets_blanks_of_the_same_kind():
    """The student sees the names with empty values, so they only fill in what they judged."""
    source = '# ア・イ・ウから選ぶ\n### BEGIN SOLUTION\n回答 = "イ"\n違反 = [2]\n件数 = 12\n### END SOLUTION\n'
    assert _cleared(source) == '# ア・イ・ウから選ぶ\n回答 = ""\n違反 = []\n件数 = None\n'


def test_code_exercises_keep_nbgraders_stub():
    """Anything that is not only literals is cleared exactly as nbgrader's own ClearSolutions does."""
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
    plain = new_code_cell(source, metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "a"}})
    ClearSolutions(code_stub=STUB)._replace_solution_region(plain, "python")
    assert _cleared(source) == plain.source


def test_the_course_generates_student_versions_with_blanks():
    """nbgrader_config.py puts the substitute in nbgrader's own list, in ClearSolutions' place."""
    config = Course.load(REPO).nbgrader_config()
    names = [str(p) for p in GenerateAssignment(config=config).preprocessors]
    assert "course.blanks.ClearSolutionsWithBlanks" in names
    assert not any(name.endswith(".ClearSolutions") or "'ClearSolutions'" in name for name in names)
