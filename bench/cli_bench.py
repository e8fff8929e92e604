"""Benchmark: how quickly the instructors' commands answer, beside a bare Python start measured in the same run.

    .venv/bin/python bench/cli_bench.py            # 1,100 staff, every module, ~21,000 submissions

Builds a fictional gradebook for a whole city (tests/synthetic.py: every member of staff submits every module with
probability 0.8), then runs each command as a person would, in a fresh process, ``--repeat`` times after one warm-up
run, and prints the median wall time, its ratio to ``python -c pass`` and the median CPU time (user + sys, with
the processes a command starts: the report draws its charts in processes of its own). Targets: ``--help`` ≤ 0.3 s,
``curriculum`` ≤ 0.6 s, ``export`` ≤ 1.0 s and ``report`` ≤ 3.0 s on two cores. Results are appended to
bench/results/cli.csv.
"""

from __future__ import annotations

import argparse
import compileall
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course.config import Course  # noqa: E402
from course.curriculum import load_curriculum  # noqa: E402
from tests import synthetic  # noqa: E402

TARGETS = {"--help": 0.3, "curriculum": 0.6, "export": 1.0, "report": 3.0}


def timed(argv: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + sys, with the processes it started) of ``argv`` over ``repeat``
    runs, after one warm-up run (which must succeed). On a shared machine the wall time depends on what else runs;
    the CPU time much less so."""
    subprocess.run(argv, env=env, check=True, capture_output=True)
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--staff", type=int, default=1100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    # Measured as installed: pip compiles a package's bytecode when it installs it, while a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 (as on CI) would compile every module of the course on every start.
    compileall.compile_dir(REPO / "course", quiet=1)
    curriculum = load_curriculum()
    with tempfile.TemporaryDirectory(prefix="sano-cli-bench-") as tmp:
        root = Path(tmp)
        course = synthetic.course_folder(root)
        synthetic.make_cohort(
            course=course, curriculum=curriculum, staff_count=args.staff, today=date(2026, 11, 27), share=0.8,
            every_module=True,
        )  # fmt: skip
        env = {**os.environ, "COURSE_ROOT": str(root), "PYTHONPATH": str(REPO)}
        course_cmd = [sys.executable, "-m", "course", "--runtime", str(root / "runtime")]
        out = ["--out", str(root / "out")]
        runs = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "--help": [sys.executable, "-m", "course", "--help"],
            "curriculum": [*course_cmd, "curriculum"],
            "export": [*course_cmd, "export", *out],
            "report": [*course_cmd, "report", *out],
        }
        measured = {name: timed(argv, env, args.repeat) for name, argv in runs.items()}
        seconds = {name: wall for name, (wall, _) in measured.items()}
        with Course.load(root, runtime=root / "runtime").api().gradebook as gb:
            submissions = sum(len(a.submissions) for a in gb.assignments)
    bare = seconds["python -c pass"]
    print(f"{args.staff} 人・{len(curriculum.modules)} モジュール・提出 {submissions} 件（中央値、{args.repeat} 回）")
    print(f"{'command':>16} {'seconds':>8} {'× bare':>8} {'target':>7}       {'cpu s':>7}")
    for name, (value, cpu) in measured.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else ("ok" if value <= target else "OVER")
        print(f"{name:>16} {value:8.3f} {value / bare:8.1f} {target or '':>7} {verdict:<5} {cpu:7.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "cli.csv"
    new = not log.exists()
    with log.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["when", "staff", "submissions", *seconds])
        writer.writerow([datetime.now().isoformat(timespec="seconds"), args.staff, submissions, *seconds.values()])
    return 0 if all(seconds[name] <= target for name, target in TARGETS.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
