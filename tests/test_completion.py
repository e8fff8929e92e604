"""Completion rules, as pure functions on tiny fictional records."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from course.completion import TRACK_RULES, ModuleStatus, TrackStatus, evaluate, module_record
from course.curriculum import Curriculum, Module, Track, load_curriculum
from course.models import Staff, Submission

JST = ZoneInfo("Asia/Tokyo")
MOD = Module(id="B03", title="文字と日付の正規化", pass_ratio=0.6, tracks=())


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 10, 0, tzinfo=JST)


def sub(
    assignment: str, score: float, *, max_score: float = 10, manual: bool = False, day: int = 1, who: str = "1"
) -> Submission:
    return Submission(who, assignment, score, max_score, manual, at(day))


@pytest.mark.parametrize(
    ("submission", "status"),
    [
        (None, ModuleStatus.NOT_SUBMITTED),
        (sub("b03", 6), ModuleStatus.PASSED),  # exactly the pass ratio
        (sub("b03", 5.99), ModuleStatus.IN_PROGRESS),
        (sub("b03", 10, manual=True), ModuleStatus.AWAITING_GRADING),  # full auto score, reflection not graded
        (sub("b03", 0, max_score=0), ModuleStatus.IN_PROGRESS),
    ],
)
def test_module_status(submission, status):
    """修了 needs score ≥ pass ratio and no manual grading pending; otherwise 採点待ち, 受講中 or 未提出."""
    assert module_record(MOD, submission).status is status


def test_a_passed_module_is_dated_by_its_submission():
    """The completion date is the timestamp of the submission that passed."""
    record = module_record(MOD, sub("b03", 8, day=5))
    assert record.completed_at == at(5) and record.score_ratio == pytest.approx(0.8)


def test_planned_modules_are_reported_as_such():
    """A module without a notebook is 準備中, whatever the gradebook says."""
    assert module_record(MOD, None, available=False).status is ModuleStatus.PLANNED


def _curriculum() -> Curriculum:
    modules = {m: Module(m, m, 0.6, ()) for m in ("A1", "A2", "P1", "E1", "E2", "E3")}
    tracks = {
        "ippan": Track("ippan", "一般職", ("A1", "A2"), grade="一般職"),
        "kakaricho": Track("kakaricho", "係長職", ("A1",), grade="係長職"),
        "kacho": Track("kacho", "課長職以上", ("A1",), grade="課長職以上"),
        "suishin": Track("suishin", "推進員", ("P1",), ("E1", "E2", "E3"), 2, promoter=True),
    }
    return Curriculum(modules, tracks)


def _person(promoter: bool = False) -> Staff:
    return Staff("1", "架空 太郎", "", "総務部", "人事課", "主事", "一般職", promoter)


def _evaluate(subs: list[Submission], promoter: bool = False, available=("A1", "A2", "P1", "E1", "E2", "E3")):
    cur = _curriculum()
    return evaluate(curriculum=cur, staff=[_person(promoter)], submissions=subs, available=available)[0]


def test_grade_track_completes_on_the_last_required_module():
    """All required passed → 修了, dated by the latest of them."""
    result = _evaluate([sub("a1", 7, day=3), sub("a2", 9, day=8)])
    track = result.grade_track
    assert (track.status, track.required_passed, track.required_total) == (TrackStatus.COMPLETE, 2, 2)
    assert track.completed_at == at(8)


@pytest.mark.parametrize(
    ("subs", "status"),
    [
        ([], TrackStatus.NOT_STARTED),
        ([sub("a1", 9)], TrackStatus.IN_PROGRESS),
        ([sub("a1", 9), sub("a2", 2)], TrackStatus.IN_PROGRESS),
        ([sub("a1", 9), sub("a2", 9, manual=True)], TrackStatus.AWAITING_GRADING),
    ],
)
def test_grade_track_statuses(subs, status):
    """未着手 without submissions, 採点待ち while a reflection waits, 受講中 otherwise."""
    assert _evaluate(subs).grade_track.status is status


def test_promoter_track_needs_the_elective_minimum():
    """推進員: required plus two electives; the date is when the second elective passed."""
    base = [sub("p1", 8, day=2), sub("e3", 8, day=4)]
    assert _evaluate(base, promoter=True).promoter_track.status is TrackStatus.IN_PROGRESS
    done = _evaluate([*base, sub("e1", 6, day=9), sub("e2", 10, day=20)], promoter=True).promoter_track
    assert (done.status, done.electives_passed, done.electives_needed) == (TrackStatus.COMPLETE, 3, 2)
    assert done.completed_at == at(9)


def test_non_promoters_have_no_promoter_track():
    """Only 推進員 get a second track."""
    assert _evaluate([]).promoter_track is None
    assert _evaluate([], promoter=True).promoter_track is not None


def test_planned_required_module_blocks_completion():
    """Nobody completes a track while one of its required modules is still 準備中."""
    result = _evaluate([sub("a1", 10)], available=("A1",))
    assert result.modules["A2"].status is ModuleStatus.PLANNED
    assert result.grade_track.status is TrackStatus.IN_PROGRESS


def test_the_latest_submission_counts():
    """With two records for one module, the newer one decides."""
    assert _evaluate([sub("a1", 10, day=1), sub("a1", 1, day=2)]).modules["A1"].status is ModuleStatus.IN_PROGRESS


def test_real_curriculum_rules_exist():
    """Every track in curriculum.toml names a rule that exists."""
    assert all(track.rule in TRACK_RULES for track in load_curriculum().tracks.values())
