"""nbgrader preprocessors of the course's grader, each one small with one job.

- ``GuardedExecute``: nbgrader's Execute, with kernels from the sandboxed zygote and test cells sent on the guarded
  path of ``course.autograde.kernelguard``.
- ``LimitOutputBytes``: cut each cell's output to a byte budget (nbgrader's LimitOutput only counts lines).
- ``HideHiddenTests``: feedback shows neither the code of hidden tests nor what they reported.
- ``CompiledCheckCellMetadata``: nbgrader's CheckCellMetadata with its JSON schema compiled once. nbgrader calls
  ``jsonschema.validate`` per cell, which re-checks the schema itself every time (a third of a second per notebook).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import jsonschema
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import CheckCellMetadata, Execute, NbGraderPreprocessor
from traitlets import Integer

from course.autograde.kernelguard import GUARD_MIME, MARKER, TEST_FILENAME, token
from course.autograde.sandbox import SandboxKernelManager

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
GUARD_BROKEN = (
    "採点用の確認を正しく実行できませんでした。ノートブックの仕組み（カーネルや組み込み関数）を書き換えるコードがあると、"
    "この確認は不合格になります。"
)
HIDDEN_FAILED = (
    "非公開の確認で不合格になりました。練習の問題文と、教材の表やグラフをもう一度見比べてください。"
    "答えを計算する練習では、境目の値や特別な場合（空の文字、0、いちばん大きい・小さい値など）も見直してください。"
)
TRUNCATED = "\n…（出力が長すぎるため、ここから先を省略しました）\n"


def _is_test(cell: NotebookNode) -> bool:
    return bool(cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell))


class GuardedExecute(Execute):
    """Execute with sandboxed kernels; every test cell must come back with the kernel's guard token."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # nbgrader passes AsyncKernelManager as an argument, which would win over configuration.
        kwargs["kernel_manager_class"] = SandboxKernelManager
        super().__init__(*args, **kwargs)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        nonce = getattr(self.km, "guard_nonce", None)
        if not _is_test(cell) or not nonce:
            return super().preprocess_cell(cell, resources, index)
        original = cell.source
        cell.source = f"{MARKER}{nonce}\n{original}"
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = original
        expected = token(nonce, original)
        guards = [o for o in cell.outputs if o.get("output_type") == "display_data" and GUARD_MIME in o.get("data", {})]
        cell.outputs = [o for o in cell.outputs if o not in guards]
        if not any(o["data"][GUARD_MIME] == expected for o in guards):
            cell.outputs.append(
                new_output("error", ename="GradingGuardError", evalue=GUARD_BROKEN, traceback=[GUARD_BROKEN])
            )
        return cell, resources


class LimitOutputBytes(NbGraderPreprocessor):
    """Keep at most ``max_bytes`` of text output per cell; images over the budget are dropped."""

    max_bytes = Integer(256 * 1024, help="Bytes of output kept per cell").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if cell.cell_type != "code":
            return cell, resources
        budget = self.max_bytes
        kept = []
        for output in cell.outputs:
            if budget <= 0:
                break
            if output.output_type == "stream":
                text = output.text
                size = len(text.encode("utf-8"))
                if size > budget:
                    output.text = text.encode("utf-8")[:budget].decode("utf-8", "ignore") + TRUNCATED
                budget -= min(size, budget)
            elif output.output_type == "error":
                budget -= sum(len(line.encode("utf-8")) for line in output.traceback)
            else:
                size = sum(len(str(value).encode("utf-8")) for value in output.get("data", {}).values())
                if size > budget:
                    output = new_output("stream", name="stdout", text=TRUNCATED)
                budget -= size
            kept.append(output)
        if len(kept) < len(cell.outputs):
            kept.append(new_output("stream", name="stdout", text=TRUNCATED))
        cell.outputs = kept
        return cell, resources


def visible_part(source: str) -> tuple[str, range]:
    """The test code without its hidden region, and the (1-based) line numbers the hidden region had."""
    lines = source.split("\n")
    start = next((i for i, line in enumerate(lines) if HIDDEN_BEGIN in line), None)
    if start is None:
        return source, range(0)
    end = next((i for i, line in enumerate(lines) if HIDDEN_END in line and i > start), len(lines) - 1)
    return "\n".join(lines[:start] + lines[end + 1 :]), range(start + 1, end + 2)


_TEST_LINE = re.compile(rf'File "{re.escape(TEST_FILENAME)}", line (\d+)')


class HideHiddenTests(NbGraderPreprocessor):
    """In feedback: drop hidden test code, and replace errors raised inside it with a general hint."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if not _is_test(cell) or HIDDEN_BEGIN not in cell.source:
            return cell, resources
        cell.source, hidden = visible_part(cell.source)
        outputs = []
        for output in cell.outputs:
            if output.output_type == "error":
                lines = [int(n) for n in _TEST_LINE.findall("\n".join(output.traceback))]
                if lines and lines[-1] in hidden:
                    output = new_output("error", ename="非公開の確認", evalue=HIDDEN_FAILED, traceback=[HIDDEN_FAILED])
            outputs.append(output)
        cell.outputs = outputs
        return cell, resources


class _CompiledSchemaCheck(BaseMetadataValidator):
    """The schema step of nbgrader's validate_cell, with the schema checked and compiled once per process."""

    _compiled: ClassVar[Any] = None

    def validate_cell(self, cell: NotebookNode) -> None:
        meta = cell.metadata.get("nbgrader")
        if meta is None or meta.get("schema_version", 0) != self.schema_version:
            super().validate_cell(cell)  # nbgrader's own answer for missing, old or new schemas
            return
        if _CompiledSchemaCheck._compiled is None:
            validator_class = jsonschema.validators.validator_for(self.schema)
            validator_class.check_schema(self.schema)
            _CompiledSchemaCheck._compiled = validator_class(self.schema)
        # What jsonschema.validate does after checking the schema: raise the most relevant error.
        error = jsonschema.exceptions.best_match(_CompiledSchemaCheck._compiled.iter_errors(meta))
        if error is not None:
            raise error


class CompiledMetadataValidator(MetadataValidator, _CompiledSchemaCheck):
    """nbgrader's v3 validator (all its own checks) whose schema step is ``_CompiledSchemaCheck``."""


class CompiledCheckCellMetadata(CheckCellMetadata):
    """CheckCellMetadata with the compiled validator; same checks, same errors."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        try:
            CompiledMetadataValidator().validate_nb(nb)
        except ValidationError as error:
            self.log.error("Notebook failed to validate; the nbgrader metadata may be corrupted: %s", error)
            raise ValidationError("Notebook failed to validate; the nbgrader metadata may be corrupted.") from error
        return nb, resources
