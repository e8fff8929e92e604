"""The staff's feedback page: Japanese, says whether the module is passed and what to do next, shows no path of the
grading machine and no hidden test, and passes axe-core's WCAG 2.1 A/AA rules in Chromium.

Pure parts (messages, labels, pass mark, next module, the template on a crafted notebook) run in ``make check``.
The real B00 graded for three fictional staff (修了, 未修了, 採点待ち) is marked ``pipeline``; opening those pages in
Chromium with axe-core is marked ``hub`` as well (Debian's chromium, axe-core from deploy/node_modules).
"""

from __future__ import annotations

import html
import itertools
import os
import re
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from traitlets.config import Config

from course import feedback
from course.autograde.preprocessors import HIDDEN_BEGIN, HIDDEN_END, HIDDEN_FAILED
from course.completion import evaluate
from course.curriculum import load_curriculum
from course.models import Staff, Submission
from tests import feedback_support as support
from tests.conftest import REPO

JST = ZoneInfo("Asia/Tokyo")
CURRICULUM = load_curriculum(REPO / "settings" / "curriculum.toml")
B00 = CURRICULUM.modules["B00"]
# Anything that would say where or how the grader ran.
MACHINE = re.compile(r"/tmp/|/usr/|/home/|/root/|/work/|site-packages|dist-packages|ipython-input|ipykernel_|staging"
                     r"|scratch|sano-grader|Traceback|File \"")  # fmt: skip
GRADING_PATHS = [
    "/tmp/sano-grader-k2j4/staging/700102/b00/madoguchi.csv",
    "/usr/lib/python3/dist-packages/pandas/io/parsers/readers.py",
    "/work/main/.venv/lib/python3.11/site-packages/numpy/core/fromnumeric.py",
]


# --- messages and labels -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", GRADING_PATHS)
def test_paths_of_the_grading_machine_are_cut_to_file_names(path):
    """A path in an error message keeps only its file name."""
    text = feedback.scrub(f"[Errno 2] No such file or directory: '{path}'")
    assert text == f"[Errno 2] No such file or directory: '{Path(path).name}'"
    assert not MACHINE.search(text)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("invalid syntax (<ipython-input-3-5f1c2a>, line 2)", "invalid syntax (セル, line 2)"),
        ("invalid character '“' (U+201C) (2603824364.py, line 2)", "invalid character '“' (U+201C) (セル, line 2)"),
        ("File /tmp/ipykernel_812/2603824364.py:3", "File セル:3"),
        ("see https://example.org/docs/page.html", "see https://example.org/docs/page.html"),  # a URL stays whole
        ("1/2 と 3/4", "1/2 と 3/4"),
    ],
)
def test_kernel_file_names_become_cell(raw, shown):
    assert feedback.scrub(raw) == shown


def test_a_check_with_a_japanese_message_shows_that_message_alone():
    """The visible test's own Japanese message is what the page says; no English line under it."""
    note = feedback.describe_error("AssertionError", "回答1a がまだ空です。")
    assert note == feedback.ErrorNote("回答1a がまだ空です。", None)
    hidden = feedback.describe_error("非公開の確認", HIDDEN_FAILED)
    assert hidden == feedback.ErrorNote(HIDDEN_FAILED, None)


def test_an_english_error_gets_a_japanese_hint_and_its_last_line():
    note = feedback.describe_error("NameError", "name 'normalize_text' is not defined")
    assert note.message == feedback.HINTS["NameError"]
    assert note.last_line == "NameError: name 'normalize_text' is not defined"
    assert feedback.describe_error("NotImplementedError", "").last_line == "NotImplementedError"
    assert feedback.describe_error("WeirdError", "boom").message == feedback.GENERIC_HINT
    japanese_value_error = feedback.describe_error("ValueError", "ありえない日付です")
    assert japanese_value_error == feedback.ErrorNote("ありえない日付です", "ValueError: ありえない日付です")


def test_an_error_message_with_a_path_shows_no_path():
    note = feedback.describe_error("FileNotFoundError", f"[Errno 2] No such file or directory: '{GRADING_PATHS[0]}'")
    assert "madoguchi.csv" in (note.last_line or "") and not MACHINE.search(f"{note.message} {note.last_line}")


