"""The 研修 panel's pure logic (labextension/src/states.ts, validation.ts), run in Node.

The TypeScript is compiled with the extension's own tsc (labextension/node_modules, from `make install`) and each
function is called through a small Node bridge, so these tests read the same code the panel runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from course.wareki import wareki
from tests.conftest import REPO

LABEXT = REPO / "labextension"
TSC = LABEXT / "node_modules" / ".bin" / "tsc"
BRIDGE = """
const [dir, module, fn] = process.argv.slice(1);
const args = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(require(dir + '/' + module + '.js')[fn](...args)));
"""
CONTACT = "情報政策課に相談してください。"


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    node = shutil.which("node")
    assert node and TSC.exists(), "node と labextension/node_modules が必要です（make install）"
    out = tmp_path_factory.mktemp("panel-js")
    options = ["--module", "commonjs", "--target", "ES2022", "--lib", "DOM,ES2022", "--moduleResolution", "node",
               "--strict", "--skipLibCheck", "--esModuleInterop", "--outDir", str(out), "--rootDir", str(LABEXT / "src")]  # fmt: skip
    sources = [str(LABEXT / "src" / name) for name in ("states.ts", "validation.ts")]
    compiled = subprocess.run([str(TSC), *options, *sources], capture_output=True, text=True, timeout=300, check=False)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr

    def run(module: str, function: str, *args: Any) -> Any:
        result = subprocess.run([node, "-e", BRIDGE, str(out), module, function], input=json.dumps(args),
                                capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        return json.loads(result.stdout)

    return run


def record(**changes: Any) -> dict[str, Any]:
    """A module record as the records service sends it (contract), B00 not yet submitted."""
    return {"id": "B00", "title": "はじめてのJupyter", "assignment": "b00", "required": True, "status": "未提出",
            "score_ratio": None, "pass_ratio": 0.6, "submitted_at": None, "completed_at": None, "deadline": None,
            "minutes": 30} | changes  # fmt: skip


def entry(status: str, *timestamps: str, feedback: dict[str, Any] | None = None) -> dict[str, Any]:
    """One of nbgrader's list entries for b00."""
    if status != "submitted":
        return {"course_id": "sano_dx", "assignment_id": "b00", "status": status, "notebooks": [{"notebook_id": "b00"}]}
    submissions = [{"timestamp": t, "notebooks": [{"notebook_id": "b00"}], **(feedback or {})} for t in timestamps]
    return {"course_id": "sano_dx", "assignment_id": "b00", "status": "submitted", "submissions": submissions}


STAMP = "2026-12-07 20:15:03.123456 JST-9"  # the course's Exchange.timestamp_format


@pytest.mark.parametrize(
    ("module_record", "entries", "label"),
    [
        (record(status="準備中"), [], "準備中"),
        (record(), [entry("released")], "未受取"),
        (record(), [entry("fetched")], "受講中"),
        (record(), [entry("fetched"), entry("submitted", "2026-12-01 09:00:00.1 JST-9", STAMP)], "提出済（令和8年12月7日 20:15）"),
        (record(status="採点待ち", score_ratio=0.7, submitted_at="2026-12-07T20:15:03+09:00"),
         [entry("fetched"), entry("submitted", STAMP)], "提出済（令和8年12月7日 20:15）"),
        (record(status="受講中", score_ratio=0.4, submitted_at="2026-12-07T20:15:03+09:00"),
         [entry("fetched"), entry("submitted", STAMP)], "採点済（40 %、合格基準 60 %に届かず）"),
        (record(status="受講中", score_ratio=0.4, submitted_at="2026-12-01T09:00:00+09:00"),
         [entry("fetched"), entry("submitted", "2026-12-01 09:00:00.1 JST-9", STAMP)], "提出済（令和8年12月7日 20:15）"),
        (record(status="修了", score_ratio=0.9, submitted_at="2026-12-07T20:15:03+09:00"),
         [entry("fetched"), entry("submitted", STAMP)], "修了（90 %）"),
        (record(status="修了", score_ratio=None, completed_at="2026-06-01T10:00:00+09:00"), [], "修了"),
    ],
    ids=["unreleased", "released", "fetched", "newest-submission", "awaiting-grading", "graded", "resubmitted-after-grading",
         "completed", "completed-without-a-score"],
)  # fmt: skip
def test_module_state_in_japanese(call, module_record, entries, label):
    """未受取 / 受講中 / 提出済 from nbgrader; 採点済 and 修了 from the records, unless a newer submission waits."""
    assert call("states", "moduleView", module_record, "b00", entries)["label"] == label


