"""Domain records passed between the roster, the gradebook, the completion rules and the export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple


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
        family, *given = self.name.split(maxsplit=1)  # a full-width space (「山田　花子」) separates them too
        return family, given[0] if given else ""


@dataclass(frozen=True)
class ImportReport:
    """What a roster import changed (or would change, in a dry run)."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()  # no longer in the roster: kept, marked as not current
    notes: tuple[str, ...] = ()


class Submission(NamedTuple):
    """The graded state of one member of staff's latest submission of one module (from the gradebook). A named tuple,
    not a dataclass: a city's gradebook makes tens of thousands of them per command, at half the cost."""

    staff_id: str
    assignment: str
    score: float
    max_score: float
    needs_manual_grade: bool
    timestamp: datetime | None  # timezone-aware, in the course's timezone (Asia/Tokyo)


@dataclass(frozen=True)
class CellGrade:
    """The points one submission got for one item (an autograded test cell), as graded (from the gradebook)."""

    staff_id: str
    assignment: str
    grade_id: str  # the cell's nbgrader grade id, e.g. test_mails_1to4
    score: float
    max_score: float
    timestamp: datetime | None  # the submission's, timezone-aware


NEUTRALISE, RESTORE = "無効化", "取り消し"  # what an instructor did to an item (Neutralisation.action)


@dataclass(frozen=True)
class Neutralisation:
    """An item an instructor neutralised (every submission gets its full marks) or restored, with why, who and when."""

    assignment: str
    grade_id: str
    reason: str
    by: str
    at: datetime  # timezone-aware
    action: str = NEUTRALISE


@dataclass(frozen=True)
class Completion:
    """A module completion as the course recorded it (kept when nbgrader later replaces the submission)."""

    staff_id: str
    module_id: str
    completed_at: datetime  # timezone-aware
    score_ratio: float


EXTEND, EXEMPT = "延長", "免除"  # the two measures HR grants (Extension.measure)


@dataclass(frozen=True)
class Extension:
    """An extension (延長) or exemption (免除) HR granted one person for one 年度, with its reason."""

    staff_id: str
    fiscal_year: int  # the 年度 by its starting calendar year (令和8年度 = 2026)
    target: str  # "" = every track of that year, else a track key or a module id
    measure: str  # 延長 / 免除
    until: date | None  # the new deadline of an 延長
    reason: str  # 育児休業 / 病気休暇 / 合理的配慮 / 途中採用 / その他 (settings/roster.toml)
    note: str = ""
    imported_at: datetime | None = None
    imported_by: str = ""

    def describe(self) -> str:
        """「延長 2027/06/30まで（育児休業）」 or 「免除（途中採用）」: how a list shows it."""
        if self.measure == EXTEND and self.until is not None:
            return f"{EXTEND} {self.until:%Y/%m/%d}まで（{self.reason}）"
        return f"{self.measure}（{self.reason}）"
