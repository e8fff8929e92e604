"""年度 (the fiscal year, April to March) and each year's plan: which tracks are offered, from when, and by when.

The plan is a sheet HR keeps in the course folder (settings/year_plan.csv, UTF-8 so Excel opens it), one row per
track offered that year and, where a module has its own deadline, one row per module:

    年度, 対象, 開始日, 期限, 備考
    令和8年度, 一般職, 2026-10-01, 2027-03-15,
    令和8年度, B05, , 2026-11-30, 情報セキュリティは年内に

A year without rows has no plan: every track is offered and nothing has a deadline. A module's deadline is its own
row's, else its track's. Parsing is pure; read_year_plans reads the file and reports every mistake at once.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import total_ordering
from pathlib import Path

from course.curriculum import GRADES, Curriculum
from course.hr_sheet import Problem, SheetError, SheetRow, data_rows, header_columns, nfkc, parse_date
from course.models import Staff
from course.spreadsheet import Cell, read_rows

PLAN_FILE = "year_plan.csv"  # in the course folder's settings/
PLAN_COLUMNS = ("年度", "対象", "開始日", "期限")
PLAN_OPTIONAL = ("備考",)
REIWA_OFFSET = 2018  # 令和N年度 = fiscal year N + 2018


@total_ordering
@dataclass(frozen=True)
class FiscalYear:
    """A 年度: 1 April of ``start`` to 31 March of the next year."""

    start: int

    @classmethod
    def of(cls, day: date) -> FiscalYear:
        return cls(day.year if day.month >= 4 else day.year - 1)

    @classmethod
    def parse(cls, value: Cell) -> FiscalYear | None:
        """「令和8年度」「R8」「2026年度」「2026」 (also a number from Excel); None if it is not a year."""
        if isinstance(value, int | float) and float(value).is_integer():
            value = int(value)
        text = nfkc(value).replace(" ", "").removesuffix("年度")
        if match := re.fullmatch(r"(?:令和|R|r)(元|\d{1,2})", text):
            return cls(REIWA_OFFSET + (1 if match[1] == "元" else int(match[1])))
        if re.fullmatch(r"\d{4}", text) and 2000 <= int(text) <= 2100:
            return cls(int(text))
        return None

    @property
    def first_day(self) -> date:
        return date(self.start, 4, 1)

    @property
    def last_day(self) -> date:
        return date(self.start + 1, 3, 31)

    def __contains__(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def __lt__(self, other: FiscalYear) -> bool:
        return self.start < other.start

    def previous(self) -> FiscalYear:
        return FiscalYear(self.start - 1)

    @property
    def label(self) -> str:
        """令和8年度 (令和元年度 for 2019)."""
        reiwa = self.start - REIWA_OFFSET
        return f"令和{'元' if reiwa == 1 else reiwa}年度"

    @property
    def full_label(self) -> str:
        """令和8年度（2026年度）: what a list's title says."""
        return f"{self.label}（{self.start}年度）"


@dataclass(frozen=True)
class YearPlan:
    """One year's plan. ``tracks`` None means no plan was written: every track is offered, nothing is due."""

    year: FiscalYear
    tracks: frozenset[str] | None = None  # track keys offered this year
    opened: date | None = None  # the earliest 開始日 of the year's tracks
    track_deadlines: Mapping[str, date] = field(default_factory=dict)
    module_deadlines: Mapping[str, date] = field(default_factory=dict)

    def offers(self, track_key: str) -> bool:
        return self.tracks is None or track_key in self.tracks

    def deadline(self, track_key: str, module_id: str | None = None) -> date | None:
        """A module's deadline within a track (its own, else the track's), or the track's."""
        if module_id is not None and module_id in self.module_deadlines:
            return self.module_deadlines[module_id]
        return self.track_deadlines.get(track_key)


