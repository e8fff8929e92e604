"""`python -m course autograde`: parallel, sandboxed autograding with nbgrader's own machinery.

One run:
1. find new or changed submissions (a marker written after a successful grading, so an interrupted run simply
   grades the rest next time);
2. back up the gradebook;
3. pre-flight each submission into a staging folder (``course.preflight``);
4. grade them in parallel workers. Each worker is a fork of this process (no start-up cost per student) with its
   own kernel zygote in its own bubblewrap sandbox, and runs nbgrader's Autograde converter (its preprocessors,
   checksums and gradebook writes), with the Execute step replaced by ``GuardedExecute``;
5. collect every result; a failing submission gets a Japanese reason and the run goes on for everyone else.
"""

from __future__ import annotations

import multiprocessing
import re
import signal
import sqlite3
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from queue import Empty

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    ClearOutput,
    DeduplicateIds,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from sqlalchemy.exc import SAWarning
from tqdm import tqdm
from traitlets.config import Config

from course.autograde import sandbox
from course.autograde.preflight import SubmissionRejected, stage
from course.autograde.preprocessors import CompiledCheckCellMetadata, GuardedExecute, LimitOutputBytes
from course.autograde.zygote import PR_SET_PDEATHSIG, prctl
from course.config import Course, CourseError
from course.curriculum import CURRICULUM_FILE, Module, load_curriculum
from course.gradebook import ensure_database, open_gradebook, record_completions, share_engines
from course.records import load_staff

MARKER = ".sano-graded"  # written into autograde/<staff>/<module>/ after a successful grading


@dataclass(frozen=True)
class Failure:
    """One submission that could not be graded, with a reason an instructor can act on."""

    staff_id: str
    assignment: str
    reason: str


@dataclass(frozen=True)
class GradingReport:
    done: tuple[tuple[str, str], ...] = ()  # (staff_id, assignment)
    skipped: tuple[tuple[str, str], ...] = ()  # unchanged since the last grading
    failures: tuple[Failure, ...] = ()
    notes: tuple[tuple[str, str, str], ...] = ()  # (staff_id, assignment, what pre-flight repaired)
    backup: Path | None = None
    sandboxed: bool = True


def _stamp(folder: Path) -> str:
    file = folder / "timestamp.txt"
    return file.read_text(encoding="utf-8").strip() if file.is_file() else ""


