"""The 進捗報告 (progress report) template that 業務デジタル化推進員 send to the task force.

P04 and P05 build their reports with this module, so every department reports the same columns with the same
meaning and the task force can put them side by side. A report is a table with one row per 取組 (initiative).
The learner-facing messages are Japanese; every problem names the row and the column.

The columns after 次の予定 (業務, 手法, 状況, 削減時間実績, 他課への展開, 事例番号) were added for the reports the
task force receives (course/reports.py). They may be left blank or left out, so reports written before them still
validate; a blank takes the column's default. 削減時間 stays the estimate (現状時間 − 見込時間); 削減時間実績 is what
was measured after the change.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from course import staff_id as staff_ids
from course.config import CourseError
from course.hr_sheet import FIRST_DATA_ROW
from course.spreadsheet import read_rows, write_atomic

if TYPE_CHECKING:
    import pandas as pd

STEPS: dict[int, str] = {1: "基礎・リテラシー", 2: "スキル習得", 3: "現場実践", 4: "事例共有"}
STATUSES: tuple[str, ...] = ("検討中", "実施中", "完了", "中止")  # 状況 of a 取組, in the order it moves
YES, NO = "はい", "いいえ"
_YES_NO = {"はい": YES, "yes": YES, "○": YES, "1": YES, "true": YES, "いいえ": NO, "no": NO, "×": NO, "0": NO,
           "false": NO}  # fmt: skip


@dataclass(frozen=True)
class Column:
    """One column of the template: its header, its kind and the explanation shown to learners."""

    name: str
    kind: str  # "date", "text", "staff_id", "step", "percent", "hours", "status", "yesno", "case"
    meaning: str
    required: bool = True  # an optional column may be blank or absent (reports written before it existed)


COLUMNS: tuple[Column, ...] = (
    Column("報告日", "date", "報告した日（YYYY-MM-DD）"),
    Column("部", "text", "推進員の所属部"),
    Column("課", "text", "推進員の所属課"),
    Column("職員番号", "staff_id", "報告する推進員の職員番号（半角の数字と英字）"),
    Column("取組名", "text", "取組の短い名前（例: 窓口受付簿の電子化）"),
    Column(
        "ステップ",
        "step",
        "指針の4ステップのどこにいるか（1 基礎・リテラシー / 2 スキル習得 / 3 現場実践 / 4 事例共有）",
    ),
    Column("進捗率", "percent", "取組の進み具合（0〜100 の整数, %）"),
    Column("現状時間", "hours", "改善前にその業務にかかる時間（時間/年）"),
    Column("見込時間", "hours", "改善後に見込まれる時間（時間/年）"),
    Column("削減時間", "hours", "現状時間 − 見込時間（時間/年）"),
    Column("内容", "text", "何をしたか・何をするか"),
    Column("課題", "text", "困っていること・支援してほしいこと（なければ「なし」）"),
    Column("次の予定", "text", "次の報告までにすること"),
    Column("業務", "text", "対象の業務（例: 窓口受付、会議録作成）", required=False),
    Column("手法", "text", "使った手法（RPA、AI、Excel、Access、ローコード、データ分析 など）", required=False),
    Column("状況", "status", "取組の状況（" + "・".join(STATUSES) + "）", required=False),
    Column(
        "削減時間実績", "hours", "改善後に実際に測った削減時間（時間/年。まだ測っていなければ空欄）", required=False
    ),
    Column("他課への展開", "yesno", "ほかの課にも使ってもらえる取組か（はい / いいえ。空欄は いいえ）", required=False),
    Column("事例番号", "case", "ほかの課の事例をまねた取組なら、その事例番号（例: C001）", required=False),
)
COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
REQUIRED_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS if column.required)


class ReportError(ValueError):
    """A report that does not follow the template; ``problems`` lists every mistake in Japanese."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("進捗報告がテンプレートに合っていません:\n" + "\n".join(f"- {p}" for p in problems))


def template(rows: int = 0) -> pd.DataFrame:
    """An empty report (or ``rows`` blank rows) with the template's columns in order."""
    import pandas as pd  # imported when used: the task force's report reads reports without it

    return pd.DataFrame({name: [None] * rows for name in COLUMN_NAMES})