def parse_year_plans(
    header: Sequence[str], rows: Sequence[Sequence[Cell]], *, file: str, curriculum: Curriculum
) -> dict[FiscalYear, YearPlan]:
    """Every year's plan from the sheet, or SheetError listing every mistake (row and column as Excel shows them)."""
    columns, problems, _ = header_columns(header, file=file, required=PLAN_COLUMNS, optional=PLAN_OPTIONAL)
    if problems:
        raise SheetError(problems, sheet="年度計画")
    opened: dict[FiscalYear, dict[str, date | None]] = {}
    track_deadlines: dict[FiscalYear, dict[str, date]] = {}
    module_deadlines: dict[FiscalYear, dict[str, date]] = {}
    seen: dict[tuple[FiscalYear, str], int] = {}
    for row in data_rows(rows, columns, file=file):
        cells, values = row.cells, row.values

        def problem(column: str, message: str, *, row: SheetRow = row) -> None:
            problems.append(row.problem(column, message))

        year = FiscalYear.parse(cells["年度"])
        if year is None:
            problem("年度", "年度は「令和8年度」か「2026」のように書いてください。")
        target = values["対象"]
        track, module = curriculum.track_key(target), curriculum.module_id(target)
        if track is None and module is None:
            names = "・".join(t.name for t in curriculum.tracks.values())
            problem("対象", f"対象は研修区分（{names}）かモジュール番号（例: B05）にしてください。")
        start = parse_date(cells["開始日"]) if values["開始日"] else None
        due = parse_date(cells["期限"]) if values["期限"] else None
        if values["開始日"] and start is None:
            problem("開始日", "日付は 2026-10-01 か 2026/10/1 の形で書いてください。")
        if values["期限"] and due is None:
            problem("期限", "日付は 2027-03-15 か 2027/3/15 の形で書いてください。")
        if module is not None and values["開始日"]:
            problem("開始日", "開始日は研修区分の行に書いてください（モジュールの行には期限だけを書きます）。")
        if module is not None and due is None and not values["期限"]:
            problem("期限", "モジュールの行には期限が必要です。")
        if start is not None and due is not None and due < start:
            problem("期限", "期限が開始日より前になっています。")
        if year is not None and start is not None and start not in year:
            problem("開始日", f"開始日が{year.label}（{year.first_day:%Y/%m/%d}〜{year.last_day:%Y/%m/%d}）の外です。")
        if year is None or (track is None and module is None):
            continue
        key = track or module or ""
        if (year, key) in seen:
            problem("対象", f"{year.label}の「{target}」は {seen[year, key]}行目 にもあります。1行にまとめてください。")
            continue
        seen[year, key] = row.number
        if track is not None:
            opened.setdefault(year, {})[track] = start
            if due is not None:
                track_deadlines.setdefault(year, {})[track] = due
        elif due is not None and module is not None:
            module_deadlines.setdefault(year, {})[module] = due
    for (year, key), row_number in seen.items():
        if key in curriculum.modules and year not in opened:
            problems.append(Problem(file, row_number, "対象", key, f"{year.label}に研修区分の行がありません。"))
    if problems:
        raise SheetError(problems, sheet="年度計画")
    return {
        year: YearPlan(
            year=year,
            tracks=frozenset(tracks),
            opened=min((d for d in tracks.values() if d is not None), default=None),
            track_deadlines=track_deadlines.get(year, {}),
            module_deadlines=module_deadlines.get(year, {}),
        )
        for year, tracks in opened.items()
    }


def read_year_plans(path: Path, *, curriculum: Curriculum) -> dict[FiscalYear, YearPlan]:
    """The plans in ``path``, every year's."""
    header, rows = read_rows(path)
    return parse_year_plans(header, rows, file=path.name, curriculum=curriculum)


def plan_for(plans: Mapping[FiscalYear, YearPlan], year: FiscalYear) -> YearPlan:
    return plans.get(year) or YearPlan(year=year)


def year_roster(rosters: Mapping[FiscalYear, Sequence[Staff]], year: FiscalYear) -> tuple[list[Staff], dict[str, str]]:
    """The roster ``year`` is judged by: the latest imported for a year up to it (until HR imports April's, last
    year's holds), plus the people of the roster before that who are no longer on it (not current: 名簿外), and for
    each person what changed since that earlier roster (新規, 異動, 昇任 …), in 職員番号 order."""
    years = sorted(y for y in rosters if y <= year)
    if not years:
        return [], {}
    people = list(rosters[years[-1]])
    if len(years) == 1:
        return sorted(people, key=lambda p: p.staff_id), {}
    before = {p.staff_id: p for p in rosters[years[-2]]}
    present = {p.staff_id for p in people}
    changes: dict[str, str] = {}
    for person in people:
        old = before.get(person.staff_id)
        if old is None or not old.current:
            changes[person.staff_id] = "新規"
            continue
        notes = []
        if old.grade != person.grade:
            up = (
                GRADES.index(person.grade) > GRADES.index(old.grade)
                if {old.grade, person.grade} <= set(GRADES)
                else False
            )
            notes.append(f"{'昇任' if up else '職責区分の変更'}（{old.grade}→{person.grade}）")
        if (old.department, old.section) != (person.department, person.section):
            notes.append(f"異動（{old.department}{old.section}→{person.department}{person.section}）")
        if old.promoter != person.promoter:
            notes.append("推進員に就任" if person.promoter else "推進員を退任")
        if notes:
            changes[person.staff_id] = "・".join(notes)
    for old in before.values():
        if old.current and old.staff_id not in present:
            people.append(dataclasses.replace(old, current=False))
            changes[old.staff_id] = "名簿から外れました（退職・休職など）"
    return sorted(people, key=lambda p: p.staff_id), changes
