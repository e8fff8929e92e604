"""A fictional cohort written straight into a gradebook, for the report benchmark and the cross-check tests.

No notebook runs: assignments, grade cells, submissions and grades are inserted as nbgrader would leave them after
autograding and some manual grading. Everyone is fictional (names are made of common family and given names).
"""

from __future__ import annotations

import random
import shutil
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.api import Grade, Gradebook, SubmittedAssignment, SubmittedNotebook

from course.config import Course
from course.curriculum import GRADES, Curriculum, Module, load_curriculum
from course.gradebook import open_gradebook, sync_staff
from course.models import Staff

REPO = Path(__file__).resolve().parents[1]

# (grade id, cell type, points): three autograded tests and one manually graded reflection, like the real modules.
CELLS = (("test_a", "code", 4.0), ("test_b", "code", 3.0), ("test_c", "code", 3.0), ("reflection", "markdown", 3.0))
DEPARTMENTS = {
    "総務部": ("人事課", "行政経営課", "情報政策課", "財政課"),
    "市民生活部": ("市民課", "税務課", "環境政策課"),
    "こども福祉部": ("こども課", "社会福祉課", "健康増進課"),
    "産業文化部": ("商工観光課", "農政課", "文化振興課"),
    "都市建設部": ("道路河川課", "都市計画課", "建築住宅課"),
    "総合政策部": ("政策調整課", "広報課"),
}
FAMILY = (
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "松本",
    "井上",
)
GIVEN = ("花子", "一郎", "美咲", "翔太", "陽菜", "大輔", "結衣", "健", "さくら", "拓也", "真理", "悠人", "彩", "誠")
POSITIONS = {"一般職": ("主事", "主任", "技師"), "係長職": ("係長", "主査級係長"), "課長職以上": ("課長", "部長")}


