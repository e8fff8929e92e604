"""Pre-flight of one submission before nbgrader sees it: small repairs, each with a Japanese note for the instructor.

The submission is copied to a staging folder and repaired there; ``submitted/`` keeps exactly what was handed in.
Each step is one small function; ``STEPS`` lists them in order.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode


class SubmissionRejected(Exception):
    """The submission cannot be graded at all; the message says why, in Japanese."""


@dataclass
class Staged:
    """A submission copied into staging, with the notes of what pre-flight changed."""

    folder: Path
    notes: list[str] = field(default_factory=list)


def _copy_without_links(source: Path, target: Path, notes: list[str]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for item in sorted(source.iterdir()):
        if item.is_symlink():
            notes.append(f"リンクファイル {item.name} は採点の対象外にしました（提出物の外を指すことがあるため）。")
        elif item.is_dir():
            _copy_without_links(item, target / item.name, notes)
        elif item.is_file():
            shutil.copy2(item, target / item.name)


def _meta(cell: NotebookNode) -> dict[str, object]:
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def drop_duplicate_ids(nb: NotebookNode, release: NotebookNode, name: str) -> list[str]:
    """A copied cell keeps nbgrader's grade id: the first copy stays graded, later copies become plain cells."""
    seen: set[str] = set()
    notes = []
    for cell in nb.cells:
        grade_id = _meta(cell).get("grade_id")
        if not grade_id:
            continue
        if grade_id in seen:
            del cell.metadata["nbgrader"]
            notes.append(f"{name}: 採点用のセル「{grade_id}」が重複していたため、2つ目以降を通常のセルにしました。")
        seen.add(str(grade_id))
    return notes


def restore_missing_tests(nb: NotebookNode, release: NotebookNode, name: str) -> list[str]:
    """Put back test cells the learner deleted, after the graded cell that precedes them in the original."""
    present = {_meta(c).get("grade_id") for c in nb.cells}
    notes = []
    previous_id: object = None
    for cell in release.cells:
        meta = _meta(cell)
        grade_id = meta.get("grade_id")
        if meta.get("grade") and not meta.get("solution") and grade_id not in present:
            position = next(
                (i + 1 for i, c in enumerate(nb.cells) if previous_id and _meta(c).get("grade_id") == previous_id),
                len(nb.cells),
            )
            nb.cells.insert(position, nbformat.from_dict(json.loads(json.dumps(cell))))
            present.add(grade_id)
            notes.append(f"{name}: 削除されていた確認のセル「{grade_id}」を元に戻して採点しました。")
        if meta.get("grade") or meta.get("solution"):
            previous_id = grade_id
    return notes


STEPS: list[Callable[[NotebookNode, NotebookNode, str], list[str]]] = [drop_duplicate_ids, restore_missing_tests]


def stage(*, submitted: Path, release: Path, staging: Path) -> Staged:
    """Copy one submission into staging and repair its notebooks; raises SubmissionRejected when it cannot be read."""
    staged = Staged(folder=staging)
    shutil.rmtree(staging, ignore_errors=True)
    _copy_without_links(submitted, staging, staged.notes)
    for release_nb in sorted(release.glob("*.ipynb")):
        path = staging / release_nb.name
        if not path.is_file():
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # nbformat renames duplicated cell ids itself
                nb = nbformat.read(path, as_version=4)
        except Exception as error:  # nbformat raises several kinds for broken files
            msg = f"{release_nb.name} が壊れていて読めません（{type(error).__name__}）。職員に保存し直して再提出するよう依頼してください。"
            raise SubmissionRejected(msg) from error
        if any(not isinstance(cell.get("metadata", {}).get("nbgrader", {}), dict) for cell in nb.cells):
            msg = (
                f"{release_nb.name} の採点用のセルの情報（メタデータ）が書き換えられていて読めません。"
                "職員に元のノートブックを取得し直して再提出するよう依頼してください。"
            )
            raise SubmissionRejected(msg)
        original = nbformat.read(release_nb, as_version=4)
        for step in STEPS:
            staged.notes += step(nb, original, release_nb.name)
        nbformat.write(nb, path)
    return staged
