"""The kenshu service on a real JupyterHub with real OS users (LocalProcessSpawner, useradd accounts): the hub starts
it as the OS user who owns the course, staff reach it through the hub's OAuth, and one member of staff cannot get
another's records or certificate by any address or token of their own. The verification page, without login, shows
the result and nothing else of the person. Three 推進員 hand in their 部's 進捗報告 from code running in their own
JupyterLab (a kernel of their server, as a notebook cell runs it): the report goes to the service with the server's
token, the malformed one is refused in Japanese and not recorded, and the task force's report sees the other two.

Marked ``hub``; runs as root (it creates and removes its OS users). Screenshots stay in
runtime/test-artifacts/staff_portal_hub/ for a person to look at.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import sqlite3
import tempfile
from datetime import date, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import requests

from course.completion import StaffCompletion, TrackStatus
from course.config import Course
from course.curriculum import load_curriculum
from course.models import Staff
from course.records import completion_records
from course.taskforce import report
from tests import synthetic
from tests.conftest import REPO
from tests.hub_support import CHROMIUM, CHROMIUM_ARGS, HubClient, Kernel, Timings, deadline, hubctl, system_venv
from tests.test_hub_e2e import _as_user, _exists, _useradd, _userdel, keep_logs

pytestmark = pytest.mark.hub

INSTRUCTOR = "sdx-kenshu-inst"  # owns the course folder and the gradebook (must not exist on the machine)
SERVICE = "/services/kenshu/"


def _two_people(completions: list[StaffCompletion]) -> tuple[StaffCompletion, StaffCompletion]:
    """B completed their grade's track (a certificate to steal); A did not complete that track."""
    b = next(c for c in completions if c.grade_track.status is TrackStatus.COMPLETE)
    a = next(
        c
        for c in completions
        if c.staff.staff_id != b.staff.staff_id
        and all(t.status is not TrackStatus.COMPLETE for t in c.tracks if t.track_key == b.grade_track.track_key)
    )
    return a, b


def _three_promoters(completions: list[StaffCompletion], others: set[str]) -> list[Staff]:
    """Three 推進員 of three different 部 (not among ``others``)."""
    found: dict[str, Staff] = {}
    for c in completions:
        if c.staff.promoter and c.staff.staff_id not in others:
            found.setdefault(c.staff.department, c.staff)
    assert len(found) >= 3, found
    return list(found.values())[:3]


def _hand_in_cell(person: Staff, today: date, *, malformed: bool) -> str:
    """A notebook cell as a 推進員 writes it (P05): fill in the template, save it, hand it in. The malformed report
    is saved without the template's check, as when the CSV was edited by hand."""
    row = {
        "報告日": today.isoformat(), "部": person.department, "課": person.section, "職員番号": person.staff_id,
        "取組名": f"{person.section}の申請受付のフォーム化", "ステップ": 3, "進捗率": 150 if malformed else 40,
        "現状時間": 120, "見込時間": 70, "削減時間": 50, "内容": "試行した", "課題": "なし", "次の予定": "本格実施",
        "業務": "申請受付", "手法": "Excel", "状況": "実施中", "削減時間実績": 12.5, "他課への展開": "はい",
        "事例番号": None,
    }  # fmt: skip
    save = (
        "frame.to_csv(path, index=False, encoding='utf-8-sig')" if malformed else "department_report.save(frame, path)"
    )
    return (
        "import pandas as pd\n"
        "from course import department_report, reports\n"
        f"frame = pd.DataFrame([{row!r}], columns=department_report.COLUMN_NAMES)\n"
        "path = '進捗報告.csv'\n"
        f"{save}\n"
        "receipt = reports.hand_in(path)\n"
    )


