"""Completion rules: gradebook submissions in, completion records out. Pure functions, no I/O.

A module is 修了 when its score reaches the module's pass ratio and every manually graded cell has been graded.
A track is 修了 when all its required modules are 修了, plus the track's minimum number of electives.
The completion date is the timestamp of the submission that completed it (for a track: the last one it needed).

Track rules are chosen by name (``rule`` in curriculum.toml); each has the signature
``(track, records) -> TrackRecord`` where ``records`` maps module id to that person's ModuleRecord.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from functools import cached_property
from typing import NamedTuple

from course.curriculum import Curriculum, Module, Track
from course.models import EXEMPT, EXTEND, Completion, Extension, Staff, Submission
from course.years import FiscalYear, YearPlan


class ModuleStatus(StrEnum):
    PASSED = "修了"
    AWAITING_GRADING = "採点待ち"  # submitted; a manually graded part has not been graded yet
    IN_PROGRESS = "受講中"  # submitted and graded, below the pass ratio (they can resubmit)
    NOT_SUBMITTED = "未提出"
    PLANNED = "準備中"  # the module's notebook does not exist yet
    EXEMPT = "免除"  # HR exempted this person from this module this year; it counts as done


class TrackStatus(StrEnum):
    COMPLETE = "修了"
    AWAITING_GRADING = "採点待ち"
    IN_PROGRESS = "受講中"
    NOT_STARTED = "未着手"
    EXEMPT = "免除"  # HR exempted this person from the track this year (育児休業 …): not measured
    NOT_OFFERED = "対象外"  # this year's plan does not offer the track


class ModuleRecord(NamedTuple):
    """One module's state for one person (a named tuple: a city's records hold tens of thousands)."""

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
    pending: tuple[tuple[str, date | None], ...] = ()  # required modules not yet done, with their deadline
    overdue: bool = False  # a pending module's deadline has passed (期限超過)
    extension: Extension | None = None  # the 延長 or 免除 that applies to this track this year

    @property
    def deadline(self) -> date | None:
        """The earliest deadline still ahead of this person on this track (or already missed)."""
        return min((due for _, due in self.pending if due is not None), default=None)


@dataclass(frozen=True)
class StaffCompletion:
    """Everything HR needs to know about one member of staff."""

    staff: Staff
    modules: Mapping[str, ModuleRecord]
    tracks: tuple[TrackRecord, ...]
    change: str = ""  # what changed since the previous year's roster (昇任, 異動, 新規 …)

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
    # Positional (id, status, ratio, completed_at, submitted_at): made for every person and module of a city.
    if submission.needs_manual_grade:
        return ModuleRecord(module.id, ModuleStatus.AWAITING_GRADING, ratio, None, stamp)
    # A small tolerance, so that 6/10 passes a 0.6 ratio despite floating point.
    if submission.score >= module.pass_ratio * submission.max_score - 1e-9 and submission.max_score > 0:
        return ModuleRecord(module.id, ModuleStatus.PASSED, ratio, stamp, stamp)
    return ModuleRecord(module.id, ModuleStatus.IN_PROGRESS, ratio, None, stamp)


def required_and_electives(track: Track, records: Mapping[str, ModuleRecord]) -> TrackRecord:
    """All required modules passed, and at least ``min_electives`` of the electives."""
    required = [records[m] for m in track.required]
    electives = [records[m] for m in track.electives]
    required_passed = [r for r in required if r.status in DONE]
    electives_passed = sorted((r for r in electives if r.status in DONE), key=lambda r: _sort_time(r.completed_at))
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


DONE = frozenset({ModuleStatus.PASSED, ModuleStatus.EXEMPT})
UNMEASURED = frozenset({TrackStatus.EXEMPT, TrackStatus.NOT_OFFERED})  # left out of completion rates

TrackRule = Callable[[Track, Mapping[str, ModuleRecord]], TrackRecord]
TRACK_RULES: dict[str, TrackRule] = {"required_and_electives": required_and_electives}


@dataclass(frozen=True)
class Period:
    """A 年度 to judge records in: its plan, the day deadlines are checked against, the completions the course has
    recorded (kept when a later submission replaces them) and HR's extensions and exemptions."""

    plan: YearPlan
    as_of: date
    recorded: Sequence[Completion] = ()
    extensions: Sequence[Extension] = ()

    @property
    def year(self) -> FiscalYear:
        return self.plan.year

    def counts(self, stamp: datetime | None, *, carry_over: bool) -> bool:
        """Whether work done at ``stamp`` counts this year: never after its end; before its start only when the
        track lets an earlier year's 修了 count again."""
        if stamp is None:
            return False
        first, last = self._days
        day = stamp.date()
        return day <= last and (carry_over or day >= first)

    @cached_property
    def _days(self) -> tuple[date, date]:  # asked once per submission of a city: worked out once
        return self.year.first_day, self.year.last_day


