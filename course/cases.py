"""横展開事例: the 取組 that promoters marked shareable, as a list the whole city can read, and their adoption.

A case is created when a shareable 取組 first arrives in a report (course/reports.py). Another 課 says it wants a
case by reporting a 取組 with that 事例番号; the task force marks it adopted (`python -m course cases adopt`, undone
with `--undo`, both logged); a report of the adopting 課 that points to the case after the adoption is a 横展開 that
actually happened.

The list is a self-contained HTML page (lang=ja, headings, table headers, no external file; a case never breaks
across printed pages) and a workbook, named 横展開事例集_令和8年度_令和8年12月7日現在.html / .xlsx like HR's lists.
Each case says what was done and what was hard (the report's 内容 and 課題), when it was last reported, and whom to
ask and how: the roster has no extension or mail address, so how to reach the 課 is the city's setting
(settings/cases.toml, [contact] how).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from course.config import Course, CourseError, read_toml
from course.export import file_name
from course.hr_sheet import nfkc
from course.models import Staff
from course.reports import UNMEASURED, Adoption, CaseRow, ReceivedRow, load_adoptions, load_case_rows, load_received
from course.spreadsheet import Table, write_atomic, xlsx_bytes
from course.wareki import wareki
from course.years import FiscalYear

CASES_STEM = "横展開事例集"
CASES_SETTINGS = "cases.toml"  # in the course folder's settings/
# Where a case's facts come from, and what the adoption columns mean: on the page and in the workbook's 説明.
READING = {
    "内容・課題・状況・削減時間": "その取組のいちばん新しい報告（最終報告日の報告）に書かれたものです。",
    "問い合わせ先": "その取組をいちばん新しく報告した推進員と、その部・課です。",
}
LEGEND = {
    "希望している課": "進捗報告の「事例番号」にこの事例の番号を書いてきた課のうち、まだ採用の記録がない課。",
    "採用した課": "この事例を取り入れることが決まり、タスクフォースが採用を記録した課。",
    "展開済みの課": "採用した課のうち、採用を記録したあとの進捗報告でこの事例の番号を書いてきた課。"
    "実際に横展開が行われたものとして数えます。",
}


def load_contact(path: Path) -> str:
    """How to reach a case's 課 (settings/cases.toml, [contact] how); a CourseError naming the file and the key."""
    how = read_toml(path).get("contact", {}).get("how")
    if not isinstance(how, str) or not how.strip():
        msg = f"{path} の [contact] how に、事例の課への問い合わせ方法を文で書いてください（いま: {how!r}）。"
        raise CourseError(msg)
    return how.strip()


@dataclass(frozen=True)
class Case:
    """A case as the list shows it: the latest report of its 取組, who to ask, who wants it, who adopted it."""

    case_id: str
    department: str
    section: str
    initiative: str
    work: str
    method: str
    status: str
    content: str  # the report's 内容: what was done, how
    issues: str  # the report's 課題
    reported_on: date  # 最終報告日: the 報告日 of its latest report
    saved_estimate: float
    saved_measured: float | None
    contact: str  # the 課 and the promoter who reported it last
    wanted_by: tuple[str, ...]  # 課 that reported a 取組 pointing to it and have not been marked as adopting it
    adopted_by: tuple[str, ...]  # 課 the task force marked as adopting it
    spread_to: tuple[str, ...]  # adopting 課 whose later report points to it: 横展開 that happened


def latest(rows: Sequence[ReceivedRow]) -> dict[tuple[str, str, str], ReceivedRow]:
    """The latest reported state of every 取組 (部, 課, 取組名): the latest 報告日, then the latest report."""
    out: dict[tuple[str, str, str], ReceivedRow] = {}
    for row in sorted(rows, key=lambda r: (r.report_date, r.report_id)):
        out[(row.department, row.section, row.initiative)] = row
    return out


def build_cases(
    cases: Sequence[CaseRow],
    received: Sequence[ReceivedRow],
    adoptions: Sequence[Adoption],
    staff: Mapping[str, Staff],
) -> list[Case]:
    """Every case with its latest state, in 事例番号 order."""
    state = latest(received)
    out = []
    for case in cases:
        row = state[(case.department, case.section, case.initiative)]
        pointing = [r for r in received if r.case_id == case.case_id]
        adopted = {a.section: a for a in adoptions if a.case_id == case.case_id}
        person = staff.get(row.staff_id)
        out.append(
            Case(
                case_id=case.case_id,
                department=case.department,
                section=case.section,
                initiative=case.initiative,
                work=row.work,
                method=row.method,
                status=row.status,
                content=row.content,
                issues=row.issues,
                reported_on=row.report_date,
                saved_estimate=row.saved_estimate,
                saved_measured=row.saved_measured,
                contact=f"{case.department} {case.section} {person.name}（推進員）"
                if person
                else f"{case.department} {case.section}（推進員 {row.staff_id}）",
                wanted_by=tuple(sorted({r.section for r in pointing} - set(adopted))),
                adopted_by=tuple(sorted(adopted)),
                spread_to=tuple(
                    sorted(
                        {r.section for r in pointing if r.section in adopted and r.received_at > adopted[r.section].at}
                    )
                ),
            )
        )
    return out


