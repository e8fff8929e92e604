"""The nbgrader pipeline around grading, driven in-process through nbgrader's Python API: build, release, collect
and feedback (autograding itself is ``course.autograde``). One process pays nbgrader's start-up once, not per student.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.apps import NbGraderAPI
from nbgrader.preprocessors import GetGrades
from traitlets.config import Config

from course.autograde.preprocessors import HideHiddenTests
from course.config import Course, CourseError
from course.curriculum import Curriculum, Module
from course.gradebook import ensure_database


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


def _api(course: Course, extra: Config | None = None) -> NbGraderAPI:
    ensure_database(course)
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


def feedback(*, course: Course, modules: Iterable[Module]) -> StepReport:
    """Generate feedback HTML from the autograded submissions and return it to the staff through the exchange.

    Hidden tests are taken out of the feedback: neither their code nor what they reported reaches the staff.
    """
    extra = Config()
    extra.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    api = _api(course, extra)
    done = []
    notes: list[str] = []
    for module in modules:
        if not any(course.autograde_dir.glob(f"*/{module.assignment}")):
            continue
        _check(api.generate_feedback(module.assignment), f"{module.id} のフィードバック作成")
        for folder in sorted(course.feedback_dir.glob(f"*/{module.assignment}")):
            staff_id = folder.parent.name
            # Only what came through the exchange can go back through it: nbgrader needs the submission's secret.
            if not (course.submitted_dir / staff_id / module.assignment / "submission_secret.txt").is_file():
                notes.append(
                    f"{staff_id} {module.id}: 交換フォルダ経由の提出ではないため、フィードバックは返却していません。"
                )
                continue
            _check(
                api.release_feedback(module.assignment, staff_id), f"{staff_id} への {module.id} のフィードバック返却"
            )
        done.append(module.assignment)
    return StepReport(assignments=tuple(done), notes=tuple(notes))
