"""The kernel zygote's preparation before it forks: warm-up and blocked modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import json, sys
import matplotlib.pyplot as plt
from course.autograde import zygote
zygote.warm_up()
from ipykernel import debugger
print(json.dumps({
    "backend_chosen": plt._backend_mod is not None or "matplotlib_inline.backend_inline" in sys.modules,
    "debugger_available": debugger._is_debugpy_available,
}))
"""


def run_probe(code: str) -> dict[str, bool]:
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_warm_up_leaves_pyplot_backend_for_each_kernel_to_choose():
    """Each kernel must choose the inline backend itself, or its charts would not be shown in the outputs."""
    assert run_probe(PROBE)["backend_chosen"] is False


def test_blocking_debugpy_turns_the_kernel_debugger_off():
    """grader.toml blocks debugpy: kernels then skip loading the debugger (0.06 s of CPU each)."""
    assert run_probe(PROBE)["debugger_available"] is True  # installed, so the probe can tell the difference
    assert (
        run_probe("from course.autograde import zygote\nzygote.block(['debugpy'])\n" + PROBE)["debugger_available"]
        is False
    )
