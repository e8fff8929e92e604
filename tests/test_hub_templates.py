"""The hub's Japanese pages (deploy/templates/) rendered as JupyterHub renders them, without starting a hub: the pages a
browser test cannot reliably catch (a server starting or stopping, a failed start, a refusal). The browser sees the
others in tests/test_hub_pages.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader

from tests.conftest import REPO

jupyterhub_data = pytest.importorskip("jupyterhub._data")
JUPYTERHUB_TEMPLATES = Path(jupyterhub_data.DATA_FILES_PATH) / "templates"


def render(tmp_path: Path, name: str, **context: Any) -> str:
    """``name`` through the loaders deploy/jupyterhub_config.py configures (JupyterHub's own under "templates/")."""
    frame = (JUPYTERHUB_TEMPLATES / "page.html").read_text(encoding="utf-8")
    (tmp_path / "jupyterhub-page-ja.html").write_text(frame.replace('<html lang="en">', '<html lang="ja">', 1))
    loader = ChoiceLoader([
        PrefixLoader({"templates": FileSystemLoader([str(JUPYTERHUB_TEMPLATES)])}, "/"),
        FileSystemLoader([str(REPO / "deploy" / "templates"), str(tmp_path), str(JUPYTERHUB_TEMPLATES)]),
    ])  # fmt: skip
    env = Environment(loader=loader, autoescape=True)
    user = SimpleNamespace(name="201000", json_escaped_name="201000", spawner=SimpleNamespace(options_form=None))
    base = {"static_url": lambda path, **_: f"/hub/static/{path}", "base_url": "/hub/", "user": user,
            "parsed_scopes": set(), "logout_url": "/hub/logout", "login_url": "/hub/login"}  # fmt: skip
    return env.get_template(name).render(**base, **context)


def test_every_page_is_japanese_with_lang_ja(tmp_path: Path):
    pages = {
        "spawn_pending.html": ({"progress_url": "/hub/api/progress"}, ["学習画面（JupyterLab）を準備しています", "起動をやめる"]),
        "stop_pending.html": ({}, ["学習画面（JupyterLab）を停止しています", "更新する"]),
        "not_running.html": ({"failed": True, "failed_message": "Spawner failed"}, ["学習画面を起動できませんでした",
                                                                                    "もう一度起動する"]),
        "error.html": ({"status_code": 403, "message": "研修の名簿にまだ登録されていません。"},
                       ["利用できません", "研修の名簿にまだ登録されていません。", "情報政策課"]),
        "404.html": ({"status_code": 404}, ["ページが見つかりません", "ホームに戻る"]),
        "error.html ": ({"status_code": 503}, ["研修システムが一時的に使えません"]),
    }  # fmt: skip
    for name, (context, texts) in pages.items():
        html = render(tmp_path, name.strip(), **context)
        shown = re.sub(r"<script.*?</script>|<!--.*?-->", "", html, flags=re.DOTALL)  # what a person reads
        assert '<html lang="ja">' in html, name
        assert "<title>佐野市デジタル人材育成 e-ラーニング</title>" in html, name
        for text in texts:
            assert text in html, (name, text)
        for english in ("Your server", "Stop Server", "Event log", "Server not running", "Spawn failed", "Logout"):
            assert english not in shown, (name, english)


@pytest.mark.hub
def test_the_start_up_progress_reads_in_japanese_in_a_browser(tmp_path: Path):
    """JupyterHub's own script writes the progress events it receives ("Server requested", "Spawning server...", a
    failure); in Chromium the person reads them in Japanese, in the message line and in the log they may be asked for."""
    from playwright.sync_api import sync_playwright

    from tests.hub_support import CHROMIUM, CHROMIUM_ARGS

    html = render(tmp_path, "spawn_pending.html", progress_url="/hub/api/progress")
    events = [
        {"progress": 0, "message": "Server requested"},
        {"progress": 50, "message": "Spawning server..."},
        {"progress": 100, "failed": True, "message": "Spawn failed: Timeout"},
    ]
    stream = "".join(f"data: {json.dumps(event)}\n\n" for event in events)
    static = JUPYTERHUB_TEMPLATES.parent / "static"

    def serve(route: Any) -> None:
        url = route.request.url
        if url.endswith("/hub/spawn-pending"):
            route.fulfill(body=html, content_type="text/html; charset=utf-8")
        elif "/hub/api/progress" in url:
            route.fulfill(body=stream, content_type="text/event-stream")
        elif "/hub/static/" in url and (file := static / url.split("/hub/static/")[1].split("?")[0]).is_file():
            route.fulfill(path=str(file))
        else:
            route.fulfill(status=404, body="")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("http://hub.test/**", serve)
            page.goto("http://hub.test/hub/spawn-pending")
            page.wait_for_function("document.querySelectorAll('.progress-log-event').length >= 3", timeout=30000)
            message = page.inner_text("#progress-message")
            log = page.locator("#progress-log").evaluate("node => node.textContent")
            page.screenshot(path=str(tmp_path / "spawn_pending.png"))
        finally:
            browser.close()
    assert message == "起動できませんでした。Timeout", message
    for japanese in ("起動を受け付けました", "学習画面を起動しています…", "起動できませんでした。"):
        assert japanese in log, log
    for english in ("Server requested", "Spawning server", "Spawn failed"):
        assert english not in log + message