def evaluate(
    *,
    curriculum: Curriculum,
    staff: Iterable[Staff],
    submissions: Iterable[Submission],
    available: Iterable[str],
    period: Period | None = None,
) -> list[StaffCompletion]:
    """Completion records for every member of staff, from their latest graded submissions; with a ``period``, as
    that 年度 judges them (its tracks, what counts from earlier years, deadlines, extensions)."""
    available_ids = set(available)
    # By person, then assignment: a city's records are looked up per person and module tens of thousands of times.
    latest: dict[str, dict[str, Submission]] = defaultdict(dict)
    for submission in submissions:
        own = latest[submission.staff_id]
        previous = own.get(submission.assignment)
        if previous is None or _sort_time(submission.timestamp) >= _sort_time(previous.timestamp):
            own[submission.assignment] = submission
    recorded: dict[str, dict[str, list[Completion]]] = defaultdict(lambda: defaultdict(list))
    granted: dict[str, list[Extension]] = defaultdict(list)
    if period is not None:
        for done in period.recorded:
            recorded[done.staff_id][done.module_id].append(done)
        for extension in period.extensions:
            if extension.fiscal_year == period.year.start:
                granted[extension.staff_id].append(extension)
    modules = [(module, module.assignment, module.id in available_ids) for module in curriculum.modules.values()]
    # People of the same grade (and promoter or not) take the same tracks.
    kinds: dict[tuple[str, bool], tuple[list[Track], set[str]]] = {}
    results = []
    for person in staff:
        if (kind := kinds.get((person.grade, person.promoter))) is None:
            tracks = curriculum.tracks_for(grade=person.grade, promoter=person.promoter)
            strict = {m for t in tracks if not t.carry_over for m in (*t.required, *t.electives)}
            kind = kinds[person.grade, person.promoter] = (tracks, strict)
        tracks, strict = kind
        own = latest.get(person.staff_id, {})
        histories = recorded.get(person.staff_id, {})
        records = {}
        for module, assignment, is_available in modules:
            found = own.get(assignment)
            record = module_record(module, found, available=is_available)
            if period is not None and record.status is not ModuleStatus.PLANNED:
                history = histories.get(module.id, [])
                record = _in_period(module, record, found, history, period, carry_over=module.id not in strict)
            records[module.id] = record
        extensions = granted.get(person.staff_id, [])
        for extension in extensions:
            if extension.measure == EXEMPT and extension.target in records:
                records[extension.target] = ModuleRecord(extension.target, ModuleStatus.EXEMPT)
        judged = []
        for track in tracks:
            judgement = TRACK_RULES[track.rule](track, records)
            if period is not None and not period.plan.offers(track.key):
                judgement = replace(judgement, status=TrackStatus.NOT_OFFERED)
            elif period is not None:
                judgement = _with_deadlines(judgement, track, records, extensions, period)
            judged.append(judgement)
        results.append(StaffCompletion(staff=person, modules=records, tracks=tuple(judged)))
    return results


