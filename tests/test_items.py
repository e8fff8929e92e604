"""Item analysis and neutralising an item: every number checked against plain SQL over nbgrader's tables.

The independent side reads the per-cell grades with its own SQL (nbgrader's score rule written out) and computes
pass rates, means and correlations with plain Python; it shares nothing with course.items or course.records.
"""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import nbformat
import pytest
from openpyxl import load_workbook

from course import cli, export, items, records
from course.config import Course, CourseError
from course.curriculum import load_curriculum
from course.gradebook import record_completions
from course.items import Flag
from course.models import NEUTRALISE, RESTORE, CellGrade
from course.years import FiscalYear
from tests import synthetic

TODAY = date(2026, 11, 27)
JST = ZoneInfo("Asia/Tokyo")
AT = datetime(2026, 11, 27, 18, 0, tzinfo=JST)
PLANTED = {("B01", "test_b"): "reversed", ("B07", "test_c"): "hard", ("B00", "test_a"): "easy"}
EXPECTED_FLAGS = {("B01", "test_b"): Flag.REVERSED, ("B07", "test_c"): Flag.HARD, ("B00", "test_a"): Flag.EASY}
CELL_SQL = """
SELECT sa.student_id, a.name, bc.name, gc.max_score, gc.cell_type,
       CASE WHEN g.manual_score IS NOT NULL THEN g.manual_score + COALESCE(g.extra_credit, 0)
            WHEN g.auto_score IS NOT NULL THEN g.auto_score + COALESCE(g.extra_credit, 0)
            ELSE 0 END,
       g.needs_manual_grade
FROM grade g
JOIN base_cell bc ON bc.id = g.cell_id
JOIN grade_cells gc ON gc.id = bc.id
JOIN submitted_notebook sn ON sn.id = g.notebook_id
JOIN submitted_assignment sa ON sa.id = sn.assignment_id
JOIN assignment a ON a.id = sa.assignment_id
"""


# B01's source notebook in the synthetic course: two exercises under headings, their tests with a first comment each.
B01_NAMES = {
    "test_a": ("練習1 表を読む", "練習1a"),
    "test_b": ("練習1 表を読む", "練習1b（合計が合っているか）"),
    "test_c": ("練習2 グラフにする", "確認1"),
}