@pytest.mark.parametrize(
    ("headings", "label"),
    [
        (["2-3 グラフを読む", "練習2 グラフを読む（2点）"], "練習2 グラフを読む"),
        (["4. 振り返り（記述・3点）"], "振り返り"),
        (["練習1 `normalize_text`（2点）", "1-5 住所の表記ゆれ"], "練習1 normalize_text"),  # the exercise's own heading
        (["3-1 エラーが出たときは"], "3-1 エラーが出たときは"),
        ([], "練習7"),
    ],
)
def test_exercise_labels_come_from_the_headings_above_the_answer(headings, label):
    assert feedback.exercise_label(headings, 7) == label


@pytest.mark.parametrize(
    ("first_line", "label"),
    [
        ("# 確認: 練習1a（答えの形を確かめます。正しいかどうかは採点のときに分かります）", "練習1a"),
        ("# 確認: 練習3（2つとも見つけたか。正しいかどうかは採点のときに分かります）", "練習3（2つとも見つけたか）"),
        (
            "# 確認: normalize_text が全角・半角のゆれをそろえるか（NFKC 正規化）",
            "normalize_text が全角・半角のゆれをそろえるか（NFKC 正規化）",
        ),
        ("assert double(2) == 4", "確認2"),
        # The other wordings the notebooks use for "only the answer's form is checked here" (said before grading).
        (
            "# 確認: 練習1（メール1〜4）の答えの形を確かめます。正解かどうかは、提出したあとの採点で決まります。",
            "練習1（メール1〜4）",
        ),
        ("# 確認: 練習2a（このセルは答えの形だけを確かめます。正しいかどうかは、提出後の採点で確かめます）", "練習2a"),
        ("# 確認: 練習4b（答えの形を確かめます。正しいかどうかは、提出後の採点で分かります）", "練習4b"),
        (
            "# 確認: 練習1a（採点では余裕のあるタスクがまざっていないかを確かめます。このセルは答えの形だけを確かめます）",
            "練習1a（余裕のあるタスクがまざっていないか）",
        ),
        ("# 確認: 練習1（もれがないか・1点）", "練習1（もれがないか）"),  # the page shows the points beside it
        ("# 確認: 練習3a・3b（1点）", "練習3a・3b"),
    ],
)
def test_check_labels_come_from_the_test_cells_first_comment(first_line, label):
    assert feedback.check_label(f"{first_line}\nassert True", 2) == label


# --- the module's result ---------------------------------------------------------------------------------------------
def _plan(
    score: float, max_score: float = 11, *, status: str = feedback.NOT_PASSED, ratio: float = 0.6
) -> feedback.Plan:
    return feedback.Plan("B00", B00.title, CURRICULUM.title, "700101", score, max_score, ratio, status)


@pytest.mark.parametrize(
    ("score", "max_score", "mark", "shortfall"),
    [
        (4, 11, 7, 3),  # 0.6 × 11 = 6.6: whole points, so 7 passes
        (6, 10, 6, 0),  # exactly the pass ratio (6.000000000000001 in floating point)
        (5, 10, 6, 1),
        (4.5, 10, 6, 1.5),  # a half point from an instructor: counted in tenths
        (6.55, 11, 6.6, 0.1),
    ],
)
def test_pass_mark_and_shortfall_follow_the_completion_rule(score, max_score, mark, shortfall):
    summary = feedback.Summary(_plan(score, max_score))
    assert (summary.pass_mark, summary.shortfall) == (mark, shortfall)
    assert summary.pass_percent == "60"


def test_points_still_to_be_graded_decide_whether_the_gap_can_close():
    assert feedback.Summary(_plan(5, status=feedback.AWAITING), pending_points=3).reachable
    assert not feedback.Summary(_plan(3, status=feedback.AWAITING), pending_points=3).reachable  # 7 − 3 = 4 > 3


def _sub(staff_id: str, assignment: str, score: float, *, manual: bool = False) -> Submission:
    return Submission(staff_id, assignment, score, 11, manual, datetime(2026, 11, 27, 10, 5, tzinfo=JST))


@pytest.mark.parametrize(
    ("score", "manual", "status"),
    [(11, False, feedback.PASSED), (4, False, feedback.NOT_PASSED), (8, True, feedback.AWAITING)],
)
def test_the_plan_uses_the_completion_rules(score, manual, status):
    found = feedback.plan(B00, _sub("700101", "b00", score, manual=manual), course_title=CURRICULUM.title)
    assert found.status == status and found.pass_ratio == B00.pass_ratio
    assert found.submitted_at == "令和8年11月27日 10:05"


