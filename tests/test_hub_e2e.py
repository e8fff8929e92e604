"""End to end on a real JupyterHub (deploy/jupyterhub_config.py), with nothing mocked.

JupyterHub + configurable-http-proxy on free loopback ports, the course's real module B00 released through the real
nbgrader exchange, a member of staff in Chromium (Japanese JupyterLab, 研修 panel, self-check widget), a second
one through the REST API and the kernel websocket, then the instructor's own commands (collect, autograde, export).
A second test runs with real OS users and checks what one member of staff can and cannot see of another's work.

Run only these: ``pytest -m hub``. On failure the screenshots and logs stay in the folder named in the message.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from openpyxl import load_workbook

from course import records
from course.config import Course
from course.curriculum import load_curriculum
from course.demo import DemoAnswers
from tests.conftest import REPO
from tests.hub_support import (
    CHROMIUM,
    HubClient,
    Timings,
    api_staff,
    browser_staff,
    deadline,
    hubctl,
    release_for_trial,
    system_venv,
)

pytestmark = pytest.mark.hub

ASSIGNMENT = "b00"
BROWSER_STAFF, API_STAFF, ABSENT_STAFF = "201000", "201037", "201074"  # fictional, from demo/roster.csv
EXERCISE_1 = '# 練習1の答え\n回答1a = "水"\n回答1b = 121'  # B00's first judgment item, typed as a person would
LOCAL_USERS = ("sdx-e2e-inst", "201111", "201148")  # instructor, two staff (must not exist on the machine)
USER_MARK = "sano-dx-hub-test"  # GECOS of the OS users this file creates, so teardown removes only those


def artifacts_dir(name: str) -> Path:
    folder = REPO / "runtime" / "test-artifacts" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def keep_logs(hub: hubctl.Hub, folder: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.copy2(hub.log_path, folder / "hub.log")


def gradebook_scores(course_root: Path) -> dict[str, tuple[float, float]]:
    gb = Gradebook(Course.load(course_root).db_url, "sano_dx")
    try:
        return {s.student_id: (s.code_score, s.max_code_score) for s in gb.assignment_submissions(ASSIGNMENT)}
    finally:
        gb.close()


def test_staff_submit_in_browser_and_api_then_instructor_grades(tmp_path: Path):
    """Browser staff + API staff submit B00 through the hub; the instructor's collect/autograde/export see both."""
    assert Path(CHROMIUM).exists(), (
        "chromium がありません: make test（root）が apt-get install chromium を行います（make chromium）"
    )
    timings = Timings()
    shots = artifacts_dir("hub_e2e")
    python = Path(sys.executable)
    course_root = hubctl.copy_course(tmp_path / "course")
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)
    hub = hubctl.Hub(state=tmp_path / "state", course_root=course_root, exchange=exchange, python=python,
                     mode="simple", auth="shared", instructors=["instructor"],
                     staff=[BROWSER_STAFF, API_STAFF, ABSENT_STAFF])  # fmt: skip
    ok = False
    try:
        with deadline(900, "ハブの通しテスト"):
            with timings.step("準備: 名簿の取り込みと B00 の公開"):
                kw = release_for_trial(course_root, exchange, python, "B00")
            with timings.step("ハブの起動"):
                hub.start()
            client = HubClient(hub)

            seen_browser = browser_staff(hub, BROWSER_STAFF, hub.shared_password, ASSIGNMENT,
                                         ("練習1の答え", EXERCISE_1), shots, timings)  # fmt: skip
            assert seen_browser["menus"][:5] == ["ファイル", "編集", "表示", "実行", "カーネル"]
            assert "Nbgrader" not in seen_browser["menus"]  # staff: the 研修 panel instead of nbgrader's screens
            assert f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb" in seen_browser["receipt"], seen_browser
            assert "正解です" in seen_browser["feedback"]

            answers = DemoAnswers.load(Course.load(course_root), load_curriculum().modules["B00"]).correct
            seen_api = api_staff(client, API_STAFF, ASSIGNMENT, answers, timings=timings)
            assert (ASSIGNMENT, "released") in seen_api["listed"], seen_api
            assert seen_api["errors"] == [] and seen_api["cells_run"] >= 20, seen_api
            assert seen_api["widget_views"] == 1 and "正解です" in seen_api["feedback"]
            assert seen_api["status_after_submit"].count("submitted") == 1, seen_api

            with timings.step("講師: フォームグレーダー（職員には無い）"):
                client.spawn("instructor")
                assert client.server("instructor").get(f"{hub.url}/user/instructor/formgrader", timeout=120).ok
                lab = client.server("instructor").get(f"{hub.url}/user/instructor/lab", timeout=120).text
                page_config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', lab, re.S)[1])
                assert "@sano-dx/kenshu:plugin" in page_config["disabledExtensions"]  # the 研修 panel is for staff
                assert "@jupyter/nbgrader:assignment-list" not in page_config["disabledExtensions"]
                staff_formgrader = client.server(API_STAFF).get(f"{hub.url}/user/{API_STAFF}/formgrader", timeout=60)
                assert staff_formgrader.status_code == 404
            with timings.step("講師: collect"):
                hubctl.run_course(["collect", "B00"], **kw)
            with timings.step("講師: autograde"):
                graded = hubctl.run_course(["autograde", "B00"], **kw)
            assert "失敗 0 件" in graded.stdout, graded.stdout
            with timings.step("講師: export"):
                hubctl.run_course(["export", "--out", str(tmp_path / "exports")], **kw)

            scores = gradebook_scores(course_root)
            assert set(scores) == {BROWSER_STAFF, API_STAFF}, scores
            assert scores[BROWSER_STAFF] == (2.0, scores[API_STAFF][1]), scores  # exercise 1 only: 2 points
            assert scores[API_STAFF][0] == scores[API_STAFF][1] > 2, scores  # every exercise right
            [workbook] = (tmp_path / "exports").glob("修了状況一覧_*.xlsx")
            book = load_workbook(workbook)
            sheet = book["モジュール別"]
            header = [c.value for c in sheet[1]]
            rows = {r[0]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)}
            assert rows[API_STAFF]["B00 状況"] in {"修了", "採点待ち"}  # every autograded point
            assert rows[BROWSER_STAFF]["B00 状況"] in {"受講中", "採点待ち"}  # 2 points: below the pass mark
            assert rows[ABSENT_STAFF]["B00 状況"] == "未提出"
            people = records.completion_records(course=Course.load(course_root), curriculum=load_curriculum())
            for record in people:  # the workbook says what the completion rules say, person by person
                assert rows[record.staff.staff_id]["B00 状況"] == str(record.modules["B00"].status)
            ok = True
    finally:
        leftovers = hub.stop()
        keep_logs(hub, shots)
        print(json.dumps(timings.values, ensure_ascii=False, indent=1))
        if ok:
            shutil.rmtree(shots, ignore_errors=True)
        else:
            print(f"失敗時の画面と記録: {shots}")
    assert leftovers == [], leftovers


