"""The feedback page a member of staff reads after grading: Japanese, accessible, and says what to do next.

nbgrader's GenerateFeedback renders each autograded notebook with nbconvert's HTMLExporter. The course replaces
nbgrader's English template with ``course/templates/feedback`` (set in ``course.lifecycle.feedback``) and feeds
it through two preprocessors:

- ``FeedbackGrades``: nbgrader's GetGrades, which also notes which cells still wait for an instructor's grade and
  which answers were left as released (nbgrader's English "No response." never reaches the page).
- ``FeedbackPage``: turns the graded notebook into what the page shows (``Page``): the module's result against its
  pass mark, what to do next, and per exercise the answer and each check's result and Japanese message. Nothing of
  the grading machine reaches the page: errors are shortened to their last line and paths are cut to file names.

What the page says about the module (status, pass mark, next module) comes from the gradebook and the curriculum by
the same rules as HR's records (``plans``); the pure functions here are unit-tested without nbgrader running.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor
from traitlets import Dict

from course.completion import ModuleRecord, ModuleStatus, StaffCompletion, TrackStatus, module_record
from course.config import Course, CourseError
from course.curriculum import Curriculum, Module
from course.models import Submission
from course.wareki import wareki_time

TEMPLATES = Path(__file__).resolve().parent / "templates"  # nbconvert's extra_template_basedirs: holds "feedback"

PASSED, NOT_PASSED, AWAITING = "修了", "未修了", "採点待ち"  # the module's result
STATUS_LABEL = {
    ModuleStatus.PASSED: PASSED,
    ModuleStatus.IN_PROGRESS: NOT_PASSED,
    ModuleStatus.AWAITING_GRADING: AWAITING,
}
OK, NG, PARTLY, PENDING = "合格", "不合格", "一部合格", "採点待ち"  # a check's or an exercise's result
MANUAL_CHECK = "講師の採点"
NEUTRALISED = "全員正解扱い"  # a check an instructor neutralised (course/items.py): full marks, with the reason
HIDDEN_CHECK = "非公開の確認"  # the ename HideHiddenTests gives an error raised in the hidden part

# A short Japanese hint for an error whose message is not Japanese (Python's own messages are English).
HINTS = {
    "NameError": "名前が見つかりません。答えのセルを実行したか、名前のつづり（全角・半角も）を確かめてください。",
    "SyntaxError": "書き方に誤りがあります。全角の記号（“ ” ＝ ，など）や、かっこ・引用符の閉じ忘れがないか確かめてください。",
    "IndentationError": "行の先頭の空白（字下げ）がそろっていません。上の行と字下げをそろえてください。",
    "NotImplementedError": "答えがまだ書かれていません。「raise NotImplementedError()」の行を消して、答えを書いてください。",
    "TypeError": "値の種類（文字・数・表など）が、求められているものと合っていません。",
    "ValueError": "値が正しくありません。入力した値や、計算の途中の値を確かめてください。",
    "KeyError": "表や辞書に、その名前の列・項目がありません。名前のつづりを確かめてください。",
    "AttributeError": "その名前の機能がありません。つづりや、値の種類を確かめてください。",
    "IndexError": "並びの範囲の外を指しています。何番目を取り出しているか確かめてください。",
    "ZeroDivisionError": "0 で割っています。",
    "FileNotFoundError": "ファイルが見つかりません。ファイルの名前と、置いてあるフォルダーを確かめてください。",
    "AssertionError": "確認の条件を満たしていません。練習の説明をもう一度読み、答えを見直してください。",
    "CellTimeoutError": "決められた時間内に終わりませんでした。終わらないくり返しがないか確かめてください。",
    "DeadKernelError": "実行中にカーネルが止まりました。大きすぎるデータや終わらない処理がないか確かめてください。",
}
GENERIC_HINT = "エラーが出ました。エラーの最後の行を読んで、答えを見直してください。"
NO_MESSAGE = "確認の条件を満たしていません。"
# Errors whose message is the course's own Japanese text: the message says it all, no English line under it.
OWN_ERRORS = frozenset({"AssertionError", "GradingGuardError", HIDDEN_CHECK})

_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")
# What the kernel calls a cell: <ipython-input-3-…>, Cell In[3], /tmp/ipykernel_12/2603824364.py (in a SyntaxError's
# message only its file name: 2603824364.py), and the grader's name for test code.
_CELL_NAMES = re.compile(
    r"<ipython-input-\d+-[0-9a-f]+>|Cell In ?\[\d*\]|(?:/[^\s'\"]*/)?ipykernel_\d+/\d+\.py|(?<![\w/])\d{6,}\.py|<確認>"
)
# The folders of a path (what is left is its file name); not inside a URL.
_PATH = re.compile(r"(?<![\w.~:/])(?:~|\.{1,2})?/(?:[^\s'\"<>:,()\[\]/]+/)+(?=[^\s'\"<>:,()\[\]/])")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_POINTS_NOTE = re.compile(r"\s*[（(][^（）()]*点[)）]\s*$")
_SECTION_NUMBER = re.compile(r"^\d+\.\s+")  # 「4. 振り返り」: the chapter number (「3-1 …」 stays, it finds the place)
_PREFERRED = ("練習", "振り返り", "課題")
# What a check's first comment tells the learner before grading, in the wordings the notebooks use:
# 「（このセルは）答えの形（だけ）を確かめます。正しい（正解）かどうかは（提出後の）採点で分かります（決まります）」.
_BEFORE_GRADING = re.compile(
    r"(?:このセルは|の)?答えの形(?:だけ)?を確かめます。?|正(?:しい|解)かどうかは[^。）]*?(?:分かります|確かめます|決まります)。?"
)
_GRADING_CHECKS = re.compile(r"採点では([^。）]+?)を確かめます。?")
_POINTS_IN_NOTE = re.compile(r"[・、]?\d+(?:\.\d+)?点(?=）)")


def scrub(text: str) -> str:
    """Text without any path of the grading machine: cells for kernel file names, file names for paths."""
    return _PATH.sub("", _CELL_NAMES.sub("セル", text))


def has_japanese(text: str) -> bool:
    return bool(_JAPANESE.search(text))


def points_text(value: float) -> str:
    """5.0 → "5", 2.5 → "2.5" (points as the page prints them)."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class ErrorNote:
    """An error as the page shows it: a Japanese message, and Python's last line when it adds something."""

    message: str
    last_line: str | None = None


