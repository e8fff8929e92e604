"""Support for the feedback tests: B00 graded for fictional staff by the real grader, and the feedback pages opened in
Chromium (Debian's, through Playwright; no browser is downloaded) with axe-core (deploy/node_modules, from npm ci).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from course import demo, lifecycle
from course.autograde import grader
from course.config import Course
from course.curriculum import Module, load_curriculum
from course.gradebook import open_gradebook
from tests.conftest import REPO
from tests.grading import copy_of, enrol, hand_in

MODULE_ID = "B00"  # the smallest module: judgment items with visible format checks and hidden tests, and a reflection
# case → 職員番号. Each one is B00 as a member of staff might hand it in; the reflection is graded for two of them.
STAFF = {"passed": "700101", "failed": "700102", "awaiting": "700103"}
REFLECTION = "reflection"
# case → (manual score of the reflection, the instructor's comment), None: not graded yet
MANUAL: dict[str, tuple[float, str] | None] = {
    "passed": (3.0, "仕事の場面と、表から何を決めるかが具体的に書けています。"),
    "failed": (1.0, "どの表を見て、何を決めるのかを、もう少し具体的に書いてみましょう。"),
    "awaiting": None,
}
# Full-width quotes typed with the IME: the SyntaxError that B00 teaches (練習4a).
IME_QUOTES = '# 練習4の答え\n回答4a = “イ”\n回答4b = "ア"\n'

AXE = REPO / "deploy" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]  # JIS X 8341-3:2016 = WCAG 2.0 AA; 2.1 adds a few rules


def module() -> Module:
    return load_curriculum(REPO / "settings" / "curriculum.toml").modules[MODULE_ID]


def _answers(case: str, answers: demo.DemoAnswers) -> dict[str, str]:
    """grade_id → the answer cell's source for this case."""
    if case == "failed":
        return {
            "answer_ex1": answers.variants["answer_ex1"]["partial"],  # 1b wrong: the hidden test fails
            "answer_ex2": answers.correct["answer_ex2"],
            # 練習3 left as released: nbgrader's "No response." must not reach the page
            "answer_ex4": IME_QUOTES,
        }
    return dict(answers.correct)


def grade_b00(tmp: Path) -> Course:
    """A copy of the course with B00 built, handed in by the STAFF cases, autograded and partly graded by hand."""
    root = tmp / "course"
    root.mkdir()
    target = module()
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "settings", root / "settings")
    shutil.copytree(REPO / "source", root / "source")  # every module published: the page can name the next one
    shutil.copytree(REPO / "demo", root / "demo")
    course = Course.load(root, runtime=tmp / "runtime")
    lifecycle.build(course=course, modules=[target])
    answers = demo.DemoAnswers.load(course, target)
    released = course.release_dir / target.assignment
    release = nbformat.read(released / f"{target.assignment}.ipynb", as_version=4)
    data = [p for p in released.iterdir() if p.is_file() and p.suffix != ".ipynb"]
    for case, staff_id in STAFF.items():
        nb = copy_of(release)
        sources = _answers(case, answers)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and cell.cell_type == "code":
                cell.source = sources.get(meta["grade_id"], cell.source)
            elif meta.get("grade_id") == REFLECTION:
                cell.source = answers.reflections[0 if case != "failed" else -1].strip()
        hand_in(course, staff_id, target.assignment, nb, files=data)
    enrol(course, STAFF.values())
    report = grader.autograde(course=course, modules=[target], progress=False, workers=1)
    assert not report.failures, report.failures
    with open_gradebook(course) as gb:
        for case, staff_id in STAFF.items():
            if (manual := MANUAL[case]) is None:
                continue
            grade = gb.find_grade(REFLECTION, target.assignment, target.assignment, staff_id)
            grade.manual_score, grade.needs_manual_grade = manual[0], False  # what the formgrader does on saving
            gb.find_comment(REFLECTION, target.assignment, target.assignment, staff_id).manual_comment = manual[1]
        gb.db.commit()
    return course


def feedback_pages(course: Course) -> dict[str, Path]:
    """case → the feedback page generated for it (``python -m course feedback B00``)."""
    target = module()
    lifecycle.feedback(course=course, modules=[target])
    return {
        case: course.feedback_dir / staff_id / target.assignment / f"{target.assignment}.html"
        for case, staff_id in STAFF.items()
    }


@dataclass(frozen=True)
class Rendered:
    """What Chromium shows of one page."""

    text: str  # the visible text (innerText)
    prose: str  # the page's own words: its text outside code, keys and parts marked as English (lang="en")
    english: list[str]  # the parts marked lang="en" outside code: names on nbgrader's English-only screen
    lang: str  # <html lang>
    headings: list[tuple[int, str]]  # (level, text) in document order
    violations: list[dict[str, Any]]  # axe-core's violations of the WCAG 2.1 A/AA rules
    screenshot: Path


OUTSIDE_PROSE = "pre, code, kbd, script, style, [lang='en']"
PROSE = """(skip) => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const words = [];
  while (walker.nextNode()) {
    if (!walker.currentNode.parentElement.closest(skip)) words.push(walker.currentNode.nodeValue);
  }
  return words.join(' ');
}"""
ENGLISH = """() => [...document.querySelectorAll("[lang='en']")].filter((e) => !e.closest('pre, code')).map((e) => e.innerText)"""
HEADINGS = "() => [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map((h) => [Number(h.tagName[1]), h.innerText])"
AXE_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
                                         targets: v.nodes.slice(0, 3).map((n) => n.target.join(' '))}));
}"""


def render(pages: dict[str, Path], shots: Path, *, width: int = 1280) -> dict[str, Rendered]:
    """Open each page from disk in headless Chromium (as a browser opens the file), screenshot it and run axe-core."""
    from playwright.sync_api import sync_playwright

    from tests.hub_support import CHROMIUM, CHROMIUM_ARGS

    shots.mkdir(parents=True, exist_ok=True)
    seen: dict[str, Rendered] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": 900}, locale="ja-JP")
            for name, path in pages.items():
                page = context.new_page()
                page.goto(path.resolve().as_uri())
                shot = shots / f"{name}-{width}.png"
                page.screenshot(path=str(shot), full_page=True)
                page.screenshot(path=str(shots / f"{name}-{width}-top.png"))  # what shows first, at full size
                page.add_script_tag(path=str(AXE))
                seen[name] = Rendered(
                    text=page.inner_text("body"),
                    prose=page.evaluate(PROSE, OUTSIDE_PROSE),
                    english=page.evaluate(ENGLISH),
                    lang=page.evaluate("() => document.documentElement.lang"),
                    headings=[(int(level), str(text)) for level, text in page.evaluate(HEADINGS)],
                    violations=page.evaluate(AXE_RUN, WCAG_TAGS),
                    screenshot=shot,
                )
                page.close()
        finally:
            browser.close()
    return seen
