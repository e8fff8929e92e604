"""Helpers for the JupyterHub tests: a member of staff driven through the REST API and the kernel websocket, and
one driven in Chromium (Playwright with Debian's chromium; no browser is ever downloaded).

Nothing here is mocked: every call goes through the real hub, proxy, single-user server, nbgrader exchange and kernel.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import websocket

from course.curriculum import load_curriculum
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "deploy"))
import hubctl  # deploy/ is a folder of scripts, not a package

COURSE_ID = "sano_dx"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@dataclass
class Timings:
    """Wall-clock seconds per step, printed at the end of a test."""

    values: dict[str, float] = field(default_factory=dict)

    def step(self, name: str) -> _Step:
        return _Step(self, name)


class _Step:
    def __init__(self, timings: Timings, name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.start = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.timings.values[self.name] = round(time.monotonic() - self.start, 2)


@contextlib.contextmanager
def deadline(seconds: int, what: str) -> Iterator[None]:
    """Bound a test that runs servers: SIGALRM after ``seconds`` (0: none) and an outer SIGTERM become exceptions, so
    the teardown that stops the servers still runs."""

    def expired(*_: object) -> None:
        raise TimeoutError(f"{what}: {seconds} 秒の制限を超えたか、停止の指示がありました")

    old_alarm, old_term = signal.signal(signal.SIGALRM, expired), signal.signal(signal.SIGTERM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_alarm)
        signal.signal(signal.SIGTERM, old_term)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if value := predicate():
                return value
        except (requests.RequestException, KeyError, ValueError) as error:
            last = error
        time.sleep(interval)
    raise TimeoutError(f"{what}: {timeout:.0f} 秒待っても終わりませんでした ({last!r})")


def release_for_trial(course_root: Path, exchange: Path, python: Path, *modules: str) -> dict[str, Any]:
    """The demo roster imported and ``modules`` released in this course copy; returns run_course's keywords."""
    course = {"course_root": course_root, "exchange": exchange, "python": python}
    hubctl.run_course(["roster", "import", str(course_root / "demo" / "roster.csv")], **course)
    hubctl.run_course(["release", *modules], **course)
    return course