def describe_error(ename: str, evalue: str) -> ErrorNote:
    """The Japanese message for an error (the check's own message, else a hint for its kind) and its last line."""
    japanese = has_japanese(str(evalue or ""))
    evalue = scrub(str(evalue or "")).strip()
    ename = str(ename or "").strip()
    if japanese:
        return ErrorNote(evalue, None if ename in OWN_ERRORS else f"{ename}: {evalue}")
    return ErrorNote(HINTS.get(ename, GENERIC_HINT), f"{ename}: {evalue}" if evalue else ename or None)


def last_error(cell: NotebookNode) -> ErrorNote | None:
    """The last error a code cell's outputs hold, described; None when it ran without one."""
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    return describe_error(errors[-1].get("ename", ""), errors[-1].get("evalue", "")) if errors else None


def exercise_label(headings: Sequence[str], number: int) -> str:
    """The name of an exercise, from the headings written above its answer: 「### 練習1 表を読む（2点）」 → 練習1 表を読む."""
    preferred = [h for h in headings if any(word in h for word in _PREFERRED)]
    chosen = (preferred or list(headings) or [f"練習{number}"])[-1]
    chosen = re.sub(r"[*`]", "", chosen)  # Markdown's bold and code marks
    chosen = _SECTION_NUMBER.sub("", _POINTS_NOTE.sub("", chosen)).strip()
    return chosen or f"練習{number}"


def check_label(source: str, number: int) -> str:
    """The name of a check, from the test cell's first comment: 「# 確認: 練習3（2つとも見つけたか。…）」 → 練習3（2つとも見つけたか）."""
    first = source.strip().split("\n", 1)[0].strip()
    if not first.startswith("#"):
        return f"確認{number}"
    label = first.lstrip("#").strip()
    label = re.sub(r"^確認\s*[:：]\s*", "", label)
    # Written for the learner before grading; after grading it is answered by the result itself.
    label = _BEFORE_GRADING.sub("", label)
    label = _GRADING_CHECKS.sub(r"\1", label)  # 「採点では…そろっているかを確かめます」 → 「…そろっているか」
    label = _POINTS_IN_NOTE.sub("", label)  # the page shows the points beside the check
    label = re.sub(r"。?）", "）", label).replace("（）", "").strip()
    return label or f"確認{number}"