def describe() -> pd.DataFrame:
    """The template's columns and their meaning, for showing in a notebook."""
    import pandas as pd  # imported when used: the task force's report reads reports without it

    return pd.DataFrame({"列名": list(COLUMN_NAMES), "意味": [column.meaning for column in COLUMNS]})


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _number(value: object) -> float | None:
    if isinstance(value, bool) or _blank(value):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def case_number(value: object) -> str:
    """A 事例番号 as the task force writes it (C001), from what a person typed (ｃ１, C-1, 1)."""
    text = unicodedata.normalize("NFKC", str(value)).strip().upper().replace("-", "")
    digits = text.removeprefix("C")
    return f"C{int(digits):03d}" if digits.isdigit() else text


def _cell_problem(column: Column, value: object, methods: Sequence[str] | None = None) -> str | None:
    """Why ``value`` is not acceptable in ``column``, or None. ``methods`` (settings) limits 手法 when given."""
    import pandas as pd  # imported when used: the task force's report reads reports without it

    if _blank(value):
        return "空欄です" if column.required else None
    text = str(value).strip()
    if column.name == "手法" and methods is not None and unicodedata.normalize("NFKC", text) not in methods:
        return f"「{text}」は手法の一覧（{'、'.join(methods)}）にありません"
    if column.kind == "status":
        return None if text in STATUSES else f"「{text}」は {'・'.join(STATUSES)} のどれでもありません"
    if column.kind == "yesno":
        return None if text.lower() in _YES_NO else f"「{text}」は はい・いいえ のどちらでもありません"
    if column.kind == "case":
        return (
            None if re.fullmatch(r"C\d{3,}", case_number(text)) else f"「{text}」は事例番号（例: C001）ではありません"
        )
    if column.kind == "date":
        if isinstance(value, dt.date | pd.Timestamp):
            return None
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            return f"「{text}」は日付（YYYY-MM-DD）ではありません"
        return None
    if column.kind == "staff_id":
        return None if staff_ids.problem(staff_ids.normalise(text)) is None else f"「{text}」は職員番号ではありません"
    if column.kind == "text":
        return None
    number = _number(value)
    if number is None:
        return f"「{text}」は数値ではありません"
    if column.kind == "step":
        return None if number in STEPS else f"{text} は 1〜4 のどれでもありません"
    if column.kind == "percent":
        return None if number.is_integer() and 0 <= number <= 100 else f"{text} は 0〜100 の整数ではありません"
    return None if number >= 0 else f"{text} は 0 以上ではありません"


def check(report: pd.DataFrame, *, methods: Sequence[str] | None = None, first_row: int = 1) -> list[str]:
    """Every way ``report`` breaks the template, in Japanese; an empty list means it is valid.

    Rows are numbered from ``first_row``: 1 as a learner counts them in the displayed table, or the number Excel
    shows for a report read from a file (hr_sheet.FIRST_DATA_ROW). ``methods`` is the list of 手法 the task force
    accepts (settings/reports.toml); without it any 手法 is accepted.
    """
    import pandas as pd  # imported when used: the task force's report reads reports without it

    if not isinstance(report, pd.DataFrame):
        return [f"進捗報告は pandas の DataFrame にしてください（いまは {type(report).__name__} です）"]
    problems: list[str] = []
    missing = [name for name in REQUIRED_NAMES if name not in report.columns]
    extra = [str(name) for name in report.columns if name not in COLUMN_NAMES]
    if missing:
        problems.append("列が足りません: " + "、".join(missing))
    if extra:
        problems.append("テンプレートにない列があります: " + "、".join(extra))
    if missing or extra:
        return problems
    if list(report.columns) != [name for name in COLUMN_NAMES if name in report.columns]:
        problems.append(f"列の順番がテンプレートと違います（左から {'、'.join(COLUMN_NAMES)} の順にしてください）")
    if report.empty:
        problems.append("取組が1行もありません")
    for number, (_, row) in enumerate(report.iterrows(), start=first_row):
        for column in COLUMNS:
            if column.name not in report.columns:
                continue
            problem = _cell_problem(column, row[column.name], methods)
            if problem:
                problems.append(f"{number}行目「{column.name}」: {problem}")
        if "他課への展開" in report.columns and str(row["他課への展開"]).strip().lower() in _YES_NO:
            shared = _YES_NO[str(row["他課への展開"]).strip().lower()] == YES
            for name in ("業務", "手法"):
                if shared and (name not in report.columns or _blank(row[name])):
                    problems.append(f"{number}行目「{name}」: 他課への展開が「はい」の取組には書いてください")
        now, later, saved = (_number(row[name]) for name in ("現状時間", "見込時間", "削減時間"))
        if (
            now is not None
            and later is not None
            and saved is not None
            and not math.isclose(now - later, saved, abs_tol=0.05)
        ):
            problems.append(f"{number}行目「削減時間」: {saved:g} ですが、現状時間 − 見込時間 は {now - later:g} です")
    return problems


