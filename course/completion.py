"""Completion rules: gradebook submissions in, completion records out. Pure functions, no I/O.

A module is 修了 when its score reaches the module's pass ratio and every manually graded cell has been graded.
A track is 修了 when all its required modules are 修了, plus the track's minimum number of electives.
The completion date is the timestamp of the submission that completed it (for a track: the last one it needed).

Track rules are chosen by name (``rule`` in curriculum.toml); each has the signature
``(track, records) -> TrackRecord`` where ``records`` maps module id to that person's ModuleRecord.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from course.curriculum import Curriculum, Module, Track
from course.models import Staff, Submission


class ModuleStatus(StrEnum):
    PASSED = "修了"
    AWAITING_GRADING = "採点待ち"  # submitted; a manually graded part has not been graded yet
    IN_PROGRESS = "受講中"  # submitted and graded, below the pass ratio (they can resubmit)
    NOT_SUBMITTED = "未提出"
    PLANNED = "準備中"  # the module's notebook does not exist yet


class TrackStatus(StrEnum):
    COMPLETE = "修了"
    AWAITING_GRADING = "採点待ち"
    IN_PROGRESS = "受講中"
    NOT_STARTED = "未着手"


@dataclass(frozen=True)
class ModuleRecord:
    module_id: str
    status: ModuleStatus
    score_ratio: float | None = None  # score / max score, None when nothing was submitted
    completed_at: datetime | None = None
    submitted_at: datetime | None = None


@dataclass(frozen=True)
class TrackRecord:
    track_key: str
    status: TrackStatus
    required_passed: int
    required_total: int
    electives_passed: int = 0
    electives_needed: int = 0
    completed_at: datetime | None = None


@dataclass(frozen=True)
class StaffCompletion:
    """Everything HR needs to know about one member of staff."""

    staff: Staff
    modules: Mapping[str, ModuleRecord]
    tracks: tuple[TrackRecord, ...]

    @property
    def grade_track(self) -> TrackRecord:
        return self.tracks[0]

    @property
    def promoter_track(self) -> TrackRecord | None:
        return self.tracks[1] if len(self.tracks) > 1 else None


def module_record(module: Module, submission: Submission | None, *, available: bool = True) -> ModuleRecord:
    """The status of one module for one person."""
    if not available:
        return ModuleRecord(module.id, ModuleStatus.PLANNED)
    if submission is None:
        return ModuleRecord(module.id, ModuleStatus.NOT_SUBMITTED)
    ratio = submission.score / submission.max_score if submission.max_score > 0 else 0.0
    stamp = submission.timestamp
    if submission.needs_manual_grade:
        return ModuleRecord(module.id, ModuleStatus.AWAITING_GRADING, ratio, submitted_at=stamp)
    # A small tolerance, so that 6/10 passes a 0.6 ratio despite floating point.
    if submission.score >= module.pass_ratio * submission.max_score - 1e-9 and submission.max_score > 0:
        return ModuleRecord(module.id, ModuleStatus.PASSED, ratio, completed_at=stamp, submitted_at=stamp)
    return ModuleRecord(module.id, ModuleStatus.IN_PROGRESS, ratio, submitted_at=stamp)


def required_and_electives(track: Track, records: Mapping[str, ModuleRecord]) -> TrackRecord:
    """All required modules passed, and at least ``min_electives`` of the electives."""
    required = [records[m] for m in track.required]
    electives = [records[m] for m in track.electives]
    required_passed = [r for r in required if r.status is ModuleStatus.PASSED]
    electives_passed = sorted(
        (r for r in electives if r.status is ModuleStatus.PASSED), key=lambda r: _sort_time(r.completed_at)
    )
    record = TrackRecord(
        track_key=track.key,
        status=TrackStatus.NOT_STARTED,
        required_passed=len(required_passed),
        required_total=len(required),
        electives_passed=len(electives_passed),
        electives_needed=track.min_electives,
    )
    if len(required_passed) == len(required) and len(electives_passed) >= track.min_electives:
        # The track was completed by the last submission it needed: the latest required one, or the
        # min_electives-th elective in time order.
        needed = [*required_passed, *electives_passed[: track.min_electives]]
        stamps = [r.completed_at for r in needed if r.completed_at is not None]
        return replace(record, status=TrackStatus.COMPLETE, completed_at=max(stamps, default=None))
    involved = [*required, *electives]
    if any(r.status is ModuleStatus.AWAITING_GRADING for r in involved):
        return replace(record, status=TrackStatus.AWAITING_GRADING)
    if any(r.score_ratio is not None for r in involved):
        return replace(record, status=TrackStatus.IN_PROGRESS)
    return record


TrackRule = Callable[[Track, Mapping[str, ModuleRecord]], TrackRecord]
TRACK_RULES: dict[str, TrackRule] = {"required_and_electives": required_and_electives}


def evaluate(
    *,
    curriculum: Curriculum,
    staff: Iterable[Staff],
    submissions: Iterable[Submission],
    available: Iterable[str],
) -> list[StaffCompletion]:
    """Completion records for every member of staff, from their latest graded submissions."""
    available_ids = set(available)
    latest: dict[tuple[str, str], Submission] = {}
    for submission in submissions:
        key = (submission.staff_id, submission.assignment)
        previous = latest.get(key)
        if previous is None or _sort_time(submission.timestamp) >= _sort_time(previous.timestamp):
            latest[key] = submission
    modules = [(module, module.assignment, module.id in available_ids) for module in curriculum.modules.values()]
    results = []
    for person in staff:
        records = {
            module.id: module_record(module, latest.get((person.staff_id, assignment)), available=is_available)
            for module, assignment, is_available in modules
        }
        tracks = tuple(
            TRACK_RULES[track.rule](track, records)
            for track in curriculum.tracks_for(grade=person.grade, promoter=person.promoter)
        )
        results.append(StaffCompletion(staff=person, modules=records, tracks=tracks))
    return results


def _sort_time(stamp: datetime | None) -> float:
    return stamp.timestamp() if stamp is not None else float("-inf")


def track_counts(records: Sequence[StaffCompletion], curriculum: Curriculum) -> dict[str, Counter[TrackStatus]]:
    """How many current staff are in each status, per track (tracks nobody takes are left out)."""
    counts: dict[str, Counter[TrackStatus]] = {}
    for key, track in curriculum.tracks.items():
        statuses = [t.status for r in records if r.staff.current for t in r.tracks if t.track_key == key]
        if statuses:
            counts[track.name] = Counter(statuses)
    return counts
