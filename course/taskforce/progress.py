"""The task force's views of training progress, computed from completion records. Pure functions, no I/O.

The HTML report, the extra sheets of the HR workbook and the instructor dashboard all show these views, so they
always agree. Only staff currently on the roster are counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from course.completion import UNMEASURED, ModuleRecord, ModuleStatus, StaffCompletion, TrackStatus
from course.curriculum import Curriculum, Module, Step, Track
from course.models import Staff
from course.organisation import BY_NAME, UnitOrder


@dataclass(frozen=True)
class UnitRate:
    """Completion of one track in one 部 (or 課)."""

    department: str
    section: str  # "" for the whole 部
    track: str
    staff_count: int
    completed: int
    awaiting: int
    in_progress: int
    not_started: int

    @property
    def rate(self) -> float:
        return self.completed / self.staff_count if self.staff_count else 0.0


@dataclass(frozen=True)
class ModuleStat:
    module: Module
    submitted: int  # staff with a submission
    graded: int  # of which fully graded (修了 or 受講中)
    passed: int
    mean_score: float | None  # mean score ratio of the fully graded submissions

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None


@dataclass(frozen=True)
class WeekPoint:
    week_start: date  # a Monday
    completed: dict[str, int]  # track name -> staff who had completed it by the end of that week


@dataclass(frozen=True)
class PromoterProgress:
    staff: Staff
    steps_done: tuple[bool, ...]  # one per step of the promoter track, in order
    reached: int  # how many steps are done in order from the first (0–4)


@dataclass(frozen=True)
class Waiting:
    staff: Staff
    module: Module
    submitted_at: datetime | None


def current(completions: Sequence[StaffCompletion]) -> list[StaffCompletion]:
    return [c for c in completions if c.staff.current]


def unit_rates(
    completions: Sequence[StaffCompletion],
    curriculum: Curriculum,
    *,
    by_section: bool = False,
    order: UnitOrder = BY_NAME,
) -> list[UnitRate]:
    """Per 部 (or per 部/課) and track: how many take it and how many are in each status, the units in ``order`` (the
    organisation's, as HR's lists have them; by name when none is given)."""
    names = {key: track.name for key, track in curriculum.tracks.items()}
    groups: dict[tuple[str, str, str], list[TrackStatus]] = defaultdict(list)
    for c in current(completions):
        section = c.staff.section if by_section else ""
        for record in c.tracks:
            if record.status not in UNMEASURED:
                groups[(c.staff.department, section, names[record.track_key])].append(record.status)
    track_rank = {name: index for index, name in enumerate(names.values())}
    rates = []
    for (department, section, track), statuses in sorted(
        groups.items(), key=lambda kv: (order(kv[0][0], kv[0][1]), track_rank[kv[0][2]])
    ):
        rates.append(
            UnitRate(
                department=department,
                section=section,
                track=track,
                staff_count=len(statuses),
                completed=statuses.count(TrackStatus.COMPLETE),
                awaiting=statuses.count(TrackStatus.AWAITING_GRADING),
                in_progress=statuses.count(TrackStatus.IN_PROGRESS),
                not_started=statuses.count(TrackStatus.NOT_STARTED),
            )
        )
    return rates


def module_stats(completions: Sequence[StaffCompletion], modules: Sequence[Module]) -> list[ModuleStat]:
    """Per published module: submissions, pass rate among fully graded ones, and their mean score ratio."""
    stats = []
    people = current(completions)
    for module in modules:
        records = [c.modules[module.id] for c in people]
        submitted = [r for r in records if r.score_ratio is not None]
        graded = [r for r in submitted if r.status in (ModuleStatus.PASSED, ModuleStatus.IN_PROGRESS)]
        ratios = [r.score_ratio for r in graded if r.score_ratio is not None]
        stats.append(
            ModuleStat(
                module=module,
                submitted=len(submitted),
                graded=len(graded),
                passed=sum(r.status is ModuleStatus.PASSED for r in graded),
                mean_score=sum(ratios) / len(ratios) if ratios else None,
            )
        )
    return stats


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_trend(
    completions: Sequence[StaffCompletion], curriculum: Curriculum, *, opened: date, today: date
) -> list[WeekPoint]:
    """Cumulative track completions at the end of each week from the course's opening to ``today``."""
    names = {key: track.name for key, track in curriculum.tracks.items()}
    days: dict[str, list[date]] = {name: [] for name in names.values()}
    for c in current(completions):
        for record in c.tracks:
            if record.status is TrackStatus.COMPLETE and record.completed_at is not None:
                days[names[record.track_key]].append(record.completed_at.date())
    points = []
    week = monday(opened)
    while week <= today:
        end = week + timedelta(days=6)
        points.append(WeekPoint(week, {name: sum(d <= end for d in done) for name, done in days.items()}))
        week += timedelta(days=7)
    return points


def _step_done(step: Step, track: Track, records: Mapping[str, ModuleRecord]) -> bool:
    passed = {m for m, r in records.items() if r.status is ModuleStatus.PASSED}
    if step.electives:
        return len(passed & set(track.electives)) >= track.min_electives
    return set(step.modules) <= passed


def promoter_progress(completions: Sequence[StaffCompletion], curriculum: Curriculum) -> list[PromoterProgress]:
    """How far each 推進員 has come along the guideline's steps (a step counts once all before it are done)."""
    track = curriculum.promoter_track()
    result = []
    for c in current(completions):
        if not c.staff.promoter:
            continue
        done = tuple(_step_done(step, track, c.modules) for step in track.steps)
        reached = next((i for i, ok in enumerate(done) if not ok), len(done))
        result.append(PromoterProgress(c.staff, done, reached))
    return sorted(result, key=lambda p: (p.staff.department, p.staff.section, p.staff.staff_id))


def reached_label(steps: Sequence[Step], reached: int) -> str:
    """How far a 推進員 has come, in words: 「ステップ1の途中」 before the first step is done, else the last step done
    (「2. スキル習得」). The chart's bars and the lists use the same words."""
    return f"{reached}. {steps[reached - 1].name}" if reached else "ステップ1の途中"


def not_started(completions: Sequence[StaffCompletion]) -> list[Staff]:
    """Current staff who have not submitted a single module."""
    people = [c.staff for c in current(completions) if all(r.score_ratio is None for r in c.modules.values())]
    return sorted(people, key=lambda s: (s.department, s.section, s.staff_id))


def awaiting_grading(completions: Sequence[StaffCompletion], modules: Sequence[Module]) -> list[Waiting]:
    """Submissions whose manually graded parts are still to be graded, oldest first."""
    waiting = [
        Waiting(c.staff, module, c.modules[module.id].submitted_at)
        for c in current(completions)
        for module in modules
        if c.modules[module.id].status is ModuleStatus.AWAITING_GRADING
    ]
    far_future = datetime.max.replace(tzinfo=None)
    return sorted(
        waiting,
        key=lambda w: (w.submitted_at.replace(tzinfo=None) if w.submitted_at else far_future, w.staff.staff_id),
    )
