"""The grading kernel: an IPython kernel that runs nbgrader's test cells on a path student code cannot bend.

The grader sends each test cell with a first line ``# sano-grade <nonce>``; the nonce is random per kernel and
reaches the kernel only through the zygote's fork request. For such a cell the kernel:

- restores Python's builtins from a snapshot taken before any student code ran (``builtins.isinstance = …`` and
  similar monkeypatches are undone);
- compiles the test itself, so IPython input transformers, AST transformers and pre-run hooks never touch it;
- compiles it under a file name that has no source in ``linecache`` and does not record it in the history or in the
  kernel's request message, so code that inspects the calling frame cannot read the expected values from the test;
- runs it in a copy of the user namespace, so test variables are not visible through the functions' globals;
- answers with a token derived from the nonce. A cell without a valid token (for example because student code
  replaced the kernel's ``do_execute``) is marked failed by the grader.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import sys
import traceback
from typing import Any

from ipykernel.ipkernel import IPythonKernel

MARKER = "# sano-grade "
GUARD_MIME = "application/x-sano-guard"
TEST_FILENAME = "<確認>"
_pristine_builtins: dict[str, Any] = {}
_nonce = ""


def install_guard(nonce: str) -> None:
    """Remember the pristine builtins and this kernel's nonce (called before the kernel starts)."""
    global _nonce
    _pristine_builtins.clear()
    _pristine_builtins.update(builtins.__dict__)
    _nonce = nonce


def token(nonce: str, code: str) -> str:
    """What the kernel answers for a guarded cell: binds the nonce to this exact test code."""
    return hmac.new(nonce.encode(), code.encode(), hashlib.sha256).hexdigest()


class GuardedKernel(IPythonKernel):
    """IPython kernel that runs marked test cells through ``_run_test``."""

    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        first, _, body = code.partition("\n")
        if _nonce and first.startswith(MARKER) and hmac.compare_digest(first[len(MARKER) :].strip(), _nonce):
            return self._run_test(body)
        return await super().do_execute(code, silent, store_history, user_expressions, allow_stdin, **kwargs)

    def _run_test(self, body: str) -> dict[str, Any]:
        parent = self.get_parent("shell")
        if isinstance(parent, dict) and isinstance(parent.get("content"), dict):
            parent["content"]["code"] = ""  # the test's text is not left where student code could read it
        builtins.__dict__.clear()
        builtins.__dict__.update(_pristine_builtins)
        shell = self.shell
        assert shell is not None
        namespace = dict(shell.user_ns)
        namespace["__builtins__"] = builtins
        reply: dict[str, Any] = {"status": "ok", "execution_count": shell.execution_count, "user_expressions": {}}
        try:
            exec(compile(body, TEST_FILENAME, "exec", dont_inherit=True), namespace)
        except BaseException as error:  # a failing test: report it the way IPython would
            lines = traceback.format_exception(type(error), error, error.__traceback__)
            content = {"ename": type(error).__name__, "evalue": str(error), "traceback": lines}
            self.send_response(self.iopub_socket, "error", content, channel="shell")
            reply = {**reply, "status": "error", **content}
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        shell.execution_count += 1
        data = {GUARD_MIME: token(_nonce, body)}
        self.send_response(self.iopub_socket, "display_data", {"data": data, "metadata": {}}, channel="shell")
        return reply
