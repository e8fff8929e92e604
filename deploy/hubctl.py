"""Start and stop the course's JupyterHub on loopback: ``make hub`` (a local trial) and the hub tests use this.

``python deploy/hubctl.py`` prepares a trial copy of the course under runtime/hub/ (so the real gradebook is never
touched), releases the modules, starts JupyterHub + configurable-http-proxy on 127.0.0.1 and prints the URL and the
logins in Japanese. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
REPO = DEPLOY.parent
CONFIG = DEPLOY / "jupyterhub_config.py"
PROXY = DEPLOY / "node_modules" / ".bin" / "configurable-http-proxy"
COURSE_PARTS = ("nbgrader_config.py", "settings", "source", "demo", "instructor")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def copy_course(target: Path, source: Path = REPO) -> Path:
    """A private copy of the course (settings, module sources, demo data, instructor notebooks) at ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for part in COURSE_PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, target / part, dirs_exist_ok=True, ignore=shutil.ignore_patterns("output", ".ipynb_*"))
        elif src.is_file():
            shutil.copy2(src, target / part)
    return target


def point_certificates_at(course_root: Path, hub_url: str) -> None:
    """Certificates issued in this copy of the course name this hub's verification page (settings/certificate.toml)."""
    settings = course_root / "settings" / "certificate.toml"
    text = settings.read_text(encoding="utf-8")
    page = f"{hub_url}/services/kenshu/verify"
    settings.write_text(re.sub(r'(?m)^url = "[^"]*"', f'url = "{page}"', text, count=1), encoding="utf-8")


