"""A small load test: 50 simulated staff fetch and submit B00 at the same time through the real hub; the instructor
then collects and autogrades every submission. Prints what it measured (times, memory)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from nbgrader.api import Gradebook

from course.config import Course
from course.curriculum import load_curriculum
from course.demo import DemoAnswers
from tests.conftest import write_csv
from tests.hub_support import HubClient, Timings, deadline, hubctl, wait_for

pytestmark = pytest.mark.hub

STAFF_COUNT = 50
ASSIGNMENT = "b00"


class MemorySampler(threading.Thread):
    """Peak memory of the hub, the proxy, the users' servers (their environment names the hub's state folder)."""

    def __init__(self, marker: str, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.marker, self.interval = marker.encode(), interval
        self.peak_rss = self.peak_pss = self.peak_processes = self.peak_used = 0
        self.base_used = psutil.virtual_memory().used
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            rss = pss = count = 0
            for proc in psutil.process_iter(["pid"]):
                try:
                    if self.marker not in Path(f"/proc/{proc.pid}/environ").read_bytes():
                        continue
                    info = proc.memory_full_info()
                except (OSError, psutil.Error):
                    continue
                rss, pss, count = rss + info.rss, pss + info.pss, count + 1
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, count)
            self.peak_used = max(self.peak_used, psutil.virtual_memory().used - self.base_used)
            self.stop.wait(self.interval)


def test_fifty_staff_fetch_and_submit_at_once(tmp_path: Path):
    """Every one of 50 concurrent submissions reaches the exchange, is collected and is graded with full marks."""
    timings = Timings()
    python = Path(sys.executable)
    staff = [f"3000{i:02d}" for i in range(STAFF_COUNT)]
    course_root = hubctl.copy_course(tmp_path / "course")
    roster = write_csv(tmp_path / "roster.csv", [(s, f"架空 {s}", "", "総務部", "人事課", "主事", "") for s in staff])
    exchange = tmp_path / "exchange"
    kw = {"course_root": course_root, "exchange": exchange, "python": python}
    hub = hubctl.Hub(state=tmp_path / "state", course_root=course_root, exchange=exchange, python=python,
                     mode="simple", auth="shared", instructors=["instructor"], staff=staff,
                     extra_env={"SANO_HUB_START_TIMEOUT": "600"})  # fmt: skip
    sampler = MemorySampler(f"{hub.state}/")
    try:
        with deadline(1500, "負荷テスト"):
            exchange.mkdir()
            exchange.chmod(0o1777)
            hubctl.run_course(["roster", "import", str(roster)], **kw)
            hubctl.run_course(["release", "B00"], **kw)
            answers = DemoAnswers.load(Course.load(course_root), load_curriculum().modules["B00"]).correct
            hub.start()
            sampler.start()
            client = HubClient(hub)

            with timings.step(f"{STAFF_COUNT} 人のサーバーを同時に起動"):

                def spawn(user: str) -> tuple[str, int]:
                    response = client.session.post(f"{hub.url}/hub/api/users/{user}/server", timeout=600)
                    return user, response.status_code

                with ThreadPoolExecutor(max_workers=STAFF_COUNT) as pool:  # every request at once
                    statuses = dict(pool.map(spawn, staff))
                assert set(statuses.values()) <= {201, 202}, statuses

                def all_ready() -> bool:
                    users = client.session.get(f"{hub.url}/hub/api/users", timeout=60).json()
                    ready = {u["name"] for u in users if u.get("servers", {}).get("", {}).get("ready")}
                    return set(staff) <= ready

                wait_for(all_ready, 900, "全員のサーバーの起動", interval=2)

            per_user: dict[str, float] = {}

            def fetch_answer_submit(user: str) -> str:
                started = time.monotonic()
                http = client.server(user)
                base = f"{hub.url}/user/{user}"
                params = {"course_id": "sano_dx", "assignment_id": ASSIGNMENT}
                fetched = http.post(f"{base}/assignments/fetch", params=params, timeout=600)
                assert fetched.status_code == 200 and fetched.json()["success"], fetched.text[:300]
                path = f"{base}/api/contents/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
                opened = http.get(path, timeout=600)
                assert opened.status_code == 200, (user, opened.status_code, opened.text[:500])
                notebook = opened.json()["content"]
                for cell in notebook["cells"]:
                    grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
                    if grade_id in answers:
                        cell["source"] = answers[grade_id]
                saved = http.put(path, json={"type": "notebook", "format": "json", "content": notebook}, timeout=600)
                assert saved.status_code == 200, saved.text[:300]
                submitted = http.post(f"{base}/assignments/submit", params=params, timeout=600)
                assert submitted.status_code == 200 and submitted.json().get("success", True), submitted.text[:300]
                per_user[user] = time.monotonic() - started
                return user

            with (
                timings.step(f"{STAFF_COUNT} 人が同時に取得・解答・保存・提出"),
                ThreadPoolExecutor(max_workers=STAFF_COUNT) as pool,
            ):
                done = list(pool.map(fetch_answer_submit, staff))
            assert sorted(done) == sorted(staff)
            inbound = exchange / "sano_dx" / "inbound"
            assert sorted(p.name.split("+")[0] for p in inbound.iterdir()) == sorted(staff)

            with timings.step("講師: collect"):
                hubctl.run_course(["collect", "B00"], **kw)
            with timings.step("講師: autograde"):
                graded = hubctl.run_course(["autograde", "B00"], **kw, timeout=1200)
            assert f"採点 {STAFF_COUNT} 件" in graded.stdout and "失敗 0 件" in graded.stdout, graded.stdout
            gb = Gradebook(Course.load(course_root).db_url, "sano_dx")
            try:
                scores = {s.student_id: (s.code_score, s.max_code_score) for s in gb.assignment_submissions(ASSIGNMENT)}
            finally:
                gb.close()
            assert sorted(scores) == sorted(staff)
            assert all(score == maximum > 0 for score, maximum in scores.values()), scores
    finally:
        sampler.stop.set()
        leftovers = hub.stop()
        if sampler.is_alive():
            sampler.join(10)
    times = sorted(per_user.values()) if "per_user" in locals() else []
    measured = {
        **timings.values,
        "提出までの時間 中央値 (s)": round(times[len(times) // 2], 1) if times else None,
        "提出までの時間 最大 (s)": round(times[-1], 1) if times else None,
        "ハブ・サーバーのメモリ ピーク RSS 合計 (MiB)": round(sampler.peak_rss / 2**20),
        "ハブ・サーバーのメモリ ピーク PSS 合計 (MiB)": round(sampler.peak_pss / 2**20),
        "プロセス数 ピーク": sampler.peak_processes,
        "機械全体の使用メモリ 増加のピーク (MiB)": round(sampler.peak_used / 2**20),
        "CPU コア数": os.cpu_count(),
    }
    print(json.dumps(measured, ensure_ascii=False, indent=1))
    assert leftovers == [], leftovers
