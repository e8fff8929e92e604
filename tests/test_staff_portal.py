"""The staff's own records, certificates and the verification page (course/staff_portal.py), served for real on a
loopback port from a real gradebook, without a hub: who is asking comes from a stand-in for the hub's OAuth
(``StandInHubAuth``, the application's one seam). The hub itself is exercised in tests/test_staff_portal_hub.py.

The Chromium checks (what a person sees, axe-core, the keyboard) are marked ``hub`` like the other browser tests.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pypdfium2 as pdfium
import pytest
import requests
from jupyterhub.services.auth import HubOAuth
from sqlalchemy import select
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from course import certificate, department_report, reports
from course.completion import StaffCompletion, TrackStatus
from course.config import Course
from course.curriculum import load_curriculum
from course.gradebook import certificates_table, open_gradebook
from course.models import Staff
from course.records import completion_records
from course.staff_portal import Portal, make_app
from course.wareki import wareki
from tests import synthetic
from tests.conftest import REPO
from tests.hub_support import wait_for

PREFIX = "/services/kenshu/"
ACCESS = "access:services!service=kenshu"
STRANGER = "900999"  # a hub user who is not on the course's roster (an instructor's account, say)


class StandInHubAuth(HubOAuth):
    """The hub's OAuth as the service sees it, except that the tokens are handed out by the test: a token (in the
    ``Authorization: token …`` header, or in the cookie a browser would carry) names a hub user and their scopes."""

    def __init__(self, tokens: Mapping[str, Mapping[str, Any]]) -> None:
        super().__init__(
            api_token="stand-in",
            api_url="http://127.0.0.1:9/hub/api/",
            hub_host="http://hub.invalid",
            hub_prefix="/hub/",
            base_url=PREFIX,
            oauth_client_id="service-kenshu",
            access_scopes={ACCESS},
        )
        self.tokens = dict(tokens)

    def get_user(self, handler: Any, *, sync: bool = True) -> dict[str, Any] | None:
        header = handler.request.headers.get("Authorization", "")
        token = header.removeprefix("token ").strip() or handler.get_cookie("stand-in-token", "")
        model = self.tokens.get(token)
        return None if model is None else {"kind": "user", "scopes": [ACCESS], **model}


@contextmanager
def serving(portal: Portal, auth: StandInHubAuth) -> Iterator[str]:
    """The service's application on a free loopback port, in a thread of its own; yields its base address."""
    started = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        sockets = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(make_app(portal=portal, hub_auth=auth))
        server.add_sockets(sockets)
        state.update(loop=loop, port=sockets[0].getsockname()[1])
        started.set()
        loop.run_forever()
        server.stop()
        loop.run_until_complete(server.close_all_connections())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(30), "the service did not start"
    try:
        yield f"http://127.0.0.1:{state['port']}"
    finally:
        state["loop"].call_soon_threadsafe(state["loop"].stop)
        thread.join(30)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Course, list[StaffCompletion]]:
    """A synthetic gradebook (real nbgrader tables) of 40 fictional staff, some of whom completed their tracks."""
    course = synthetic.course_folder(tmp_path_factory.mktemp("portal") / "course")
    curriculum = load_curriculum(course.root / "settings" / "curriculum.toml")
    synthetic.make_cohort(
        course=course, curriculum=curriculum, staff_count=40, today=date(2026, 11, 27), seed=3, share=0.95
    )
    return course, completion_records(course=course, curriculum=curriculum)


def _pick(completions: list[StaffCompletion], *, complete: bool, promoter: bool | None = None) -> StaffCompletion:
    return next(
        c
        for c in completions
        if (c.grade_track.status is TrackStatus.COMPLETE) == complete
        and (promoter is None or c.staff.promoter == promoter)
    )


@pytest.fixture(scope="module")
def people(cohort) -> dict[str, StaffCompletion]:
    _, completions = cohort
    busy = _pick(completions, complete=False, promoter=True)
    return {
        "done": _pick(completions, complete=True, promoter=False),  # completed their grade's track: a certificate
        "busy": busy,  # not finished; a 推進員 with two tracks
        "lead": next(c for c in completions if c.staff.promoter and c.staff.department != busy.staff.department),
    }