def test_without_records_the_modules_come_from_nbgrader_by_code(call):
    """When the records service cannot be reached, every assignment nbgrader lists is shown by its code."""
    views = call("states", "exchangeOnlyViews", [entry("released") | {"assignment_id": "b01"}, entry("fetched")])
    assert [(v["id"], v["label"], v["title"], v["required"]) for v in views] == [
        ("B00", "受講中", "", None),
        ("B01", "未受取", "", None),
    ]


def test_feedback_is_offered_once_returned_and_fetched_when_new(call):
    """Feedback in the exchange only: fetch it first; already fetched: open the local page."""
    returned = {"has_exchange_feedback": True, "has_local_feedback": False}
    view = call(
        "states", "moduleView", record(), "b00", [entry("fetched"), entry("submitted", STAMP, feedback=returned)]
    )
    assert view["feedback"] == {"toFetch": True, "path": None}
    local = {"has_exchange_feedback": True, "has_local_feedback": True, "feedback_updated": False}
    submitted = entry("submitted", STAMP, feedback=local)
    submitted["submissions"][0]["notebooks"][0]["local_feedback_path"] = "b00/feedback/x/b00.html"
    view = call("states", "moduleView", record(), "b00", [entry("fetched"), submitted])
    assert view["feedback"] == {"toFetch": False, "path": "b00/feedback/x/b00.html"}
    assert (
        call("states", "moduleView", record(), "b00", [entry("fetched"), entry("submitted", STAMP)])["feedback"] is None
    )


def traceback(last_line: str) -> str:
    return f'\x1b[0;31m---------\x1b[0m\nTraceback (most recent call last)\n  File "<cell>", line 3\n{last_line}'


def test_validation_names_each_failed_check_with_the_course_message(call):
    """A failed check is named by its first comment and explained by the course's own Japanese message; Python's
    error kinds and nbgrader's English remarks become Japanese; no traceback text is kept."""
    failed = [
        {"source": "# 確認: 練習1a（答えの形を確かめます）\nassert ...",
         "raw_error": traceback("AssertionError: 回答1a がまだ空です。")},
        {"source": "# 確認: 練習2\nassert x", "raw_error": traceback("NameError: name '回答2' is not defined")},
        {"source": "# 確認: 練習3\nassert y", "raw_error": traceback("SyntaxError: invalid syntax")},
        {"source": "ここに回答を書いてください。", "raw_error": "You did not provide a response."},
        {"source": "assert z", "raw_error": traceback("ZeroDivisionError: division by zero")},
        {"source": "# 確認: 練習4\nassert w == 1", "raw_error": traceback("AssertionError")},
    ]  # fmt: skip
    report = call("validation", "explainValidation", {"success": True, "value": {"failed": failed}}, CONTACT)
    assert report["ok"] is False
    assert report["headline"] == "まだ提出できる状態ではありません（6か所）。"
    wheres = [p["where"] for p in report["problems"]]
    assert wheres == [
        "練習1a",
        "練習2",
        "練習3",
        "「ここに回答を書いてください。」と書かれた欄",
        "5番目の確認",
        "練習4",
    ]
    whats = [p["what"] for p in report["problems"]]
    assert whats[0] == "回答1a がまだ空です。"
    assert whats[1].startswith("答えの名前") and whats[2].startswith("答えのセルの書き方に誤り")
    assert whats[3] == "まだ答えが書かれていません。"
    assert whats[4] == "この確認でエラーになりました。すぐ上の答えのセルを見直してください。"
    assert whats[5] == "答えがまだ確認の条件に合っていません。すぐ上の答えのセルを見直してください。"
    assert not any(w in json.dumps(report, ensure_ascii=False) for w in ("Traceback", "Error", "File ", "\x1b"))


def test_two_checks_of_one_exercise_are_one_place_to_fix(call):
    """Two failed checks of the same 練習 (one answer checked twice) are one place in the count and the list, with
    each different reason once, in order; other places keep their order."""
    failed = [
        {"source": "# 確認: 練習3（答えの形）\nassert a", "raw_error": traceback("AssertionError: 回答3 がまだ空です。")},
        {"source": "# 確認: 練習4\nassert b", "raw_error": traceback("AssertionError: 回答4a がまだ空です。")},
        {"source": "# 確認: 練習3\nassert c", "raw_error": traceback("AssertionError: 先に、回答3 を書いてください。")},
        {"source": "# 確認: 練習3\nassert d", "raw_error": traceback("AssertionError: 回答3 がまだ空です。")},
    ]  # fmt: skip
    report = call("validation", "explainValidation", {"success": True, "value": {"failed": failed}}, CONTACT)
    assert report["headline"] == "まだ提出できる状態ではありません（2か所）。"
    assert report["problems"] == [
        {"where": "練習3", "what": "回答3 がまだ空です。 先に、回答3 を書いてください。"},
        {"where": "練習4", "what": "回答4a がまだ空です。"},
    ]