class HubClient:
    """The hub's REST API with the driver service's token."""

    def __init__(self, hub: hubctl.Hub) -> None:
        self.hub = hub
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {hub.token}"

    def spawn(self, user: str, timeout: float = 180) -> None:
        url = f"{self.hub.url}/hub/api/users/{user}/server"
        response = self.session.post(url, timeout=60)
        assert response.status_code in (201, 202, 400), (response.status_code, response.text)  # 400: already running
        wait_for(
            lambda: self.session.get(f"{self.hub.url}/hub/api/users/{user}", timeout=30).json()["servers"][""]["ready"],
            timeout,
            f"{user} のサーバーの起動",
        )

    def server(self, user: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"token {self.hub.token}"
        return session


class Kernel:
    """A kernel of a user's server, spoken to over its websocket (the same channel JupyterLab uses)."""

    def __init__(self, base: str, token: str, session: requests.Session, path: str) -> None:
        self.base, self.session = base, session
        # A notebook session, as JupyterLab opens one: the kernel runs in the notebook's folder (its data files).
        response = session.post(f"{base}/api/sessions", json={"path": path, "type": "notebook", "name": "",
                                "kernel": {"name": "python3"}}, timeout=60)  # fmt: skip
        response.raise_for_status()
        self.session_id, self.id = response.json()["id"], response.json()["kernel"]["id"]
        url = base.replace("http://", "ws://") + f"/api/kernels/{self.id}/channels"
        self.ws = websocket.create_connection(url, header=[f"Authorization: token {token}"], timeout=120)
        self.client_session = uuid.uuid4().hex
        self.comms: dict[str, dict[str, Any]] = {}  # comm id -> widget state, kept up to date

    def _send(self, channel: str, msg_type: str, content: Mapping[str, Any]) -> str:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "username": "test", "session": self.client_session, "msg_type": msg_type,
                  "version": "5.3"}  # fmt: skip
        message = {"header": header, "parent_header": {}, "metadata": {}, "channel": channel, "buffers": [],
                   "content": dict(content)}  # fmt: skip
        self.ws.send(json.dumps(message))
        return msg_id

    def _track(self, message: Mapping[str, Any]) -> None:
        kind, content = message["msg_type"], message["content"]
        if kind == "comm_open" and content.get("target_name") == "jupyter.widget":
            self.comms[content["comm_id"]] = dict(content["data"].get("state", {}))
        elif kind == "comm_msg" and content["data"].get("method") in {"update", "echo_update"}:
            self.comms.setdefault(content["comm_id"], {}).update(content["data"].get("state", {}))

    def execute(self, code: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run ``code``; returns the execute_reply content and the notebook outputs it produced."""
        msg_id = self._send("shell", "execute_request", {"code": code, "silent": False, "store_history": True,
                            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})  # fmt: skip
        outputs: list[dict[str, Any]] = []
        reply: dict[str, Any] | None = None
        idle = False
        while not (idle and reply is not None):
            message = json.loads(self.ws.recv())
            self._track(message)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "execute_reply":
                reply = content
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            elif kind == "stream":
                outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
            elif kind in {"display_data", "execute_result"}:
                output = {"output_type": kind, "data": content["data"], "metadata": content.get("metadata", {})}
                if kind == "execute_result":
                    output["execution_count"] = content["execution_count"]
                outputs.append(output)
            elif kind == "error":
                outputs.append({"output_type": "error", "ename": content["ename"], "evalue": content["evalue"],
                                "traceback": content["traceback"]})  # fmt: skip
        return reply, outputs

    def comm_send(self, comm_id: str, data: Mapping[str, Any]) -> None:
        """What the browser sends when someone changes a widget or clicks it."""
        self._send("shell", "comm_msg", {"comm_id": comm_id, "data": dict(data)})

    def wait_comm(self, predicate: Callable[[dict[str, dict[str, Any]]], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.comms):
            if time.monotonic() > deadline:
                raise TimeoutError("ウィジェットが応答しませんでした")
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self._track(json.loads(self.ws.recv()))
        self.ws.settimeout(120)

    def close(self) -> None:
        self.ws.close()
        self.session.delete(f"{self.base}/api/sessions/{self.session_id}", timeout=30)


def click_selfcheck(kernel: Kernel, option_index: int) -> str:
    """Pick an option of the self-check just displayed and press 「答え合わせ」; returns the feedback HTML."""
    models = kernel.comms
    radio = next(cid for cid, s in models.items() if s.get("_model_name") == "RadioButtonsModel")
    button = next(cid for cid, s in models.items() if s.get("_model_name") == "ButtonModel"
                  and s.get("description") == "答え合わせ")  # fmt: skip
    before = {cid for cid, s in models.items() if s.get("_model_name") == "HTMLModel"}
    kernel.comm_send(radio, {"method": "update", "state": {"index": option_index}, "buffer_paths": []})
    kernel.comm_send(button, {"method": "custom", "content": {"event": "click"}})

    def answered(comms: dict[str, dict[str, Any]]) -> bool:
        return any("正解" in str(comms[c].get("value", "")) or "もう一度" in str(comms[c].get("value", ""))
                   for c in before)  # fmt: skip

    kernel.wait_comm(answered)
    return next(str(models[c]["value"]) for c in before if "正解" in str(models[c].get("value", ""))
                or "もう一度" in str(models[c].get("value", "")))  # fmt: skip


def api_staff(
    client: HubClient,
    user: str,
    assignment: str,
    answers: Mapping[str, str],
    *,
    run: bool = True,
    timings: Timings | None = None,
) -> dict[str, Any]:
    """A member of staff without a browser: spawn, fetch, answer, (run), save, submit. Returns what was seen."""
    timings = timings or Timings()
    seen: dict[str, Any] = {}
    with timings.step(f"{user}: サーバー起動"):
        client.spawn(user)
    base = f"{client.hub.url}/user/{user}"
    http = client.server(user)
    with timings.step(f"{user}: 一覧と取得"):
        listed = http.get(f"{base}/assignments", params={"course_id": COURSE_ID}, timeout=120).json()
        assert listed["success"], listed
        seen["listed"] = sorted((a["assignment_id"], a["status"]) for a in listed["value"])
        fetched = http.post(f"{base}/assignments/fetch", params={"course_id": COURSE_ID, "assignment_id": assignment},
                            timeout=120)  # fmt: skip
        assert fetched.status_code == 200 and fetched.json()["success"], fetched.text[:500]
    path = f"{assignment}/{assignment}.ipynb"
    notebook = http.get(f"{base}/api/contents/{path}", timeout=60).json()["content"]
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    if run:
        with timings.step(f"{user}: 全セルをカーネルで実行"):
            kernel = Kernel(base, client.hub.token, http, path)
            errors, count = [], 0
            try:
                for cell in notebook["cells"]:
                    if cell["cell_type"] != "code":
                        continue
                    reply, outputs = kernel.execute(cell["source"])
                    count += 1
                    cell["outputs"], cell["execution_count"] = outputs, reply.get("execution_count")
                    if reply["status"] != "ok":
                        errors.append((cell["metadata"].get("nbgrader", {}).get("grade_id"), reply.get("ename")))
                    if cell["metadata"].get("nbgrader", {}).get("grade_id") == "s1_check_run":
                        views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
                        seen["widget_views"] = len(views)
                        seen["feedback"] = click_selfcheck(kernel, 0)
            finally:
                kernel.close()
            seen["errors"], seen["cells_run"] = errors, count
    with timings.step(f"{user}: 保存と提出"):
        saved = http.put(f"{base}/api/contents/{path}", json={"type": "notebook", "format": "json",
                         "content": notebook}, timeout=60)  # fmt: skip
        assert saved.status_code == 200, saved.text[:300]
        submitted = http.post(f"{base}/assignments/submit",
                              params={"course_id": COURSE_ID, "assignment_id": assignment}, timeout=120)  # fmt: skip
        body = submitted.json()
        assert submitted.status_code == 200 and body.get("success", True), body
        seen["status_after_submit"] = sorted(a["status"] for a in body["value"])
    return seen


# ---------------------------------------------------------------------------------------------------------------------
def browser_staff(hub: hubctl.Hub, user: str, password: str, assignment: str, answer: tuple[str, str],
                  shots: Path, timings: Timings) -> dict[str, Any]:  # fmt: skip
    """A member of staff in Chromium: log in, Japanese JupyterLab, 研修 panel, fetch, answer, run, widget, submit."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)
    seen: dict[str, Any] = {}
    answer_id, answer_source = answer
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(shots / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900}, locale="ja-JP",
        )  # fmt: skip
        ctx.set_default_timeout(90_000)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        try:
            with timings.step(f"{user}: ログイン・起動・JupyterLab 表示"):
                page.goto(f"{hub.url}/hub/login")
                page.fill("#username_input", user)
                page.fill("#password_input", password)
                page.click("#login_submit")
                page.wait_for_url(f"**/user/{user}/lab**", timeout=180_000)
                expect(page.locator("#jp-main-dock-panel .lm-TabBar-tab")).not_to_have_count(0)
                menus = page.locator("#jp-menu-panel div.lm-MenuBar-itemLabel")
                expect(menus.first).to_have_text("ファイル")
                seen["menus"] = menus.all_inner_texts()

            panel = page.locator("#sano-kenshu-panel")
            module = panel.locator(f'li[data-module="{assignment.upper()}"]')
            # as the panel names a module once the records service has answered: B00「はじめてのJupyter」
            name = f"{assignment.upper()}「{load_curriculum().modules[assignment.upper()].title}」"

            def open_panel() -> None:
                """The 研修 panel (labextension/) in the left side bar; it opens by itself at the first login."""
                if not panel.is_visible():
                    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="sano-kenshu-panel"]').click()
                expect(panel).to_be_visible()

            with timings.step(f"{user}: 研修パネルで受け取る"):
                open_panel()
                expect(module.locator(".sano-kenshu-state")).to_have_text("未受取")
                module.get_by_role("button", name=f"{name}を受け取る").click()
                expect(module.locator(".sano-kenshu-state")).to_have_text("受講中")
                page.screenshot(path=str(shots / f"{user}_fetched.png"))

            with timings.step(f"{user}: ノートブックを開く"):
                page.goto(f"{hub.url}/user/{user}/lab/tree/{assignment}/{assignment}.ipynb")
                page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) "
                                       '.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=120_000)  # fmt: skip
            with timings.step(f"{user}: 解答・すべて実行"):
                code_cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell")
                target = code_cells.filter(has_text=answer_id).first
                expect(target).to_contain_text(answer_id)
                target.scroll_into_view_if_needed()
                target.locator(".cm-content").click()
                page.keyboard.press("Control+a")
                page.keyboard.insert_text(answer_source)
                page.keyboard.press("Escape")
                seen["run_all_retries"] = run_all(page, code_cells)
            with timings.step(f"{user}: セルフチェックのウィジェット"):
                check = code_cells.filter(has=page.locator(".widget-radio-box")).first
                check.scroll_into_view_if_needed()
                expect(check.locator(".widget-radio-box")).to_be_visible()
                option = check.locator(".widget-radio-box input[type=radio]").first
                option.check()
                expect(option).to_be_checked()
                feedback = check.locator(".widget-html").last
                for _ in range(3):  # the choice syncs to the kernel on its own message; press again if it was late
                    check.locator('button:has-text("答え合わせ")').click()
                    try:
                        expect(feedback).to_contain_text("正解です", timeout=15_000)
                        break
                    except AssertionError:
                        seen["selfcheck_retries"] = seen.get("selfcheck_retries", 0) + 1
                expect(feedback).to_contain_text("正解です")
                seen["feedback"] = check.locator(".widget-html").last.inner_text()
            with timings.step(f"{user}: 保存"):
                page.keyboard.press("Escape")
                page.keyboard.press("Control+s")
                expect(page.locator(".jp-mod-current.jp-mod-dirty")).to_have_count(0)
                page.screenshot(path=str(shots / f"{user}_notebook.png"))
            with timings.step(f"{user}: 研修パネルで提出"):
                open_panel()
                module.get_by_role("button", name=f"{name}を提出する").click()
                dialog = page.locator(".jp-Dialog")
                expect(dialog).to_contain_text(f"提出するファイル: {assignment}/{assignment}.ipynb")
                dialog.locator(".jp-mod-accept").click()
                expect(dialog).to_contain_text("提出しました", timeout=120_000)
                seen["receipt"] = dialog.inner_text()
                dialog.get_by_role("button", name="閉じる").click()
                expect(module.locator(".sano-kenshu-state")).to_contain_text("提出済（")
                page.screenshot(path=str(shots / f"{user}_submitted.png"))
        except Exception:
            page.screenshot(path=str(shots / f"{user}_failure.png"))
            (shots / f"{user}_console_errors.txt").write_text("\n".join(errors), encoding="utf-8")
            raise
        finally:
            seen["console_errors"] = len(errors)
            ctx.close()
    return seen


