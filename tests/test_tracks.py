"""Every grade track fits a working year and grades the grade's own skill (基本方針①).

Measured from curriculum.toml and the source notebooks: the time each module states in cell 0 (所要時間の目安, the
upper bound of 約A〜B分), the track's total, and the share of the track's autograded points whose answer cell is a
judgment item (only literal assignments, course/blanks.py). A test cell's points belong to the nearest answer cell
above it. The figures are printed for every track (pytest -s), and the test fails past the limits.
"""

from __future__ import annotations

from dataclasses import dataclass

import nbformat
import pytest

from course.blanks import is_judgment_item
from course.curriculum import Module, load_curriculum
from tests.conftest import REPO

MAX_MODULE_MINUTES = 45
MAX_TRACK_MINUTES = 270
MIN_JUDGMENT_SHARE = {"一般職": 0.50, "係長職": 0.70, "課長職以上": 0.70}


@dataclass(frozen=True)
class ModuleFigures:
    minutes: int
    points: float
    judgment_points: float


def figures(module: Module) -> ModuleFigures:
    """Stated minutes (upper bound) and autograded points, all and those of judgment items, of one module."""
    nb = nbformat.read(module.notebook(REPO / "source"), as_version=4)
    minutes = module.stated_minutes(REPO / "source")
    assert minutes is not None, f"{module.id}: cell 0 must state 所要時間の目安 as 約N分 or 約A〜B分"
    points = judgment = 0.0
    answer_is_judgment = False
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution") and not meta.get("grade"):
            answer_is_judgment = is_judgment_item(cell.source)
        elif meta.get("grade") and not meta.get("solution"):
            points += float(meta.get("points", 0))
            judgment += float(meta.get("points", 0)) if answer_is_judgment else 0.0
    return ModuleFigures(minutes=minutes, points=points, judgment_points=judgment)


GRADE_TRACKS = [track for track in load_curriculum().tracks.values() if track.grade]


@pytest.mark.parametrize("track", GRADE_TRACKS, ids=[t.name for t in GRADE_TRACKS])
def test_grade_track_fits_the_year_and_grades_judgment(track):
    cur = load_curriculum()
    rows = {module_id: figures(cur.modules[module_id]) for module_id in track.required}
    total = sum(f.minutes for f in rows.values())
    points = sum(f.points for f in rows.values())
    share = sum(f.judgment_points for f in rows.values()) / points
    print(f"\n{track.name}: {total} 分, 自動採点 {points:g} 点のうち判断の設問 {share:.0%}")
    for module_id, f in rows.items():
        print(f"  {module_id}: {f.minutes} 分, {f.judgment_points:g}/{f.points:g} 点")
    assert all(f.minutes <= MAX_MODULE_MINUTES for f in rows.values()), rows
    assert total <= MAX_TRACK_MINUTES
    assert share >= MIN_JUDGMENT_SHARE[track.name]
