"""The nbgrader pipeline, driven in-process through nbgrader's Python API: build, release, collect, autograde,
feedback. One long-lived process pays nbgrader's start-up once instead of once per command and student.
"""

from __future__ import annotations

import sqlite3
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from sqlalchemy.exc import SAWarning
from tqdm import tqdm
from traitlets.config import Config

from course.config import Course, CourseError
from course.curriculum import Curriculum, Module
from course.gradebook import ensure_database, load_staff, open_gradebook


@dataclass(frozen=True)
class Failure:
    """One submission that could not be processed, with a reason an instructor can act on."""

    staff_id: str
    assignment: str
    reason: str


@dataclass(frozen=True)
class GradingReport:
    done: tuple[tuple[str, str], ...] = ()  # (staff_id, assignment)
    skipped: tuple[tuple[str, str], ...] = ()  # unchanged since the last grading
    failures: tuple[Failure, ...] = ()
    backup: Path | None = None


@dataclass(frozen=True)
class StepReport:
    assignments: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


def select_modules(curriculum: Curriculum, course: Course, ids: Sequence[str] | None) -> list[Module]:
    """The available modules named by id (B03 or b03), or all available ones; unknown or planned ids are errors."""
    available = curriculum.available(course.source_dir)
    if not ids:
        return available
    chosen = []
    for raw in ids:
        module = curriculum.modules.get(raw.upper())
        if module is None:
            msg = (
                f"モジュール「{raw}」はカリキュラムにありません。python -m course curriculum で一覧を確認してください。"
            )
            raise CourseError(msg)
        if module not in available:
            msg = f"モジュール {module.id}「{module.title}」は準備中です（{module.notebook(course.source_dir)} がありません）。"
            raise CourseError(msg)
        chosen.append(module)
    return chosen


def _api(course: Course, kernel_dir: Path | None = None) -> NbGraderAPI:
    ensure_database(course)
    if kernel_dir is None:
        return course.api()
    # Kernels talk over Unix sockets under an absolute, per-process prefix: no TCP port races between parallel
    # graders, and no "running over TCP without encryption" warning (baseline §3.2).
    extra = Config()
    extra.KernelManager.transport = "ipc"
    extra.KernelManager.ip = str(kernel_dir / "kernel")
    return course.api(extra)


def _check(result: dict[str, object], what: str) -> None:
    if not result.get("success"):
        log = str(result.get("error") or result.get("log") or "").strip().splitlines()
        tail = "\n".join(log[-15:])
        raise CourseError(f"{what}に失敗しました。nbgrader の記録:\n{tail}")


def build(*, course: Course, modules: Iterable[Module]) -> StepReport:
    """Generate the student versions (release/) from source/ and register the modules in the gradebook."""
    api = _api(course)
    done = []
    for module in modules:
        _check(api.generate_assignment(module.assignment, force=True, create=True), f"{module.id} の生成")
        done.append(module.assignment)
    return StepReport(assignments=tuple(done))


def release(*, course: Course, modules: Iterable[Module]) -> StepReport:
    """Build, then publish the student versions to the exchange so staff can fetch them."""
    modules = list(modules)
    build(course=course, modules=modules)
    api = _api(course)
    notes = []
    for module in modules:
        outbound = course.exchange_root / course.course_id / "outbound" / module.assignment
        if outbound.exists():
            # nbgrader refuses to release twice; republishing replaces the previous student version.
            api.unrelease(module.assignment)
            notes.append(f"{module.id} は公開済みだったため、最新の版で置き換えました。")
        _check(api.release_assignment(module.assignment), f"{module.id} の公開")
    return StepReport(assignments=tuple(m.assignment for m in modules), notes=tuple(notes))


def collect(*, course: Course, modules: Iterable[Module]) -> StepReport:
    """Copy the staff's submissions from the exchange into submitted/ (newer submissions replace older ones)."""
    api = _api(course)
    done = []
    for module in modules:
        _check(api.collect(module.assignment, update=True), f"{module.id} の回収")
        done.append(module.assignment)
    return StepReport(assignments=tuple(done))


def _timestamp(folder: Path) -> str:
    file = folder / "timestamp.txt"
    return file.read_text(encoding="utf-8").strip() if file.is_file() else ""


def pending_submissions(
    *, course: Course, modules: Iterable[Module], force: bool = False
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(to grade, unchanged): a submission is unchanged when its autograded copy has the same timestamp."""
    todo: list[tuple[str, str]] = []
    unchanged: list[tuple[str, str]] = []
    for module in modules:
        for submitted in sorted(course.submitted_dir.glob(f"*/{module.assignment}")):
            if not submitted.is_dir():
                continue
            staff_id = submitted.parent.name
            graded = course.autograde_dir / staff_id / module.assignment
            same = graded.is_dir() and _timestamp(graded) == _timestamp(submitted)
            (unchanged if same and not force else todo).append((staff_id, module.assignment))
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


def autograde(
    *,
    course: Course,
    modules: Iterable[Module],
    force: bool = False,
    progress: bool = True,
) -> GradingReport:
    """Autograde every new or changed submission; a failing submission is reported and the run goes on."""
    modules = list(modules)
    todo, unchanged = pending_submissions(course=course, modules=modules, force=force)
    if not todo:
        return GradingReport(skipped=tuple(unchanged))
    with open_gradebook(course) as gb:
        known_assignments = {a.name for a in gb.assignments}
    if missing := sorted({assignment for _, assignment in todo} - known_assignments):
        msg = f"成績簿に {', '.join(missing)} が登録されていません。先に python -m course release を実行してください。"
        raise CourseError(msg)
    backup = backup_gradebook(course)
    known = {person.staff_id for person in load_staff(course=course)}
    done: list[tuple[str, str]] = []
    failures: list[Failure] = []
    with tempfile.TemporaryDirectory(prefix="sano-kernels-") as kernel_dir:
        api = _api(course, Path(kernel_dir))
        for staff_id, assignment in tqdm(todo, desc="採点中", unit="件", disable=not progress):
            if staff_id not in known:
                reason = "名簿にない職員番号です。名簿を取り込んでから、もう一度採点してください。"
                failures.append(Failure(staff_id, assignment, reason))
                continue
            with warnings.catch_warnings():
                # nbgrader's ORM triggers SQLAlchemy 2.x cascade warnings; results are unaffected (baseline §1).
                warnings.simplefilter("ignore", SAWarning)
                result = api.autograde(assignment, staff_id, force=True, create=False)
            if result.get("success"):
                done.append((staff_id, assignment))
            else:
                failures.append(Failure(staff_id, assignment, _failure_reason(str(result.get("log", "")))))
    return GradingReport(done=tuple(done), skipped=tuple(unchanged), failures=tuple(failures), backup=backup)


def _failure_reason(log: str) -> str:
    lines = [line for line in log.splitlines() if "[ERROR]" in line or "Error" in line]
    detail = lines[-1].strip() if lines else "詳細は nbgrader の記録を確認してください。"
    return f"自動採点できませんでした（{detail[:300]}）"


def feedback(*, course: Course, modules: Iterable[Module]) -> StepReport:
    """Generate feedback HTML from the autograded submissions and return it to the staff through the exchange."""
    api = _api(course)
    done = []
    for module in modules:
        if not any(course.autograde_dir.glob(f"*/{module.assignment}")):
            continue
        _check(api.generate_feedback(module.assignment), f"{module.id} のフィードバック作成")
        _check(api.release_feedback(module.assignment), f"{module.id} のフィードバック返却")
        done.append(module.assignment)
    return StepReport(assignments=tuple(done))
