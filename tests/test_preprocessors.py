"""The grader's preprocessors behave like nbgrader's own where they replace them."""

from __future__ import annotations

import copy

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator, ValidationError

from course.autograde.preprocessors import CompiledMetadataValidator, visible_part
from tests.conftest import REPO

SOURCE = nbformat.read(REPO / "source" / "b03" / "b03.ipynb", as_version=4)


def test_compiled_validator_accepts_what_nbgrader_accepts():
    """A real module's metadata passes both validators."""
    MetadataValidator().validate_nb(copy.deepcopy(SOURCE))
    CompiledMetadataValidator().validate_nb(copy.deepcopy(SOURCE))


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda meta: meta.update(points="たくさん"),
        lambda meta: meta.update(grade="yes"),
        lambda meta: meta.pop("grade_id"),
        lambda meta: meta.update(schema_version=1),
    ],
)
def test_compiled_validator_rejects_what_nbgrader_rejects(corrupt):
    """Corrupted metadata is refused by both, with the same kind of error."""
    errors = []
    for validator in (MetadataValidator(), CompiledMetadataValidator()):
        nb = copy.deepcopy(SOURCE)
        test_cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("points"))
        corrupt(test_cell.metadata["nbgrader"])
        with pytest.raises(Exception) as caught:
            validator.validate_nb(nb)
        errors.append(type(caught.value))
    assert errors[0] is errors[1]
    assert issubclass(errors[0], ValidationError) or errors[0].__name__.startswith("Schema")


def test_visible_part_drops_the_hidden_region_and_reports_its_lines():
    """Feedback keeps the visible asserts and knows which line numbers were hidden."""
    source = "assert 1\n### BEGIN HIDDEN TESTS\nassert 2\nassert 3\n### END HIDDEN TESTS\nprint('ok')"
    visible, hidden = visible_part(source)
    assert visible == "assert 1\nprint('ok')"
    assert list(hidden) == [2, 3, 4, 5]
