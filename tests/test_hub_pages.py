"""What a member of staff sees of the hub itself (deploy/templates/), logging in as people type, and the instructor's
terminal, on a real JupyterHub in Chromium. Marked ``hub``.

The screenshots of the pages stay in runtime/test-artifacts/hub_pages/ (overwritten by each run) for a person to
look at.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.hub_support import CHROMIUM, CHROMIUM_ARGS, HubClient, Timings, deadline, hubctl, terminal_run
from tests.test_hub_e2e import keep_logs

pytestmark = pytest.mark.hub

STAFF = "201000"  # fictional, from demo/roster.csv
TYPED = "２０１０００"  # the same 職員番号 in full-width digits, as a person may type it
WRONG = "職員番号またはパスワードが違います。もう一度入力してください。"


def test_japanese_hub_pages_full_width_login_and_instructor_terminal(tmp_path: Path):
    """Login page in Japanese (lang="ja"), a wrong password explained, 「２０１０００」 logging in as 201000, the home /
    stopped / error pages in Japanese, and `python -m course --help` in the instructor's JupyterLab terminal."""
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "chromium がありません（make chromium）"
    shots = REPO / "runtime" / "test-artifacts" / "hub_pages"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    timings = Timings()
    python = Path(sys.executable)
    exchange = tmp_path / "exchange"
    hub = hubctl.Hub(state=tmp_path / "state", course_root=hubctl.copy_course(tmp_path / "course"), exchange=exchange,
                     python=python, mode="simple", auth="shared", instructors=["instructor"], staff=[STAFF])  # fmt: skip
    seen: dict[str, object] = {}
    try:
        with deadline(600, "ハブの画面のテスト"):
            with timings.step("ハブの起動"):
                hub.start()
            client = HubClient(hub)
            expect.set_options(timeout=60_000)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(locale="ja-JP", viewport={"width": 1200, "height": 800})
                try:
                    with timings.step("ログイン画面"):
                        page.goto(f"{hub.url}/hub/login")
                        assert page.locator("html").get_attribute("lang") == "ja"
                        assert page.title() == "佐野市デジタル人材育成 e-ラーニング"
                        form = page.locator("#login-main form")
                        expect(form.locator("h1")).to_have_text("佐野市デジタル人材育成 e-ラーニング")
                        expect(form.locator("label[for=username_input]")).to_have_text("職員番号")
                        expect(form.locator("#username_hint")).to_contain_text("全角の数字")
                        expect(form.locator("label[for=password_input]")).to_have_text("パスワード")
                        expect(form.locator("#login_submit")).to_have_value("ログイン")
                        seen["login_text"] = page.locator("body").inner_text()
                        for english in ("Sign in", "Username", "Password", "Login"):
                            assert english not in str(seen["login_text"]), seen["login_text"]
                        page.screenshot(path=str(shots / "login.png"))
                    with timings.step("パスワード違い"):
                        page.fill("#username_input", TYPED)
                        page.fill("#password_input", "違うパスワード")
                        page.click("#login_submit")
                        expect(page.locator(".login_error")).to_have_text(WRONG)
                        page.screenshot(path=str(shots / "login_wrong_password.png"))
                    with timings.step("全角の職員番号でログイン・起動"):
                        page.fill("#username_input", TYPED)
                        page.fill("#password_input", hub.shared_password)
                        page.click("#login_submit")
                        page.wait_for_url(f"**/user/{STAFF}/lab**", timeout=180_000)
                    with timings.step("ホーム画面（起動中・停止）"):
                        page.goto(f"{hub.url}/hub/home")
                        expect(page.locator("#login_widget")).to_contain_text(f"職員番号 {STAFF}")
                        expect(page.locator("#logout")).to_have_text("ログアウト")
                        expect(page.locator("#start")).to_have_text("学習画面を開く")
                        expect(page.locator("#stop")).to_have_text("学習画面を停止する")
                        page.screenshot(path=str(shots / "home_running.png"))
                        page.locator("#stop").click()
                        expect(page.locator("#start")).to_have_text(
                            "学習画面を起動する"
                        )  # after JupyterHub's own script
                        page.screenshot(path=str(shots / "home_stopped.png"))
                    with timings.step("止まっている・エラーの画面"):
                        page.goto(f"{hub.url}/hub/spawn-pending/{STAFF}")
                        expect(page.locator("h1")).to_have_text("学習画面は止まっています")
                        expect(page.locator("#start")).to_have_text("学習画面を起動する")
                        page.screenshot(path=str(shots / "not_running.png"))
                        response = page.goto(f"{hub.url}/hub/no-such-page")
                        assert response is not None and response.status == 404
                        expect(page.locator("h1")).to_contain_text("ページが見つかりません")
                        expect(page.locator(".error")).to_contain_text("情報政策課")
                        page.screenshot(path=str(shots / "error_404.png"))
                finally:
                    page.screenshot(path=str(shots / "last.png"))
                    browser.close()
            users = client.session.get(f"{hub.url}/hub/api/users", timeout=30).json()
            seen["hub_users"] = sorted(u["name"] for u in users)
            assert STAFF in seen["hub_users"] and TYPED not in seen["hub_users"], seen

            with timings.step("講師: JupyterLab の中の formgrader"), sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(locale="ja-JP", viewport={"width": 1200, "height": 800})
                try:
                    page.goto(f"{hub.url}/hub/login")
                    page.fill("#username_input", "instructor")
                    page.fill("#password_input", hub.admin_password)
                    page.click("#login_submit")
                    page.wait_for_url("**/user/instructor/lab**", timeout=180_000)
                    page.locator("#jp-MainMenu").get_by_text("Nbgrader", exact=True).click()
                    page.get_by_role("menuitem", name="Formgrader").click()
                    frame = page.frame_locator("iframe[src*='formgrader']")
                    expect(frame.locator("body")).to_contain_text("Manage Assignments", timeout=120_000)
                    seen["formgrader_frame"] = frame.locator("body").inner_text()[:200]
                    page.screenshot(path=str(shots / "formgrader_in_lab.png"))
                finally:
                    browser.close()
            with timings.step("講師のターミナルで python -m course --help"):
                client.spawn("instructor")
                shown = terminal_run(client, "instructor", "command -v python sano-course; python -m course --help")
            seen["terminal"] = shown[-1500:]
            assert "command not found" not in shown, shown
            assert f"{python.parent}/python" in shown and f"{python.parent}/sano-course" in shown, shown
            assert "使い方: python -m course" in shown, shown
    finally:
        leftovers = hub.stop()
        keep_logs(hub, shots)
        print(
            json.dumps({**timings.values, **{k: str(v)[:300] for k, v in seen.items()}}, ensure_ascii=False, indent=1)
        )
    assert leftovers == [], leftovers