@dataclass(frozen=True)
class Check:
    """One graded cell: a test of the answer, or the instructor's grade of a written answer."""

    label: str
    points: float
    score: float | None  # None: not graded yet
    error: ErrorNote | None = None  # why it failed
    manual: bool = False  # graded by an instructor (their comment, if any, is the exercise's)
    grade_id: str = ""  # nbgrader's id of the cell

    @property
    def result(self) -> str:
        if self.score is None:
            return PENDING
        if self.score >= self.points - 1e-9:
            return OK
        return NG if self.score <= 1e-9 else PARTLY

    @property
    def message(self) -> str | None:
        if self.result in (OK, PENDING) or (self.manual and self.error is None):
            return None
        return self.error.message if self.error else NO_MESSAGE

    @property
    def last_line(self) -> str | None:
        return self.error.last_line if self.error and self.message else None

    @property
    def tally(self) -> str:
        if self.score is None:
            return f"配点 {points_text(self.points)} 点"
        return f"{points_text(self.score)} / {points_text(self.points)} 点"


@dataclass(frozen=True)
class Exercise:
    """An answer and the checks that grade it, under the exercise's name."""

    number: int
    label: str
    checks: tuple[Check, ...]
    answer: str | None = None
    answer_is_code: bool = True
    answer_error: ErrorNote | None = None  # what the answer cell itself raised
    comment: str | None = None  # the instructor's comment
    unanswered: bool = False  # the answer cell is as it was released

    @property
    def anchor(self) -> str:
        return f"ex-{self.number}"

    @property
    def points(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def score(self) -> float:
        return sum(c.score or 0.0 for c in self.checks)

    @property
    def result(self) -> str:
        results = {c.result for c in self.checks}
        if PENDING in results:
            return PENDING
        if results == {OK}:
            return OK
        return NG if self.score <= 1e-9 else PARTLY

    @property
    def tally(self) -> str:
        if all(c.score is None for c in self.checks):
            return f"配点 {points_text(self.points)} 点"
        return f"{points_text(self.score)} / {points_text(self.points)} 点"

    @property
    def paragraphs(self) -> list[str]:
        """A written answer as paragraphs (shown as text, never as HTML)."""
        return [p.strip() for p in re.split(r"\n\s*\n", self.answer or "") if p.strip()]


def exercises(cells: Iterable[NotebookNode]) -> list[Exercise]:
    """The graded exercises of a notebook whose cells carry nbgrader's grades (score, points, comment, and
    needs_manual_grade from ``FeedbackGrades``). An exercise is an answer cell and the graded cells after it."""
    found: list[dict[str, Any]] = []
    headings: list[str] = []
    for cell in cells:
        meta = cell.metadata.get("nbgrader", {})
        solution, graded = utils.is_solution(cell), utils.is_grade(cell) or utils.is_task(cell)
        if cell.cell_type == "markdown" and not solution:
            headings.extend(_HEADING.findall(cell.source))
            continue
        if not (solution or graded):
            continue
        if solution or not found or utils.is_task(cell):
            number = len(found) + 1
            found.append({"number": number, "label": exercise_label(headings, number), "checks": []})
            headings = []
            if solution:
                is_code = cell.cell_type == "code"
                found[-1].update(
                    answer=cell.source,
                    answer_is_code=is_code,
                    answer_error=last_error(cell) if is_code else None,
                    comment=(meta.get("comment") or "").strip() or None,
                    unanswered=bool(meta.get("unanswered")),
                )
        if graded:
            pending = bool(meta.get("needs_manual_grade"))
            score = None if pending else float(meta.get("score") or 0.0)
            manual = solution or utils.is_task(cell) or cell.cell_type == "markdown"
            label = MANUAL_CHECK if manual else check_label(cell.source, len(found[-1]["checks"]) + 1)
            if meta.get("neutralised") is not None:
                label += f"（{NEUTRALISED}: {meta['neutralised']}）"
            error = None if manual else last_error(cell)
            points = float(meta.get("points") or 0.0)
            found[-1]["checks"].append(Check(label, points, score, error, manual, str(meta.get("grade_id", ""))))
    return [
        Exercise(
            number=item["number"],
            label=item["label"],
            checks=tuple(item["checks"]),
            answer=item.get("answer"),
            answer_is_code=item.get("answer_is_code", True),
            answer_error=item.get("answer_error"),
            comment=item.get("comment"),
            unanswered=item.get("unanswered", False),
        )
        for item in found
        if item["checks"]
    ]


def check_names(cells: Iterable[NotebookNode]) -> dict[str, tuple[str, str]]:
    """grade id → (the exercise's name, the check's name) for every graded cell of a notebook, as the page names
    them: 「test_ex1a」 → (「練習1 表を読む」, 「練習1a」). Works on a source notebook too (no grades needed)."""
    return {c.grade_id: (e.label, c.label) for e in exercises(cells) for c in e.checks}


@dataclass(frozen=True)
class Plan:
    """What the page says about the module for one member of staff, decided from the gradebook and curriculum."""

    module_id: str
    title: str
    course_title: str
    staff_id: str
    score: float
    max_score: float
    pass_ratio: float
    status: str  # PASSED / NOT_PASSED / AWAITING
    submitted_at: str | None = None  # 令和8年11月27日 10:00
    next_module: str | None = None  # B01 デジタル技術基礎
    track: str | None = None  # the track the next module (or the completion) belongs to
    track_complete: bool = False  # every module of the person's tracks is 修了


def _up(value: float, integral: bool) -> float:
    """Round up to a whole point when every score is whole, else to a tenth (float noise taken off first)."""
    return math.ceil(value - 1e-9) if integral else math.ceil(round(value * 10, 6)) / 10


@dataclass(frozen=True)
class Summary:
    """The module's result on the page: the plan, and the points still waiting for the instructor."""

    plan: Plan
    pending_points: float = 0.0

    @property
    def integral(self) -> bool:
        return float(self.plan.score).is_integer() and float(self.plan.max_score).is_integer()

    @property
    def pass_percent(self) -> str:
        return points_text(round(self.plan.pass_ratio * 100, 1))

    @property
    def pass_mark(self) -> float:
        """The fewest points that pass (the completion rule: score ≥ pass_ratio × max score)."""
        return _up(self.plan.pass_ratio * self.plan.max_score, self.integral)

    @property
    def shortfall(self) -> float:
        """Points missing to the pass mark (0 when reached)."""
        return max(0.0, _up(self.plan.pass_ratio * self.plan.max_score - self.plan.score, self.integral))

    @property
    def reachable(self) -> bool:
        """Whether the points still waiting for the instructor can close the gap."""
        return self.shortfall <= self.pending_points + 1e-9

    @property
    def score_text(self) -> str:
        return points_text(self.plan.score)

    @property
    def max_text(self) -> str:
        return points_text(self.plan.max_score)

    @property
    def pass_mark_text(self) -> str:
        return points_text(self.pass_mark)

    @property
    def shortfall_text(self) -> str:
        return points_text(self.shortfall)


@dataclass(frozen=True)
class Page:
    """Everything the template shows."""

    summary: Summary
    exercises: tuple[Exercise, ...]

    @property
    def failed(self) -> tuple[Exercise, ...]:
        return tuple(e for e in self.exercises if e.result in (NG, PARTLY))


# ---------------------------------------------------------------------------------------------------------------------
def next_step(curriculum: Curriculum, person: StaffCompletion | None, module_id: str) -> dict[str, Any]:
    """The module to take next: the first one of the person's tracks (required ones in order, then electives while
    too few are passed) that is published and neither 修了 nor waiting for grading."""
    if person is None:
        return {}
    open_states = {ModuleStatus.NOT_SUBMITTED, ModuleStatus.IN_PROGRESS}
    tracks = curriculum.tracks_for(grade=person.staff.grade, promoter=person.staff.promoter)
    records: Mapping[str, ModuleRecord] = person.modules
    for track, record in zip(tracks, person.tracks, strict=True):
        candidates = list(track.required)
        if record.electives_passed < track.min_electives:
            candidates += list(track.electives)
        for candidate in candidates:
            state = records.get(candidate)
            if candidate != module_id and state is not None and state.status in open_states:
                module = curriculum.modules[candidate]
                return {"next_module": f"{module.id} {module.title}", "track": track.name}
    complete = all(t.status is TrackStatus.COMPLETE for t in person.tracks)
    return {"track": "・".join(t.name for t in tracks), "track_complete": complete}


def plan(
    module: Module,
    submission: Submission,
    *,
    course_title: str,
    step: Mapping[str, Any] | None = None,
) -> Plan:
    """The plan for one submission: its status by the completion rules, and the next step."""
    record = module_record(module, submission)
    stamp = submission.timestamp
    return Plan(
        module_id=module.id,
        title=module.title,
        course_title=course_title,
        staff_id=submission.staff_id,
        score=submission.score,
        max_score=submission.max_score,
        pass_ratio=module.pass_ratio,
        status=STATUS_LABEL.get(record.status, NOT_PASSED),
        submitted_at=wareki_time(stamp) if stamp else None,
        **(step or {}),
    )


def plans(*, course: Course, curriculum: Curriculum, modules: Iterable[Module]) -> dict[str, dict[str, dict]]:
    """assignment → staff id → Plan (as a dict, for configuration) for every graded submission of the modules."""
    from course.completion import evaluate
    from course.records import load_staff, load_submissions

    by_assignment = {m.assignment: m for m in modules}
    available = curriculum.available(course.source_dir)
    # One read of the gradebook serves both the completion records and the pages (the query is the costly part).
    submissions = load_submissions(course=course, assignments=[m.assignment for m in available])
    completions = evaluate(
        curriculum=curriculum,
        staff=load_staff(course=course),
        submissions=submissions,
        available=[m.id for m in available],
    )
    people = {p.staff.staff_id: p for p in completions}
    result: dict[str, dict[str, dict]] = {name: {} for name in by_assignment}
    for submission in submissions:
        module = by_assignment.get(submission.assignment)
        if module is None:
            continue
        step = next_step(curriculum, people.get(submission.staff_id), module.id)
        found = plan(module, submission, course_title=curriculum.title, step=step)
        result[submission.assignment][submission.staff_id] = asdict(found)
    return result


# ---------------------------------------------------------------------------------------------------------------------
class FeedbackGrades(GetGrades):
    """nbgrader's GetGrades; each graded cell also says whether it still waits for an instructor's grade, and an
    answer cell carries only the instructor's comment: nbgrader's own ("No response.", for an answer left as it was
    released) becomes the flag ``unanswered``, which the page says in Japanese. A neutralised check gets its full
    marks and the reason (``neutralised``), as the module's score does."""

    neutralised = Dict(help="assignment → grade id → reason, for the items neutralised now").tag(config=True)

    def _get_comment(self, cell: NotebookNode, resources: dict) -> None:
        comment = self.gradebook.find_comment(
            cell.metadata["nbgrader"]["grade_id"], self.notebook_id, self.assignment_id, self.student_id
        )
        cell.metadata.nbgrader["comment"] = comment.manual_comment
        cell.metadata.nbgrader["unanswered"] = comment.auto_comment is not None

    def _get_score(self, cell: NotebookNode, resources: dict) -> None:
        grade = self.gradebook.find_grade(
            cell.metadata["nbgrader"]["grade_id"], self.notebook_id, self.assignment_id, self.student_id
        )
        cell.metadata.nbgrader["score"] = grade.score
        cell.metadata.nbgrader["points"] = grade.max_score
        reason = self.neutralised.get(self.assignment_id, {}).get(cell.metadata["nbgrader"]["grade_id"])
        if reason is not None:
            cell.metadata.nbgrader["score"] = grade.max_score
            cell.metadata.nbgrader["neutralised"] = reason
        cell.metadata.nbgrader["needs_manual_grade"] = bool(grade.needs_manual_grade)


class FeedbackPage(NbGraderPreprocessor):
    """Puts the ``Page`` for the template into ``resources["sano_feedback"]``."""

    plans = Dict(help="assignment → staff id → Plan fields (course.feedback.plans)").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        assignment, student = resources["nbgrader"]["assignment"], resources["nbgrader"]["student"]
        fields = self.plans.get(assignment, {}).get(student)
        if fields is None:
            msg = (
                f"{student} の {assignment} の結果が成績簿にありません。python -m course feedback で作成してください。"
            )
            raise CourseError(msg)
        found = exercises(nb.cells)
        pending = sum(c.points for e in found for c in e.checks if c.result == PENDING)
        resources["sano_feedback"] = Page(Summary(Plan(**fields), pending), tuple(found))
        return nb, resources
