"""The 研修 panel (labextension/) on a real JupyterHub in Chromium: a member of staff's whole journey, through the
course's real records service.

Real: the hub, proxy, single-user servers, nbgrader's exchange and Validator, the panel, the course's `kenshu` service
(course/staff_portal.py, started by the hub; nothing stands in for it), ``python -m course collect / autograde /
feedback / export``, and the instructor's grading of B00's written reflection, typed into nbgrader's formgrader
grading page in the instructor's own browser session (the formgrader saves it through its HTTP API).

Seeded, honestly: before the hub starts, the person (the trial roster's 推進員) is given full marks in the other
required modules of their grade's track, written into the gradebook as nbgrader leaves a graded submission
(tests/synthetic.py ``passed_modules``; those modules are not released and no notebook of theirs runs). So B00, done
here for real, completes that track and its 修了証 can be downloaded from the panel; the promoter track stays open and
shows what remains.

``test_panel_without_records_service`` is the short other half: the hub routes /services/kenshu/ to a port where
nothing listens, and the panel still lists B00 from nbgrader's exchange and explains. Both are marked ``hub``.

The screenshots stay in runtime/test-artifacts/panel/ (overwritten by each run) for a person to look at; with
SANO_DOC_IMAGES=1 (``make doc-images``) the journey also writes the ones the README and docs/hub.md show into
docs/images/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from course.certificate import course_settings
from course.config import Course
from course.curriculum import load_curriculum
from course.demo import DemoAnswers, write_year_plan
from course.records import completion_record
from course.wareki import wareki
from tests import synthetic
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
    wait_for,
)
from tests.test_hub_e2e import keep_logs

pytestmark = pytest.mark.hub

PANEL = "#sano-kenshu-panel"
WELCOME = "#sano-kenshu-welcome"
SERVICE = "/services/kenshu/"
SHOTS = REPO / "runtime" / "test-artifacts" / "panel"
# The screens the README and docs/hub.md show (docs/images/<name>.png), written when SANO_DOC_IMAGES=1.
DOC_IMAGES = REPO / "docs" / "images"
DOC_SCREENS = ("welcome_and_panel", "validate_failing", "submitted", "feedback", "panel_completed", "records", "verify")
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


def english_words(text: str, titles: Iterable[str] = ()) -> list[str]:
    """Latin-letter words in ``text`` that are not on the allowlist nor in one of the module ``titles`` (the city's
    own words in settings/curriculum.toml, e.g. 「RPA（定型作業の自動化）」)."""
    for pattern in ALLOWED_PATTERNS:
        text = re.sub(pattern, " ", text)
    allowed = ALLOWED_LATIN | {w for title in titles for w in re.findall(r"[A-Za-z]+", title)}
    return [w for w in re.findall(r"[A-Za-z]+", text) if w not in allowed]


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


def serious(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in found if v["impact"] in {"serious", "critical"}]


def log_in(browser: Any, hub: hubctl.Hub, user: str, password: str, errors: list[str] | None = None) -> Any:
    """A new page of ``browser`` (in a context of its own), logged in as ``user`` and showing their JupyterLab;
    console errors are added to ``errors``."""
    page = browser.new_context(locale="ja-JP", viewport={"width": 1400, "height": 900}).new_page()
    if errors is not None:
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{user}/lab**", timeout=180_000)
    return page


def test_staff_journey_to_a_certificate_through_the_records_service(tmp_path: Path):
    """A 推進員 logs in: 「はじめに」 opens by itself and the panel lists both their tracks from the real records
    service; B00 is fetched and submitted with the keyboard alone, validated first with a failing then a passing result
    told in Japanese. The instructor collects, autogrades, grades the reflection in the formgrader and exports. After a
    refresh the panel shows B00 修了, the grade track 修了 with its 修了証 (a PDF with the person's name and track), the
    promoter track still to do; the feedback page, the records page and the verification page show the score and the
    result. No English in the panel or its dialogs, no serious axe-core violation, no nbgrader Assignment List for
    staff, and a reload does not open 「はじめに」 again."""
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "chromium がありません（make chromium）"
    assert AXE.is_file(), "axe-core がありません: make proxy で deploy/ に npm ci を行います"
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    timings = Timings()
    python = Path(sys.executable)
    course_root = hubctl.copy_course(tmp_path / "course")
    exchange = tmp_path / "exchange"
    staff = next(p for p in hubctl.trial_staff(course_root / "demo" / "roster.csv") if p.role.startswith("推進員"))
    hub = hubctl.Hub(state=tmp_path / "state", course_root=course_root, exchange=exchange, python=python,
                     mode="simple", auth="shared", instructors=["instructor"], staff=[staff.staff_id])  # fmt: skip
    hubctl.point_certificates_at(course_root, hub.url)
    seen: dict[str, Any] = {}
    try:
        with deadline(900, "研修パネルの通しのテスト"):
            with timings.step("準備: 名簿の取り込み、B00 の公開、ほかの必修の採点済み記録"):
                exchange.mkdir()
                exchange.chmod(0o1777)
                kw = release_for_trial(course_root, exchange, python, "B00")
                course = Course.load(course_root)
                curriculum = load_curriculum(course_root / "settings" / "curriculum.toml")
                # The service judges by today's date: the copied course gets a plan for this 年度, whatever the
                # calendar says (the one in settings/ names the years the city has planned so far).
                write_year_plan(course_root, curriculum, today=datetime.now(course.timezone).date())
                record = completion_record(course=course, curriculum=curriculum, staff_id=staff.staff_id)
                assert record is not None and len(record.tracks) == 2, record
                grade_track = curriculum.tracks[record.grade_track.track_key]
                promoter_track = next(curriculum.tracks[t.track_key] for t in record.tracks
                                      if t.track_key != grade_track.key)  # fmt: skip
                seeded = [m for m in grade_track.required if m != "B00"]
                due = dict(record.grade_track.pending)["B00"]  # B00's deadline this 年度 (the year plan's)
                assert due is not None, record.grade_track
                assert "B00" in grade_track.required and "B00" not in promoter_track.required
                synthetic.passed_modules(course=course, curriculum=curriculum, staff_id=staff.staff_id,
                                         modules=seeded, when=datetime.now(course.timezone) - timedelta(minutes=10))  # fmt: skip
            with timings.step("ハブの起動"):
                hub.start()
            client = HubClient(hub)
            expect.set_options(timeout=90_000)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                errors: list[str] = []
                with timings.step("ログインと「はじめに」"):
                    page = log_in(browser, hub, staff.staff_id, hub.shared_password, errors)
                panel = page.locator(PANEL)
                mine = panel.locator(f'section[aria-label="{grade_track.name}の研修"]')
                promoter = panel.locator(f'section[aria-label="{promoter_track.name}の研修"]')
                b00 = mine.locator('li[data-module="B00"]')
                dialog = page.locator(".jp-Dialog")
                refresh = panel.get_by_role("button", name="研修の一覧を最新の状態にする")
                try:
                    with timings.step("「はじめに」と研修パネル（受講記録サービスから）"):
                        welcome = page.locator(WELCOME)
                        expect(welcome.locator("h1")).to_have_text("佐野市デジタル人材育成 e-ラーニングへようこそ")
                        expect(welcome).to_contain_text("B00「はじめてのJupyter」")
                        # every required module of both tracks once, and the electives the promoter track needs
                        required_all = len({*grade_track.required, *promoter_track.required})
                        expect(welcome).to_contain_text(
                            f"あなたのモジュールは必修 {required_all} 件と選択 {promoter_track.min_electives} 件で、"
                            "目安は合わせて約"
                        )
                        # whom to ask: the course's settings/curriculum.toml, through the hub's lab settings
                        contacts = curriculum.contacts
                        expect(welcome).to_contain_text(contacts.learning)
                        expect(panel.locator(".sano-kenshu-contact")).to_have_text(
                            [contacts.learning, contacts.records]
                        )
                        expect(panel.locator("h2")).to_have_text("研修")
                        expect(panel.locator(".sano-kenshu-person")).to_contain_text(f"{staff.name} さん")
                        expect(mine.locator(".sano-kenshu-track-name")).to_have_text(f"{grade_track.name}（受講中）")
                        required = len(grade_track.required)
                        expect(mine.locator(".sano-kenshu-progress")).to_have_text(
                            f"必修 {required} 件のうち {required - 1} 件修了"
                        )
                        expect(b00.locator(".sano-kenshu-state")).to_have_text("未受取")
                        expect(b00).to_contain_text(f"期限 {wareki(due)}")  # 和暦, as the records page writes it
                        states = mine.locator(".sano-kenshu-module .sano-kenshu-state").all_inner_texts()
                        # the seeded modules were given full marks
                        done = "修了（100 %）"
                        assert states == ["未受取" if m == "B00" else done for m in grade_track.required], states
                        expect(promoter.locator(".sano-kenshu-progress")).to_contain_text(
                            f"必修 {len(promoter_track.required)} 件のうち 0 件修了"
                        )
                        seen["welcome"] = welcome.inner_text()
                        seen["panel_first"] = panel.inner_text()
                        page.screenshot(path=str(SHOTS / "welcome_and_panel.png"))

                    with timings.step("nbgrader の Assignment List が無いこと"):
                        menus = page.locator("#jp-menu-panel div.lm-MenuBar-itemLabel").all_inner_texts()
                        seen["menus"] = menus
                        assert "Nbgrader" not in menus, menus
                        config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
                        for plugin in ("assignment-list", "menu", "validate-assignment"):
                            assert f"@jupyter/nbgrader:{plugin}" in config["disabledExtensions"], config
                        assert page.locator("#released_assignments_list").count() == 0

                    with timings.step("a11y: axe-core（パネルと「はじめに」）"):
                        seen["axe"] = {s: axe_violations(page, s) for s in (PANEL, WELCOME)}
                        assert [v for found in seen["axe"].values() for v in serious(found)] == [], seen["axe"]

                    with timings.step("キーボードだけで受け取る"):
                        fetch = b00.get_by_role("button", name="B00「はじめてのJupyter」を受け取る")
                        seen["tabs_to_fetch"] = tab_to(page, fetch)
                        page.keyboard.press("Enter")
                        expect(b00.locator(".sano-kenshu-state")).to_have_text("受講中")
                        expect(panel.locator(".sano-kenshu-status")).to_contain_text("受け取りました")

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
                        page.screenshot(path=str(SHOTS / "validate_failing.png"))
                        dialog.get_by_role("button", name="閉じる").click()
                        expect(dialog).to_have_count(0)

                    with timings.step("答えを書いて、提出前の確認（通る）"):
                        answer_notebook(client, staff.staff_id, course_root)
                        b00.get_by_role("button", name="B00「はじめてのJupyter」を提出前に確認する").click()
                        expect(dialog).to_contain_text("提出できます", timeout=180_000)
                        seen["passing"] = dialog.inner_text()
                        assert "答えの形は整っています" in seen["passing"], seen["passing"]
                        page.screenshot(path=str(SHOTS / "validate_passing.png"))
                        dialog.get_by_role("button", name="閉じる").click()
                        expect(dialog).to_have_count(0)

                    with timings.step("キーボードだけで提出"):
                        submit = b00.get_by_role("button", name="B00「はじめてのJupyter」を提出する")
                        seen["tabs_to_submit"] = tab_to(page, submit)
                        page.keyboard.press("Enter")
                        expect(dialog).to_contain_text("提出するファイル: b00/b00.ipynb")
                        seen["confirm"] = dialog.inner_text()
                        page.keyboard.press("Enter")  # the dialog's default button: 提出する
                        expect(dialog).to_contain_text("提出しました", timeout=120_000)
                        seen["receipt"] = dialog.inner_text()
                        page.screenshot(path=str(SHOTS / "submitted.png"))
                        page.keyboard.press("Enter")
                        expect(dialog).to_have_count(0)
                    when = submitted_at(client, staff.staff_id)
                    assert f"B00「はじめてのJupyter」を {when} に提出しました。" in seen["receipt"], (when, seen)
                    assert "提出したファイル: b00/b00.ipynb" in seen["receipt"], seen["receipt"]
                    expect(b00.locator(".sano-kenshu-state")).to_have_text(f"提出済（{when}）")

                    with timings.step("講師: 回収と自動採点"):
                        for command in ("collect", "autograde"):
                            hubctl.run_course([command, "B00"], **kw)
                    with timings.step("講師: 振り返りをフォームグレーダーで採点"):
                        seen["reflection"] = grade_reflection(browser, hub, staff.staff_id)
                    with timings.step("講師: フィードバックの作成・返却と HR 向けの書き出し"):
                        hubctl.run_course(["feedback", "B00"], **kw)
                        exported = hubctl.run_course(["export"], **kw)
                        seen["export"] = exported.stdout[-600:]

                    with timings.step("職員: 一覧を最新にして、修了と修了証"):
                        refresh.click()
                        expect(b00.locator(".sano-kenshu-state")).to_have_text(done)
                        expect(mine.locator(".sano-kenshu-track-name")).to_have_text(f"{grade_track.name}（修了）")
                        expect(mine.locator(".sano-kenshu-progress")).to_have_text(
                            f"必修 {required} 件のうち {required} 件修了"
                        )
                        expect(mine).to_contain_text("に修了しました。")
                        expect(promoter.locator(".sano-kenshu-progress")).to_contain_text(
                            f"必修 {len(promoter_track.required)} 件のうち 0 件修了"
                        )
                        certificate = mine.get_by_role("link", name="修了証（PDF）を開く")
                        expect(certificate).to_be_visible()
                        seen["panel_completed"] = panel.inner_text()
                        panel.screenshot(path=str(SHOTS / "panel_completed.png"))  # the panel alone
                        seen["axe_completed"] = axe_violations(page, PANEL)
                        assert serious(seen["axe_completed"]) == [], seen["axe_completed"]
                        href = certificate.get_attribute("href") or ""
                        assert href.startswith(f"{SERVICE}certificates/"), href
                        with page.expect_popup() as opened:  # the link opens the PDF in a tab of its own
                            certificate.click()
                        opened.value.close()
                        pdf = page.context.request.get(hub.url + href)  # the link's address, the person's own session
                        assert pdf.headers["content-type"] == "application/pdf", pdf.headers
                        document = pdfium.PdfDocument(pdf.body())
                        seen["certificate"] = document[0].get_textpage().get_text_range()
                        document.close()
                        assert f"{staff.name}　殿" in seen["certificate"], seen["certificate"]
                        assert f"（{grade_track.name}）" in seen["certificate"], seen["certificate"]
                        code = re.search(r"検証コード: (\S+)", seen["certificate"])
                        assert code is not None, seen["certificate"]

                    with timings.step("職員: フィードバックを見る"):
                        page.bring_to_front()
                        b00.get_by_role("button", name="B00「はじめてのJupyter」のフィードバックを見る").click()
                        frame = page.frame_locator(".jp-MainAreaWidget:not(.lm-mod-hidden) iframe")
                        shown = frame.locator("body")
                        expect(shown).to_contain_text("次にすること")
                        # a tab named for the module, not the file, and no 「HTMLを信用する」 (JupyterLab's HTML viewer)
                        tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
                        expect(tab).to_have_text("B00 フィードバック")
                        expect(page.get_by_text("HTMLを信用する")).to_have_count(0)
                        expect(shown).to_contain_text("修了")
                        seen["feedback_page"] = shown.inner_text()[:400]
                        # every answer right and the reflection given full marks: the score is the maximum
                        assert re.search(r"得点\s+(\d+) / \1 点", seen["feedback_page"]), seen["feedback_page"]
                        page.screenshot(path=str(SHOTS / "feedback.png"))
                        # the page's own links move within it (練習の名前を選ぶと、くわしい結果に移ります)
                        exercise = frame.locator("table a[href^='#']").first
                        target = frame.locator(exercise.get_attribute("href") or "#missing")
                        expect(target).not_to_be_in_viewport()
                        exercise.click()
                        expect(target).to_be_in_viewport()

                    with timings.step("職員: 受講記録のページと、修了証の確認ページ"):
                        records = page.context.new_page()
                        records.set_viewport_size({"width": 1200, "height": 900})
                        records.goto(f"{hub.url}{SERVICE}")
                        expect(records.locator("h1")).to_have_text("わたしの受講記録")
                        row = records.locator("tr", has_text="B00")
                        expect(row).to_contain_text("修了")
                        expect(row).to_contain_text("100 %（合格基準 60 %）")
                        seen["records_b00"] = row.inner_text()
                        main = records.locator("main")
                        expect(records.locator("thead th").nth(1)).to_have_text("必修・選択")
                        # a promoter module still to do: its deadline (the year plan's, in 和暦) and how to start it
                        first = promoter_track.required[0]
                        promoter_due = dict(next(t for t in record.tracks if t.track_key == promoter_track.key).pending)
                        assert promoter_due[first] is not None, promoter_due
                        expect(records.locator("tr", has_text=first)).to_contain_text(wareki(promoter_due[first]))
                        expect(main).to_contain_text("残っているモジュールは、研修パネルの「受け取る」から始めます。")
                        expect(main).to_contain_text(contacts.records)
                        expect(main).to_contain_text(contacts.learning)
                        records.screenshot(path=str(SHOTS / "records.png"), full_page=True)
                        records.goto(f"{hub.url}{SERVICE}verify?code={code[1]}")
                        expect(records.locator("#result-heading")).to_have_text("確認の結果：有効")
                        expect(records.locator("main")).to_contain_text(staff.name)
                        issuer = course_settings(course).issuer  # settings/certificate.toml [issuer]
                        expect(records.locator("main")).to_contain_text(f"{issuer}が発行した修了証です。")
                        # a valid code (it holds the 職員番号) is not shown again: the result and nothing else
                        expect(records.locator("#code")).to_have_value("")
                        assert code[1] not in records.content() and staff.staff_id not in records.content()
                        records.screenshot(path=str(SHOTS / "verify.png"), full_page=True)
                        records.close()

                    with timings.step("2回目に開いたときは「はじめに」が開かない"):
                        page.reload()
                        expect(b00.locator(".sano-kenshu-state")).to_have_text(done)
                        assert page.locator(WELCOME).count() == 0

                    shown_texts = ("welcome", "panel_first", "failing", "passing", "confirm", "receipt",
                                   "panel_completed")  # fmt: skip
                    titles = [m.title for m in curriculum.modules.values()]
                    for name in shown_texts:
                        found = english_words(seen[name], titles)
                        assert found == [], (name, found, seen[name])
                finally:
                    page.screenshot(path=str(SHOTS / "last.png"))
                    (SHOTS / "console_errors.txt").write_text("\n".join(errors), encoding="utf-8")
                    browser.close()
    finally:
        leftovers = hub.stop()
        keep_logs(hub, SHOTS)
        print(json.dumps({**timings.values, **{k: str(v)[:600] for k, v in seen.items()}}, ensure_ascii=False,
                         indent=1))  # fmt: skip
    assert leftovers == [], leftovers
    if os.environ.get("SANO_DOC_IMAGES") == "1":
        publish_screens(SHOTS, DOC_IMAGES, DOC_SCREENS)


def test_panel_without_records_service(tmp_path: Path):
    """When the records service cannot be reached, the panel still lists the released module from nbgrader's exchange,
    offers to fetch it, and says in Japanese that the records are unavailable."""
    from playwright.sync_api import expect, sync_playwright

    shots = SHOTS.parent / "panel_without_records"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    python = Path(sys.executable)
    course_root = hubctl.copy_course(tmp_path / "course")
    exchange = tmp_path / "exchange"
    staff = next(p for p in hubctl.trial_staff(course_root / "demo" / "roster.csv") if p.role.startswith("一般職"))
    nothing = f"http://127.0.0.1:{hubctl.free_port()}"  # the hub routes /services/kenshu/ here; nobody listens
    hub = hubctl.Hub(state=tmp_path / "state", course_root=course_root, exchange=exchange, python=python,
                     mode="simple", auth="shared", staff=[staff.staff_id],
                     extra_env={"SANO_HUB_KENSHU_URL": nothing, "SANO_HUB_KENSHU_EXTERNAL": "1"})  # fmt: skip
    shown = ""
    try:
        with deadline(600, "受講記録サービスに接続できないときの研修パネル"):
            exchange.mkdir()
            exchange.chmod(0o1777)
            release_for_trial(course_root, exchange, python, "B00")
            hub.start()
            expect.set_options(timeout=90_000)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                try:
                    page = log_in(browser, hub, staff.staff_id, hub.shared_password)
                    panel = page.locator(PANEL)
                    b00 = panel.locator('li[data-module="B00"]')
                    expect(panel.locator(".sano-kenshu-notice")).to_contain_text("受講記録")
                    expect(b00.locator(".sano-kenshu-state")).to_have_text("未受取")
                    expect(b00.get_by_role("button", name="B00を受け取る")).to_be_visible()
                    shown = panel.inner_text()
                    page.screenshot(path=str(shots / "without_records.png"))
                finally:
                    browser.close()
    finally:
        leftovers = hub.stop()
        keep_logs(hub, shots)
    assert english_words(shown) == [], (english_words(shown), shown)
    assert leftovers == [], leftovers


def grade_reflection(browser: Any, hub: hubctl.Hub, student: str) -> dict[str, Any]:
    """The instructor logs in, opens B00's submission of ``student`` in the formgrader's grading page and types full
    marks into the written reflection's score box (the page saves it through the formgrader's API); returns the
    reflection's grade as the formgrader's API then reports it."""
    from playwright.sync_api import expect

    page = log_in(browser, hub, "instructor", hub.admin_password)
    api = f"{hub.url}/user/instructor/formgrader/api"
    try:
        submissions = page.request.get(f"{api}/student_notebook_submissions/{student}/b00").json()
        assert [s["name"] for s in submissions] == ["b00"], submissions
        notebook_id = submissions[0]["id"]

        def reflection() -> dict[str, Any]:
            grades = page.request.get(f"{api}/grades", params={"submission_id": notebook_id}).json()
            written = [g for g in grades if g["cell_type"] == "markdown"]  # B00 has one written answer
            assert len(written) == 1, grades
            return dict(written[0])

        before = reflection()
        assert before["needs_manual_grade"] and before["manual_score"] is None, before
        page.goto(f"{hub.url}/user/instructor/formgrader/submissions/{notebook_id}/")
        score = page.locator(f'input.score[id="{before["name"]}"]')
        expect(score).to_be_visible()
        score.fill(f"{before['max_score']:g}")
        page.keyboard.press("Tab")  # the formgrader saves a score when the box loses focus
        after = wait_for(lambda: (g := reflection())["manual_score"] is not None and g, 60, "振り返りの得点の保存")
        page.screenshot(path=str(SHOTS / "formgrader_reflection.png"))
    finally:
        page.context.close()
    assert after["manual_score"] == before["max_score"] and not after["needs_manual_grade"], after
    return after


def publish_screens(shots: Path, target: Path, names: tuple[str, ...], width: int = 1200) -> None:
    """The screenshots the documentation shows, at most ``width`` pixels wide, as small palette PNGs."""
    from PIL import Image

    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        with Image.open(shots / f"{name}.png") as image:
            shot = image.convert("RGB")
        if shot.width > width:
            shot = shot.resize((width, round(shot.height * width / shot.width)), Image.Resampling.LANCZOS)
        shot.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target / f"{name}.png", optimize=True)


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
    return f"{wareki(date(int(year), int(month), int(day)))} {hour}:{minute}"