def test_validation_passes_changed_cells_and_failures_in_japanese(call):
    """Nothing failed: 提出できます; a changed check cell: whom to ask; nbgrader failing: no traceback, what to do."""
    ok = call("validation", "explainValidation", {"success": True, "value": {}}, CONTACT)
    assert ok["ok"] is True and ok["headline"] == "答えの形は整っています。" and "提出する" in ok["next"]
    changed = call("validation", "explainValidation", {"success": True, "value": {"changed": [{"source": "# 確認: 練習1"}]}},
                   CONTACT)  # fmt: skip
    assert changed["ok"] is False and changed["problems"][0]["where"] == "練習1" and CONTACT in changed["next"]
    broken = call("validation", "explainValidation", {"success": False, "value": "Traceback (most recent call last)…"},
                  CONTACT)  # fmt: skip
    assert (
        broken["ok"] is False and broken["headline"] == "確認を最後まで行えませんでした。" and CONTACT in broken["next"]
    )
    assert "Traceback" not in json.dumps(broken, ensure_ascii=False)


def test_dates_are_japan_time_without_seconds_in_wareki(call):
    """The exchange's and the records' timestamps are shown as 令和8年12月7日 20:15; dates as 令和9年3月15日."""
    assert call("states", "japaneseDateTime", "2026-12-07 20:15:03.123456 JST-9") == "令和8年12月7日 20:15"
    assert call("states", "japaneseDateTime", "2026-12-07T09:05:00+09:00") == "令和8年12月7日 09:05"
    assert call("states", "japaneseDate", "2027-03-15") == "令和9年3月15日"


@pytest.mark.parametrize(
    "day",
    [date(1989, 1, 8), date(1990, 1, 1), date(2018, 12, 31), date(2019, 1, 1), date(2019, 4, 30), date(2019, 5, 1),
     date(2019, 12, 31), date(2020, 1, 1), date(2026, 12, 7), date(2027, 3, 15), date(2045, 10, 9)],
)  # fmt: skip
def test_the_panel_writes_dates_as_course_wareki_does(call, day):
    """The panel's era rule (states.ts) gives what course/wareki.py gives: 平成 to 2019-04-30, 令和元年 from
    2019-05-01, the first year of an era written 元年."""
    assert call("states", "japaneseDate", day.isoformat()) == wareki(day)
    assert call("states", "japaneseDateTime", f"{day.isoformat()} 08:05:00.5 JST-9") == f"{wareki(day)} 08:05"


def track(*modules: dict[str, Any], electives_needed: int = 0) -> dict[str, Any]:
    """A track as the records service sends it (only what the welcome page reads matters here)."""
    return {"key": "t", "name": "一般職", "status": "受講中", "required_passed": 0,
            "required_total": sum(m["required"] for m in modules), "electives_passed": 0,
            "electives_needed": electives_needed, "completed_at": None, "certificate_url": None,
            "modules": list(modules)}  # fmt: skip


def me(*tracks: dict[str, Any]) -> dict[str, Any]:
    return {"as_of": "2026-12-07T20:15:00+09:00", "staff": {}, "tracks": list(tracks)}


def test_the_welcome_time_counts_the_electives_a_track_needs(call):
    """必修 once each (B00 is in both tracks: 3, not 4) and the promoter track's 2 electives at their average: 30 + 35 + 60 +
    2 × (40 + 60) / 2 = 225 minutes, about 4 hours (to the half hour)."""
    grade = track(record(id="B00", minutes=30), record(id="B01", minutes=35))
    promoter = track(record(id="B00", minutes=30), record(id="P01", minutes=60),
                     record(id="E01", required=False, minutes=40), record(id="E02", required=False, minutes=60),
                     electives_needed=2)  # fmt: skip
    said = call("states", "timeEstimate", me(grade, promoter))
    assert said.startswith(
        "あなたのモジュールは必修 3 件と選択 2 件で、目安は合わせて約 4 時間です（選択は、選ぶモジュールによって前後します）。"
    ), said
    assert call("states", "timeEstimate", me(grade)).startswith(
        "あなたのモジュールは必修 2 件で、目安は合わせて約 1 時間です。"
    )


def test_the_welcome_time_is_general_when_a_module_states_no_minutes(call):
    general = "1つのモジュールは、読みながら手を動かして 30分〜1時間半ほどです。"
    unstated_elective = track(record(minutes=30), record(id="E01", required=False, minutes=None), electives_needed=1)
    for records in (None, me(), me(track(record(minutes=None))), me(unstated_elective)):
        assert call("states", "timeEstimate", records).startswith(general), records