@pytest.fixture(scope="module")
def service(cohort, people, tmp_path_factory) -> Iterator[str]:
    course, _ = cohort
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(certificate.KEY_ENV, str(tmp_path_factory.mktemp("secrets") / "certificate.key"))
        tokens = {f"token-{key}": {"name": p.staff.staff_id} for key, p in people.items()}
        tokens["token-stranger"] = {"name": STRANGER}
        tokens["token-service"] = {"name": "sano-dx-driver", "kind": "service"}
        with serving(Portal(course=course, prefix=PREFIX), StandInHubAuth(tokens)) as url:
            yield url


def _get(service: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.get(f"{service}{PREFIX}{path}", headers=headers, allow_redirects=False, timeout=60, **kwargs)


def _when(value: Any) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


# --- own records -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["done", "busy"])
def test_api_me_gives_the_persons_own_records_as_completion_records_has_them(service, people, cohort, who):
    """Every field of every track and module equals course.records.completion_records for that person, in the
    curriculum's order (required, then electives)."""
    course, completions = cohort
    curriculum = load_curriculum(course.root / "settings" / "curriculum.toml")
    expected = next(c for c in completions if c.staff.staff_id == people[who].staff.staff_id)
    response = _get(service, "api/me", f"token-{who}")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00", body["as_of"])
    staff: Staff = expected.staff
    assert body["staff"] == {
        "staff_id": staff.staff_id, "name": staff.name, "department": staff.department, "section": staff.section,
        "position": staff.position, "grade": staff.grade, "promoter": staff.promoter,
    }  # fmt: skip
    assert [t["key"] for t in body["tracks"]] == [t.track_key for t in expected.tracks]
    for track, record in zip(body["tracks"], expected.tracks, strict=True):
        definition = curriculum.tracks[record.track_key]
        assert (track["name"], track["status"]) == (definition.name, record.status.value)
        assert (track["required_passed"], track["required_total"]) == (record.required_passed, record.required_total)
        assert (track["electives_passed"], track["electives_needed"]) == (
            record.electives_passed,
            record.electives_needed,
        )
        assert track["completed_at"] == _when(record.completed_at)
        assert track["overdue"] is record.overdue
        complete = record.status is TrackStatus.COMPLETE
        assert track["certificate_url"] == (f"{PREFIX}certificates/{record.track_key}.pdf" if complete else None)
        assert [m["id"] for m in track["modules"]] == [*definition.required, *definition.electives]
        for module in track["modules"]:
            mine = expected.modules[module["id"]]
            assert module["required"] == (module["id"] in definition.required)
            assert module["status"] == mine.status.value
            assert module["score_ratio"] == mine.score_ratio
            assert module["submitted_at"] == _when(mine.submitted_at)
            assert module["completed_at"] == _when(mine.completed_at)
            assert module["pass_ratio"] == curriculum.modules[module["id"]].pass_ratio
            assert module["title"] == curriculum.modules[module["id"]].title
            assert module["assignment"] == module["id"].lower()
            due = dict(record.pending).get(module["id"])  # the year's plan, for a module still to do
            assert module["deadline"] == (due.isoformat() if due else None)
            assert module["minutes"] is None  # the synthetic notebooks state none


def test_the_records_page_gives_each_remaining_module_its_deadline_how_to_start_and_whom_to_ask(
    service, people, cohort
):
    """An unfinished person's page: the 期限 of each required module still to do (the year's plan, in 和暦), how to
    start one, the 必修・選択 column, and both contacts of settings/curriculum.toml (about records, about learning)."""
    course, _ = cohort
    busy = people["busy"]
    page = _get(service, "", "token-busy")
    assert page.status_code == 200
    text = _visible(page.text)
    rows = {m[0]: m[1] for m in re.findall(r"<tr>\s*<th scope=\"row\">(\w+) .*?</th>(.*?)</tr>", page.text, re.S)}
    due = {module: day for track in busy.tracks for module, day in track.pending}
    assert any(due.values()), due  # the fixture's plan gives deadlines: otherwise this test checks nothing
    for module, day in due.items():
        cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[module], re.S)
        assert cells[2] == (wareki(day) if day else "—"), (module, cells)  # 必修・選択, 状況, 期限, …
    assert '<th scope="col">必修・選択</th>' in page.text and ">区分<" not in page.text
    assert "残っているモジュールは、研修パネルの「受け取る」から始めます。" in text
    contacts = tomllib.loads((course.root / "settings" / "curriculum.toml").read_text(encoding="utf-8"))["course"]
    assert contacts["contacts"]["records"] in text and contacts["contacts"]["learning"] in text