# ---------------------------------------------------------------------------------------------------------------------
def _useradd(name: str, home: Path) -> None:
    with contextlib.suppress(KeyError):
        entry = pwd.getpwnam(name)
        if entry.pw_gecos != USER_MARK:
            pytest.fail(f"OS ユーザー {name} が既にあります（このテストが作ったものではありません）")
        _userdel(name)
    subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/bash",
                    "--comment", USER_MARK, name], check=True, timeout=60)  # fmt: skip
    home.mkdir(parents=True, exist_ok=True)
    entry = pwd.getpwnam(name)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    home.chmod(0o700)


def _userdel(name: str) -> None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return
    if entry.pw_gecos != USER_MARK:
        return
    subprocess.run(["pkill", "-KILL", "-u", str(entry.pw_uid)], check=False, timeout=30)  # only this test's user
    subprocess.run(["userdel", name], check=False, timeout=60)


def _as_user(user: str, python: Path, code: str) -> dict[str, object]:
    entry = pwd.getpwnam(user)
    result = subprocess.run([str(python), "-c", code], user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
                            env={"HOME": entry.pw_dir, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                            timeout=120, check=True, cwd="/")  # fmt: skip
    return json.loads(result.stdout)


def test_real_os_users_cannot_see_each_others_work():
    """Real useradd accounts + LocalProcessSpawner: a member of staff cannot list the exchange's inbound, find or read
    another's submission or home, nor read the instructor's source/ (the model answers)."""
    assert os.geteuid() == 0, "OS ユーザーを作るため root で実行してください（CI は root で make test を実行します）"
    assert Path("/usr/bin/python3").exists(), "Debian の python3 が必要です（apt-get install python3-venv）"
    timings = Timings()
    with timings.step("Debian python の venv"):
        python = system_venv()
    base = Path(tempfile.mkdtemp(prefix="sano-hub-users-", dir="/tmp"))
    base.chmod(0o755)
    instructor, staff_a, staff_b = LOCAL_USERS
    hub: hubctl.Hub | None = None
    shots = artifacts_dir("hub_users")
    ok = False
    try:
        with deadline(900, "実ユーザーのテスト"):
            for name in LOCAL_USERS:
                _useradd(name, base / "home" / name)
            inst = pwd.getpwnam(instructor)
            course_root = hubctl.copy_course(base / "home" / instructor / "course")
            for path in [course_root, *course_root.rglob("*")]:
                os.chown(path, inst.pw_uid, inst.pw_gid)
            course_root.chmod(0o700)
            exchange = base / "exchange"
            exchange.mkdir()
            exchange.chmod(0o1777)
            kw = {"course_root": course_root, "exchange": exchange, "python": python, "user": instructor}
            with timings.step("講師（OS ユーザー）が B00 を公開"):
                hubctl.run_course(["release", "B00"], **kw)
            hub = hubctl.Hub(state=base / "state", course_root=course_root, exchange=exchange, python=python,
                             mode="local", auth="dummy", instructors=[instructor], staff=[staff_a, staff_b])  # fmt: skip
            with timings.step("ハブの起動"):
                hub.start()
            client = HubClient(hub)
            for name in (staff_a, staff_b):
                seen = api_staff(client, name, ASSIGNMENT, {}, run=False, timings=timings)
                assert seen["status_after_submit"].count("submitted") == 1, seen
            inbound = exchange / "sano_dx" / "inbound"
            owners = {pwd.getpwuid(p.stat().st_uid).pw_name for p in inbound.iterdir()}
            assert owners == {staff_a, staff_b}  # each submission belongs to its author's OS account
            assert {p.name.split("+")[0] for p in inbound.iterdir()} == {staff_a, staff_b}

            probe = (
                "import glob, json, os, sys\n"
                "def can(f):\n"
                "    try:\n        f(); return True\n    except PermissionError:\n        return False\n"
                f"print(json.dumps({{'list_inbound': can(lambda: os.listdir({str(inbound)!r})),\n"
                f"  'find_other': glob.glob({str(inbound)!r} + '/{staff_a}+*'),\n"
                f"  'list_other_home': can(lambda: os.listdir({str(base / 'home' / staff_a)!r})),\n"
                f"  'read_other_fetched': can(lambda: open({str(base / 'home' / staff_a / 'b00' / 'b00.ipynb')!r}).read()),\n"
                f"  'read_source': can(lambda: open({str(course_root / 'source' / 'b00' / 'b00.ipynb')!r}).read()),\n"
                f"  'list_course': can(lambda: os.listdir({str(course_root)!r})),\n"
                f"  'list_own_home': can(lambda: os.listdir({str(base / 'home' / staff_b)!r})),\n"
                f"  'read_released': can(lambda: os.listdir({str(exchange / 'sano_dx' / 'outbound' / 'b00')!r}))}}))\n"
            )
            seen_by_b = _as_user(staff_b, python, probe)
            assert seen_by_b == {
                "list_inbound": False,
                "find_other": [],
                "list_other_home": False,
                "read_other_fetched": False,
                "read_source": False,
                "list_course": False,
                "list_own_home": True,  # the probe itself works: it is the permissions that say no
                "read_released": True,
            }, seen_by_b
            with timings.step("講師（OS ユーザー）が collect"):
                hubctl.run_course(["collect", "B00"], **kw)
            collected = sorted(p.name for p in (course_root / "submitted").iterdir())
            assert collected == sorted([staff_a, staff_b])
            ok = True
    finally:
        leftovers = hub.stop() if hub is not None else []
        if hub is not None:
            keep_logs(hub, shots)
        for name in LOCAL_USERS:
            _userdel(name)
        shutil.rmtree(base, ignore_errors=True)
        print(json.dumps(timings.values, ensure_ascii=False, indent=1))
        if ok:
            shutil.rmtree(shots, ignore_errors=True)
        else:
            print(f"失敗時の記録: {shots}")
    assert leftovers == [], leftovers
    assert not any(_exists(name) for name in LOCAL_USERS)


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
