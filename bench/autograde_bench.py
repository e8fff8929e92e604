"""Benchmark: plain `nbgrader autograde` against `python -m course autograde`, on the same machine, in one run.

    .venv/bin/python bench/autograde_bench.py --submissions 200

Builds two identical throwaway courses from source/b03 (a module that imports pandas and matplotlib), places N
realistic submissions (a seeded mix of correct, partial, wrong and blank answers from demo/answers/b03.toml) in
each, grades one with the nbgrader CLI and the other with the course CLI, and prints wall time, seconds per
submission, the ratio, whether every score is identical, and the cells' own execution time (the floor).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbgrader.api import Gradebook

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course import demo, lifecycle  # noqa: E402
from course.config import Course  # noqa: E402
from course.curriculum import load_curriculum  # noqa: E402
from course.gradebook import sync_staff  # noqa: E402
from course.models import Staff  # noqa: E402

MODULE = "B03"
KINDS = ("correct", "correct", "correct", "partial", "wrong", "missing")


def make_course(root: Path) -> Course:
    root.mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "settings", root / "settings")
    shutil.copytree(REPO / "source" / MODULE.lower(), root / "source" / MODULE.lower())
    shutil.copytree(REPO / "demo", root / "demo")
    course = Course.load(root)
    lifecycle.build(course=course, modules=[load_curriculum().modules[MODULE]])
    return course


def place_submissions(course: Course, count: int) -> list[str]:
    """Submissions written straight into submitted/, as `nbgrader collect` leaves them."""
    module = load_curriculum().modules[MODULE]
    answers = demo.DemoAnswers.load(course, module)
    release = course.release_dir / module.assignment / f"{module.assignment}.ipynb"
    ids = [f"{300000 + i}" for i in range(count)]
    for staff_id in ids:
        rng = random.Random(f"bench:{staff_id}")
        nb = nbformat.read(release, as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and cell.cell_type == "code":
                source = answers.answer(meta["grade_id"], rng.choice(KINDS))
                if source is not None:
                    cell.source = source
            elif meta.get("solution"):
                cell.source = rng.choice(answers.reflections)
        folder = course.submitted_dir / staff_id / module.assignment
        folder.mkdir(parents=True)
        for data in (course.release_dir / module.assignment).iterdir():
            if data.suffix != ".ipynb":
                shutil.copy2(data, folder / data.name)
        nbformat.write(nb, folder / f"{module.assignment}.ipynb")
        (folder / "timestamp.txt").write_text("2026-11-27 10:00:00.000000 JST", encoding="utf-8")
    return ids


def scores(course: Course, ids: list[str]) -> dict[str, float]:
    gb = Gradebook(course.db_url, course.course_id)
    try:
        result = {}
        for staff_id in ids:
            try:
                result[staff_id] = float(gb.find_submission(MODULE.lower(), staff_id).code_score)
            except Exception:
                result[staff_id] = float("nan")
        return result
    finally:
        gb.close()


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def cell_floor(course: Course) -> float:
    """Seconds the cells of the module (with its solutions) take in a warm kernel: the floor.

    The notebook runs twice in one kernel and the second run is timed, so library imports (which the grader's
    zygote has already done) are not counted.
    """
    path = course.source_dir / MODULE.lower() / f"{MODULE.lower()}.ipynb"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, resources={"metadata": {"path": str(path.parent)}}, timeout=60, allow_errors=True)
    with client.setup_kernel():
        for _ in range(2):
            started = time.perf_counter()
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    client.execute_cell(cell, index)
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONUTF8="1", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    with tempfile.TemporaryDirectory(prefix="sano-bench-") as tmp:
        plain = make_course(Path(tmp) / "plain")
        ours = make_course(Path(tmp) / "ours")
        ids = place_submissions(plain, args.submissions)
        place_submissions(ours, args.submissions)
        sync_staff(
            course=ours,
            staff=[Staff(i, f"架空 {i}", "", "総務部", "人事課", "主事", "一般職", False) for i in ids],
        )
        nbgrader = [str(Path(sys.executable).parent / "nbgrader"), "autograde", MODULE.lower()]
        plain_seconds = timed(nbgrader, plain.root, env)
        ours_seconds = timed([sys.executable, "-m", "course", "autograde", MODULE], ours.root, env)
        plain_scores, our_scores = scores(plain, ids), scores(ours, ids)
        identical = plain_scores == our_scores
        floor = cell_floor(ours)
    n = args.submissions
    report = {
        "submissions": n,
        "cores": os.cpu_count(),
        "plain_nbgrader_seconds": round(plain_seconds, 1),
        "course_autograde_seconds": round(ours_seconds, 1),
        "plain_seconds_per_submission": round(plain_seconds / n, 3),
        "course_seconds_per_submission": round(ours_seconds / n, 3),
        "ratio": round(plain_seconds / ours_seconds, 2),
        "identical_scores": identical,
        "cells_seconds_per_submission": round(floor, 3),
        "floor_seconds_for_all_on_all_cores": round(floor * n / (os.cpu_count() or 1), 1),
    }
    for key, value in report.items():
        print(f"{key:>36}: {value}")
    if not identical:
        differing = [i for i in ids if plain_scores[i] != our_scores[i]]
        print(f"{'differing':>36}: {differing[:10]}")
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "autograde.csv").open("a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(report))
        if handle.tell() == 0:
            writer.writeheader()
        writer.writerow(report)
    (args.out / "autograde-latest.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