def run_all(page: Any, cells: Any, attempts: int = 3) -> int:
    """Run » すべて実行; if nothing starts within 20 s (a kernel connection race seen once in ~14 runs), restart
    the kernel and run all instead. Returns how many retries were needed."""
    from playwright.sync_api import expect

    first_code = cells.filter(has_text="準備ができました").first.locator(".jp-InputArea-prompt")
    for attempt in range(attempts):
        if attempt == 0:
            page.locator('#jp-menu-panel div.lm-MenuBar-itemLabel:text-is("実行")').click()
            page.locator('.lm-Menu-content li[data-command="runmenu:run-all"]').click()
        else:
            page.locator('#jp-menu-panel div.lm-MenuBar-itemLabel:text-is("カーネル")').click()
            page.locator('.lm-Menu-content li[data-command="runmenu:restart-and-run-all"]').click()
            page.locator(".jp-Dialog .jp-mod-accept").click()
        try:
            expect(first_code).not_to_have_text("[ ]:", timeout=20_000)
            return attempt
        except AssertionError:
            continue
    raise AssertionError("「すべて実行」を押しても、セルが実行されませんでした")


# ---------------------------------------------------------------------------------------------------------------------
WHEELHOUSE = REPO / "runtime" / "wheelhouse"


def make_venv(target: Path, *, offline: bool, timeout: float = 900) -> Path:
    """A fresh venv from Debian's /usr/bin/python3 (executable by every OS user, unlike a pyenv under /root) with the
    course and its hub extra installed; ``offline`` installs only from the wheelhouse (pip --no-index)."""
    import shutil
    import subprocess

    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(target)], check=True, timeout=300)
    python = target / "bin" / "python"
    if offline:
        source = ["--no-index", "--find-links", str(WHEELHOUSE), "sano-dx-course[hub]"]
    else:
        # pip caches the wheel it builds from a folder whose name looks like "name-version" (a worktree such as
        # wt-hand) and installs that cached wheel again after the code changed: drop the course's cached wheels first.
        subprocess.run(
            [str(python), "-m", "pip", "cache", "remove", "sano_dx_course"], capture_output=True, check=False
        )
        source = [f"sano-dx-course[hub] @ {REPO.as_uri()}"]
    result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *source],
                            capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    subprocess.run([str(python), "-m", "pip", "uninstall", "--quiet", "--yes", "rfc3987-syntax"], check=False)
    target.chmod(0o755)
    return python