def _b01_notebook(course: Course) -> None:
    def graded(grade_id: str, source: str, points: float) -> nbformat.NotebookNode:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": grade_id,
                                     "points": points}  # fmt: skip
        return cell

    def answer(grade_id: str) -> nbformat.NotebookNode:
        cell = nbformat.v4.new_code_cell("# 答え")
        cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": grade_id}
        return cell

    cells = [
        nbformat.v4.new_markdown_cell("## 1. 表\n### 練習1 表を読む（7点）"),
        answer("answer_1"),
        graded(
            "test_a", "# 確認: 練習1a（答えの形を確かめます。正しいかどうかは採点のときに分かります）\nassert True", 4
        ),
        graded("test_b", "# 確認: 練習1b（合計が合っているか・3点）\nassert True", 3),
        nbformat.v4.new_markdown_cell("### 練習2 グラフにする"),
        answer("answer_2"),
        graded("test_c", "assert True", 3),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    nbformat.write(notebook, load_curriculum().modules["B01"].notebook(course.source_dir))


def _cohort(root: Path) -> Course:
    course = synthetic.course_folder(root)
    _b01_notebook(course)
    synthetic.make_cohort(
        course=course, curriculum=load_curriculum(), staff_count=160, today=TODAY, seed=5, share=0.9, planted=PLANTED
    )
    return course


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Course:
    """A cohort the read-only tests share."""
    return _cohort(tmp_path_factory.mktemp("items"))


@pytest.fixture
def cohort(tmp_path: Path) -> Course:
    """A cohort of its own, for a test that neutralises."""
    return _cohort(tmp_path / "course")


def _cells(course: Course, where: str = "") -> dict[tuple[str, str], dict[str, tuple[float, float, str, bool]]]:
    """Per (student, assignment): grade id → (points, max, cell type, needs manual grade), from plain SQL (``where``
    restricts the submissions)."""
    assert course.gradebook_file is not None
    with sqlite3.connect(course.gradebook_file) as db:
        rows = db.execute(CELL_SQL + where).fetchall()
    cells: dict[tuple[str, str], dict[str, tuple[float, float, str, bool]]] = defaultdict(dict)
    for student, assignment, grade_id, maximum, cell_type, points, manual in rows:
        cells[student, assignment][grade_id] = (float(points), float(maximum), cell_type, bool(manual))
    return cells


def _pearson(xs: list[float], ys: list[float]) -> float | None:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def _modules(course: Course):
    return load_curriculum().available(course.source_dir)


def _recomputed(course: Course, where: str = "") -> dict[tuple[str, str], tuple[int, int, float, float | None]]:
    """Per (module, item) with attempts: attempts, passes, mean points and item–rest correlation, in plain Python."""
    cells = _cells(course, where)
    expected = {}
    for assignment, module_id in {m.assignment: m.id for m in _modules(course)}.items():
        submissions = [c for (_, a), c in cells.items() if a == assignment]
        tests = sorted({g for c in submissions for g, v in c.items() if v[2] == "code"})
        for grade_id in tests:
            points = [c[grade_id][0] for c in submissions]
            rest = [sum(v[0] for g, v in c.items() if v[2] == "code" and g != grade_id) for c in submissions]
            maximum = submissions[0][grade_id][1]
            expected[module_id, grade_id] = (
                len(points), sum(p == maximum for p in points), sum(points) / len(points), _pearson(points, rest)
            )  # fmt: skip
    return expected


def _assert_equal(analysis: items.ItemAnalysis, expected: dict[tuple[str, str], tuple[int, int, float, float | None]]):
    ours = {(s.module_id, s.grade_id): s for s in analysis.stats if s.attempts}
    assert set(ours) == set(expected)
    for key, (attempts, passed, mean, r) in expected.items():
        stat = ours[key]
        assert (stat.attempts, stat.passed) == (attempts, passed), key
        assert stat.mean_score == pytest.approx(mean), key
        assert stat.discrimination == pytest.approx(r), key


def test_item_statistics_equal_a_plain_sql_recomputation(shared: Course):
    """Attempts, passes, mean points and the item–rest correlation of every test cell match plain SQL."""
    analysis = items.analyse_items(course=shared, modules=_modules(shared))
    expected = _recomputed(shared)
    assert len(expected) == 3 * len(_modules(shared))  # the reflection (a manually graded cell) is not an item
    assert len(analysis.stats) == len(expected)
    _assert_equal(analysis, expected)
    assert sum(s.attempts for s in analysis.stats) > 1000


def test_one_fiscal_years_submissions_equal_a_plain_sql_recomputation_of_that_year(shared: Course, tmp_path: Path):
    """With a year, only submissions made in it (Asia/Tokyo, 4/1〜3/31) count. A copy of the cohort has one
        student in three moved back a year, and two to either side of the years' boundary in Tokyo: 3/31 23:59 JST is
    令和7年度, 4/1 00:30 JST (still 3/31 in UTC) is 令和8年度."""
    import shutil

    root = tmp_path / "course"
    shutil.copytree(shared.root, root)
    course = Course.load(root, runtime=root / "runtime")
    assert course.gradebook_file is not None
    with sqlite3.connect(course.gradebook_file) as db:
        ids = [r[0] for r in db.execute("SELECT id FROM student ORDER BY id")][::3]
        marks = ",".join("?" * len(ids))
        db.execute(
            f"UPDATE submitted_assignment SET timestamp = datetime(timestamp, '-1 year') WHERE student_id IN ({marks})",
            ids,
        )
        for student, stamp in zip(ids[:2], ("2026-03-31 14:59:00.000000", "2026-03-31 15:30:00.000000"), strict=True):
            db.execute("UPDATE submitted_assignment SET timestamp = ? WHERE student_id = ?", (stamp, student))
    utc_bounds = {  # a fiscal year in Asia/Tokyo, as nbgrader's naive UTC timestamps
        FiscalYear(2026): " WHERE sa.timestamp >= '2026-03-31 15:00:00' AND sa.timestamp < '2027-03-31 15:00:00'",
        FiscalYear(2025): " WHERE sa.timestamp >= '2025-03-31 15:00:00' AND sa.timestamp < '2026-03-31 15:00:00'",
    }
    totals = {}
    for year, where in utc_bounds.items():
        analysis = items.analyse_items(course=course, modules=_modules(course), year=year)
        assert analysis.submitted_in == analysis.period == year
        assert analysis.scope == f"{year.label}に提出された各職員の最新の提出"
        expected = _recomputed(course, where)
        _assert_equal(analysis, expected)
        totals[year] = sum(s.attempts for s in analysis.stats)
    every = items.analyse_items(course=course, modules=_modules(course))
    assert every.submitted_in is None and every.scope == "すべての年度の各職員の最新の提出"
    assert every.period == "全年度"
    _assert_equal(every, _recomputed(course))
    assert totals[FiscalYear(2025)] > 300 and totals[FiscalYear(2026)] > 600
    assert sum(totals.values()) == sum(s.attempts for s in every.stats)


def test_the_planted_items_are_flagged_and_ordinary_ones_are_not(shared: Course):
    analysis = items.analyse_items(course=shared, modules=_modules(shared))
    stats = {(s.module_id, s.grade_id): s for s in analysis.stats}
    for key, flag in EXPECTED_FLAGS.items():
        assert stats[key].flags == (flag,), key
    # The broken item is the most reversed of its module (with three items, it drags the others' index down too).
    b01 = [s for s in analysis.stats if s.module_id == "B01"]
    assert min(b01, key=lambda s: s.discrimination or 0.0).grade_id == "test_b"
    assert stats["B01", "test_b"].discrimination < -0.5  # type: ignore[operator]
    # Ordinary items, in a module everybody takes and nothing was planted in, are not flagged.
    b05 = [s for s in analysis.stats if s.module_id == "B05"]
    assert all(s.attempts > 100 and s.flags == () and s.discrimination > 0.2 for s in b05)  # type: ignore[operator]


def test_too_few_attempts_are_listed_but_not_flagged():
    """Too few attempts is said in 判定, never as a flag: 注意 stays empty, so filtering it finds only real flags."""
    module = load_curriculum().modules["B01"]
    grades = [
        CellGrade(f"{400000 + i}", module.assignment, "test_a", 0.0, 1.0, AT) for i in range(3)
    ]  # everybody fails: would be 「ほぼ全員が不正解」 with enough attempts
    listed = {module.assignment: [items.Item("test_a", 1.0)]}
    stats = items.analyse(grades=grades, modules=[module], items=listed, thresholds=items.Thresholds())
    assert [(s.attempts, s.flags, s.remark, s.judgement, s.advice) for s in stats] == [
        (3, (), "", "判定なし（受験者 3 人）", "")
    ]
    judged = items.analyse(grades=grades, modules=[module], items=listed, thresholds=items.Thresholds(min_attempts=3))
    assert (judged[0].flags, judged[0].remark, judged[0].judgement) == ((Flag.HARD,), "ほぼ全員が不正解", "判定済み")
    assert judged[0].advice == items.ADVICE[Flag.HARD]


def test_every_flag_says_what_to_do():
    assert set(items.ADVICE) == set(Flag) and all(items.ADVICE.values())


def test_an_item_nobody_attempted_has_the_points_of_its_grade_cell(shared: Course):
    """配点 is the gradebook's grade cell (nbgrader's GradeCell max_score), not the best of no submissions."""
    with sqlite3.connect(shared.gradebook_file) as db:  # type: ignore[arg-type]
        expected = {
            (a, g): float(m)
            for a, g, m in db.execute(
                "SELECT a.name, bc.name, gc.max_score FROM grade_cells gc JOIN base_cell bc ON bc.id = gc.id "
                "JOIN notebook n ON n.id = bc.notebook_id JOIN assignment a ON a.id = n.assignment_id "
                "WHERE gc.cell_type = 'code'"
            )
        }
    modules = _modules(shared)
    nobody = items.analyse_items(course=shared, modules=modules, year=FiscalYear(2020))  # no submission that year
    assignment = {m.id: m.assignment for m in modules}
    assert nobody.stats and {s.attempts for s in nobody.stats} == {0}
    assert {(assignment[s.module_id], s.grade_id): s.max_score for s in nobody.stats} == expected
    assert {s.judgement for s in nobody.stats} == {"判定なし（受験者 0 人）"}


def test_items_are_named_as_the_feedback_page_names_them(shared: Course):
    """練習 and 確認の内容 come from the module's source notebook (the headings above the answer, the test cell's first
    comment), in the notebook's order; a module whose notebook has no such cells keeps its items, unnamed."""
    analysis = items.analyse_items(course=shared, modules=_modules(shared))
    b01 = [(s.grade_id, (s.exercise, s.check)) for s in analysis.stats if s.module_id == "B01"]
    assert b01 == list(B01_NAMES.items())
    assert {(s.exercise, s.check) for s in analysis.stats if s.module_id == "B05"} == {("", "")}


def test_bad_thresholds_name_the_file_and_the_key(tmp_path: Path):
    path = tmp_path / "items.toml"
    path.write_text("[items]\nnearly_nobody = 1.5\nmin_atempts = 3\n", encoding="utf-8")
    with pytest.raises(CourseError) as caught:
        items.load_thresholds(path)
    message = str(caught.value)
    assert str(path) in message and "nearly_nobody = 1.5" in message and "min_atempts" in message


def test_the_workbook_lists_every_item_with_its_flags(shared: Course, tmp_path: Path):
    result = items.write_item_analysis(
        course=shared, curriculum=load_curriculum(), modules=_modules(shared), out_dir=tmp_path, as_of=AT
    )
    assert result.workbook is not None
    assert result.workbook.name == "項目分析_全年度_令和8年11月27日現在.xlsx"  # every year's submissions
    book = load_workbook(result.workbook)
    assert book.sheetnames == ["設問別", "操作記録", "説明"]
    assert " 全年度 " in book["設問別"].oddHeader.left.text
    rows = list(book["設問別"].iter_rows(values_only=True))
    assert rows[0] == items.ITEM_HEADER
    column = {name: index for index, name in enumerate(items.ITEM_HEADER)}
    by_item = {(row[0], row[2]): row for row in rows[1:]}
    assert len(by_item) == len(result.stats)
    broken = by_item["B01", "test_b"]
    assert broken[column["注意"]] == "成績上位者ほど不正解（設問の誤りの疑い）"
    assert (broken[column["練習"]], broken[column["確認の内容"]]) == B01_NAMES["test_b"]
    assert by_item["B07", "test_c"][column["正答率(%)"]] == 0
    assert by_item["B05", "test_a"][column["注意"]] is None  # an ordinary item: no remark
    notes = dict(book["説明"].iter_rows(values_only=True))
    assert all(notes[flag].endswith(items.ADVICE[flag]) for flag in Flag)  # what to do about each flag
    # Filtering 注意 finds exactly the flagged items; too few attempts is in 判定, as are all judged ones.
    noted = {key for key, row in by_item.items() if row[column["注意"]]}
    assert noted == {(s.module_id, s.grade_id) for s in result.flagged} and len(noted) >= len(EXPECTED_FLAGS)
    assert {row[column["判定"]] for row in rows[1:]} == {"判定済み"}  # every module has enough attempts here

    # A year without submissions: every item is 判定なし, and no 注意 at all.
    one_year = items.write_item_analysis(
        course=shared, curriculum=load_curriculum(), modules=_modules(shared), out_dir=tmp_path, as_of=AT,
        year=FiscalYear(2025),
    )  # fmt: skip
    assert one_year.workbook is not None and one_year.workbook.name == "項目分析_令和7年度_令和8年11月27日現在.xlsx"
    rows = list(load_workbook(one_year.workbook)["設問別"].iter_rows(values_only=True))[1:]
    assert len(rows) == len(by_item)
    assert {(row[column["判定"]], row[column["注意"]]) for row in rows} == {("判定なし（受験者 0 人）", None)}


def _passes(cells, assignment: str, pass_ratio: float, neutralised: str | None) -> dict[str, bool]:
    """Per student: whether the module passes, with ``neutralised`` counted at its full marks (plain Python)."""
    result = {}
    for (student, name), graded in cells.items():
        if name != assignment:
            continue
        total = sum(v[1] if g == neutralised else v[0] for g, v in graded.items())
        maximum = sum(v[1] for v in graded.values())
        waiting = any(v[3] for v in graded.values())
        result[student] = not waiting and total >= pass_ratio * maximum - 1e-9
    return result


def test_neutralising_changes_exactly_the_completions_it_should_and_restoring_undoes_it(cohort: Course):
    curriculum = load_curriculum()
    module = curriculum.modules["B01"]
    cells = _cells(cohort)
    before_pass = _passes(cells, module.assignment, module.pass_ratio, None)
    after_pass = _passes(cells, module.assignment, module.pass_ratio, "test_b")
    newly = {s for s, passed in after_pass.items() if passed and not before_pass[s]}
    assert len(newly) >= 5  # the planted item kept these people below the pass mark
    before = records.completion_records(course=cohort, curriculum=curriculum, as_of=AT)
    rows_before = {row[0]: row for row in export.staff_table(before, curriculum).rows}

    result = items.change_item(
        course=cohort, curriculum=curriculum, action=NEUTRALISE, module_id="b01", grade_id="test_b",
        reason="期待値の誤り", by="講師 鈴木", at=AT,
    )  # fmt: skip
    after = records.completion_records(course=cohort, curriculum=curriculum, as_of=AT)
    module_changes = {c.staff_id for c in result.changes if c.what == "B01"}
    assert module_changes == newly
    assert {(c.before, c.after) for c in result.changes if c.what == "B01"} == {("受講中", "修了")}
    b01_tracks = {t.name for t in curriculum.tracks.values() if "B01" in (*t.required, *t.electives)}
    assert {c.what for c in result.changes} <= {"B01", *b01_tracks}
    assert {c.staff_id for c in result.changes} == newly
    # Everything else is as it was: everybody's other modules, the others' tracks and B01 status (B01's score ratio
    # rises for everyone who missed the item).
    for old, new in zip(before, after, strict=True):
        assert {k: v for k, v in old.modules.items() if k != "B01"} == {
            k: v for k, v in new.modules.items() if k != "B01"
        }
        if old.staff.staff_id not in newly:
            assert (old.tracks, old.modules["B01"].status) == (new.tracks, new.modules["B01"].status)
    # HR's list follows: exactly these people's rows change.
    rows_after = {row[0]: row for row in export.staff_table(after, curriculum).rows}
    assert {s for s in rows_before if rows_before[s] != rows_after[s]} == newly

    # Autograding records completions meanwhile; a pass that needs the neutralised item is not recorded.
    record_completions(course=cohort, curriculum=curriculum)
    undone = items.change_item(
        course=cohort, curriculum=curriculum, action=RESTORE, module_id="B01", grade_id="test_b",
        reason="採点テストを直して再採点するため", by="講師 鈴木", at=AT,
    )  # fmt: skip
    assert {c.staff_id for c in undone.changes} == newly
    assert records.completion_records(course=cohort, curriculum=curriculum, as_of=AT) == before

    log = records.load_neutralisation_log(course=cohort)
    assert [(n.action, n.assignment, n.grade_id, n.reason, n.by, n.at) for n in log] == [
        (NEUTRALISE, "b01", "test_b", "期待値の誤り", "講師 鈴木", AT),
        (RESTORE, "b01", "test_b", "採点テストを直して再採点するため", "講師 鈴木", AT),
    ]
    assert records.load_neutralised(course=cohort) == []


def test_scores_count_a_neutralised_item_at_full_marks(cohort: Course):
    curriculum = load_curriculum()
    items.change_item(
        course=cohort, curriculum=curriculum, action=NEUTRALISE, module_id="B01", grade_id="test_b", reason="誤り"
    )
    cells = _cells(cohort)
    expected = {
        (student, name): sum(v[1] if (name, g) == ("b01", "test_b") else v[0] for g, v in graded.items())
        for (student, name), graded in cells.items()
    }
    names = [m.assignment for m in curriculum.modules.values()]
    ours = {(s.staff_id, s.assignment): s.score for s in records.load_submissions(course=cohort, assignments=names)}
    assert ours == pytest.approx(expected)
    graded = records.load_submissions(course=cohort, assignments=names, neutralised=False)
    assert {(s.staff_id, s.assignment): s.score for s in graded} == pytest.approx(
        {key: sum(v[0] for v in cells[key].values()) for key in expected}
    )
    stats = items.analyse_items(course=cohort, modules=_modules(cohort))
    item = next(s for s in stats.stats if (s.module_id, s.grade_id) == ("B01", "test_b"))
    assert item.neutralised is not None and item.neutralised.reason == "誤り"
    assert Flag.REVERSED in item.flags  # the statistics stay as graded: the instructor still sees why
    others = [s for s in stats.stats if s.module_id == "B01" and s.grade_id != "test_b"]
    assert [Flag.REVERSED in s.flags for s in others] == [False, False]  # no longer dragged down by the broken one


@pytest.mark.parametrize(
    ("module_id", "grade_id", "reason", "named"),
    [
        ("Z99", "test_a", "誤り", "Z99"),
        ("B01", "test_zz", "誤り", "test_zz"),
        ("B01", "reflection", "誤り", "reflection"),  # manually graded: not an item
        ("B01", "test_a", "  ", "--reason"),
    ],
)
def test_bad_input_is_refused_in_japanese_and_nothing_is_written(
    shared: Course, module_id: str, grade_id: str, reason: str, named: str
):
    with pytest.raises(CourseError) as caught:
        items.change_item(
            course=shared, curriculum=load_curriculum(), action=NEUTRALISE, module_id=module_id, grade_id=grade_id,
            reason=reason,
        )  # fmt: skip
    assert named in str(caught.value)
    assert records.load_neutralisation_log(course=shared) == []
    assert records.load_neutralised(course=shared) == []


def test_neutralising_twice_or_restoring_what_is_not_neutralised_is_refused(cohort: Course):
    curriculum = load_curriculum()
    with pytest.raises(CourseError, match="全員正解扱いになっていません"):
        items.change_item(course=cohort, curriculum=curriculum, action=RESTORE, module_id="B01", grade_id="test_b")
    items.change_item(
        course=cohort, curriculum=curriculum, action=NEUTRALISE, module_id="B01", grade_id="test_b", reason="誤り"
    )
    with pytest.raises(CourseError, match="すでに全員正解扱い"):
        items.change_item(
            course=cohort, curriculum=curriculum, action=NEUTRALISE, module_id="B01", grade_id="test_b", reason="誤り"
        )
    assert [n.action for n in records.load_neutralisation_log(course=cohort)] == [NEUTRALISE]


def test_the_command_prints_the_flags_and_what_neutralising_changed(cohort: Course, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_ROOT", str(cohort.root))
    runtime = ["--runtime", str(cohort.runtime)]
    assert cli.main([*runtime, "items", "B01", "B07"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "test_b" in line)
    assert lines[at].startswith("    test_b（練習1 表を読む／練習1b（合計が合っているか））: 配点 3、正答率 ")
    assert lines[at + 1 : at + 3] == [
        "      ← 成績上位者ほど不正解（設問の誤りの疑い）",
        f"        {items.ADVICE[Flag.REVERSED]}",
    ]
    # B07: only the flagged item is listed (every item is in the workbook), with what to do about it.
    b07 = lines[next(i for i, line in enumerate(lines) if line.startswith("  B07 ")) :]
    assert b07[0].startswith("  B07 オフィスツール: 受験者 ") and b07[0].endswith("、設問 3、注意 1 件")
    assert b07[1].startswith("    test_c: 配点 3、正答率 0%、")
    assert b07[2:4] == ["      ← ほぼ全員が不正解", f"        {items.ADVICE[Flag.HARD]}"]
    assert b07[4].startswith("注意が必要な設問: ")
    assert "判定していません" not in out
    assert "注意が必要な設問: " in out and "項目分析_全年度_" in out
    assert "項目分析（すべての年度の各職員の最新の提出）:" in out
    assert cli.main([*runtime, "items", "B01", "--year", "令和7年度"]) == 0
    out = capsys.readouterr().out
    assert "項目分析（令和7年度に提出された各職員の最新の提出）:" in out
    assert "  B01 デジタル技術基礎: 受験者 0 人、設問 3、注意 0 件\n" in out
    # Too few attempts is said once for the module, not on every item.
    assert "    B01: 受験者が少なく 3 設問は判定していません（10 人以上で判定します）。\n" in out
    assert not any(line.lstrip().startswith("test_") for line in out.splitlines())
    assert "項目分析_令和7年度_" in out
    assert cli.main([*runtime, "items", "neutralise", "B01", "test_b", "--reason", "期待値の誤り", "--by", "鈴木"]) == 0
    out = capsys.readouterr().out
    assert "B01 の設問 test_b を全員正解扱いにしました（理由: 期待値の誤り、実施: 鈴木）。" in out
    assert "B01: 受講中 → 修了" in out
    assert cli.main([*runtime, "items", "neutralise", "B01"]) == 2
    assert "使い方" in capsys.readouterr().err
    assert cli.main([*runtime, "items", "restore", "B01", "test_q"]) == 1
    assert "B01 に設問 test_q はありません" in capsys.readouterr().err
