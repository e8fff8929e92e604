"""Domain records passed between the roster, the gradebook, the completion rules and the export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Staff:
    """One member of staff, as the course knows them. ``staff_id`` is also their nbgrader student id."""

    staff_id: str
    name: str
    kana: str
    department: str  # 部
    section: str  # 課
    position: str  # 役職
    grade: str  # 職責区分: 一般職 / 係長職 / 課長職以上
    promoter: bool  # 業務デジタル化推進員
    current: bool = True  # False once they no longer appear in the roster; their grades are kept

    @property
    def family_and_given(self) -> tuple[str, str]:
        family, _, given = self.name.partition(" ")
        return family, given


@dataclass(frozen=True)
class ImportReport:
    """What a roster import changed (or would change, in a dry run)."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()  # no longer in the roster: kept, marked as not current
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Submission:
    """The graded state of one member of staff's latest submission of one module (from the gradebook)."""

    staff_id: str
    assignment: str
    score: float
    max_score: float
    needs_manual_grade: bool
    timestamp: datetime | None  # timezone-aware, in the course's timezone (Asia/Tokyo)
