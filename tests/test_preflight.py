"""Pre-flight of one submission: copied without links, duplicated graded cells and deleted tests repaired in the copy,
unreadable notebooks rejected in Japanese, and ``submitted/`` left exactly as it was handed in."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course.autograde.preflight import (
    STEPS,
    SubmissionRejected,
    drop_duplicate_ids,
    restore_missing_tests,
    stage,
)
from tests.grading import copy_of


def _cell(kind: str, grade_id: str, source: str = "", **flags: object) -> NotebookNode:
    meta = {"grade_id": grade_id, "schema_version": 3, "grade": False, "solution": False, "locked": True, **flags}
    make = new_code_cell if kind == "code" else new_markdown_cell
    return make(source or grade_id, metadata={"nbgrader": meta})


def _release() -> NotebookNode:
    """The student version of a fictional module: two exercises with two and one test cells, and a reflection."""
    return new_notebook(
        cells=[
            _cell("markdown", "intro", "# 架空の演習"),
            _cell("code", "answer_a", "# ここにコードを書いてください", solution=True, locked=False),
            _cell("code", "test_a1", "assert a == 1", grade=True, points=1),
            _cell("code", "test_a2", "assert a > 0", grade=True, points=1),
            new_code_cell("print('自由なセル')"),
            _cell("code", "answer_b", "# ここにコードを書いてください", solution=True, locked=False),
            _cell("code", "test_b", "assert b == 2", grade=True, points=1),
            _cell("markdown", "reflection", "ここに回答を書いてください。", grade=True, solution=True, points=2),
        ]
    )


def _ids(nb: NotebookNode) -> list[str | None]:
    return [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells]


def _pasted(cell: NotebookNode) -> NotebookNode:
    """A copy of a cell as JupyterLab pastes it: a new cell id, the same nbgrader metadata."""
    copy = copy_of(cell)
    copy.id = f"pasted-{id(copy)}"
    return copy


def _answered(release: NotebookNode) -> NotebookNode:
    nb = copy_of(release)
    nb.cells[1].source = "a = 1"
    nb.cells[5].source = "b = 2"
    return nb


# ---------------------------------------------------------------- the steps on their own


def test_a_copied_graded_cell_stays_graded_only_once():
    """The first cell with a grade id keeps it; later copies become plain cells, each noted in Japanese."""
    nb = _answered(_release())
    nb.cells.insert(2, _pasted(nb.cells[1]))
    nb.cells.insert(3, _pasted(nb.cells[1]))
    notes = drop_duplicate_ids(nb, _release(), "z99.ipynb")
    assert _ids(nb)[1:4] == ["answer_a", None, None]
    assert [c.source for c in nb.cells[1:4]] == ["a = 1"] * 3  # the code itself is kept
    assert "nbgrader" not in nb.cells[2].metadata
    assert notes == ["z99.ipynb: 採点用のセル「answer_a」が重複していたため、2つ目以降を通常のセルにしました。"] * 2


def test_a_notebook_without_duplicates_is_left_alone():
    """No duplicate, no change and no note (plain cells without nbgrader metadata included)."""
    nb = _answered(_release())
    before = copy_of(nb)
    assert drop_duplicate_ids(nb, _release(), "z99.ipynb") == []
    assert nb == before


def test_deleted_tests_are_put_back_after_the_cell_they_followed():
    """Deleted test cells come back, from the original, right after the graded cell before them there."""
    release = _release()
    nb = _answered(release)
    nb.cells = [c for c in nb.cells if _ids(nb)[nb.cells.index(c)] not in {"test_a1", "test_a2", "test_b"}]
    notes = restore_missing_tests(nb, release, "z99.ipynb")
    assert _ids(nb) == _ids(release)
    assert nb.cells[2].source == "assert a == 1" and nb.cells[2] is not release.cells[2]
    assert notes == [
        f"z99.ipynb: 削除されていた確認のセル「{grade_id}」を元に戻して採点しました。"
        for grade_id in ("test_a1", "test_a2", "test_b")
    ]


def test_a_test_whose_answer_cell_is_gone_goes_to_the_end():
    """Without the graded cell it followed, a restored test is appended at the end of the notebook."""
    release = _release()
    nb = _answered(release)
    del nb.cells[5:7]  # answer_b and test_b
    restore_missing_tests(nb, release, "z99.ipynb")
    assert _ids(nb)[-1] == "test_b"


def test_a_first_test_with_no_graded_cell_before_it_goes_to_the_end():
    """A deleted test that no graded cell precedes in the original is appended, not put after some plain cell."""
    release = _release()
    release.cells.insert(0, new_code_cell("import pandas as pd"))
    release.cells.insert(1, _cell("code", "test_setup", "assert pd", grade=True, points=1))
    nb = copy_of(release)
    del nb.cells[1]
    restore_missing_tests(nb, release, "z99.ipynb")
    assert _ids(nb)[-1] == "test_setup" and _ids(nb)[:2] == [None, "intro"]


def test_only_test_cells_are_restored():
    """Deleted answer cells, the manually graded reflection and plain cells are not put back."""
    release = _release()
    nb = _answered(release)
    nb.cells = [nb.cells[2], nb.cells[3], nb.cells[6]]  # only the three tests are left
    assert restore_missing_tests(nb, release, "z99.ipynb") == []
    assert _ids(nb) == ["test_a1", "test_a2", "test_b"]


def test_steps_run_in_order_duplicates_first():
    """Duplicates are dropped before tests are restored, so a copied test cell is not counted as present twice."""
    assert [drop_duplicate_ids, restore_missing_tests] == STEPS


# ---------------------------------------------------------------- stage()


def _snapshot(folder: Path) -> dict[str, object]:
    """Every entry under ``folder``: file bytes, link targets, folders."""
    found: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = ("link", str(path.readlink()))
        elif path.is_dir():
            found[key] = "folder"
        else:
            found[key] = path.read_bytes()
    return found


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """release/z99 (the notebook and a data file) and submitted/<staff>/z99 with an answered copy of them."""
    release = tmp_path / "release" / "z99"
    release.mkdir(parents=True)
    nbformat.write(_release(), release / "z99.ipynb")
    (release / "data.csv").write_text("区,人数\r\n1,2\r\n", encoding="utf-8-sig")
    submitted = tmp_path / "submitted" / "600001" / "z99"
    submitted.mkdir(parents=True)
    nbformat.write(_answered(_release()), submitted / "z99.ipynb")
    (submitted / "data.csv").write_bytes((release / "data.csv").read_bytes())
    (submitted / "timestamp.txt").write_text("2026-11-27 10:00:00.000000 JST", encoding="utf-8")
    return release, submitted, tmp_path / "staging" / "600001" / "z99"


def test_stage_copies_the_submission_and_changes_nothing_in_an_honest_one(folders):
    """An honest submission is copied byte for byte (nested folders too) with no note."""
    release, submitted, staging = folders
    (submitted / "output").mkdir()
    (submitted / "output" / "結果.csv").write_bytes(b"a,b\r\n")
    result = stage(submitted=submitted, release=release, staging=staging)
    assert result.folder == staging and result.notes == []
    assert _snapshot(staging) == _snapshot(submitted)


def test_stage_leaves_links_out_and_says_so(folders, tmp_path: Path):
    """Links (to a file or a folder, also in sub-folders) are not copied; each is noted; the rest is copied."""
    release, submitted, staging = folders
    secret = tmp_path / "secret.txt"
    secret.write_text("講師だけのもの", encoding="utf-8")
    (submitted / "secret.txt").symlink_to(secret)
    (submitted / "home").symlink_to(tmp_path, target_is_directory=True)
    (submitted / "sub").mkdir()
    (submitted / "sub" / "deep.txt").symlink_to(secret)
    (submitted / "sub" / "memo.txt").write_text("メモ", encoding="utf-8")
    result = stage(submitted=submitted, release=release, staging=staging)
    copied = _snapshot(staging)
    assert not any(isinstance(value, tuple) for value in copied.values())
    assert set(copied) == {"data.csv", "timestamp.txt", "z99.ipynb", "sub", "sub/memo.txt"}
    assert sorted(result.notes) == sorted(
        f"リンクファイル {name} は採点の対象外にしました（提出物の外を指すことがあるため）。"
        for name in ("secret.txt", "home", "deep.txt")
    )


def test_stage_repairs_the_copy_and_never_the_submission(folders):
    """A copied cell and a deleted test are repaired in staging only; submitted/ keeps every byte it had."""
    release, submitted, staging = folders
    nb = nbformat.read(submitted / "z99.ipynb", as_version=4)
    nb.cells.insert(2, _pasted(nb.cells[1]))
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_b"]
    nbformat.write(nb, submitted / "z99.ipynb")
    (submitted / "link").symlink_to(release / "z99.ipynb")
    before = _snapshot(submitted)
    result = stage(submitted=submitted, release=release, staging=staging)
    assert _snapshot(submitted) == before
    staged = nbformat.read(staging / "z99.ipynb", as_version=4)
    assert _ids(staged) == [*_ids(_release())[:2], None, *_ids(_release())[2:]]
    assert len(result.notes) == 3 and "重複" in result.notes[1] and "「test_b」を元に戻して" in result.notes[2]


def test_stage_replaces_what_an_earlier_run_left_in_staging(folders):
    """Files from an earlier staging of the same submission are gone."""
    release, submitted, staging = folders
    staging.mkdir(parents=True)
    (staging / "stale.txt").write_text("前回の残り", encoding="utf-8")
    stage(submitted=submitted, release=release, staging=staging)
    assert not (staging / "stale.txt").exists()


def test_a_notebook_the_module_does_not_have_is_copied_unrepaired(folders):
    """Only the module's notebooks are repaired; another notebook is copied as it is, a missing one is skipped."""
    release, submitted, staging = folders
    (submitted / "z99.ipynb").rename(submitted / "下書き.ipynb")
    nb = nbformat.read(submitted / "下書き.ipynb", as_version=4)
    nb.cells.append(_pasted(nb.cells[1]))
    nbformat.write(nb, submitted / "下書き.ipynb")
    result = stage(submitted=submitted, release=release, staging=staging)
    assert result.notes == []
    assert (staging / "下書き.ipynb").read_bytes() == (submitted / "下書き.ipynb").read_bytes()
    assert not (staging / "z99.ipynb").exists()


