"""猶予・免除: the extensions and exemptions HR grants (育児休業, 病気休暇, 合理的配慮, 途中採用 …), read from a sheet HR
keeps and imported with an audit trail.

The sheet, one row per person, year and target:

    職員番号, 氏名, 年度, 対象, 措置, 期限, 理由, 備考
    201205, 架空 花子, 令和8年度, , 延長, 2027-06-30, 育児休業, 復職後3か月

対象 is empty (every track that year), a track (一般職 …) or a module (B05). 措置 is 延長 (with the new 期限) or
免除. 氏名 is for HR's eyes and is not checked. For every 年度 the sheet mentions, the sheet is the whole truth: the
import adds, changes and removes that year's extensions to match it, and logs each change with who and when.
"""

from __future__ import annotations

import getpass
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from course.config import Course
from course.curriculum import Curriculum
from course.hr_sheet import SheetError, SheetRow, data_rows, header_columns, nfkc, parse_date
from course.models import EXEMPT, EXTEND, Extension
from course.roster import ROSTER_SETTINGS
from course.spreadsheet import Cell, read_rows
from course.staff_id import normalise
from course.years import FiscalYear

COLUMNS = ("職員番号", "年度", "対象", "措置", "期限", "理由")
OPTIONAL_COLUMNS = ("氏名", "備考")
COLUMNS_IN_ORDER = ("職員番号", "氏名", "年度", "対象", "措置", "期限", "理由", "備考")  # as a new sheet has them
SHEET = "猶予・免除の一覧"


def load_reasons(path: Path) -> tuple[str, ...]:
    """The reasons HR may give (settings/roster.toml, [extensions] reasons)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return tuple(nfkc(r) for r in data["extensions"]["reasons"])


def parse_extensions(
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    file: str,
    curriculum: Curriculum,
    known_staff: set[str],
    reasons: Sequence[str],
) -> list[Extension]:
    """Validate every row; the extensions, or SheetError listing every mistake with its row and column."""
    columns, problems, _ = header_columns(header, file=file, required=COLUMNS, optional=OPTIONAL_COLUMNS)
    if problems:
        raise SheetError(problems, sheet=SHEET)
    extensions: list[Extension] = []
    first_row: dict[tuple[str, int, str], int] = {}
    for row in data_rows(rows, columns, file=file):
        cells, values = row.cells, row.values

        def problem(column: str, message: str, *, row: SheetRow = row) -> None:
            problems.append(row.problem(column, message))

        staff_id = normalise(cells["職員番号"])
        if staff_id not in known_staff:
            problem("職員番号", "名簿にない職員番号です。先に名簿を取り込むか、番号を直してください。")
        year = FiscalYear.parse(cells["年度"])
        if year is None:
            problem("年度", "年度は「令和8年度」か「2026」のように書いてください。")
        target_text = values["対象"]
        everything = target_text in ("", "すべて", "全て")
        target = "" if everything else curriculum.track_key(target_text) or curriculum.module_id(target_text)
        if target is None:
            names = "・".join(t.name for t in curriculum.tracks.values())
            problem("対象", f"対象は空欄（すべて）、研修区分（{names}）かモジュール番号（例: B05）にしてください。")
        measure = values["措置"]
        until = parse_date(cells["期限"]) if values["期限"] else None
        if measure not in (EXTEND, EXEMPT):
            problem("措置", f"措置は「{EXTEND}」か「{EXEMPT}」にしてください。")
        elif measure == EXTEND and until is None:
            problem("期限", "延長には新しい期限（例: 2027-06-30）が必要です。")
        elif measure == EXEMPT and values["期限"]:
            problem("期限", "免除の行には期限を書かないでください。")
        if year is not None and until is not None and until < year.first_day:
            problem("期限", f"延長後の期限が{year.label}の始まり（{year.first_day:%Y/%m/%d}）より前です。")
        reason = values["理由"]
        if reason not in reasons:
            problem(
                "理由", f"理由は {'・'.join(reasons)} のいずれかにしてください（settings/roster.toml で増やせます）。"
            )
        if year is None or target is None:
            continue
        key = (staff_id, year.start, target)
        if key in first_row:
            problem("対象", f"同じ職員・年度・対象の行が {first_row[key]}行目 にもあります。1行にまとめてください。")
            continue
        first_row[key] = row.number
        extensions.append(Extension(staff_id, year.start, target, measure, until, reason, note=values.get("備考", "")))
    if problems:
        raise SheetError(problems, sheet=SHEET)
    return extensions


@dataclass(frozen=True)
class ExtensionImport:
    """What an import changed (or, in a dry run, would change), and the years the sheet spoke for."""

    added: tuple[Extension, ...]
    changed: tuple[Extension, ...]
    removed: tuple[Extension, ...]
    years: tuple[FiscalYear, ...]


def import_extensions(
    *, course: Course, curriculum: Curriculum, path: Path, by: str | None = None, dry_run: bool = False
) -> ExtensionImport:
    """Read HR's sheet and make the gradebook's extensions of the years it mentions match it, in one transaction,
    logging each change with ``by`` (default: the logged-in user) and the time."""
    from course import gradebook
    from course.records import load_staff

    header, rows = read_rows(path)
    extensions = parse_extensions(
        header,
        rows,
        file=path.name,
        curriculum=curriculum,
        known_staff={s.staff_id for s in load_staff(course=course)},
        reasons=load_reasons(course.settings_file(ROSTER_SETTINGS)),
    )
    who = by or getpass.getuser()
    added, changed, removed = gradebook.sync_extensions(
        course=course, extensions=extensions, by=who, file=path.name, at=datetime.now(course.timezone),
        dry_run=dry_run,
    )  # fmt: skip
    years = tuple(sorted({FiscalYear(e.fiscal_year) for e in extensions}))
    return ExtensionImport(added=added, changed=changed, removed=removed, years=years)