def pending_submissions(
    *, course: Course, modules: Iterable[Module], force: bool = False
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(to grade, unchanged): unchanged means graded successfully from a submission with the same timestamp."""
    todo: list[tuple[str, str]] = []
    unchanged: list[tuple[str, str]] = []
    for module in modules:
        for submitted in sorted(course.submitted_dir.glob(f"*/{module.assignment}")):
            if not submitted.is_dir():
                continue
            marker = course.autograde_dir / submitted.parent.name / module.assignment / MARKER
            same = marker.is_file() and marker.read_text(encoding="utf-8") == _stamp(submitted)
            (unchanged if same and not force else todo).append((submitted.parent.name, module.assignment))
    return todo, unchanged


def backup_gradebook(course: Course) -> Path | None:
    """A consistent copy of the SQLite gradebook (sqlite3's online backup), kept in gradebook/backups/."""
    source = course.gradebook_file
    if source is None or not source.is_file():
        return None
    folder = source.parent / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"gradebook-{datetime.now(course.timezone):%Y%m%d-%H%M%S-%f}.db"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def grading_config(settings: sandbox.GraderSettings, staging: Path) -> Config:
    """nbgrader settings of a grading worker: staged input, guarded execution, byte-limited output."""
    config = Config()
    config.CourseDirectory.submitted_directory = str(staging)
    # nbgrader's two lists, with three substitutions: guarded execution, compiled metadata checks, byte limits.
    config.Autograde.sanitize_preprocessors = [
        ClearOutput,
        DeduplicateIds,
        OverwriteKernelspec,
        OverwriteCells,
        CompiledCheckCellMetadata,
    ]
    config.Autograde.autograde_preprocessors = [
        GuardedExecute,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        LimitOutputBytes,
        SaveAutoGrades,
        AssignLatePenalties,
        CompiledCheckCellMetadata,
    ]
    # Check the notebook's format once after each list, not after every one of its thirteen steps.
    config.Exporter.optimistic_validation = True
    config.Execute.timeout = settings.limits.cell_timeout
    config.Execute.shutdown_kernel = "immediate"  # the zygote kills whatever is left anyway
    config.LimitOutputBytes.max_bytes = settings.limits.output_kb * 1024
    return config


def _worker(
    index: int,
    course: Course,
    settings: sandbox.GraderSettings,
    sandboxed: bool,
    scratch_root: Path,
    tasks: multiprocessing.Queue,
    results: multiprocessing.Queue,
) -> None:
    """One grading worker: a zygote of its own, then nbgrader's Autograde for each task until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt means
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # if the parent is killed outright, so is this worker (and its zygote)
    warnings.simplefilter("ignore", SAWarning)  # nbgrader's ORM under SQLAlchemy 2.x; results unaffected
    share_engines()
    zygote = sandbox.Zygote(scratch=sandbox.worker_scratch(scratch_root, index), settings=settings, sandboxed=sandboxed)
    sandbox.CURRENT["zygote"] = zygote
    api = course.api(grading_config(settings, scratch_root / "staging"))
    try:
        zygote.prefork()
        while (task := tasks.get()) is not None:
            staff_id, assignment, stamp = task
            result = api.autograde(assignment, staff_id, force=True, create=False)
            zygote.reset()
            zygote.prefork()
            if result.get("success"):
                (course.autograde_dir / staff_id / assignment / MARKER).write_text(stamp, encoding="utf-8")
                results.put((staff_id, assignment, None))
            else:
                results.put((staff_id, assignment, _failure_reason(str(result.get("log", "")))))
    finally:
        zygote.close()


# What nbgrader's log says → what the instructor reads. The first match wins. Each pattern is checked against the log
# of a real failure in tests/test_failure_reasons.py.
FAILURE_REASONS = (
    # A kernel dying in a cell: nbclient's DeadKernelError.
    ("DeadKernel", "採点中にカーネルが止まりました。メモリの使いすぎか、処理を強制終了するコードの可能性があります。"),
    # A kernel dying before its first reply (too little memory to start): "Kernel died before replying to kernel_info".
    ("Kernel died", "採点中にカーネルが止まりました。メモリの使いすぎか、処理を強制終了するコードの可能性があります。"),
    # A cell over the time limit whose kernel ignores the interrupt (one that stops only fails its own cell).
    (
        "CellTimeoutError",
        "時間内に終わらないセルがあり、中断しても止まりませんでした。無限ループがないか確認するよう伝えてください。",
    ),
    # nbgrader names no exception for a metadata schema that is too old (or too new); it logs "One or more notebooks
    # in the assignment use an old version \nof the nbgrader metadata format. …" ("an newer version" for too new).
    (
        "nbgrader metadata format",
        "採点用のセルの情報が壊れています。元のノートブックを取得し直して再提出するよう伝えてください。",
    ),
    # A cell marked as graded that the gradebook knows only as another kind of cell: "nbgrader.api.MissingEntry".
    (
        "MissingEntry",
        "成績簿にない採点用のセルがあります。元のノートブックを取得し直して再提出するよう伝えてください。",
    ),
    # A graded cell whose id the gradebook never saw: "Cell '…' does not exist in the database", then validation fails.
    (
        "does not exist in the database",
        "成績簿にない採点用のセルがあります。元のノートブックを取得し直して再提出するよう伝えてください。",
    ),
)


# A Python exception as a traceback ends with it: "KeyError: 'points'", "nbclient.exceptions.CellExecutionError".
_EXCEPTION_LINE = re.compile(r"^\s*((?:\w+\.)*\w*(?:Error|Exception)\b.*)$")


def _failure_reason(log: str) -> str:
    """The Japanese reason of the first known pattern; otherwise the last exception the log names (nbgrader's own
    last [ERROR] line only says to read the traceback above), else its last [ERROR] line."""
    for needle, reason in FAILURE_REASONS:
        if needle in log:
            return reason
    lines = log.splitlines()
    exceptions = [match.group(1) for line in lines if (match := _EXCEPTION_LINE.match(line))]
    errors = [line for line in lines if "[ERROR]" in line]
    chosen = exceptions or errors
    detail = chosen[-1].strip()[:300] if chosen else "詳細は nbgrader の記録を確認してください"
    return f"自動採点できませんでした（{detail}）。"


def autograde(
    *,
    course: Course,
    modules: Iterable[Module],
    force: bool = False,
    progress: bool = True,
    allow_unsandboxed: bool = False,
    workers: int | None = None,
    settings: sandbox.GraderSettings | None = None,
) -> GradingReport:
    """Grade every new or changed submission in parallel, sandboxed workers (settings: settings/grader.toml)."""
    modules = list(modules)
    settings = settings or sandbox.load_grader_settings(course.settings_file(sandbox.GRADER_SETTINGS))
    problem = sandbox.sandbox_problem()
    if problem and not allow_unsandboxed:
        msg = (
            f"サンドボックスが使えないため、採点を中止しました。{problem}\n"
            "職員のコードを講師の権限で実行することになるため、危険を承知のうえで続ける場合だけ "
            "--unsafe-no-sandbox を付けてください。"
        )
        raise CourseError(msg)
    todo, unchanged = pending_submissions(course=course, modules=modules, force=force)
    if not todo:
        return GradingReport(skipped=tuple(unchanged), sandboxed=problem is None)
    ensure_database(course)
    with open_gradebook(course) as gb:
        known_assignments = {a.name for a in gb.assignments}
    if missing := sorted({assignment for _, assignment in todo} - known_assignments):
        msg = f"成績簿に {', '.join(missing)} が登録されていません。先に python -m course release を実行してください。"
        raise CourseError(msg)
    # Grading replaces submissions: first keep every completion they hold (a retake must not erase last year's).
    curriculum = load_curriculum(course.settings_file(CURRICULUM_FILE))
    record_completions(course=course, curriculum=curriculum)
    backup = backup_gradebook(course)
    known_staff = {person.staff_id for person in load_staff(course=course)}
    failures: list[Failure] = []
    notes: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="sano-grader-") as scratch:
        scratch_root = Path(scratch)
        scratch_root.chmod(0o755)

        def staged() -> Iterator[tuple[str, str, str]]:
            """Pre-flight each submission, while the workers are already starting and grading."""
            for staff_id, assignment in todo:
                if staff_id not in known_staff:
                    reason = "名簿にない職員番号です。名簿を取り込んでから、もう一度採点してください。"
                    failures.append(Failure(staff_id, assignment, reason))
                    continue
                submitted = course.submitted_dir / staff_id / assignment
                try:
                    result = stage(
                        submitted=submitted,
                        release=course.release_dir / assignment,
                        staging=scratch_root / "staging" / staff_id / assignment,
                    )
                except SubmissionRejected as error:
                    failures.append(Failure(staff_id, assignment, str(error)))
                    continue
                notes.extend((staff_id, assignment, note) for note in result.notes)
                yield staff_id, assignment, _stamp(submitted)

        done, failed = _run_workers(
            course=course,
            settings=settings,
            sandboxed=problem is None,
            scratch_root=scratch_root,
            tasks=staged(),
            workers=min(workers or settings.worker_count, len(todo)),
            progress_total=len(todo) if progress else None,
        )
        failures += failed
    record_completions(course=course, curriculum=curriculum)
    return GradingReport(
        done=tuple(done),
        skipped=tuple(unchanged),
        failures=tuple(failures),
        notes=tuple(notes),
        backup=backup,
        sandboxed=problem is None,
    )


def _run_workers(
    *,
    course: Course,
    settings: sandbox.GraderSettings,
    sandboxed: bool,
    scratch_root: Path,
    tasks: Iterator[tuple[str, str, str]],
    workers: int,
    progress_total: int | None,
) -> tuple[list[tuple[str, str]], list[Failure]]:
    """Start the workers first (their zygotes load pandas meanwhile), then hand them the tasks as they come."""
    context = multiprocessing.get_context("fork")  # workers inherit the imported nbgrader: no start-up per worker
    task_queue: multiprocessing.Queue = context.Queue()
    result_queue: multiprocessing.Queue = context.Queue()
    processes = [
        context.Process(
            target=_worker,
            args=(i, course, settings, sandboxed, scratch_root, task_queue, result_queue),
            daemon=True,
        )
        for i in range(max(1, workers))
    ]
    for process in processes:
        process.start()
    given: list[tuple[str, str, str]] = []
    done: list[tuple[str, str]] = []
    failures: list[Failure] = []
    bar = tqdm(total=progress_total, desc="採点中", unit="件", disable=progress_total is None)
    try:
        for task in tasks:
            task_queue.put(task)
            given.append(task)
        for _ in processes:
            task_queue.put(None)
        bar.update((progress_total or 0) - len(given))  # submissions that pre-flight already turned away
        while len(done) + len(failures) < len(given):
            try:
                staff_id, assignment, reason = result_queue.get(timeout=1)
            except Empty:
                if not any(p.is_alive() for p in processes):
                    break
                continue
            if reason is None:
                done.append((staff_id, assignment))
            else:
                failures.append(Failure(staff_id, assignment, reason))
            bar.update(1)
    finally:
        bar.close()
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=10)
    finished = set(done) | {(f.staff_id, f.assignment) for f in failures}
    for staff_id, assignment, _ in given:
        if (staff_id, assignment) not in finished:
            reason = "採点の途中で処理が止まりました。もう一度 autograde を実行してください。"
            failures.append(Failure(staff_id, assignment, reason))
    return done, failures