@pytest.mark.parametrize(
    "content",
    ['{"cells": [ this is not json', "", "{}", "[]", "\x00\x01"],
    ids=["broken_json", "empty", "empty_object", "list", "binary"],
)
def test_an_unreadable_notebook_is_rejected_in_japanese(folders, content: str):
    """A notebook nbformat cannot read: SubmissionRejected naming the notebook, and submitted/ is untouched."""
    release, submitted, staging = folders
    (submitted / "z99.ipynb").write_text(content, encoding="utf-8")
    before = _snapshot(submitted)
    with pytest.raises(SubmissionRejected) as caught:
        stage(submitted=submitted, release=release, staging=staging)
    assert str(caught.value).startswith("z99.ipynb が壊れていて読めません（")
    assert str(caught.value).endswith("）。職員に保存し直して再提出するよう依頼してください。")
    assert _snapshot(submitted) == before


@pytest.mark.parametrize("value", [None, "answer_a"], ids=["null", "text"])
def test_nbgrader_metadata_that_is_not_an_object_is_rejected(folders, value):
    """A cell whose nbgrader metadata was edited into something other than an object is rejected, not a crash."""
    release, submitted, staging = folders
    nb = nbformat.read(submitted / "z99.ipynb", as_version=4)
    nb.cells[1].metadata["nbgrader"] = value
    nbformat.write(nb, submitted / "z99.ipynb")
    with pytest.raises(SubmissionRejected):
        stage(submitted=submitted, release=release, staging=staging)