def _in_period(
    module: Module,
    record: ModuleRecord,
    submission: Submission | None,
    history: Sequence[Completion],
    period: Period,
    *,
    carry_over: bool,
) -> ModuleRecord:
    """The module's record as the period sees it: the first completion that counts this year (recorded or the
    current submission's), else the current submission if it was made in time to count, else 未提出."""
    if not history:  # no completion recorded before: the current submission, if any, counts if made in time
        if record.status is ModuleStatus.NOT_SUBMITTED or period.counts(record.submitted_at, carry_over=carry_over):
            return record
        return ModuleRecord(module.id, ModuleStatus.NOT_SUBMITTED)
    passes = [(c.completed_at, c.score_ratio) for c in history]
    if record.status is ModuleStatus.PASSED and record.completed_at is not None:
        passes.append((record.completed_at, record.score_ratio or 0.0))
    counted = [p for p in passes if period.counts(p[0], carry_over=carry_over)]
    if counted:
        stamp, ratio = min(counted)
        if stamp == record.completed_at:
            return record  # the current submission is the first completion that counts
        return ModuleRecord(module.id, ModuleStatus.PASSED, ratio, completed_at=stamp, submitted_at=stamp)
    if submission is not None and period.counts(submission.timestamp, carry_over=carry_over):
        if record.status is ModuleStatus.PASSED:  # passed, but before the years this track counts
            return ModuleRecord(module.id, ModuleStatus.NOT_SUBMITTED)
        return record
    return ModuleRecord(module.id, ModuleStatus.NOT_SUBMITTED)


def _with_deadlines(
    record: TrackRecord,
    track: Track,
    records: Mapping[str, ModuleRecord],
    extensions: Sequence[Extension],
    period: Period,
) -> TrackRecord:
    """The track's pending modules with their deadlines (an 延長 moves them), 期限超過, and a 免除."""
    applies = [e for e in extensions if e.target in ("", track.key, *track.required)]
    # The most specific extension wins: a module's over the track's over "every track".
    by_target = {e.target: e for e in applies}
    whole = by_target.get(track.key) or by_target.get("")
    if whole is not None and whole.measure == EXEMPT and record.status is not TrackStatus.COMPLETE:
        return replace(record, status=TrackStatus.EXEMPT, extension=whole)
    pending = []
    for module_id in track.required:
        if records[module_id].status in DONE:
            continue
        due = period.plan.deadline(track.key, module_id)
        specific = by_target.get(module_id) or whole
        if specific is not None and specific.measure == EXTEND and due is not None:
            due = specific.until
        pending.append((module_id, due))
    overdue = record.status is not TrackStatus.COMPLETE and any(
        due is not None and due < period.as_of for _, due in pending
    )
    shown = whole or next((by_target[m] for m, _ in pending if m in by_target), None)
    return replace(record, pending=tuple(pending), overdue=overdue, extension=shown)


def _sort_time(stamp: datetime | None) -> float:
    return stamp.timestamp() if stamp is not None else float("-inf")


def describe_counts(counts: Counter[TrackStatus]) -> str:
    """「修了 3、採点待ち 1、受講中 5、未着手 2」 (免除 and 対象外 only when someone is)."""
    return "、".join(f"{s} {counts[s]}" for s in TrackStatus if counts[s] or s not in UNMEASURED)


def track_counts(records: Sequence[StaffCompletion], curriculum: Curriculum) -> dict[str, Counter[TrackStatus]]:
    """How many current staff are in each status, per track (tracks nobody takes are left out)."""
    counts: dict[str, Counter[TrackStatus]] = {}
    for key, track in curriculum.tracks.items():
        statuses = [t.status for r in records if r.staff.current for t in r.tracks if t.track_key == key]
        if statuses:
            counts[track.name] = Counter(statuses)
    return counts
