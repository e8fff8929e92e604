"""The curriculum file matches the guideline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course.config import CourseError
from course.curriculum import GRADES, load_curriculum
from tests.conftest import REPO


def test_all_24_modules_are_listed():
    """B00–B07, K01–K02, M01–M03, P01–P05 and E01–E06, each with a Japanese title and a pass ratio."""
    cur = load_curriculum()
    expected = [*(f"B0{i}" for i in range(8)), "K01", "K02", "M01", "M02", "M03",
                *(f"P0{i}" for i in range(1, 6)), *(f"E0{i}" for i in range(1, 7))]  # fmt: skip
    assert list(cur.modules) == expected
    assert all(m.title and 0 < m.pass_ratio <= 1 for m in cur.modules.values())


def test_tracks_follow_the_guideline():
    """One track per 職責区分 starting from the same core, and a promoter track with required modules and electives."""
    cur = load_curriculum()
    assert [cur.track_for_grade(g).name for g in GRADES] == list(GRADES)
    core = ("B00", "B01", "B05", "B07")  # Jupyter, デジタル技術基礎, 情報セキュリティ基礎, オフィスツール
    assert all(cur.track_for_grade(g).required[:4] == core for g in GRADES)
    assert cur.track_for_grade("一般職").required[4:] == ("B02", "B06")
    assert cur.track_for_grade("係長職").required[4:] == ("K01", "K02")  # 業務改革, リーダーシップ
    assert cur.track_for_grade("課長職以上").required[4:] == ("M01", "M02", "M03")
    assert not any({"B03", "B04"} & set(cur.track_for_grade(g).required) for g in GRADES)  # code: 推進員 only
    promoter = cur.promoter_track()
    assert promoter.required == ("B03", "B04", "P01", "P02", "P03", "P04", "P05")
    assert len(promoter.electives) == 6 and promoter.min_electives == 2


def test_module_tracks_are_derived_from_the_tracks():
    """A module knows which tracks include it."""
    cur = load_curriculum()
    assert cur.modules["B05"].tracks == ("一般職", "係長職", "課長職以上")
    assert cur.modules["B03"].tracks == ("業務デジタル化推進員",)
    assert cur.modules["E02"].tracks == ("業務デジタル化推進員",)


def test_modules_without_a_notebook_are_planned(tmp_path):
    """Availability is the notebook's existence: a module whose notebook is missing is 準備中."""
    cur = load_curriculum()
    assert cur.modules["B03"].is_available(REPO / "source")
    (tmp_path / "b03").mkdir()
    (tmp_path / "b03" / "b03.ipynb").write_text("{}")
    assert cur.modules["B03"].is_available(tmp_path)
    assert not cur.modules["E02"].is_available(tmp_path)
    assert [m.id for m in cur.available(tmp_path)] == ["B03"]


def test_every_source_folder_is_a_curriculum_module():
    """No stray folder under source/: each is one module's assignment."""
    assignments = {m.assignment for m in load_curriculum().modules.values()}
    folders = {p.name for p in (REPO / "source").iterdir() if p.is_dir()}
    assert folders <= assignments


def test_inconsistent_curricula_are_rejected(tmp_path: Path):
    """An unknown module in a track and a bad pass ratio are both reported."""
    path = tmp_path / "c.toml"
    path.write_text(
        """
[modules.B00]
title = "x"
pass_ratio = 1.5
[tracks.a]
name = "一般職"
grade = "一般職"
required = ["B00", "Z99"]
""",
        encoding="utf-8",
    )
    with pytest.raises(CourseError) as caught:
        load_curriculum(path)
    message = str(caught.value)
    assert "Z99" in message and "1.5" in message and "係長職" in message


def test_stated_minutes_come_from_the_notebooks_first_cell(tmp_path: Path):
    """「所要時間の目安 | 約30〜40分」 gives 40 (the upper bound); a notebook that states none, or none at all, gives None."""
    b00 = load_curriculum().modules["B00"]
    assert isinstance(b00.stated_minutes(REPO / "source"), int)
    for first_cell, expected in (
        ("| 所要時間の目安 | 約30〜40分 |", 40),
        ("| 所要時間の目安 | 25分 |", 25),
        ("# B00", None),
    ):
        folder = tmp_path / first_cell.replace("|", "").replace(" ", "") / "b00"
        folder.mkdir(parents=True)
        cells = [{"cell_type": "markdown", "metadata": {}, "source": [first_cell]}]
        (folder / "b00.ipynb").write_text(json.dumps({"cells": cells}), encoding="utf-8")
        assert b00.stated_minutes(folder.parent) == expected, first_cell
    assert b00.stated_minutes(tmp_path / "nowhere") is None