def _person(grade: str, promoter: bool, passed: list[str], available: list[str]):
    staff = Staff("700101", "架空 太郎", "", "総務部", "人事課", "主事", grade, promoter)
    subs = [_sub("700101", m.lower(), 11) for m in passed]
    return evaluate(curriculum=CURRICULUM, staff=[staff], submissions=subs, available=available)[0]


def test_next_module_is_the_first_open_one_of_the_persons_track():
    everything = list(CURRICULUM.modules)
    person = _person("一般職", False, ["B00"], everything)
    assert feedback.next_step(CURRICULUM, person, "B00") == {"next_module": "B01 デジタル技術基礎", "track": "一般職"}
    later = _person("課長職以上", False, ["B00", "B01", "B05", "B07"], everything)
    assert feedback.next_step(CURRICULUM, later, "B07") == {
        "next_module": "M01 データに基づく意思決定",
        "track": "課長職以上",
    }


def test_a_promoter_goes_on_to_the_promoter_track_and_unpublished_modules_are_skipped():
    ippan = CURRICULUM.tracks["ippan"].required
    person = _person("一般職", True, list(ippan), [*ippan, "B04", "P01"])  # B03 not published
    assert feedback.next_step(CURRICULUM, person, "B06") == {
        "next_module": "B04 CSVと文字コード",
        "track": "業務デジタル化推進員",
    }


def test_when_nothing_is_left_the_page_says_the_track_is_complete():
    ippan = list(CURRICULUM.tracks["ippan"].required)
    person = _person("一般職", False, ippan, ippan)
    assert feedback.next_step(CURRICULUM, person, "B06") == {"track": "一般職", "track_complete": True}
    assert feedback.next_step(CURRICULUM, None, "B06") == {}


# --- the template on a crafted notebook (no grader) ------------------------------------------------------------------
def _meta(grade_id: str, **flags: object) -> dict:
    base = {
        "grade_id": grade_id,
        "schema_version": 3,
        "grade": False,
        "solution": False,
        "locked": False,
        "task": False,
    }
    return {"nbgrader": {**base, **flags}}


def _graded_notebook() -> nbformat.NotebookNode:
    """A notebook as FeedbackGrades and HideHiddenTests leave it: scores in the metadata, hidden code taken out."""
    answer = new_code_cell("def double(x):\n    return 2 * x + 1", metadata=_meta("answer", solution=True))
    answer.outputs = []
    passed = new_code_cell("# 確認: double(2) が 4 になるか\nassert double(2) == 4, 'double(2) は 4 です。'",
                           metadata=_meta("test_ok", grade=True, points=1, score=1.0))  # fmt: skip
    failed = new_code_cell("# 確認: ファイルを読めるか\nopen('madoguchi.csv')",
                           metadata=_meta("test_file", grade=True, points=2, score=0.0))  # fmt: skip
    failed.outputs = [new_output("error", ename="FileNotFoundError",
                                 evalue=f"[Errno 2] No such file or directory: '{GRADING_PATHS[0]}'",
                                 traceback=[f'File "{GRADING_PATHS[1]}", line 3', "FileNotFoundError: …"])]  # fmt: skip
    hidden = new_code_cell("# 確認: 境目の値\nassert double(0) == 0",
                           metadata=_meta("test_hidden", grade=True, points=1, score=0.0))  # fmt: skip
    hidden.outputs = [new_output("error", ename="非公開の確認", evalue=HIDDEN_FAILED, traceback=[HIDDEN_FAILED])]
    written = new_markdown_cell("<script>alert(1)</script>\n\n業務で表を見て決めています。",
                                metadata=_meta("reflection", solution=True, grade=True, points=3, score=0.0,
                                               needs_manual_grade=True, unanswered=True))  # fmt: skip
    nb = new_notebook(
        cells=[
            new_markdown_cell("## 1. 関数\n\n### 練習1 `double`（4点）\n\n説明"),
            answer,
            passed,
            failed,
            hidden,
            new_markdown_cell("## 2. 振り返り（記述・3点）"),
            written,
        ]
    )
    nb.metadata.language_info = {"name": "python"}
    return nb


def _render(nb: nbformat.NotebookNode, plan: feedback.Plan) -> str:
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [str(feedback.TEMPLATES)]
    config.FeedbackPage.plans = {"z99": {"700101": asdict(plan)}}
    exporter = HTMLExporter(config=config)
    exporter.register_preprocessor(feedback.FeedbackPage(config=config), enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"nbgrader": {"assignment": "z99", "student": "700101",
                                                                       "notebook": "z99"}})  # fmt: skip
    return body