def load_cases(*, course: Course) -> list[Case]:
    from course.records import load_staff

    staff = {s.staff_id: s for s in load_staff(course=course)}
    return build_cases(
        load_case_rows(course=course),
        load_received(course=course),
        load_adoptions(course=course),
        staff,
    )


ADOPT, UNDO = "採用", "取り消し"  # what the task force did (the adoption log's action)


def adopt_case(*, course: Course, case_id: str, section: str, by: str, at: datetime, undo: bool = False) -> Adoption:
    """Record that ``section`` adopts the case, or with ``undo`` that it no longer does; either is logged with who
    and when. A CourseError says why not (an unknown case or 課, the case's own 課, nothing to do)."""
    from course.department_report import case_number
    from course.gradebook import case_adoption_log_table, case_adoptions_table, gradebook_transaction
    from course.records import load_staff

    case_id, section = case_number(case_id), nfkc(section)
    cases = {c.case_id: c for c in load_case_rows(course=course)}
    sections = {s.section for s in load_staff(course=course) if s.current}
    if case_id not in cases:
        known = "、".join(cases) or "まだありません"
        msg = f"事例番号 {case_id} はありません（ある事例: {known}）。"
        raise CourseError(msg)
    adopted = any(a.case_id == case_id and a.section == section for a in load_adoptions(course=course))
    if undo and not adopted:
        msg = f"{section}が {case_id} を採用した記録はありません。取り消すものがありません（事例集の「採用した課」を確かめてください）。"
        raise CourseError(msg)
    if not undo:
        if section not in sections:
            msg = f"「{section}」という課は名簿にありません。課の名前を名簿のとおりに書いてください。"
            raise CourseError(msg)
        if cases[case_id].section == section:
            msg = f"{case_id} は{section}自身の事例です。採用するのはほかの課です。"
            raise CourseError(msg)
        if adopted:
            msg = f"{section}は {case_id} をすでに採用しています。"
            raise CourseError(msg)
    stamp = at.astimezone(UTC).replace(tzinfo=None)
    table = case_adoptions_table
    with gradebook_transaction(course) as connection:
        if undo:
            connection.execute(table.delete().where(table.c.case_id == case_id, table.c.section == section))
        else:
            connection.execute(table.insert().values(case_id=case_id, section=section, at=stamp, by=by))
        connection.execute(
            case_adoption_log_table.insert().values(
                at=stamp, by=by, action=UNDO if undo else ADOPT, case_id=case_id, section=section
            )
        )
    return Adoption(case_id, section, at, by)


# ---------------------------------------------------------------- the list


HEADER = (
    "事例番号", "部", "課", "取組名", "業務", "手法", "状況", "内容", "課題", "最終報告日", "削減時間 見込（時間/年）",
    "削減時間 実績（時間/年）", "問い合わせ先", "問い合わせ方法", "希望している課", "採用した課", "展開済みの課",
)  # fmt: skip
WIDTHS = (10, 14, 14, 28, 16, 12, 10, 50, 40, 12, 12, 12, 28, 50, 20, 20, 20)


def case_table(cases: Sequence[Case], contact: str) -> Table:
    rows = tuple(
        (
            c.case_id, c.department, c.section, c.initiative, c.work, c.method, c.status, c.content, c.issues,
            c.reported_on, c.saved_estimate, c.saved_measured, c.contact, contact, "、".join(c.wanted_by),
            "、".join(c.adopted_by), "、".join(c.spread_to),
        )
        for c in cases
    )  # fmt: skip
    return Table("横展開事例", HEADER, rows, WIDTHS, key_columns=1)


def notes_table(contact: str, generated_at: datetime) -> Table:
    rows = (
        ("出力日時", generated_at.strftime("%Y/%m/%d %H:%M")),
        ("対象", "各部の推進員が進捗報告で「他課への展開」を「はい」とした取組。"),
        *READING.items(),
        ("問い合わせ方法", contact),
        *LEGEND.items(),
        (
            "まねしたいとき",
            "問い合わせ先に相談し、自分の課の進捗報告の「事例番号」列にこの事例の番号を書いてください。",
        ),
    )
    return Table("説明", ("項目", "内容"), rows, (28, 100))