def normalise(report: pd.DataFrame, *, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """A valid report with every column of the template in its canonical type (dates as text, numbers as numbers,
    blank optional columns as their default: "" for text, NaN for 削減時間実績, いいえ for 他課への展開)."""
    problems = check(report, methods=methods)
    if problems:
        raise ReportError(problems)
    out = report.copy()
    for name in COLUMN_NAMES:
        if name not in out.columns:
            out[name] = None
    out = out.loc[:, list(COLUMN_NAMES)]
    for column in COLUMNS:
        out[column.name] = [_canonical(column, value) for value in out[column.name]]
    return out.reset_index(drop=True)


def _canonical(column: Column, value: object) -> object:
    """A cell that follows the template, in its canonical type (see :func:`normalise`)."""
    import pandas as pd  # imported when used: the task force's report reads reports without it

    if column.kind == "date":
        return pd.Timestamp(str(value).strip()).date().isoformat()
    if column.kind in ("step", "percent"):
        return int(float(str(value)))
    if column.kind == "hours":
        return math.nan if _blank(value) else float(str(value))
    if column.kind == "yesno":
        return NO if _blank(value) else _YES_NO[str(value).strip().lower()]
    if column.kind == "case":
        return "" if _blank(value) else case_number(value)
    return "" if _blank(value) else str(value).strip()  # text, status, staff_id


def valid_cells(
    report: pd.DataFrame, *, methods: Sequence[str] | None = None, first_row: int = 1
) -> list[tuple[int, dict[str, object]]]:
    """Each row's number (from ``first_row``, as :func:`check` numbers it) and the cells that follow the template,
    in their canonical type; a mistaken cell or a missing required column is left out. For checks beyond the template
    (whose 部, whose 職員番号) made beside :func:`check`, so that a report's every problem is found at once."""
    out = []
    for number, (_, row) in enumerate(report.iterrows(), start=first_row):
        cells = {}
        for column in COLUMNS:
            present = column.name in report.columns
            value = row[column.name] if present else None
            if (present or not column.required) and _cell_problem(column, value, methods) is None:
                cells[column.name] = _canonical(column, value)
        out.append((number, cells))
    return out


def save(report: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a valid report as UTF-8 CSV with a BOM (opens cleanly in Japanese Excel); nothing is written if invalid."""
    clean = normalise(report)
    return write_atomic(Path(path), clean.to_csv(index=False).encode("utf-8-sig"))


def read_table(path: Path) -> pd.DataFrame:
    """A report file's table as written (not checked); CourseError if the file cannot be read."""
    import pandas as pd  # imported when used: the task force's report reads reports without it

    header, rows = read_rows(path)
    return pd.DataFrame([[*row, *[None] * (len(header) - len(row))][: len(header)] for row in rows], columns=header)


def load(path: str | os.PathLike[str], *, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a report written by :func:`save`, or by hand in Excel (.xlsx or CSV), checking it against the template.
    A mistake names the file and the row as Excel shows it."""
    source = Path(path)
    try:
        table = read_table(source)
    except CourseError as error:
        raise ReportError([str(error)]) from None
    problems = check(table, methods=methods, first_row=FIRST_DATA_ROW)
    if problems:
        raise ReportError([f"{source.name}: {problem}" for problem in problems])
    return normalise(table, methods=methods)


def combine(reports: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """All departments' reports in one table, the latest 報告日 of each (課, 取組名) only."""
    import pandas as pd  # imported when used: the task force's report reads reports without it

    frames = [normalise(report) for report in reports]
    if not frames:
        return template()
    table = pd.concat(frames, ignore_index=True).sort_values(["部", "課", "取組名", "報告日"])
    return table.drop_duplicates(["部", "課", "取組名"], keep="last").reset_index(drop=True)


def summary(reports: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Per 部/課: number of 取組, the furthest ステップ reached, mean 進捗率 and total 削減時間 (時間/年)."""
    import pandas as pd  # imported when used: the task force's report reads reports without it

    table = combine(reports)
    if table.empty:
        return pd.DataFrame(columns=["部", "課", "取組数", "最大ステップ", "平均進捗率", "削減時間合計"])
    grouped = table.groupby(["部", "課"], sort=True)
    return grouped.agg(
        取組数=("取組名", "size"),
        最大ステップ=("ステップ", "max"),
        平均進捗率=("進捗率", "mean"),
        削減時間合計=("削減時間", "sum"),
    ).reset_index()