def _service_uid(course_root: Path) -> int:
    """The OS user the hub runs the service as (found by its command line and its COURSE_ROOT)."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"course.staff_portal" in cmdline and f"COURSE_ROOT={course_root}".encode() in environ:
            return proc.stat().st_uid
    raise AssertionError("the kenshu service is not running")


def test_staff_reach_only_their_own_records_and_anyone_can_verify(tmp_path: Path):
    assert os.geteuid() == 0, "OS ユーザーを作るため root で実行してください（CI は root で make test を実行します）"
    from playwright.sync_api import expect, sync_playwright

    timings = Timings()
    with timings.step("Debian python の venv"):
        python = system_venv()
    base = Path(tempfile.mkdtemp(prefix="sano-kenshu-", dir="/tmp"))
    base.chmod(0o755)
    shots = REPO / "runtime" / "test-artifacts" / "staff_portal_hub"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    hub: hubctl.Hub | None = None
    users: list[str] = []
    seen: dict[str, object] = {}
    try:
        with deadline(900, "受講記録サービスの実ユーザーテスト"):
            course_root = hubctl.copy_course(base / "home" / INSTRUCTOR / "course")
            course = Course.load(course_root)
            curriculum = load_curriculum(course_root / "settings" / "curriculum.toml")
            synthetic.make_cohort(course=course, curriculum=curriculum, staff_count=30, today=date(2026, 11, 27),
                                  seed=5, share=0.95)  # fmt: skip
            completions = completion_records(course=course, curriculum=curriculum)
            a, b = _two_people(completions)
            promoters = _three_promoters(completions, {a.staff.staff_id, b.staff.staff_id})
            users = [INSTRUCTOR, a.staff.staff_id, b.staff.staff_id, *(p.staff_id for p in promoters)]
            for name in users:
                _useradd(name, base / "home" / name)
            inst = pwd.getpwnam(INSTRUCTOR)
            for path in [course_root, *course_root.rglob("*")]:
                os.chown(path, inst.pw_uid, inst.pw_gid)
            course_root.chmod(0o700)
            hub = hubctl.Hub(state=base / "state", course_root=course_root, exchange=base / "exchange", python=python,
                             mode="local", auth="dummy", instructors=[INSTRUCTOR], staff=users[1:])  # fmt: skip
            hubctl.point_certificates_at(course_root, hub.url)
            with timings.step("ハブの起動"):
                hub.start()
            client = HubClient(hub)
            assert _service_uid(course_root) == inst.pw_uid  # the course's rights, not root's, not the staff's

            def token_of(user: str) -> str:
                response = client.session.post(f"{hub.url}/hub/api/users/{user}/tokens", json={"note": "test"},
                                               timeout=30)  # fmt: skip
                assert response.status_code == 201, response.text
                return str(response.json()["token"])

            def get(path: str, token: str | None, **kw: object) -> requests.Response:
                headers = {"Authorization": f"token {token}"} if token else {}
                return requests.get(f"{hub.url}{path}", headers=headers, allow_redirects=False, timeout=60, **kw)

            token_a, token_b = token_of(a.staff.staff_id), token_of(b.staff.staff_id)
            b_track = b.grade_track.track_key
            with timings.step("本人の記録と修了証"):
                mine = get(f"{SERVICE}api/me", token_a)
                assert mine.status_code == 200, mine.text[:500]
                assert mine.json()["staff"]["staff_id"] == a.staff.staff_id
                b00 = next(m for t in mine.json()["tracks"] for m in t["modules"] if m["id"] == "B00")
                assert b00["minutes"] == curriculum.modules["B00"].stated_minutes(course.source_dir) is not None
                b_own = get(f"{SERVICE}certificates/{b_track}.pdf", token_b)
                assert b_own.status_code == 200 and b_own.headers["Content-Type"] == "application/pdf"
                document = pdfium.PdfDocument(b_own.content)
                b_text = document[0].get_textpage().get_text_range()
                document.close()
                assert f"{b.staff.name}　殿" in b_text
                code = next(line for line in b_text.splitlines() if line.startswith("検証コード: ")).split(": ")[1]
            key = course_root / "secrets" / "certificate.key"
            assert key.stat().st_uid == inst.pw_uid and (key.stat().st_mode & 0o077) == 0

            with timings.step("A の鍵で B の記録を試す"):
                b_id, b_name = b.staff.staff_id, b.staff.name
                tries = {
                    "query": get(f"{SERVICE}api/me", token_a, params={"staff_id": b_id, "user": b_id}),
                    "page_query": get(SERVICE, token_a, params={"staff_id": b_id}),
                    "path": get(f"{SERVICE}api/me/{b_id}", token_a),
                    "users_path": get(f"{SERVICE}api/users/{b_id}", token_a),
                    "certificate": get(f"{SERVICE}certificates/{b_track}.pdf", token_a),
                    "certificate_query": get(f"{SERVICE}certificates/{b_track}.pdf", token_a, params={"user": b_id}),
                    "certificate_path": get(f"{SERVICE}certificates/{b_id}/{b_track}.pdf", token_a),
                    "hub_user": get(f"/hub/api/users/{b_id}", token_a),
                    "hub_tokens": get(f"/hub/api/users/{b_id}/tokens", token_a),
                    "b_server": get(f"/user/{b_id}/api/contents", token_a),
                }
                seen["a_tries"] = {name: r.status_code for name, r in tries.items()}
                for name, response in tries.items():
                    assert b_name not in response.text, name
                    assert response.content[:4] != b"%PDF", name
                assert tries["query"].json()["staff"]["staff_id"] == a.staff.staff_id
                assert tries["certificate"].status_code == 404
                assert tries["hub_user"].status_code in (403, 404) and tries["hub_tokens"].status_code in (403, 404)
                assert tries["b_server"].status_code in (302, 403, 404)
            probe = (
                "import json\n"
                "def can(path):\n"
                "    try:\n        open(path, 'rb').read(1); return True\n    except PermissionError:\n        return False\n"
                f"print(json.dumps({{'gradebook': can({str(course.gradebook_file)!r}), 'key': can({str(key)!r})}}))\n"
            )
            assert _as_user(a.staff.staff_id, python, probe) == {"gradebook": False, "key": False}

            with timings.step("確認ページ（ログインなし）"):
                answer = get(f"{SERVICE}api/verify", None, params={"code": code}).json()
                assert set(answer) == {"valid", "name", "track", "completed_on", "number"} and answer["valid"]
                assert answer["name"] == b_name
                page = get(f"{SERVICE}verify", None, params={"code": code})
                assert page.status_code == 200 and "確認の結果：有効" in page.text and b_name in page.text
                for private in (b_id, b.staff.department, b.staff.section, b.staff.position):
                    assert private not in page.text, private

            today = datetime.now(course.timezone).date()
            with timings.step("推進員3人が JupyterLab から進捗報告を出す"):
                shown = {}
                for number, person in enumerate(promoters):
                    client.spawn(person.staff_id)
                    base = f"{hub.url}/user/{person.staff_id}"
                    kernel = Kernel(base, hub.token, client.server(person.staff_id), "hokoku.ipynb")
                    try:
                        reply, outputs = kernel.execute(_hand_in_cell(person, today, malformed=number == 2))
                    finally:
                        kernel.close()
                    assert reply["status"] == "ok", outputs
                    shown[person.staff_id] = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
                seen["hand_in"] = shown
                good, bad = promoters[:2], promoters[2]
                for person in good:
                    text = shown[person.staff_id]
                    assert (
                        f"{person.department}の進捗報告（1 件の取組" in text and "を受け付けました（受付番号 " in text
                    )
                    assert "新しい横展開事例: C00" in text
                assert "進捗報告 進捗報告.csv を受け付けられませんでした（記録していません）" in shown[bad.staff_id]
                assert "2行目「進捗率」" in shown[bad.staff_id]  # the file's row as Excel numbers it
                assert course.gradebook_file is not None
                with sqlite3.connect(course.gradebook_file) as db:
                    stored = db.execute("SELECT staff_id, department, file FROM course_reports ORDER BY id").fetchall()
                assert stored == [(p.staff_id, p.department, "進捗報告.csv") for p in good]
                loop = report.loop_view(course=course, today=today)
                status = {d.department: d for d in loop.departments}
                assert [status[p.department].last_received for p in promoters] == [today, today, None]
                hours = {h.label: (h.estimated, h.measured) for h in loop.by_department if h.initiatives}
                assert hours == {p.department: (50.0, 12.5) for p in good}
                assert [c.section for c in loop.cases] == [p.section for p in good]

            with timings.step("Chromium: ログインして受講記録を開く"), sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                try:
                    view = browser.new_page(locale="ja-JP", viewport={"width": 1200, "height": 900})
                    view.goto(f"{hub.url}/hub/login?next={SERVICE}")
                    view.fill("#username_input", a.staff.staff_id)
                    view.fill("#password_input", "any")  # the dummy authenticator of the test hub
                    view.click("#login_submit")
                    view.wait_for_url(f"**{SERVICE}", timeout=60_000)
                    expect(view.locator("h1")).to_have_text("わたしの受講記録")
                    expect(view.locator("main")).to_contain_text(a.staff.name)
                    view.screenshot(path=str(shots / "records_through_hub.png"), full_page=True)
                    # A script on another page of the same origin (the hub's home: the service's own pages allow
                    # no script to connect anywhere) sends the service's cookie but no XSRF token: HubOAuth does not
                    # take the cookie for such a POST, so it cannot hand in a report as the logged-in person.
                    view.goto(f"{hub.url}/hub/home")
                    forged = view.evaluate(
                        "async (url) => { const form = new FormData();"
                        " form.append('file', new Blob(['x'], {type: 'text/csv'}), 'r.csv');"
                        " const r = await fetch(url, {method: 'POST', body: form}); return [r.status, await r.text()]; }",
                        f"{SERVICE}api/reports",
                    )
                    assert forged[0] == 403 and "ログイン" in forged[1], forged
                    view.goto(f"{hub.url}{SERVICE}api/me?staff_id={b_id}")
                    body = json.loads(view.locator("body").inner_text())
                    assert body["staff"]["staff_id"] == a.staff.staff_id
                    view.goto(f"{hub.url}{SERVICE}verify?code={code}")
                    expect(view.locator("#result-heading")).to_have_text("確認の結果：有効")
                    view.screenshot(path=str(shots / "verify_through_hub.png"), full_page=True)
                finally:
                    browser.close()
    finally:
        leftovers = hub.stop() if hub is not None else []
        if hub is not None:
            keep_logs(hub, shots)
        for name in users:
            _userdel(name)
        shutil.rmtree(base, ignore_errors=True)
        print(json.dumps({**timings.values, **{k: str(v) for k, v in seen.items()}}, ensure_ascii=False, indent=1))
    assert leftovers == [], leftovers
    assert not any(_exists(name) for name in users)