STYLE = """
body{font-family:"Yu Gothic","Hiragino Sans","Noto Sans CJK JP","Noto Sans JP","IPAexGothic",sans-serif;
margin:2em auto;max-width:1100px;color:#1a1a1a;line-height:1.6;padding:0 1em}
h1{font-size:1.6em;border-bottom:3px solid #1b5e20;padding-bottom:.2em}
h2{margin-top:1.6em;border-left:6px solid #1b5e20;padding-left:.5em;font-size:1.25em;break-after:avoid}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:.4em 0}dt{font-weight:bold}
dd{margin:0;white-space:pre-line}table{border-collapse:collapse;font-size:.92em}
th,td{border:1px solid #888;padding:3px 8px;text-align:left}tr{break-inside:avoid}
th{background:#e8f5e9}td.n{text-align:right}.muted{color:#4a4a4a}
section.case{break-inside:avoid;page-break-inside:avoid}
@media print{body{margin:0;max-width:none;font-size:10.5pt}}
"""


def _hours(value: float | None) -> str:
    return UNMEASURED if value is None else f"{value:g} 時間/年"


def _dl(items: Mapping[str, str]) -> str:
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in items.items()) + "</dl>"


def render_html(cases: Sequence[Case], *, year: FiscalYear, generated_at: datetime, contact: str) -> str:
    """The case list as one self-contained page; ``contact`` says how to reach a case's 課."""
    stamp = f"{wareki(generated_at.date())}現在"
    spread = sum(len(c.spread_to) for c in cases)
    parts = [
        "<!DOCTYPE html><html lang='ja'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>横展開事例集 {year.label} {stamp}</title><style>{STYLE}</style></head><body><main>",
        f"<h1>横展開事例集（{year.full_label}・{stamp}）</h1>",
        "<p>各部の業務デジタル化推進員が「ほかの課にも使ってもらえる」と報告した取組です。"
        "まねしたい取組があれば問い合わせ先に相談し、進捗報告の「事例番号」列にその番号を書いてください。</p>",
        f"<p>事例 {len(cases)} 件、ほかの課での採用 {sum(len(c.adopted_by) for c in cases)} 件、"
        f"採用後に報告があった横展開 {spread} 件。</p>",
        "<h2>この事例集の見方</h2>",
        _dl({**READING, "問い合わせ方法": contact, **LEGEND}),
    ]
    if not cases:
        parts.append("<p class='muted'>まだ事例はありません。</p>")
    parts.append("<h2>一覧</h2>")
    if cases:
        head = "".join(
            f"<th scope='col'>{html.escape(h)}</th>"
            for h in ("事例番号", "課", "取組名", "手法", "最終報告日", "削減時間 実績")
        )
        body = "".join(
            f"<tr><th scope='row'>{c.case_id}</th><td>{html.escape(c.section)}</td><td>{html.escape(c.initiative)}</td>"
            f"<td>{html.escape(c.method)}</td><td>{wareki(c.reported_on)}</td>"
            f"<td class='n'>{html.escape(_hours(c.saved_measured))}</td></tr>"
            for c in cases
        )
        parts.append(
            f"<table><caption>事例の一覧（{len(cases)} 件）</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
    for case in cases:
        items = {
            "部・課": f"{case.department} {case.section}",
            "業務": case.work,
            "手法": case.method,
            "状況": case.status or "（未記入）",
            "内容": case.content or "（未記入）",
            "課題": case.issues or "（未記入）",
            "最終報告日": wareki(case.reported_on),
            "削減時間 見込": _hours(case.saved_estimate),
            "削減時間 実績": _hours(case.saved_measured),
            "問い合わせ先": case.contact,
            "問い合わせ方法": contact,
            "希望している課": "、".join(case.wanted_by) or "なし",
            "採用した課": "、".join(case.adopted_by) or "なし",
            "展開済みの課": "、".join(case.spread_to) or "なし",
        }
        parts.append(
            f"<section class='case' id='{case.case_id}'><h2>{case.case_id} {html.escape(case.initiative)}</h2>"
            f"{_dl(items)}</section>"
        )
    parts.append(
        "<p class='muted'>同じ内容の表は、同じ名前の Excel ファイル（.xlsx）にあります。</p></main></body></html>"
    )
    return "\n".join(parts)


@dataclass(frozen=True)
class CasesResult:
    html: Path
    workbook: Path
    count: int


def write_cases(*, course: Course, out_dir: Path | None = None, at: datetime | None = None) -> CasesResult:
    """Write the case list as HTML and a workbook; both are rendered before either is written."""
    at = at or datetime.now(course.timezone)
    year = FiscalYear.of(at.date())
    out_dir = out_dir or course.export_dir
    contact = load_contact(course.settings_file(CASES_SETTINGS))
    cases = load_cases(course=course)
    page = render_html(cases, year=year, generated_at=at, contact=contact).encode("utf-8")
    workbook = xlsx_bytes([case_table(cases, contact), notes_table(contact, at)])
    html_path = write_atomic(out_dir / file_name(CASES_STEM, year, at.date(), ".html"), page)
    book_path = write_atomic(out_dir / file_name(CASES_STEM, year, at.date(), ".xlsx"), workbook)
    return CasesResult(html=html_path, workbook=book_path, count=len(cases))