def system_venv() -> Path:
    """The shared Debian-python venv for the real-users tests, built once (reused while pyproject.toml is unchanged)."""
    import hashlib

    target = REPO / "runtime" / "hub-test" / "venv-sys"
    key = hashlib.sha256((REPO / "pyproject.toml").read_bytes())
    for file in sorted((REPO / "course").rglob("*.*")):  # the package with its templates
        if "__pycache__" not in file.parts:
            key.update(file.read_bytes())
    stamp = target / ".sano-stamp"
    python = target / "bin" / "python"
    if stamp.is_file() and stamp.read_text() == key.hexdigest() and python.exists():
        return python
    python = make_venv(target, offline=WHEELHOUSE.is_dir() and any(WHEELHOUSE.glob("sano_dx_course-*.whl")))
    stamp.write_text(key.hexdigest())
    for folder in (target.parent, target.parent.parent):
        folder.chmod(0o755)  # other OS users run this python
    return python


# ---------------------------------------------------------------------------------------------------------------------
def terminal_run(client: HubClient, user: str, command: str, timeout: float = 120) -> str:
    """Type ``command`` into a new JupyterLab terminal of ``user``'s server (REST API + the terminal's websocket, as
    JupyterLab does) and return what the terminal showed up to the end of the command."""
    base = f"{client.hub.url}/user/{user}"
    http = client.server(user)
    created = http.post(f"{base}/api/terminals", timeout=60)
    created.raise_for_status()
    name = created.json()["name"]
    url = base.replace("http://", "ws://") + f"/terminals/websocket/{name}"
    ws = websocket.create_connection(url, header=[f"Authorization: token {client.hub.token}"], timeout=timeout)
    shown = ""
    try:
        # The marker is typed with quotes inside, so the terminal's echo of the command line does not end the wait.
        ws.send(json.dumps(["stdin", f"{command}; echo __SANO'_'DONE__\r"]))
        deadline = time.monotonic() + timeout
        while "__SANO_DONE__" not in shown.replace("\r", ""):
            if time.monotonic() > deadline:
                raise TimeoutError(f"ターミナルのコマンドが終わりませんでした: {shown[-2000:]}")
            message = json.loads(ws.recv())
            if message[0] == "stdout":
                shown += message[1]
    finally:
        ws.close()
        http.delete(f"{base}/api/terminals/{name}", timeout=30)
    return shown