def course_env(
    course_root: Path, exchange: Path, python: Path, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment in which ``python -m course`` works on ``course_root`` with the hub's exchange."""
    env = dict(os.environ if base is None else base)
    env.update(
        COURSE_ROOT=str(course_root),
        COURSE_EXCHANGE_ROOT=str(exchange),
        PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",  # nbgrader runs `alembic` from PATH
        PYTHONUTF8="1",
    )
    return env


def run_course(args: Sequence[str], *, course_root: Path, exchange: Path, python: Path, timeout: float = 900,
               user: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``python -m course <args>`` for this course copy, optionally as another OS user (real-users mode)."""
    if user is None:
        env = course_env(course_root, exchange, python)
    else:  # another OS user: a clean environment, nothing of ours (e.g. root's Jupyter folders) leaks into it
        import pwd

        home = pwd.getpwnam(user).pw_dir
        env = course_env(course_root, exchange, python, {"HOME": home, "USER": user, "LANG": "C.UTF-8"})
    result = subprocess.run(
        [str(python), "-m", "course", *args],
        cwd=course_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **_identity(user),
    )
    if check and result.returncode != 0:
        msg = f"python -m course {' '.join(args)} が失敗しました (rc={result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        raise RuntimeError(msg)
    return result


def _identity(user: str | None) -> dict[str, object]:
    """subprocess arguments that run a child as ``user`` with that user's own group and no others."""
    if user is None:
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@dataclass
class Hub:
    """One JupyterHub (with its proxy) running deploy/jupyterhub_config.py on free loopback ports."""

    state: Path
    course_root: Path
    exchange: Path
    python: Path = Path(sys.executable)
    mode: str = "simple"
    auth: str = "shared"
    instructors: Iterable[str] = ()
    staff: Iterable[str] = ()
    shared_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(32))  # ≥ 32 characters
    token: str = field(default_factory=lambda: secrets.token_hex(32))
    port: int = 0
    extra_env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.hub_port, self.api_port, self.kenshu_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.state / "hub.log"

    def env(self) -> dict[str, str]:
        env = course_env(self.course_root, self.exchange, self.python)
        env.update(
            SANO_HUB_STATE=str(self.state),
            SANO_HUB_PYTHON=str(self.python),
            SANO_HUB_SPAWNER=self.mode,
            SANO_HUB_AUTH=self.auth,
            SANO_HUB_INSTRUCTORS=",".join(self.instructors),
            SANO_HUB_STAFF=",".join(self.staff),
            SANO_HUB_SHARED_PASSWORD=self.shared_password,
            SANO_HUB_ADMIN_PASSWORD=self.admin_password,
            SANO_HUB_SERVICE_TOKEN=self.token,
            SANO_HUB_BIND_URL=self.url,
            SANO_HUB_HUB_BIND_URL=f"http://127.0.0.1:{self.hub_port}",
            SANO_HUB_PROXY_API_URL=f"http://127.0.0.1:{self.api_port}",
            SANO_HUB_KENSHU_URL=f"http://127.0.0.1:{self.kenshu_port}",
        )
        if PROXY.exists():
            env["SANO_HUB_PROXY"] = str(PROXY)
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 120) -> None:
        """Start JupyterHub and wait until its API answers through the proxy (200, not the proxy's early 404)."""
        import urllib.error
        import urllib.request

        self.state.mkdir(parents=True, exist_ok=True)
        self.exchange.mkdir(parents=True, exist_ok=True)
        self.exchange.chmod(0o1777)  # nbgrader's exchange: everyone may write, the sticky bit keeps files apart
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(self.python.parent / "jupyterhub"), "-f", str(CONFIG)],
            cwd=self.state,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"JupyterHub が終了しました (rc={self.process.returncode})。記録: {self.log_path}\n{self.log_tail()}"
                raise RuntimeError(msg)
            try:
                with urllib.request.urlopen(f"{self.url}/hub/api", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        msg = f"JupyterHub が {timeout:.0f} 秒以内に起動しませんでした。記録: {self.log_path}\n{self.log_tail()}"
        raise TimeoutError(msg)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> list[str]:
        """Stop the hub (it stops the servers and the proxy), then kill anything of this hub still alive.

        Only processes whose command line or environment names this hub's state folder are touched, never others'.
        Returns what had to be killed.
        """
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return kill_leftovers(str(self.state))


def kill_leftovers(marker: str) -> list[str]:
    """Kill processes that belong to the hub whose state folder is ``marker`` (servers live in their own sessions)."""
    killed = []
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if (
            marker in cmdline
            or f"SANO_HUB_STATE={marker}".encode() in environ
            or (f"{marker}/".encode() in environ and b"JUPYTERHUB_API_TOKEN" in environ)
        ):
            try:
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(f"{proc.name}: {cmdline[:120]}")
            except ProcessLookupError:
                pass
    return killed


@dataclass(frozen=True)
class TrialLogin:
    """A fictional member of staff with a trial login, and who they stand for (in Japanese)."""

    staff_id: str
    name: str
    role: str  # e.g. 「係長職（係長）」, 「推進員（係長職・係長）」


def trial_staff(roster: Path = REPO / "demo" / "roster.csv", settings: Path | None = None) -> list[TrialLogin]:
    """One fictional member of staff of each 職責区分 (一般職, 係長職, 課長職以上, not 推進員) and one 推進員.

    The 職責区分 and 推進員 flags come from the course's own roster rules (course/roster.py, settings/roster.toml).
    """
    from course.curriculum import GRADES
    from course.roster import load_settings, read_roster

    staff, _ = read_roster(roster, settings=load_settings(settings or REPO / "settings" / "roster.toml"))
    chosen = [
        TrialLogin(p.staff_id, p.name, f"{grade}（{p.position}）")
        for grade in GRADES
        if (p := next((s for s in staff if s.grade == grade and not s.promoter), None)) is not None
    ]
    if (p := next((s for s in staff if s.promoter), None)) is not None:
        chosen.append(TrialLogin(p.staff_id, p.name, f"推進員（{p.grade}・{p.position}）"))
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="研修用 JupyterHub を 127.0.0.1 で試しに起動します（架空の職員で試行）。"
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("HUB_PORT", "8000")), help="待ち受けるポート")
    parser.add_argument("--modules", nargs="*", default=None, help="公開するモジュール（既定: 公開可能なすべて）")
    parser.add_argument("--runtime", default=str(REPO / "runtime" / "hub"), help="試行用のフォルダ（毎回作り直します）")
    parser.add_argument("--check", action="store_true", help="起動して確認したら、すぐに停止します（動作確認用）")
    args = parser.parse_args(argv)

    runtime = Path(args.runtime).resolve()
    python = Path(sys.executable)
    if runtime.exists():
        kill_leftovers(str(runtime / "state"))
        shutil.rmtree(runtime)
    course_root = copy_course(runtime / "course")
    exchange = runtime / "exchange"
    exchange.mkdir(parents=True)
    exchange.chmod(0o1777)
    staff = trial_staff(course_root / "demo" / "roster.csv", course_root / "settings" / "roster.toml")
    print("試行用のコースを準備しています（教材の作成と公開。数分かかります）…", flush=True)
    started = time.monotonic()
    run_course(["roster", "import", str(course_root / "demo" / "roster.csv")], course_root=course_root,
               exchange=exchange, python=python)  # fmt: skip
    released = run_course(["release", *(args.modules or [])], course_root=course_root, exchange=exchange, python=python)
    print(released.stdout.strip())
    print(f"  （{time.monotonic() - started:.0f} 秒）")
    hub = Hub(
        state=runtime / "state",
        course_root=course_root,
        exchange=exchange,
        python=python,
        mode="simple",
        auth="shared",
        instructors=["instructor"],
        staff=[person.staff_id for person in staff],
        port=args.port,
    )
    point_certificates_at(course_root, hub.url)
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        hub.start()
        logins = [
            f"研修用 JupyterHub を起動しました: {hub.url}/",
            "（この機械の中からだけ開けます。試行用で、職員どうしの分離はありません。本番の設定は docs/hub.md）",
            "",
            f"職員（ログイン名 = 職員番号。全角の数字でも可。パスワードは全員共通: {hub.shared_password}）:",
            *(f"  {p.staff_id}  {p.name}  {p.role}" for p in staff),
            "講師（タスクフォース）:",
            f"  instructor  パスワード: {hub.admin_password}",
            "",
            "職員は JupyterLab の左の「研修」の一覧から、教材を受け取り・提出前の確認・提出します。",
            f"職員の受講記録と修了証: {hub.url}/services/kenshu/  （ログインした本人の分だけ）",
            f"修了証の確認ページ（ログイン不要）: {hub.url}/services/kenshu/verify",
            "講師はフォームグレーダー（Nbgrader › Formgrader）と、ターミナルで次のコマンドを使えます:",
            "  python -m course collect B00 && python -m course autograde B00 && python -m course export",
            f"この端末からは: COURSE_ROOT={course_root} COURSE_EXCHANGE_ROOT={exchange} .venv/bin/python -m course …",
            f"記録: {hub.log_path}",
            "止めるには Ctrl-C を押してください。",
        ]
        (runtime / "ログイン情報.txt").write_text("\n".join(logins) + "\n", encoding="utf-8")
        (runtime / "ログイン情報.txt").chmod(0o600)
        print("\n".join(logins), flush=True)
        while not stop and not args.check and hub.process is not None and hub.process.poll() is None:
            time.sleep(0.5)
    finally:
        leftovers = hub.stop()
        print(
            "JupyterHub を停止しました。" + (f"（残っていたプロセス {len(leftovers)} 個を終了）" if leftovers else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
