"""The 研修 panel (labextension/) on a real JupyterHub in Chromium: what a member of staff sees and does.

Real hub, proxy, single-user server, nbgrader exchange and Validator; the course's records service `kenshu` is a
test double (``RecordsStub``, a few lines of http.server at the hub's /services/kenshu/ route) serving the contract's
JSON for the one person who logs in, so this test does not depend on the service's own branch. Marked ``hub``.

The screenshots stay in runtime/test-artifacts/panel/ (overwritten by each run) for a person to look at.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from course.config import Course
from course.curriculum import load_curriculum
from course.demo import DemoAnswers
from tests.conftest import REPO
from tests.feedback_support import AXE
from tests.hub_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    COURSE_ID,
    HubClient,
    Timings,
    deadline,
    hubctl,
    release_for_trial,
)
from tests.test_hub_e2e import keep_logs

pytestmark = pytest.mark.hub

PANEL = "#sano-kenshu-panel"
WELCOME = "#sano-kenshu-welcome"
# Latin words a member of staff may meet in the panel and its dialogs: product names, the keys printed on the
# keyboard that the course's own instructions name, and Python's None, which the course's check messages ask people
# to delete. Module codes (B00), exercise numbers (練習1a, 回答1a) and file names (b00/b00.ipynb) are allowed by pattern.
ALLOWED_LATIN = {"Jupyter", "Python", "Shift", "Enter", "None", "PDF"}
ALLOWED_PATTERNS = (r"\b[A-Z]\d{2}\b", r"\d[a-z]\b", r"[\w/.-]+\.(?:ipynb|csv|html|pdf)\b", r"e-ラーニング")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_RUN = """async ([selector, tags]) => {
  const result = await axe.run(selector, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}));
}"""


def english_words(text: str) -> list[str]:
    """Latin-letter words in ``text`` that are not on the allowlist."""
    for pattern in ALLOWED_PATTERNS:
        text = re.sub(pattern, " ", text)
    return [w for w in re.findall(r"[A-Za-z]+", text) if w not in ALLOWED_LATIN]


def records_document(staff: hubctl.TrialLogin, course_root: Path, released: str) -> dict[str, Any]:
    """The contract's /api/me body for ``staff``: their grade's track with ``released`` 未提出, the next module graded
    below the pass mark (40 %), the one after 修了 (90 %), the rest 準備中."""
    curriculum = load_curriculum(course_root / "settings" / "curriculum.toml")
    track = next(t for t in curriculum.tracks.values() if t.grade and t.grade in staff.role and not t.promoter)
    graded, completed = track.required[1], track.required[2]
    status = {released: "未提出", graded: "受講中", completed: "修了"}
    score = {graded: 0.4, completed: 0.9}
    submitted = {graded: "2026-11-20T10:00:00+09:00", completed: "2026-11-02T09:30:00+09:00"}
    modules = [
        {"id": m, "title": curriculum.modules[m].title, "assignment": m.lower(), "required": True,
         "status": status.get(m, "準備中"), "score_ratio": score.get(m), "pass_ratio": 0.6,
         "submitted_at": submitted.get(m), "completed_at": "2026-11-05T17:00:00+09:00" if m == completed else None,
         "deadline": "2027-03-15" if m == released else None, "minutes": 30}
        for m in track.required
    ]  # fmt: skip
    return {
        "as_of": "2026-12-07T20:15:00+09:00",
        "staff": {"staff_id": staff.staff_id, "name": staff.name, "department": "総務部", "section": "人事課",
                  "position": "主事", "grade": track.grade, "promoter": False},
        "tracks": [{"key": track.key, "name": track.name, "status": "受講中", "required_passed": 1,
                    "required_total": len(modules), "electives_passed": 0, "electives_needed": 0,
                    "completed_at": None, "certificate_url": None, "modules": modules}],
    }  # fmt: skip


class RecordsStub:
    """Test double of the `kenshu` service: GET /services/kenshu/api/me answers one fixed document, no login."""

    def __init__(self, document: dict[str, Any]) -> None:
        body = json.dumps(document, ensure_ascii=False).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path.split("?")[0] == "/services/kenshu/api/me"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body if found else b'{"message": "stub"}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def tab_to(page: Any, target: Any, limit: int = 250) -> int:
    """Press Tab until ``target`` has the keyboard focus; returns how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return presses
    raise AssertionError(f"Tab を {limit} 回押しても、ボタンにたどり着きませんでした: {target}")