def _text(page: str) -> str:
    """The page's text without markup, its white space collapsed."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style.*?</style>", "", page, flags=re.S)))
    return re.sub(r"\s+", " ", text)


def test_exercises_group_each_answer_with_its_checks():
    found = feedback.exercises(_graded_notebook().cells)
    assert [(e.label, e.tally, e.result) for e in found] == [
        ("練習1 double", "1 / 4 点", feedback.PARTLY),
        ("振り返り", "配点 3 点", feedback.PENDING),
    ]
    assert [(c.label, c.result) for c in found[0].checks] == [
        ("double(2) が 4 になるか", feedback.OK),
        ("ファイルを読めるか", feedback.NG),
        ("境目の値", feedback.NG),
    ]


def test_a_neutralised_check_says_so_and_counts_as_passed():
    nb = _graded_notebook()
    failed = nb.cells[3]
    failed.metadata.nbgrader.update(score=2.0, neutralised="採点テストの誤り")  # as FeedbackGrades leaves it
    checks = feedback.exercises(nb.cells)[0].checks
    assert [(c.label, c.result, c.message) for c in checks[1:2]] == [
        ("ファイルを読めるか（全員正解扱い: 採点テストの誤り）", feedback.OK, None)
    ]


def test_the_template_renders_a_crafted_page_in_japanese_without_paths_or_markup_from_the_answer():
    page = _render(_graded_notebook(), _plan(1, 7, status=feedback.AWAITING))
    text = _text(page)
    assert '<html lang="ja">' in page
    assert "採点待ち" in text and "合格基準" in text and "60 %（7 点中 5 点以上）" in text
    assert "講師の採点が満点でも、合格基準まで 4 点足りません。" in text  # 4 short, only 3 still to be graded
    assert "フィードバックを読んで、教材を直してもう一度提出できます。" in text
    assert feedback.HINTS["FileNotFoundError"] in text and "madoguchi.csv" in text
    assert HIDDEN_FAILED in text
    assert not MACHINE.search(text), MACHINE.search(text)
    assert "<script" not in page and "&lt;script&gt;" in page  # the written answer is text; the page runs nothing
    assert "答えが書かれていません（教材を受け取ったときのままです）。" in text


def test_a_page_without_a_plan_is_refused_in_japanese():
    config = Config()
    config.FeedbackPage.plans = {}
    with pytest.raises(Exception, match="成績簿にありません"):
        feedback.FeedbackPage(config=config).preprocess(
            _graded_notebook(), {"nbgrader": {"assignment": "z99", "student": "700101"}}
        )


# --- the real B00, graded --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """B00 handed in by three fictional staff, graded by the real grader, and ``python -m course feedback B00``."""
    started = time.monotonic()
    course = support.grade_b00(tmp_path_factory.mktemp("feedback"))
    graded = time.monotonic()
    found = support.feedback_pages(course)
    print(f"\n採点 {graded - started:.1f} 秒、フィードバック作成 {time.monotonic() - graded:.1f} 秒")
    return found


def _hidden_lines() -> set[str]:
    source = nbformat.read(REPO / "source" / "b00" / "b00.ipynb", as_version=4)
    lines = set()
    for cell in source.cells:
        if HIDDEN_BEGIN in cell.source:
            region = cell.source.split(HIDDEN_BEGIN, 1)[1].split(HIDDEN_END, 1)[0]
            lines |= {line.strip() for line in region.splitlines() if len(line.strip()) > 20}
    return lines


@pytest.mark.pipeline
def test_each_page_says_the_result_the_pass_mark_and_what_to_do_next(pages):
    texts = {case: _text(path.read_text(encoding="utf-8")) for case, path in pages.items()}
    for case, text in texts.items():
        assert f"{B00.id} {B00.title}" in text, case
        assert "合格基準" in text and "60 %（11 点中 7 点以上）" in text, case
    assert "修了" in texts["passed"] and "11 / 11 点" in texts["passed"]
    assert "次は、一般職コースの B01 デジタル技術基礎 です。" in texts["passed"]
    assert "仕事の場面と、表から何を決めるかが具体的に書けています。" in texts["passed"]  # the instructor's comment
    assert re.search(r"未修了（あと \d+ 点）", texts["failed"])
    assert "フィードバックを読んで、教材を直してもう一度提出できます。" in texts["failed"]
    assert "採点待ち" in texts["awaiting"] and "講師の採点が済めば修了です" in texts["awaiting"]


@pytest.mark.pipeline
def test_a_failed_page_shows_the_visible_tests_messages_and_the_answers_error(pages):
    text = _text(pages["failed"].read_text(encoding="utf-8"))
    assert "回答4a がありません。" in text  # the visible test's own message
    assert feedback.HINTS["SyntaxError"] in text and "SyntaxError: invalid character" in text  # 練習4a's “イ”
    assert HIDDEN_FAILED in text  # a hidden test failed: the general hint, not its message
    assert "答えが書かれていません（教材を受け取ったときのままです）。" in text  # 練習3 as released
    assert "No response" not in text  # nbgrader's own comment on an unchanged answer


@pytest.mark.pipeline
def test_no_page_shows_a_path_of_the_grading_machine_or_hidden_test_code(pages):
    hidden = _hidden_lines()
    assert hidden, "B00 has hidden tests: the check below would prove nothing without them"
    for case, path in pages.items():
        page = path.read_text(encoding="utf-8")
        text = _text(page)
        assert not MACHINE.search(page), (case, MACHINE.search(page))
        assert HIDDEN_BEGIN not in text and not [line for line in hidden if line in text], case


# --- in Chromium, with axe-core --------------------------------------------------------------------------------------
def _shots() -> Path:
    if folder := os.environ.get("FEEDBACK_SHOTS"):
        return Path(folder)
    return REPO / "runtime" / "test-artifacts" / f"feedback-{time.strftime('%Y%m%d-%H%M%S')}"


@pytest.fixture(scope="module")
def rendered(pages: dict[str, Path]) -> dict[str, support.Rendered]:
    from tests.hub_support import CHROMIUM

    assert Path(CHROMIUM).exists(), "chromium がありません: make chromium（root）で apt-get install chromium を行います"
    assert support.AXE.is_file(), "axe-core がありません: make proxy で deploy/ に npm ci を行います"
    shots = _shots()
    started = time.monotonic()
    seen = support.render(pages, shots)
    narrow = support.render(pages, shots, width=360)  # a phone, or 400 % zoom: the page reflows
    print(f"\nChromium + axe-core {time.monotonic() - started:.1f} 秒、スクリーンショット: {shots}")
    return {**seen, **{f"{case}-360": page for case, page in narrow.items()}}


def _allowed_latin() -> set[str]:
    """Latin words the page may use: module codes and words of the curriculum's titles, the JupyterLab product name and
    keys in the visible tests' own messages. File names and Python error classes are allowed by pattern."""
    titles = " ".join([CURRICULUM.title, *(m.title for m in CURRICULUM.modules.values())])
    words = set(re.findall(r"[A-Za-z][A-Za-z\-]*", titles))
    return words | set(CURRICULUM.modules) | {"JupyterLab", "Shift", "Enter", "Ctrl"}


