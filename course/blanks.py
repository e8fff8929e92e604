"""Judgment items: answer cells whose solution is nothing but literal assignments (``回答 = "イ"``).

Staff of the grade tracks are graded on what they judge, not on code they write. Such an answer cell is marked
only by its content: every statement between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` assigns a literal to a
name. In the student version nbgrader would put ``raise NotImplementedError()`` there; ``ClearSolutionsWithBlanks``
puts the same names with empty values instead (``回答 = ""``, ``違反している項目 = []``, ``件数 = None``), so the
person only fills in a value. nbgrader_config.py puts it in place of nbgrader's ClearSolutions.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from nbgrader.preprocessors import ClearSolutions

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
_REGION = re.compile(rf"^[ \t]*{re.escape(BEGIN)}[^\n]*\n(.*?)^[ \t]*{re.escape(END)}[^\n]*$", re.S | re.M)


def solution_regions(source: str) -> list[str]:
    """The text of every solution region of a cell, without the markers."""
    return _REGION.findall(source)


def literal_answers(code: str) -> dict[str, Any] | None:
    """``{name: value}`` if ``code`` only assigns literals to plain names (comments allowed), else None."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    answers: dict[str, Any] = {}
    for statement in tree.body:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            return None
        try:
            answers[statement.targets[0].id] = ast.literal_eval(statement.value)
        except ValueError:
            return None
    return answers or None


def is_judgment_item(source: str) -> bool:
    """An answer cell whose every solution region is only literal assignments."""
    regions = solution_regions(source)
    return bool(regions) and all(literal_answers(region) is not None for region in regions)


def blank(value: object) -> str:
    """The empty value a person replaces: "" for text, [] for a list, {} for a table, None for anything else."""
    if isinstance(value, str):
        return '""'
    if isinstance(value, list):
        return "[]"
    if isinstance(value, dict):
        return "{}"
    return "None"


class ClearSolutionsWithBlanks(ClearSolutions):
    """nbgrader's ClearSolutions, except that a judgment item's solution becomes blanks to fill in."""

    def _replace_solution_region(self, cell: Any, language: str) -> bool:
        if cell.cell_type != "code" or not is_judgment_item(cell.source):
            return bool(super()._replace_solution_region(cell, language))

        def blanks(match: re.Match[str]) -> str:
            indent = re.match(r"[ \t]*", match.group(0))
            prefix = indent.group(0) if indent else ""
            answers = literal_answers(match.group(1)) or {}
            return "\n".join(f"{prefix}{name} = {blank(value)}" for name, value in answers.items())

        cell.source = _REGION.sub(blanks, cell.source)
        return True
