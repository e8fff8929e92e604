"""Where student code runs during autograding: a kernel zygote inside bubblewrap, one per grading worker.

bubblewrap (Debian package ``bubblewrap``) gives each worker a sandbox with no network, its own process and IPC
namespaces, a read-only view of the system and of Python, and one writable scratch folder. Nothing else of the
machine is visible: not ``source/``, not the gradebook, not other staff members' submissions, not any home folder.
When the grader runs as root, the code inside also drops to an unprivileged user (``setpriv``), so that the process
limit applies. Per-submission limits (memory, CPU time, processes, file size, open files) are set with rlimits in the
forked kernel. After each submission the zygote kills every other process in the sandbox.

The jupyter_client side is a kernel manager whose provisioner asks the zygote for a kernel instead of spawning one.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import KernelConnectionInfo, write_connection_file
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import DottedObjectName, Type

from course.config import PACKAGE_DIR, CourseError, settings_file

GRADER_SETTINGS = "grader.toml"  # in the course folder's settings/


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048
    cpu_seconds: int = 120
    processes: int = 512
    file_mb: int = 64
    open_files: int = 512
    output_kb: int = 256
    cell_timeout: int = 30

    def rlimits(self) -> dict[str, int]:
        return {
            "memory_bytes": self.memory_mb * 2**20,
            "cpu_seconds": self.cpu_seconds,
            "processes": self.processes,
            "file_bytes": self.file_mb * 2**20,
            "open_files": self.open_files,
        }


@dataclass(frozen=True)
class GraderSettings:
    workers: int
    uid: int
    gid: int
    preload: tuple[str, ...]
    block: tuple[str, ...]
    warm_up: bool
    limits: Limits

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


def load_grader_settings(path: Path | None = None) -> GraderSettings:
    """Workers, sandbox and limits (default: settings/grader.toml of the course found from here)."""
    data = tomllib.loads((path or settings_file(GRADER_SETTINGS)).read_text(encoding="utf-8"))
    sandbox = data.get("sandbox", {})
    return GraderSettings(
        workers=int(data.get("workers", {}).get("count", 0)),
        uid=int(sandbox.get("uid", 65534)),
        gid=int(sandbox.get("gid", 65534)),
        preload=tuple(sandbox.get("preload", ())),
        block=tuple(sandbox.get("block", ())),
        warm_up=bool(sandbox.get("warm_up", False)),
        limits=Limits(**data.get("limits", {})),
    )


def sandbox_problem() -> str | None:
    """Why the sandbox cannot be used here, in Japanese, or None when it works."""
    if sys.platform != "linux":
        return "サンドボックスは Linux でのみ使えます。"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) が見つかりません。管理者が `apt-get install bubblewrap` で導入してください。"
    probe = subprocess.run(
        ["bwrap", "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", *_user_args(), "--", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return (
            f"bubblewrap を起動できません（{probe.stderr.strip()[:200]}）。ユーザー名前空間が無効の可能性があります。"
        )
    return None


def _user_args() -> list[str]:
    # As root, stay in the initial user namespace and drop to the sandbox user with setpriv instead, so that
    # RLIMIT_NPROC applies (it is never enforced for root). Otherwise bubblewrap needs a user namespace.
    return [] if os.geteuid() == 0 else ["--unshare-user"]


def _python_roots() -> list[Path]:
    """Folders the kernel needs read-only: the Python installation, the venv and editable packages."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), PACKAGE_DIR.resolve()}
    return sorted(roots)


def bwrap_command(*, scratch: Path, settings: GraderSettings, sandboxed: bool = True) -> list[str]:
    """The command that starts a worker's zygote (inside bubblewrap unless ``sandboxed`` is False)."""
    python = str(Path(sys.executable))
    env = {
        "HOME": str(scratch / "home"),
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONUTF8": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": str(scratch / "home" / "matplotlib"),
        "IPYTHONDIR": str(scratch / "home" / "ipython"),
        "JUPYTER_CONFIG_DIR": str(scratch / "home" / "jupyter"),
        "JUPYTER_DATA_DIR": str(scratch / "home" / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(scratch / "home" / "jupyter-runtime"),
        "OPENBLAS_NUM_THREADS": "1",  # the zygote forks: no BLAS thread pools may exist before that
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "SANO_ZYGOTE": json.dumps(
            {"preload": list(settings.preload), "block": list(settings.block), "warm_up": settings.warm_up}
        ),
    }
    program = [python, "-m", "course.autograde.zygote"]
    if not sandboxed:
        return ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *program]
    command = ["bwrap", "--die-with-parent", "--new-session"]
    command += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    command += _user_args()
    command += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64", "/sbin"):
        path = Path(top)
        if path.is_symlink():
            command += ["--symlink", str(path.readlink()), top]
        elif path.is_dir():
            command += ["--ro-bind", top, top]
    for etc in ("ld.so.cache", "localtime", "passwd", "group", "nsswitch.conf", "mime.types", "fonts"):
        command += ["--ro-bind-try", f"/etc/{etc}", f"/etc/{etc}"]
    command += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    made: set[Path] = {Path("/"), Path("/usr"), Path("/tmp")}
    for root, mode in [*((r, "--ro-bind") for r in _python_roots()), (scratch.resolve(), "--bind")]:
        # Parent folders are made world-traversable: bubblewrap would otherwise create them 0700 (e.g. /root).
        for parent in reversed(root.parents):
            if parent not in made and Path("/usr") not in parent.parents:
                command += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        command += [mode, str(root), str(root)]
    command += ["--chdir", str(scratch), "--clearenv"]
    for key, value in env.items():
        command += ["--setenv", key, value]
    command.append("--")
    if os.geteuid() == 0:
        uid, gid = str(settings.uid), str(settings.gid)
        command += ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
        command += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return command + program