def axe_violations(page: Any, selector: str) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(AXE_RUN, [selector, WCAG_TAGS])


def test_staff_panel_welcome_fetch_validate_submit_by_keyboard(tmp_path: Path):
    """First login: 「はじめに」 opens by itself and the panel lists the person's track in Japanese; B00 is fetched and
    submitted with the keyboard alone, validated first with a failing then a passing result told in Japanese; no
    English in the panel or its dialogs, no serious axe-core violation, no nbgrader Assignment List for staff; the
    returned feedback opens from the panel; without the records service the panel still lists and explains; and a
    reload does not open 「はじめに」 again."""
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "chromium がありません（make chromium）"
    assert AXE.is_file(), "axe-core がありません: make proxy で deploy/ に npm ci を行います"
    shots = REPO / "runtime" / "test-artifacts" / "panel"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    timings = Timings()
    python = Path(sys.executable)
    course_root = hubctl.copy_course(tmp_path / "course")
    exchange = tmp_path / "exchange"
    staff = next(p for p in hubctl.trial_staff(course_root / "demo" / "roster.csv") if p.role.startswith("一般職"))
    stub = RecordsStub(records_document(staff, course_root, "B00"))
    hub = hubctl.Hub(state=tmp_path / "state", course_root=course_root, exchange=exchange, python=python,
                     mode="simple", auth="shared", instructors=["instructor"], staff=[staff.staff_id],
                     extra_env={"SANO_HUB_KENSHU_URL": stub.url, "SANO_HUB_KENSHU_EXTERNAL": "1"})  # fmt: skip
    seen: dict[str, Any] = {}
    try:
        with deadline(900, "研修パネルのテスト"):
            with timings.step("準備: 名簿の取り込みと B00 の公開"):
                exchange.mkdir()
                exchange.chmod(0o1777)
                kw = release_for_trial(course_root, exchange, python, "B00")
            with timings.step("ハブの起動"):
                hub.start()
            client = HubClient(hub)
            expect.set_options(timeout=90_000)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(locale="ja-JP", viewport={"width": 1400, "height": 900})
                errors: list[str] = []
                page.on("console", lambda m: m.type == "error" and errors.append(m.text))
                panel = page.locator(PANEL)
                b00 = panel.locator('li[data-module="B00"]')
                dialog = page.locator(".jp-Dialog")
                try:
                    with timings.step("ログインと「はじめに」"):
                        page.goto(f"{hub.url}/hub/login")
                        page.fill("#username_input", staff.staff_id)
                        page.fill("#password_input", hub.shared_password)
                        page.click("#login_submit")
                        page.wait_for_url(f"**/user/{staff.staff_id}/lab**", timeout=180_000)
                        welcome = page.locator(WELCOME)
                        expect(welcome.locator("h1")).to_have_text("佐野市デジタル人材育成 e-ラーニングへようこそ")
                        expect(welcome).to_contain_text("B00「はじめてのJupyter」")
                        expect(welcome).to_contain_text("目安は合わせて約")
                        expect(welcome).to_contain_text("情報政策課")
                        expect(panel).to_be_visible()
                        expect(panel.locator("h2")).to_have_text("研修")
                        expect(panel.locator(".sano-kenshu-track-name")).to_have_text("一般職（受講中）")
                        expect(panel.locator(".sano-kenshu-progress")).to_have_text("必修 6 件のうち 1 件修了")
                        expect(b00.locator(".sano-kenshu-state")).to_have_text("未受取")
                        expect(b00).to_contain_text("期限 2027年3月15日")
                        states = panel.locator(".sano-kenshu-module .sano-kenshu-state").all_inner_texts()
                        assert states == ["未受取", "採点済（40点）", "修了", "準備中", "準備中", "準備中"], states
                        seen["welcome"] = welcome.inner_text()
                        page.screenshot(path=str(shots / "welcome_and_panel.png"))

                    with timings.step("nbgrader の Assignment List が無いこと"):
                        menus = page.locator("#jp-menu-panel div.lm-MenuBar-itemLabel").all_inner_texts()
                        seen["menus"] = menus
                        assert "Nbgrader" not in menus, menus
                        config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
                        for plugin in ("assignment-list", "menu", "validate-assignment"):
                            assert f"@jupyter/nbgrader:{plugin}" in config["disabledExtensions"], config
                        assert page.locator("#released_assignments_list").count() == 0

                    with timings.step("a11y: axe-core"):
                        seen["axe"] = {s: axe_violations(page, s) for s in (PANEL, WELCOME)}
                        serious = [v for found in seen["axe"].values() for v in found
                                   if v["impact"] in {"serious", "critical"}]  # fmt: skip
                        assert serious == [], serious

                    with timings.step("キーボードだけで受け取る"):
                        fetch = b00.get_by_role("button", name="B00「はじめてのJupyter」を受け取る")
                        seen["tabs_to_fetch"] = tab_to(page, fetch)
                        page.keyboard.press("Enter")
                        expect(b00.locator(".sano-kenshu-state")).to_have_text("受講中")
                        expect(panel.locator(".sano-kenshu-status")).to_contain_text("受け取りました")
                        page.screenshot(path=str(shots / "fetched.png"))

                    with timings.step("提出前の確認（まだ答えていない）"):
                        b00.get_by_role("button", name="B00「はじめてのJupyter」を提出前に確認する").click()
                        expect(dialog).to_contain_text("直すところがあります", timeout=180_000)
                        problems = dialog.locator(".sano-kenshu-problems li")
                        expect(problems.first).to_contain_text("練習1")
                        seen["failing"] = dialog.inner_text()
                        assert "がまだ空です" in seen["failing"] or "ありません" in seen["failing"], seen["failing"]
                        expect(problems.last).to_contain_text("「ここに回答を書いてください。」と書かれた欄")
                        for word in ("Traceback", "Error", "AssertionError", "File "):
                            assert word not in seen["failing"], seen["failing"]
                        page.screenshot(path=str(shots / "validate_failing.png"))
                        dialog.get_by_role("button", name="閉じる").click()
                        expect(dialog).to_have_count(0)

                    with timings.step("答えを書いて、提出前の確認（通る）"):
                        answer_notebook(client, staff.staff_id, course_root)
                        b00.get_by_role("button", name="B00「はじめてのJupyter」を提出前に確認する").click()
                        expect(dialog).to_contain_text("提出できます", timeout=180_000)
                        seen["passing"] = dialog.inner_text()
                        assert "答えの形は整っています" in seen["passing"], seen["passing"]
                        page.screenshot(path=str(shots / "validate_passing.png"))
                        dialog.get_by_role("button", name="閉じる").click()
                        expect(dialog).to_have_count(0)

                    with timings.step("キーボードだけで提出"):
                        submit = b00.get_by_role("button", name="B00「はじめてのJupyter」を提出する")
                        seen["tabs_to_submit"] = tab_to(page, submit)
                        page.keyboard.press("Enter")
                        expect(dialog).to_contain_text("提出するファイル: b00/b00.ipynb")
                        seen["confirm"] = dialog.inner_text()
                        page.screenshot(path=str(shots / "submit_confirm.png"))
                        page.keyboard.press("Enter")  # the dialog's default button: 提出する
                        expect(dialog).to_contain_text("提出しました", timeout=120_000)
                        seen["receipt"] = dialog.inner_text()
                        page.screenshot(path=str(shots / "submitted.png"))
                        page.keyboard.press("Enter")
                        expect(dialog).to_have_count(0)
                    when = submitted_at(client, staff.staff_id)
                    assert f"B00「はじめてのJupyter」を {when} に提出しました。" in seen["receipt"], (when, seen)
                    assert "提出したファイル: b00/b00.ipynb" in seen["receipt"], seen["receipt"]
                    expect(b00.locator(".sano-kenshu-state")).to_have_text(f"提出済（{when}）")
                    seen["panel"] = panel.inner_text()

                    with timings.step("採点・フィードバックの返却と「フィードバックを見る」"):
                        for command in ("collect", "autograde", "feedback"):
                            hubctl.run_course([command, "B00"], **kw)
                        panel.get_by_role("button", name="研修の一覧を最新の状態にする").click()
                        b00.get_by_role("button", name="B00「はじめてのJupyter」のフィードバックを見る").click()
                        shown = page.frame_locator(".jp-MainAreaWidget:not(.lm-mod-hidden) iframe").locator("body")
                        expect(shown).to_contain_text("次にすること")
                        seen["feedback_page"] = shown.inner_text()[:300]
                        page.screenshot(path=str(shots / "feedback.png"))

                    with timings.step("受講記録に接続できないとき"):
                        stub.stop()
                        panel.get_by_role("button", name="研修の一覧を最新の状態にする").click()
                        expect(panel.locator(".sano-kenshu-notice")).to_contain_text("受講記録")
                        expect(b00.locator(".sano-kenshu-state")).to_have_text(f"提出済（{when}）")
                        seen["panel_without_records"] = panel.inner_text()
                        page.screenshot(path=str(shots / "without_records.png"))

                    with timings.step("2回目に開いたときは「はじめに」が開かない"):
                        page.reload()
                        expect(panel.locator(".sano-kenshu-notice")).to_contain_text("受講記録")
                        assert page.locator(WELCOME).count() == 0

                    shown = ("welcome", "failing", "passing", "confirm", "receipt", "panel", "panel_without_records")
                    for name in shown:
                        assert english_words(seen[name]) == [], (name, english_words(seen[name]), seen[name])
                finally:
                    page.screenshot(path=str(shots / "last.png"))
                    (shots / "console_errors.txt").write_text("\n".join(errors), encoding="utf-8")
                    browser.close()
    finally:
        stub.stop()
        leftovers = hub.stop()
        keep_logs(hub, shots)
        print(json.dumps({**timings.values, **{k: str(v)[:600] for k, v in seen.items()}}, ensure_ascii=False,
                         indent=1))  # fmt: skip
    assert leftovers == [], leftovers


