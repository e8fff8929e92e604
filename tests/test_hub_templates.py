"""The hub's Japanese pages (deploy/templates/) rendered as JupyterHub renders them, without starting a hub: the pages a
browser test cannot reliably catch (a server starting or stopping, a failed start, a refusal). The browser sees the
others in tests/test_hub_pages.py."""

from __future__ import annotations

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