def test_someone_not_on_the_roster_is_told_in_japanese_whom_to_ask(service):
    response = _get(service, "api/me", "token-stranger")
    assert response.status_code == 404
    assert set(response.json()) == {"message"}
    assert STRANGER in response.json()["message"] and "人事課" in response.json()["message"]
    page = _get(service, "", "token-stranger")
    assert page.status_code == 404 and "名簿にありません" in page.text


def test_without_a_login_the_hub_is_asked_who_it_is(service):
    """No token: a redirect to the hub's OAuth (the browser comes back logged in), never somebody's record."""
    for path in ("", "api/me", "certificates/ippan.pdf"):
        response = _get(service, path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("http://hub.invalid/hub/api/oauth2/authorize?"), path


def test_a_service_token_is_nobodys_record(service):
    assert _get(service, "api/me", "token-service").status_code == 403


def test_no_address_or_parameter_gives_another_persons_record(service, people):
    """A's token with B's 職員番号 in the path or the query: A's own record or 404, never B's."""
    me, other = people["busy"].staff.staff_id, people["done"].staff.staff_id
    for path, params in [
        ("api/me", {"staff_id": other}),
        ("api/me", {"user": other, "name": other}),
        ("", {"staff_id": other}),
    ]:
        response = _get(service, path, "token-busy", params=params)
        assert response.status_code == 200
        assert other not in response.text and people["done"].staff.name not in response.text
        assert me in response.text and people["busy"].staff.name in response.text
    for path in (f"api/me/{other}", f"api/users/{other}", f"{other}", f"certificates/{other}_ippan.pdf",
                 f"certificates/{other}/ippan.pdf", f"api/me?staff_id={other}/../{other}"):  # fmt: skip
        response = _get(service, path, "token-busy")
        assert response.status_code in (200, 404), path
        assert people["done"].staff.name not in response.text, path


# --- reports handed in -----------------------------------------------------------------------------------------------
def _report(folder: Path, person: Staff, name: str, **values: object) -> Path:
    """A one-row 進捗報告 of ``person``'s 課 as the template saves it, or as a CSV written by hand when it is not
    valid."""
    row = {
        "報告日": date.today().isoformat(), "部": person.department, "課": person.section,
        "職員番号": person.staff_id, "取組名": "窓口予約のフォーム化", "ステップ": 3, "進捗率": 50, "現状時間": 100,
        "見込時間": 60, "削減時間": 40, "内容": "試行した", "課題": "なし", "次の予定": "本格実施", "業務": "窓口受付",
        "手法": "Excel", "状況": "実施中", "削減時間実績": None, "他課への展開": "はい", "事例番号": None,
    } | values  # fmt: skip
    frame = pd.DataFrame([row], columns=department_report.COLUMN_NAMES)
    if department_report.check(frame):
        frame.to_csv(folder / name, index=False, encoding="utf-8-sig")
        return folder / name
    return department_report.save(frame, folder / name)


def _post_report(service: str, token: str | None, path: Path, **fields: str) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    with path.open("rb") as file:
        return requests.post(f"{service}{PREFIX}api/reports", headers=headers, files={"file": (path.name, file)},
                             data=fields, params=fields, allow_redirects=False, timeout=60)  # fmt: skip


def _stored_reports(course: Course) -> list[tuple[str, str, str]]:
    """(職員番号 of the report, 職員番号 in its rows, file) of every stored report, in plain SQL."""
    assert course.gradebook_file is not None
    with sqlite3.connect(course.gradebook_file) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'course_reports'").fetchone():
            return []
        return db.execute(
            "SELECT r.staff_id, w.staff_id, r.file FROM course_reports r JOIN course_report_rows w ON w.report_id = r.id"
            " ORDER BY r.id, w.row"
        ).fetchall()


def test_a_promoter_hands_in_a_report_and_gets_a_receipt(service, people, cohort, tmp_path):
    course, _ = cohort
    busy = people["busy"].staff
    before = _stored_reports(course)
    response = _post_report(service, "token-busy", _report(tmp_path, busy, "進捗報告_窓口.csv"))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    receipt = reports.Receipt.from_json(response.json())
    assert (receipt.staff_id, receipt.department, receipt.section, receipt.rows) == (
        busy.staff_id,
        busy.department,
        busy.section,
        1,
    )
    assert len(receipt.new_cases) == 1 and receipt.new_cases[0].startswith("C")
    body = response.json()
    assert body["message"] == receipt.message and f"受付番号 {receipt.report_id}" in body["message"]
    assert "受け付けました" in body["message"] and receipt.new_cases[0] in body["message"]
    assert _stored_reports(course) == [*before, (busy.staff_id, busy.staff_id, "進捗報告_窓口.csv")]


def test_a_refused_report_says_why_in_japanese_and_stores_nothing(service, people, cohort, tmp_path):
    course, _ = cohort
    busy = people["busy"].staff
    before = _stored_reports(course)
    bad = _report(tmp_path, busy, "bad.csv", 進捗率=150, 課="存在しない課")
    response = _post_report(service, "token-busy", bad)
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any("2行目" in p and "「進捗率」" in p for p in problems), problems  # as Excel numbers the file
    assert "bad.csv" in response.json()["message"] and "記録していません" in response.json()["message"]
    unreadable = tmp_path / "report.pdf"
    unreadable.write_bytes(b"%PDF-1.4")
    assert _post_report(service, "token-busy", unreadable).status_code == 422
    missing = requests.post(f"{service}{PREFIX}api/reports", headers={"Authorization": "token token-busy"},
                            files={"other": ("a.csv", b"x")}, timeout=60)  # fmt: skip
    assert missing.status_code == 422 and "file" in missing.json()["problems"][0]
    assert _stored_reports(course) == before


def test_a_service_token_or_no_login_cannot_hand_in(service, people, cohort, tmp_path):
    course, _ = cohort
    before = _stored_reports(course)
    path = _report(tmp_path, people["busy"].staff, "r.csv")
    for token in ("token-service", None, "token-unknown"):
        response = _post_report(service, token, path, staff_id=people["busy"].staff.staff_id)
        assert response.status_code == 403, (token, response.text)
        assert "ログイン" in response.json()["message"]
    assert _stored_reports(course) == before


def test_the_sender_is_the_logged_in_user_whatever_the_request_says(service, people, cohort, tmp_path):
    """Fields and parameters naming another 推進員 change nothing: the report is the token's user's, or refused."""
    course, _ = cohort
    busy, lead, done = (people[k].staff for k in ("busy", "lead", "done"))
    before = _stored_reports(course)
    # Not a 推進員, claiming to be one: refused as themself, nothing stored.
    response = _post_report(service, "token-done", _report(tmp_path, lead, "as_lead.csv"),
                            staff_id=lead.staff_id, user=lead.staff_id, sender=lead.staff_id)  # fmt: skip
    assert response.status_code == 422
    assert any(done.staff_id in p and "推進員" in p for p in response.json()["problems"])
    # A 推進員 sending another 部's report signed as its 推進員: refused (the 部 and the 職員番号 are not theirs).
    response = _post_report(service, "token-busy", _report(tmp_path, lead, "lead.csv"), staff_id=lead.staff_id)
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert any("「部」" in p for p in problems) and any("「職員番号」" in p for p in problems)
    assert _stored_reports(course) == before
    # Their own report with another's id in the request: stored as theirs.
    response = _post_report(service, "token-busy", _report(tmp_path, busy, "own.csv", 取組名="公用車予約"),
                            staff_id=lead.staff_id)  # fmt: skip
    assert response.status_code == 200 and response.json()["staff_id"] == busy.staff_id
    assert _stored_reports(course) == [*before, (busy.staff_id, busy.staff_id, "own.csv")]


def test_hand_in_in_a_server_posts_to_the_service_and_prints_its_answer(service, people, cohort, tmp_path, monkeypatch,
                                                                       capsys):  # fmt: skip
    """reports.hand_in as a notebook in a hub's server runs it: the file goes to the service with the server's token
    (the course folder is never opened), and the receipt or every problem is printed in Japanese."""
    course, _ = cohort
    busy = people["busy"].staff
    monkeypatch.setenv(reports.SERVICE_URL_ENV, f"{service}{PREFIX}")
    monkeypatch.setenv(reports.TOKEN_ENV, "token-busy")
    monkeypatch.setattr(Course, "load", lambda *_, **__: pytest.fail("hand_in opened the course folder"))
    before = _stored_reports(course)
    receipt = reports.hand_in(_report(tmp_path, busy, "進捗報告.csv", 取組名="文書の電子決裁"))
    assert receipt is not None and (receipt.staff_id, receipt.rows) == (busy.staff_id, 1)
    assert capsys.readouterr().out.strip() == receipt.message
    assert reports.hand_in(_report(tmp_path, busy, "bad.csv", 進捗率=150)) is None
    out = capsys.readouterr().out
    assert "進捗報告 bad.csv を受け付けられませんでした（記録していません）" in out and "2行目「進捗率」" in out
    assert reports.hand_in(tmp_path / "ない.csv") is None
    assert "ファイル" in (out := capsys.readouterr().out) and "ない.csv が見つかりません" in out
    monkeypatch.setenv("JUPYTERHUB_USER", busy.staff_id)
    assert reports.hand_in(_report(tmp_path, busy, "r.csv"), staff_id=people["lead"].staff.staff_id) is None
    assert f"ログイン中の職員番号（{busy.staff_id}）の報告として出します" in capsys.readouterr().out
    monkeypatch.setenv(reports.TOKEN_ENV, "token-service")
    assert reports.hand_in(_report(tmp_path, busy, "r.csv")) is None
    assert "報告は出せていません。報告を出すには、研修の JupyterHub にログインした" in capsys.readouterr().out
    monkeypatch.setenv(reports.SERVICE_URL_ENV, "http://127.0.0.1:9/services/kenshu/")  # nothing listens there
    assert reports.hand_in(_report(tmp_path, busy, "r.csv")) is None
    assert "研修のサービスに接続できなかったため、報告は出せていません" in capsys.readouterr().out
    assert _stored_reports(course) == [*before, (busy.staff_id, busy.staff_id, "進捗報告.csv")]


# --- certificates ----------------------------------------------------------------------------------------------------
def test_a_completed_track_gives_the_persons_own_certificate_issued_on_first_download(service, people, cohort):
    course, _ = cohort
    done = people["done"]
    track = done.grade_track.track_key

    def issued_rows() -> list[Any]:
        with open_gradebook(course) as gb:
            return gb.db.execute(
                select(certificates_table).where(certificates_table.c.staff_id == done.staff.staff_id)
            ).all()

    assert issued_rows() == []
    first = _get(service, f"certificates/{track}.pdf", "token-done")
    assert first.status_code == 200, first.text[:300]
    assert first.headers["Content-Type"] == "application/pdf"
    assert first.headers["Cache-Control"] == "no-store"
    rows = issued_rows()
    assert [(r.track_key, r.completed_on) for r in rows] == [
        (track, done.grade_track.completed_at.astimezone(course.timezone).date())
    ]
    document = pdfium.PdfDocument(first.content)
    text = document[0].get_textpage().get_text_range()
    document.close()
    assert f"{done.staff.name}　殿" in text and f"第{rows[0].number}号" in text and rows[0].code in text
    again = _get(service, f"certificates/{track}.pdf", "token-done")
    assert again.status_code == 200 and issued_rows() == rows  # the same certificate, not a second one


def test_no_certificate_for_a_track_not_completed_or_not_ones_own(service, people):
    busy = people["busy"]
    for track in [*(t.track_key for t in busy.tracks), "kacho", "nosuchtrack"]:
        response = _get(service, f"certificates/{track}.pdf", "token-busy")
        assert response.status_code == 404, track
        assert response.headers["Content-Type"].startswith("text/html")
        assert "修了証はまだありません" in response.text


# --- verification ----------------------------------------------------------------------------------------------------
def _issued_code(service: str, people, cohort) -> tuple[str, Any]:
    done = people["done"]
    assert _get(service, f"certificates/{done.grade_track.track_key}.pdf", "token-done").status_code == 200
    course, _ = cohort
    with open_gradebook(course) as gb:
        row = gb.db.execute(
            select(certificates_table).where(certificates_table.c.staff_id == done.staff.staff_id)
        ).one()
    return row.code, row


def test_a_valid_code_shows_issuer_name_course_and_date_only(service, people, cohort):
    code, row = _issued_code(service, people, cohort)
    staff = people["done"].staff
    course, _ = cohort
    issuer = tomllib.loads((course.root / "settings" / "certificate.toml").read_text(encoding="utf-8"))["issuer"]
    answer = requests.get(f"{service}{PREFIX}api/verify", params={"code": code}, timeout=60).json()
    assert answer == {
        "valid": True,
        "name": staff.name,
        "track": f"デジタル人材育成研修（{load_curriculum().tracks[row.track_key].name}）",
        "completed_on": row.completed_on.isoformat(),
        "number": row.number,
    }
    page = requests.get(f"{service}{PREFIX}verify", params={"code": code}, timeout=60)
    assert page.status_code == 200
    text = _visible(page.text)
    assert "確認の結果：有効" in text and staff.name in text and wareki(row.completed_on) in text
    assert f"{issuer['title']}が発行した修了証です。" in text  # the city's issuer, not 「この市」
    for private in (staff.staff_id, staff.department, staff.section, staff.position, code):
        assert private not in page.text, private  # not even in the page's source (the code holds the 職員番号)
    assert page.headers["Cache-Control"] == "no-store"
    # Retyped by a person: full-width, lower case, spaces, 0 for O and 1 for I in the signature.
    staff_part, track, day, mac = code.split("-")
    retyped = f" {staff_part.translate(str.maketrans('0123456789', '０１２３４５６７８９'))} - {track.upper()}-{day}-{mac.lower()}"
    retyped = retyped.replace("o", "0").replace("i", "1")
    assert requests.get(f"{service}{PREFIX}api/verify", params={"code": retyped}, timeout=60).json()["valid"]


def test_an_invalid_code_says_invalid_and_nothing_more(service, people, cohort):
    code, _ = _issued_code(service, people, cohort)
    other = people["busy"].staff.staff_id
    for forged in (code.replace(code.split("-")[0], other), code[:-1] + ("A" if code[-1] != "A" else "B"), "abc", ""):
        assert requests.get(f"{service}{PREFIX}api/verify", params={"code": forged}, timeout=60).json() == {
            "valid": False
        }
    page = requests.get(f"{service}{PREFIX}verify", params={"code": "abc"}, timeout=60)
    assert "確認の結果：無効" in _visible(page.text) and "有効" not in _visible(page.text).replace("無効", "")
    assert 'value="abc"' in page.text and "検証コード abc" in _visible(page.text)  # kept, to compare with the paper


def test_the_verification_form_needs_no_login(service):
    page = requests.get(f"{service}{PREFIX}verify", timeout=60)
    assert page.status_code == 200
    assert '<label for="code">検証コード</label>' in page.text and "確認の結果" not in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "script-src" not in page.headers["Content-Security-Policy"]  # no script at all: default-src 'none'


def _visible(html: str) -> str:
    body = re.sub(r"<style.*?</style>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


# --- in Chromium, with axe-core --------------------------------------------------------------------------------------
@pytest.mark.hub
def test_pages_in_chromium_read_in_japanese_pass_axe_and_the_form_works_by_keyboard(service, people, cohort):
    """The records page (a finished and an unfinished person) and the verification page as Chromium shows them:
    Japanese text, no serious or critical axe-core violation (WCAG 2.1 A/AA), and Tab → type → Enter gives 有効."""
    from playwright.sync_api import expect, sync_playwright

    from tests.feedback_support import AXE, AXE_RUN, WCAG_TAGS
    from tests.hub_support import CHROMIUM, CHROMIUM_ARGS

    assert Path(CHROMIUM).exists(), "chromium がありません: make chromium（root）で apt-get install chromium を行います"
    assert AXE.is_file(), "axe-core がありません: make proxy で deploy/ に npm ci を行います"
    shots = REPO / "runtime" / "test-artifacts" / "staff_portal"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    code, row = _issued_code(service, people, cohort)
    done, busy = people["done"].staff, people["busy"].staff
    violations: dict[str, list[dict[str, Any]]] = {}

    def check(page: Any, name: str) -> str:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        page.add_script_tag(path=str(AXE))
        violations[name] = page.evaluate(AXE_RUN, WCAG_TAGS)
        assert page.evaluate("() => document.documentElement.lang") == "ja"
        return str(page.inner_text("body"))

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for who, width in (("done", 1200), ("busy", 1200), ("busy", 360)):
                # bypass_csp: the pages allow no script, axe-core included; the test injects it anyway
                context = browser.new_context(locale="ja-JP", viewport={"width": width, "height": 900}, bypass_csp=True)
                context.add_cookies([{"name": "stand-in-token", "value": f"token-{who}", "url": service}])
                page = context.new_page()
                page.goto(f"{service}{PREFIX}")
                expect(page.locator("h1")).to_have_text("わたしの受講記録")
                text = check(page, f"records-{who}-{width}")
                person = people[who]
                assert f"{person.staff.name}さん" in text
                for track in person.tracks:
                    assert f"{load_curriculum().tracks[track.track_key].name}の研修：{track.status.value}" in text
                if who == "done":
                    link = page.get_by_role("link", name="修了証（PDF）を受け取る")
                    expect(link).to_have_count(1)
                    assert busy.name not in text
                else:
                    assert "修了までに残っている必修モジュール" in text and "修了証（PDF）" not in text
                    assert done.name not in text
                context.close()

            page = browser.new_page(locale="ja-JP", viewport={"width": 1200, "height": 900}, bypass_csp=True)
            page.goto(f"{service}{PREFIX}verify")
            text = check(page, "verify-form")
            assert "修了証の確認" in text and "検証コード" in text
            page.keyboard.press("Tab")  # the first stop on the page is the code field
            assert page.evaluate("() => document.activeElement.id") == "code"
            page.keyboard.type(code)
            page.keyboard.press("Enter")
            expect(page.locator("#result-heading")).to_have_text("確認の結果：有効")
            text = check(page, "verify-valid")
            course_name = f"デジタル人材育成研修（{load_curriculum().tracks[row.track_key].name}）"
            assert done.name in text and course_name in text and wareki(row.completed_on) in text
            for private in (done.staff_id, done.department, done.section, code):
                assert private not in page.content(), private
            page.keyboard.press("Tab")
            page.keyboard.type("abc-ippan-20261127-AAAAAAAAAAAAAAAA")
            page.keyboard.press("Enter")
            expect(page.locator("#result-heading")).to_have_text("確認の結果：無効")
            check(page, "verify-invalid")
        finally:
            browser.close()
    print(f"\nスクリーンショット: {shots}")
    for name, found in violations.items():
        serious = [v for v in found if v["impact"] in ("serious", "critical")]
        assert not serious, (name, serious)
        if found:
            print(name, "axe-core（軽微）:", found)


def test_the_service_runs_as_the_hub_starts_it_and_stops_cleanly(cohort, tmp_path: Path):
    """``python -m course.staff_portal`` with the hub's variables listens where JUPYTERHUB_SERVICE_URL says, under
    JUPYTERHUB_SERVICE_PREFIX, and a SIGINT (how the hub stops its services) ends it with no traceback, also when it
    was started with SIGINT ignored (as by a hub run with nohup)."""
    course, _ = cohort
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "COURSE_ROOT": str(course.root), "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}",
           "JUPYTERHUB_SERVICE_PREFIX": PREFIX, "JUPYTERHUB_API_TOKEN": "unused", "JUPYTERHUB_CLIENT_ID": "service-kenshu",
           certificate.KEY_ENV: str(tmp_path / "no-key-yet")}  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "course.staff_portal"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # fmt: skip
    try:
        page = wait_for(lambda: requests.get(f"http://127.0.0.1:{port}{PREFIX}verify", timeout=5), 120, "起動")
        assert page.status_code == 200 and "修了証の確認" in page.text
        answer = requests.get(f"http://127.0.0.1:{port}{PREFIX}api/verify", params={"code": "abc"}, timeout=30)
        assert answer.json() == {"valid": False}  # no key yet: nothing was ever issued
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()  # not left running into the next test
            output, _ = process.communicate()
            pytest.fail(f"SIGINT で停止しませんでした:\n{output}")
    assert process.returncode == 0, output
    assert "Traceback" not in output and "停止しました。" in output, output