def answer_notebook(client: HubClient, user: str, course_root: Path) -> None:
    """Write B00's correct answers and a reflection into the fetched notebook through the server's contents API (as a
    save would)."""
    base = f"{client.hub.url}/user/{user}"
    http = client.server(user)
    answers = DemoAnswers.load(Course.load(course_root), load_curriculum().modules["B00"])
    notebook = http.get(f"{base}/api/contents/b00/b00.ipynb", timeout=60).json()["content"]
    for cell in notebook["cells"]:
        nbgrader = cell["metadata"].get("nbgrader", {})
        if nbgrader.get("grade_id") in answers.correct:
            cell["source"] = answers.correct[nbgrader["grade_id"]]
        elif cell["cell_type"] == "markdown" and nbgrader.get("solution"):  # the written reflection
            cell["source"] = answers.reflections[0]
    saved = http.put(f"{base}/api/contents/b00/b00.ipynb", json={"type": "notebook", "format": "json",
                     "content": notebook}, timeout=60)  # fmt: skip
    assert saved.status_code == 200, saved.text[:300]


def submitted_at(client: HubClient, user: str) -> str:
    """The newest B00 submission's time as nbgrader's exchange recorded it, written as the panel writes it."""
    listed = client.server(user).get(f"{client.hub.url}/user/{user}/assignments", params={"course_id": COURSE_ID},
                                     timeout=120).json()  # fmt: skip
    stamps = [s["timestamp"] for a in listed["value"] if a["status"] == "submitted" for s in a["submissions"]]
    year, month, day, hour, minute = re.match(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})", max(stamps)).groups()  # type: ignore[union-attr]
    return f"{year}年{int(month)}月{int(day)}日 {hour}:{minute}"