@pytest.mark.pipeline
@pytest.mark.hub
def test_pages_are_japanese_with_no_english_template_words(rendered):
    allowed = _allowed_latin()
    for name, page in rendered.items():
        assert page.lang == "ja", name
        words = re.findall(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9]+)?", page.prose)
        english = {w for w in words if w not in allowed and not re.fullmatch(r"\w+\.\w+|\w*(Error|Exception)", w)}
        assert not english, (name, english)
        assert page.english == [], (name, page.english)  # the staff's screens are Japanese (the 研修 panel)
        assert len(re.findall(r"[\u3040-\u30ff\u4e00-\u9fff]", page.text)) > 300, name
        assert not MACHINE.search(page.text), (name, MACHINE.search(page.text))


@pytest.mark.pipeline
@pytest.mark.hub
def test_pages_show_the_result_and_headings_in_order(rendered):
    expected = {"passed": "修了", "failed": "未修了", "awaiting": "採点待ち"}
    for name, page in rendered.items():
        case = name.removesuffix("-360")
        assert re.search(rf"このモジュールの結果\s*[○✕]?\s*{expected[case]}", page.text), name
        assert "合格基準" in page.text and "60 %" in page.text, name
        levels = [level for level, _ in page.headings]
        assert levels[0] == 1 and levels.count(1) == 1, (name, page.headings)
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), (name, page.headings)


@pytest.mark.pipeline
@pytest.mark.hub
def test_axe_core_finds_no_serious_or_critical_wcag_violation(rendered):
    for name, page in rendered.items():
        serious = [v for v in page.violations if v["impact"] in ("serious", "critical")]
        assert not serious, (name, serious)
        if page.violations:
            print(name, "axe-core（軽微）:", page.violations)
