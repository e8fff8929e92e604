"""The nbgrader pipeline around grading, driven in-process through nbgrader's Python API: build, release, collect
and feedback (autograding itself is ``course.autograde``). One process pays nbgrader's start-up once, not per student.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nbgrader.apps import NbGraderAPI
from traitlets.config import Config

from course import feedback as page
from course.autograde.preprocessors import HideHiddenTests
from course.config import Course, CourseError
from course.curriculum import CURRICULUM_FILE, Curriculum, Module, load_curriculum
from course.gradebook import ensure_database
from course.records import load_neutralised


@dataclass(frozen=True)
class StepReport:
    assignments: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    people: tuple[tuple[str, str, str], ...] = ()  # (職員番号, assignment, what happened), for the instructor


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
    """Copy the staff's submissions from the exchange into submitted/ (newer submissions replace older ones), and say
    per person what changed: 新しい提出, 再提出 (replaced an earlier one) or 変更なし."""
    api = _api(course)
    done = []
    people = []
    for module in modules:
        before = _submission_times(course, module.assignment)
        _check(api.collect(module.assignment, update=True), f"{module.id} の回収")
        for staff_id, stamp in sorted(_submission_times(course, module.assignment).items()):
            old = before.get(staff_id)
            what = "新しい提出" if old is None else ("変更なし" if old == stamp else "再提出（前の提出と置き換え）")
            people.append((staff_id, module.assignment, f"{what}（提出日時 {stamp}）"))
        done.append(module.assignment)
    return StepReport(assignments=tuple(done), people=tuple(people))


def _submission_times(course: Course, assignment: str) -> dict[str, str]:
    """When each collected submission of ``assignment`` was handed in, as nbgrader recorded it (timestamp.txt)."""
    stamps = {}
    for file in course.submitted_dir.glob(f"*/{assignment}/timestamp.txt"):
        stamps[file.parent.parent.name] = file.read_text(encoding="utf-8").strip().split(".")[0]
    return stamps


def feedback(*, course: Course, modules: Iterable[Module]) -> StepReport:
    """Generate feedback HTML from the autograded submissions and return it to the staff through the exchange.

    The page is the course's Japanese one (course/templates/feedback, built by ``course.feedback``): the result
    against the module's pass mark from the curriculum, what to do next, and each exercise's checks. Hidden tests are
    taken out: neither their code nor what they reported reaches the staff.
    """
    modules = list(modules)
    extra = Config()
    extra.GenerateFeedback.preprocessors = [page.FeedbackGrades, HideHiddenTests, page.FeedbackPage]
    # nbgrader's API always asks nbconvert for the template named "feedback"; with these base folders set, nbgrader
    # leaves out its own, so the course's course/templates/feedback is the one found.
    extra.HTMLExporter.extra_template_basedirs = [str(page.TEMPLATES)]
    extra.FeedbackPage.plans = page.plans(
        course=course, curriculum=load_curriculum(course.settings_file(CURRICULUM_FILE)), modules=modules
    )
    neutralised: dict[str, dict[str, str]] = {}
    for item in load_neutralised(course=course):
        neutralised.setdefault(item.assignment, {})[item.grade_id] = item.reason
    extra.FeedbackGrades.neutralised = neutralised
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
