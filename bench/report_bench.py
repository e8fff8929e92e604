"""Benchmark: the task force's progress report for a whole city (1,100 staff × 23 modules), in one run.

    .venv/bin/python bench/report_bench.py --staff 1100

Generates a fictional gradebook of that size (every member of staff submits every module with probability 0.85,
the largest gradebook the curriculum allows), then times:
- reading every submission with nbgrader's own ``Gradebook.submission_dicts`` (the plain-nbgrader way) and with
  the course's plain queries, checking that both give the same scores (the ratio is printed);
- the whole ``python -m course report`` job (HTML with 4 plots + its workbook of 5 sheets), in process.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course.curriculum import load_curriculum  # noqa: E402
from course.gradebook import open_gradebook  # noqa: E402
from course.records import load_submissions  # noqa: E402
from course.taskforce import report  # noqa: E402
from tests import synthetic  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--staff", type=int, default=1100)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--plain-budget", type=float, default=120, help="seconds to spend timing nbgrader's own query")
    args = parser.parse_args()
    curriculum = load_curriculum()
    names = [m.assignment for m in curriculum.modules.values()]
    with tempfile.TemporaryDirectory(prefix="sano-report-bench-") as tmp:
        root = Path(tmp)
        course = synthetic.course_folder(root)
        started = time.perf_counter()
        synthetic.make_cohort(
            course=course, curriculum=curriculum, staff_count=args.staff, today=date(2026, 11, 27),
            share=0.85, every_module=True,
        )  # fmt: skip
        generate = time.perf_counter() - started

        started = time.perf_counter()
        ours = {(s.staff_id, s.assignment): s.score for s in load_submissions(course=course, assignments=names)}
        ours_seconds = time.perf_counter() - started
        # nbgrader's submission_dicts grows worse than linearly (a correlated EXISTS per row): time it assignment by
        # assignment within a budget and extrapolate the mean to all assignments, saying so.
        plain: dict[tuple[str, str], float] = {}
        measured = []
        with open_gradebook(course) as gb:
            for name in names:
                started = time.perf_counter()
                plain.update({(r["student"], name): float(r["score"]) for r in gb.submission_dicts(name)})
                measured.append(time.perf_counter() - started)
                if sum(measured) > args.plain_budget:
                    break
        plain_seconds = sum(measured) / len(measured) * len(names)
        identical = plain == {key: score for key, score in ours.items() if key[1] in set(names[: len(measured)])}

        started = time.perf_counter()
        result = report.write_report(course=course, curriculum=curriculum)
        report_seconds = time.perf_counter() - started
        sizes = {p.name: p.stat().st_size for p in (result.html, result.workbook)}
    summary = {
        "staff": args.staff,
        "modules": len(names),
        "submissions": len(ours),
        "generate_seconds": round(generate, 1),
        "nbgrader_assignments_timed": f"{len(measured)} of {len(names)} (the rest extrapolated from their mean)",
        "nbgrader_submission_dicts_seconds": round(plain_seconds, 2),
        "course_load_submissions_seconds": round(ours_seconds, 2),
        "ratio": round(plain_seconds / ours_seconds, 1),
        "identical_scores": identical,
        "report_seconds": round(report_seconds, 2),
        "report_files_bytes": sizes,
    }
    for key, value in summary.items():
        print(f"{key:>36}: {value}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report-latest.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