@dataclass(frozen=True)
class PendingKernel:
    """A kernel forked ahead of time, waiting for the next submission."""

    pid: int
    connection_file: Path
    nonce: str


class Zygote:
    """One worker's warm kernel factory, living in its own sandbox and scratch folder."""

    def __init__(self, *, scratch: Path, settings: GraderSettings, sandboxed: bool = True) -> None:
        self.scratch = scratch
        self.settings = settings
        self.sandboxed = sandboxed
        self._lock = threading.Lock()
        for sub in ("home", "ipc", "work"):
            (scratch / sub).mkdir(parents=True, exist_ok=True)
        if sandboxed and os.geteuid() == 0:
            for path in [scratch, *scratch.rglob("*")]:
                os.chown(path, settings.uid, settings.gid)
        self._log = (scratch.parent / f"{scratch.name}-zygote.log").open("wb")
        self._process = subprocess.Popen(
            bwrap_command(scratch=scratch, settings=settings, sandboxed=sandboxed),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        ready = self._read()
        if not ready.get("ready"):
            msg = f"採点用のカーネル環境を起動できませんでした（記録: {self._log.name}）。"
            raise CourseError(msg)
        self.preloaded: list[str] = list(ready.get("preloaded", []))
        self.pending: PendingKernel | None = None
        self._serial = 0

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            msg = f"採点用のカーネル環境が止まりました（記録: {self._log.name}）。"
            raise CourseError(msg)
        return dict(json.loads(line))

    def request(self, **payload: object) -> dict[str, Any]:
        with self._lock:
            assert self._process.stdin is not None
            self._process.stdin.write(json.dumps(payload) + "\n")
            self._process.stdin.flush()
            return self._read()

    def prefork(self) -> None:
        """Start the next kernel now, while the grader does nbgrader's bookkeeping: its start-up is hidden.

        The kernel is fresh (no student code has run in it) and its folder is the empty work folder, into which the
        next submission's files are copied just before it is used.
        """
        self._serial += 1
        connection_file = self.scratch / "ipc" / f"kernel-{self._serial}.json"
        write_connection_file(
            str(connection_file), ip=str(self.scratch / "ipc" / f"k{self._serial}"), transport="ipc",
            key=secrets.token_hex(32).encode(),
        )  # fmt: skip
        if self.sandboxed and os.geteuid() == 0:
            os.chown(connection_file, self.settings.uid, self.settings.gid)
        nonce = secrets.token_hex(16)
        pid = self.fork_kernel(connection_file=connection_file, cwd=self.scratch / "work", nonce=nonce)
        self.pending = PendingKernel(pid=pid, connection_file=connection_file, nonce=nonce)

    def take_pending(self) -> PendingKernel | None:
        pending, self.pending = self.pending, None
        return pending

    def fork_kernel(self, *, connection_file: Path, cwd: Path, nonce: str) -> int:
        reply = self.request(
            op="fork",
            connection_file=str(connection_file),
            cwd=str(cwd),
            limits=self.settings.limits.rlimits(),
            nonce=nonce,
            log=str(self.scratch / "home" / "kernel.log"),
        )
        return int(reply["pid"])

    def reset(self) -> int:
        """Kill everything the last submission started and empty the work folder."""
        killed = int(self.request(op="reset")["killed"])
        work = self.scratch / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        for leftover in (self.scratch / "ipc").iterdir():
            leftover.unlink(missing_ok=True)
        if self.sandboxed and os.geteuid() == 0:
            os.chown(work, self.settings.uid, self.settings.gid)
        return killed

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._log.close()


# The zygote of the current worker process; set by the worker before it grades anything.
CURRENT: dict[str, Zygote] = {}


class ZygoteProvisioner(LocalProvisioner):
    """Starts kernels by asking the worker's zygote to fork, and signals them through it."""

    pid: int | None = None

    @property
    def has_process(self) -> bool:
        return self.pid is not None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        zygote = CURRENT["zygote"]
        work = zygote.scratch / "work"
        source = Path(kwargs.get("cwd") or ".")
        # The kernel sees a copy of the submission's folder, never the folder itself; links are not followed.
        for item in source.iterdir():
            target = work / item.name
            if item.is_symlink():
                continue
            if item.is_dir():
                shutil.copytree(item, target, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(item, target)
        km = self.parent
        assert isinstance(km, SandboxKernelManager)
        if zygote.sandboxed and os.geteuid() == 0:
            for path in [work, *work.rglob("*"), Path(km.connection_file)]:
                os.chown(path, zygote.settings.uid, zygote.settings.gid, follow_symlinks=False)
        if km.pending is not None:
            self.pid = km.pending.pid
        else:
            self.pid = zygote.fork_kernel(connection_file=Path(km.connection_file), cwd=work, nonce=km.guard_nonce)
        return self.connection_info

    async def poll(self) -> int | None:
        if self.pid is None:
            return 0
        code = CURRENT["zygote"].request(op="poll", pid=self.pid)["returncode"]
        return None if code is None else int(code)

    async def wait(self) -> int | None:
        while (code := await self.poll()) is None:
            await asyncio.sleep(0.005)
        self.pid = None
        return code

    async def send_signal(self, signum: int) -> None:
        if self.pid is not None:
            CURRENT["zygote"].request(op="signal", pid=self.pid, signum=int(signum))

    async def kill(self, restart: bool = False) -> None:
        """SIGKILL, then wait the few milliseconds until it is gone.

        jupyter_client would otherwise find the kernel still alive and sleep a fixed 0.1 s before looking again.
        """
        await self.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 5
        while await self.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.002)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        return None


class SandboxKernelClient(AsyncKernelClient):
    """A kernel client that knows when a fresh kernel is ready without jupyter_client's fixed waits."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        """Ready once a kernel_info request has its reply on shell and its own 'idle' status on IOPub.

        jupyter_client waits until IOPub has been silent for 0.2 s, on every kernel start. The 'idle' status of
        our own request proves just as well that IOPub is connected and that nothing from start-up is still in
        flight; messages that belong to no cell are ignored by nbclient in any case.
        """
        deadline = time.monotonic() + (60.0 if timeout is None else timeout)
        while time.monotonic() < deadline:
            request = self.kernel_info()
            try:
                reply = await self._reply_to(self.shell_channel, request, timeout=1.0)
                await self._idle_after(request, timeout=0.5)
            except Empty:
                if not await self.is_alive():
                    msg = "Kernel died before replying to kernel_info"
                    raise RuntimeError(msg) from None
                continue  # IOPub may not have been subscribed yet when the kernel spoke: ask again
            self._handle_kernel_info_reply(reply)
            return
        msg = f"Kernel didn't respond in {timeout} seconds"
        raise RuntimeError(msg)

    @staticmethod
    async def _reply_to(channel: Any, request: str, *, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = await channel.get_msg(timeout=max(0.0, deadline - time.monotonic()))
            if message["parent_header"].get("msg_id") == request:
                return dict(message)

    async def _idle_after(self, request: str, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            message = await self._reply_to(self.iopub_channel, request, timeout=max(0.0, deadline - time.monotonic()))
            if message["msg_type"] == "status" and message["content"].get("execution_state") == "idle":
                return


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels come from the worker's zygote, over IPC sockets in its scratch folder."""

    client_class = DottedObjectName("course.autograde.sandbox.SandboxKernelClient")
    client_factory = Type(klass=SandboxKernelClient)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        zygote = CURRENT["zygote"]
        self.pending = zygote.take_pending()
        if self.pending is not None:
            # Adopt the kernel forked ahead of time: its connection file is already written.
            self.load_connection_file(str(self.pending.connection_file))
            self.connection_file = str(self.pending.connection_file)
            self._connection_file_written = True
            self.guard_nonce = self.pending.nonce
        else:
            self.transport = "ipc"
            self.ip = str(zygote.scratch / "ipc" / "k")
            self.connection_file = str(zygote.scratch / "ipc" / "kernel.json")
            self.guard_nonce = secrets.token_hex(16)

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", secrets.token_hex(8))
            self.provisioner = ZygoteProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


def worker_scratch(root: Path, index: int) -> Path:
    path = root / f"worker-{index}"
    path.mkdir(parents=True, exist_ok=True)
    return path