def course_folder(root: Path) -> Course:
    """A throwaway course in ``root``: the real nbgrader_config.py and settings/, a notebook stub per module (so
    every module counts as published) and all state under ``root/runtime``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "settings", root / "settings")
    course = Course.load(root, runtime=root / "runtime")
    stub_notebooks(course=course, curriculum=load_curriculum(root / "settings" / "curriculum.toml"))
    return course


def stub_notebooks(*, course: Course, curriculum: Curriculum) -> None:
    """An empty notebook per module, so every module counts as published (the report reads source/)."""
    for module in curriculum.modules.values():
        path = module.notebook(course.source_dir)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nbformat.v4.new_notebook(), path)


def make_staff(count: int, *, seed: int = 1) -> list[Staff]:
    rng = random.Random(seed)
    units = [(d, s) for d, sections in DEPARTMENTS.items() for s in sections]
    staff = []
    for index in range(count):
        department, section = units[index % len(units)]
        grade = rng.choices(GRADES, weights=(70, 20, 10))[0]
        position = rng.choice(POSITIONS[grade]) if grade != "係長職" else "係長"
        staff.append(
            Staff(
                staff_id=f"{400000 + index}",
                name=f"{rng.choice(FAMILY)} {rng.choice(GIVEN)}",
                kana="",
                department=department,
                section=section,
                position=position,
                grade=grade,
                promoter=index < len(units),  # one 推進員 per 課
            )
        )
    return staff


def _stamp(rng: random.Random, opened: date, today: date) -> datetime:
    day = opened + timedelta(days=rng.randrange(max((today - opened).days, 1)))
    return datetime.combine(day, time(9)) + timedelta(minutes=rng.randrange(8 * 60))


def make_cohort(
    *,
    course: Course,
    curriculum: Curriculum,
    staff_count: int,
    today: date,
    seed: int = 1,
    share: float = 0.8,
    every_module: bool = False,
    planted: Mapping[tuple[str, str], str] | None = None,
) -> list[Staff]:
    """Staff, and for each of them a graded submission of each module of their tracks (or, with ``every_module``,
    of all modules: the largest gradebook a city could have) with probability ``share``.

    A test cell's points follow the person's ability, except for ``planted`` items, {(module id, grade id): kind}:
    "hard" (nobody gets a point), "easy" (everybody gets full marks), "reversed" (full marks for the weaker half by
    ability, nothing for the stronger half: a broken item)."""
    planted = planted or {}
    rng = random.Random(seed)
    staff = make_staff(staff_count, seed=seed)
    sync_staff(course=course, staff=staff)
    opened = today - timedelta(weeks=8)
    with open_gradebook(course) as gb:
        notebooks, cells = _synthetic_cells(gb, curriculum.modules.values())
        assignments = {a.name: a.id for a in gb.assignments}
        rows: list[_Rows] = []
        for person in staff:
            ability = rng.random()
            tracks = curriculum.tracks_for(grade=person.grade, promoter=person.promoter)
            modules = (
                set(curriculum.modules) if every_module else {m for t in tracks for m in (*t.required, *t.electives)}
            )
            for module_id in sorted(modules):
                if rng.random() > share:
                    continue
                module = curriculum.modules[module_id]
                stamp = _stamp(rng, opened, today)
                scores: dict[str, float | None] = {}
                for name, cell_type, points in CELLS:
                    manual = cell_type == "markdown"
                    graded = not manual or rng.random() < 0.8
                    score = float(round(points * min(1.0, max(0.0, rng.gauss(ability + 0.25, 0.3)))))
                    kind = planted.get((module_id, name))
                    if kind is not None:
                        score = {"hard": 0.0, "easy": points, "reversed": points if ability < 0.5 else 0.0}[kind]
                    scores[name] = score if graded else None
                rows.append(
                    _graded_submission(
                        assignment_id=assignments[module.assignment],
                        notebook_id=notebooks[module_id],
                        cells={name: cells[(module_id, name)] for name, _, _ in CELLS},
                        staff_id=person.staff_id,
                        stamp=stamp,
                        scores=scores,
                    )
                )
        _insert(gb, rows)
    return staff


def passed_modules(*, course: Course, curriculum: Curriculum, staff_id: str, modules: Iterable[str],
                   when: datetime) -> None:  # fmt: skip
    """Full marks for ``staff_id`` in each of ``modules``, submitted at ``when`` (aware), written into the gradebook as
    nbgrader leaves a submission after autograding and manual grading: for a test that needs one person near the end
    of a track without running and grading every notebook. The modules get this file's four grade cells, not their
    real ones, so a module that the course has already released (and thus has its real cells in the gradebook) is
    refused."""
    chosen = [curriculum.modules[m] for m in modules]
    with open_gradebook(course) as gb:
        existing = {a.name for a in gb.assignments}
        if released := [m.id for m in chosen if m.assignment in existing]:
            raise ValueError(f"already in the gradebook with its real cells: {released}")
        notebooks, cells = _synthetic_cells(gb, chosen)
        assignments = {a.name: a.id for a in gb.assignments}
        stamp = when.astimezone(course.timezone).replace(tzinfo=None)
        rows = [
            _graded_submission(
                assignment_id=assignments[module.assignment],
                notebook_id=notebooks[module.id],
                cells={name: cells[(module.id, name)] for name, _, _ in CELLS},
                staff_id=staff_id,
                stamp=stamp,
                scores={name: points for name, _, points in CELLS},
            )
            for module in chosen
        ]
        _insert(gb, rows)


_Rows = tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]


def _synthetic_cells(gb: Gradebook, modules: Iterable[Module]) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Each module's assignment and notebook with the four CELLS; returns the notebook ids by module and the cell ids
    by (module, grade id)."""
    notebooks, cells = {}, {}
    for module in modules:
        gb.update_or_create_assignment(module.assignment)
        notebooks[module.id] = gb.update_or_create_notebook(module.assignment, module.assignment).id
        for name, cell_type, points in CELLS:
            cell = gb.update_or_create_grade_cell(
                name, module.assignment, module.assignment, max_score=points, cell_type=cell_type
            )
            cells[(module.id, name)] = cell.id
    return notebooks, cells


def _graded_submission(*, assignment_id: str, notebook_id: str, cells: Mapping[str, str], staff_id: str,
                       stamp: datetime, scores: Mapping[str, float | None]) -> _Rows:  # fmt: skip
    """The rows of one graded submission: ``stamp`` is naive Japan time; a reflection scored None awaits grading."""
    submission_id, submitted_notebook_id = uuid.uuid4().hex, uuid.uuid4().hex
    submission = {
        "id": submission_id,
        "assignment_id": assignment_id,
        "student_id": staff_id,
        "timestamp": stamp.replace(tzinfo=None) - timedelta(hours=9),  # stored in UTC
    }
    notebook = {"id": submitted_notebook_id, "assignment_id": submission_id, "notebook_id": notebook_id}
    grades = []
    for name, cell_type, _ in CELLS:
        manual, score = cell_type == "markdown", scores[name]
        grades.append(
            {
                "id": uuid.uuid4().hex,
                "notebook_id": submitted_notebook_id,
                "cell_id": cells[name],
                "auto_score": None if manual else score,
                "manual_score": score if manual else None,
                "needs_manual_grade": manual and score is None,
            }
        )
    return submission, notebook, grades


def _insert(gb: Gradebook, rows: list[_Rows]) -> None:
    gb.db.execute(SubmittedAssignment.__table__.insert(), [r[0] for r in rows])
    gb.db.execute(SubmittedNotebook.__table__.insert(), [r[1] for r in rows])
    gb.db.execute(Grade.__table__.insert(), [g for r in rows for g in r[2]])
    gb.db.commit()
