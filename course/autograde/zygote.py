"""The kernel zygote: a warm Python process, inside the grading sandbox, that forks one fresh kernel per submission.

Started by ``course.autograde.sandbox`` as ``python -m course.autograde.zygote`` inside bubblewrap. It imports the heavy libraries once
(pandas, matplotlib, ipykernel …), makes the ones no grading kernel needs unimportable (debugpy), draws one chart
so that lazy set-up is done before the fork, then serves requests on stdin/stdout, one JSON object per line:

- ``{"op": "fork", "connection_file": …, "cwd": …, "limits": {…}, "nonce": …}`` → ``{"pid": …}``: a child with the
  given resource limits starts an IPython kernel on that connection file (IPC sockets in the worker's scratch folder).
- ``{"op": "poll", "pid": …}`` → ``{"returncode": int | None}``
- ``{"op": "signal", "pid": …, "signum": …}`` → ``{"ok": true}``
- ``{"op": "reset"}`` → ``{"killed": n}``: every other process in the sandbox is killed and reaped, so nothing a
  submission started survives its grading.

A forked child is a copy-on-write image of the zygote: nothing one submission does reaches the next.
Only the standard library is imported at module level, so this file is cheap to load.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import resource
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
LIMITS = {
    "memory_bytes": resource.RLIMIT_AS,
    "cpu_seconds": resource.RLIMIT_CPU,
    "processes": resource.RLIMIT_NPROC,
    "file_bytes": resource.RLIMIT_FSIZE,
    "open_files": resource.RLIMIT_NOFILE,
}


def prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(option, value, 0, 0, 0)


def _reply(out: object, payload: dict[str, object]) -> None:
    out.write(json.dumps(payload) + "\n")  # type: ignore[attr-defined]
    out.flush()  # type: ignore[attr-defined]


def _apply_limits(limits: dict[str, int]) -> None:
    for name, value in limits.items():
        resource.setrlimit(LIMITS[name], (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _run_kernel(request: dict[str, object]) -> None:
    """In the forked child: become a kernel. Never returns."""
    try:
        os.setsid()
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        devnull = os.open(os.devnull, os.O_RDWR)
        log = os.open(str(request["log"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(str(request["cwd"]))
        # The kernel's own home lives in the work folder, which is emptied after each submission: nothing it
        # writes (IPython startup files, history, caches) can reach the next submission's kernel.
        home = os.path.join(str(request["cwd"]), ".home")
        os.makedirs(home, exist_ok=True)
        for name, sub in (("HOME", ""), ("IPYTHONDIR", "ipython"), ("JUPYTER_CONFIG_DIR", "jupyter")):
            os.environ[name] = os.path.join(home, sub) if sub else home
        _apply_limits(request.get("limits", {}))  # type: ignore[arg-type]
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from course.autograde.kernelguard import GuardedKernel, install_guard

        install_guard(str(request.get("nonce", "")))
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance(kernel_class=GuardedKernel)
        app.initialize(["-f", str(request["connection_file"]), "--HistoryManager.hist_file=:memory:"])
        app.start()
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(0)


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _kill_all_but_me() -> int:
    """SIGKILL every process of the sandbox except this one (and bwrap's init), then reap them."""
    me = os.getpid()
    victims = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (1, me):
            victims.append(int(entry))
    for pid in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _reap()
        alive = [p for p in victims if os.path.exists(f"/proc/{p}") and _state(p) != "Z"]
        if not alive:
            break
        time.sleep(0.01)
    _reap()
    return len(victims)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def warm_up() -> None:
    """Do once, before any fork, the lazy set-up that every grading kernel would otherwise repeat.

    Formats a small table and draws a small chart with Japanese labels. pyplot is not used, so its backend stays
    unchosen and each kernel still picks the inline backend itself (which is what makes charts appear in outputs).
    """
    import io

    import pandas as pd
    from matplotlib.figure import Figure

    table = pd.read_csv(io.StringIO("地区,人数\n田沼,3\n葛生,1\n田沼,2\n"), dtype={"人数": int})
    counts = table.groupby("地区")["人数"].sum().sort_values(ascending=False)
    repr(table), table._repr_html_(), repr(counts), repr(counts.to_frame())
    figure = Figure(figsize=(4, 3))
    axes = figure.subplots()
    axes.bar(list(counts.index), list(counts.to_numpy()))
    axes.set_title("地区別の人数")
    axes.set_xlabel("地区")
    figure.savefig(io.BytesIO(), format="png", bbox_inches="tight")


def block(names: list[str]) -> None:
    """Make ``import name`` raise ImportError, for libraries that no grading kernel may load."""
    for name in names:
        sys.modules[name] = None  # type: ignore[assignment]


def serve(*, preload: list[str], blocked: list[str], warm: bool) -> None:
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything printed by imports goes to stderr, never into the protocol
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    started = time.monotonic()
    block(blocked)
    loaded = []
    for name in preload:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as error:  # a missing optional library only costs speed
            print(f"preload {name} failed: {error}", file=sys.stderr)
    if warm:
        try:
            warm_up()
        except Exception as error:  # only costs speed
            print(f"warm-up failed: {error}", file=sys.stderr)
    _reply(out, {"ready": True, "preloaded": loaded, "seconds": round(time.monotonic() - started, 3)})
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "fork":
            pid = os.fork()
            if pid == 0:
                out.close()
                _run_kernel(request)
            _reply(out, {"pid": pid})
        elif op == "poll":
            pid = int(request["pid"])
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                _reply(out, {"returncode": -9})
                continue
            _reply(out, {"returncode": os.waitstatus_to_exitcode(status) if done else None})
        elif op == "signal":
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(request["pid"]), int(request["signum"]))
            _reply(out, {"ok": True})
        elif op == "reset":
            _reply(out, {"killed": _kill_all_but_me()})
        else:
            _reply(out, {"error": f"unknown op {op}"})


if __name__ == "__main__":
    config = json.loads(os.environ.get("SANO_ZYGOTE", "{}"))
    serve(preload=config.get("preload", []), blocked=config.get("block", []), warm=bool(config.get("warm_up")))
