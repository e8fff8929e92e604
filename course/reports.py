"""推進員の進捗報告, received: a 部's report handed in to the task force, validated on the way in and stored.

A promoter fills in the template of course/department_report.py (as P04/P05 teach) and hands it in, from the CLI
(`python -m course reports receive FILE --staff 職員番号`) or from their notebook (:func:`hand_in`). The report is
checked against the template (the same Japanese row/column messages), against the year's roster (the sender is a
current 推進員, every row is of their 部 and carries their 職員番号) and against the cases (a 事例番号 must exist).
An accepted report is stored in the gradebook in one transaction, and a 取組 marked 他課への展開「はい」 becomes a
横展開 case the first time it arrives. A refused report writes nothing and raises ReportRefused listing every problem.

When reports are due is the task force's setting (settings/reports.toml, [schedule]): monthly or quarterly, each
period's report due on a day of the month after the period. A period's report is one received after the previous
period's due day and up to its own.

On the hub, a promoter's notebook calls :func:`hand_in`, which posts the file to the course's service
(course/staff_portal.py, ``POST /services/kenshu/api/reports``, multipart field ``file``) with the single-user
server's own token; the service calls :func:`receive_report` with the logged-in hub user as the sender. Outside a hub
(a trial on one machine, an instructor's server in the course folder) :func:`hand_in` receives the report directly,
which needs the course folder and its gradebook.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from course import department_report
from course.config import Course, CourseError
from course.hr_sheet import FIRST_DATA_ROW, nfkc
from course.models import Staff
from course.staff_id import normalise as normalise_staff_id
from course.wareki import era_year, wareki_time
from course.years import FiscalYear, year_roster

if TYPE_CHECKING:
    import pandas as pd

REPORTS_SETTINGS = "reports.toml"  # in the course folder's settings/
EVERY = {"quarterly": 3, "monthly": 1}  # months per period
# The template's columns as the gradebook stores them (course/gradebook.py report_rows_table).
FIELDS: Mapping[str, str] = {
    "報告日": "report_date",
    "部": "department",
    "課": "section",
    "職員番号": "staff_id",
    "取組名": "initiative",
    "ステップ": "step",
    "進捗率": "percent",
    "現状時間": "hours_now",
    "見込時間": "hours_later",
    "削減時間": "saved_estimate",
    "内容": "content",
    "課題": "issues",
    "次の予定": "next_steps",
    "業務": "work",
    "手法": "method",
    "状況": "status",
    "削減時間実績": "saved_measured",
    "他課への展開": "shareable",
    "事例番号": "case_id",
}


@dataclass(frozen=True)
class ReportPeriod:
    """One reporting period: its months and the day its report is due."""

    first_day: date
    last_day: date
    due: date

    @property
    def months(self) -> str:
        """The period's months without the year (10〜12月分), where the 年度 is clear from the page."""
        if self.first_day.month == self.last_day.month:
            return f"{self.first_day.month}月分"
        return f"{self.first_day.month}〜{self.last_day.month}月分"

    @property
    def label(self) -> str:
        """令和8年10〜12月分."""
        return f"{era_year(self.first_day)}{self.months}"


@dataclass(frozen=True)
class ReportSettings:
    """The task force's settings for reports (settings/reports.toml)."""

    months: int = 3  # 3 = quarterly, 1 = monthly
    due_day: int = 10
    methods: tuple[str, ...] = ()
    expected_default: int = 1
    expected: Mapping[str, int] = field(default_factory=dict)  # 部 → how many 推進員 the plan says

    def expected_promoters(self, department: str) -> int:
        return self.expected.get(department, self.expected_default)

    def periods(self, year: FiscalYear) -> list[ReportPeriod]:
        """The year's reporting periods, April first."""
        out = []
        for index in range(12 // self.months):
            first = _add_months(year.first_day, index * self.months)
            following = _add_months(first, self.months)
            out.append(ReportPeriod(first, following - timedelta(days=1), following.replace(day=self.due_day)))
        return out

    def latest_due(self, today: date) -> ReportPeriod | None:
        """The latest period whose report was due on or before ``today`` (None early in the first period)."""
        year = FiscalYear.of(today)
        due = [p for y in (year.previous(), year) for p in self.periods(y) if p.due <= today]
        return due[-1] if due else None

    def window(self, period: ReportPeriod) -> tuple[date, date]:
        """The days a report for ``period`` may arrive: after the previous period's due day, up to its own."""
        previous = _add_months(period.first_day, -self.months)
        previous_due = _add_months(previous, self.months).replace(day=self.due_day)
        return previous_due + timedelta(days=1), period.due

    def period_of(self, day: date) -> ReportPeriod | None:
        """The period a report received on ``day`` counts for: the one whose window holds the day."""
        year = FiscalYear.of(day)
        periods = [*self.periods(year.previous()), *self.periods(year)]
        return next((p for p in periods if self.window(p)[0] <= day <= self.window(p)[1]), None)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def load_settings(path: Path) -> ReportSettings:
    """The settings in ``path``; a CourseError naming the file and the key when one is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        msg = f"{path.name} の書き方に誤りがあります（{error}）。"
        raise CourseError(msg) from None
    schedule = data.get("schedule", {})
    every = schedule.get("every", "quarterly")
    due_day = schedule.get("due_day", 10)
    problems = []
    if every not in EVERY:
        problems.append(f'[schedule] every は "quarterly"（四半期）か "monthly"（毎月）にしてください（いま: {every}）')
    if not isinstance(due_day, int) or not 1 <= due_day <= 28:
        problems.append(f"[schedule] due_day は 1〜28 の整数にしてください（いま: {due_day}）")
    methods = tuple(nfkc(m) for m in data.get("methods", {}).get("names", ()))
    if not methods:
        problems.append("[methods] names に手法を1つ以上書いてください")
    promoters = data.get("promoters", {})
    expected = {nfkc(k): v for k, v in promoters.get("departments", {}).items()}
    default = promoters.get("default", 1)
    for name, value in {"default": default, **expected}.items():
        if not isinstance(value, int) or value < 0:
            problems.append(f"[promoters] {name} は 0 以上の整数にしてください（いま: {value}）")
    if problems:
        raise CourseError(f"{path.name} に誤りがあります:\n" + "\n".join(f"- {p}" for p in problems))
    return ReportSettings(EVERY[every], due_day, methods, default, expected)


def settings(course: Course) -> ReportSettings:
    return load_settings(course.settings_file(REPORTS_SETTINGS))


class ReportRefused(CourseError):
    """A report that was not accepted; ``problems`` says every reason in Japanese. Nothing was recorded."""

    def __init__(self, file: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(
            f"進捗報告 {file} を受け付けられませんでした（記録していません）。直して、もう一度出してください:\n{lines}"
        )


@dataclass(frozen=True)
class Receipt:
    """An accepted report."""

    report_id: int
    staff_id: str
    department: str
    section: str
    received_at: datetime
    rows: int
    period: str  # the period it counts for (令和8年10〜12月分)
    new_cases: tuple[str, ...]  # the 事例番号 given to its shareable 取組

    @property
    def message(self) -> str:
        cases = f" 新しい横展開事例: {'、'.join(self.new_cases)}。" if self.new_cases else ""
        return (
            f"{self.department}の進捗報告（{self.rows} 件の取組、{self.period or '期間外'}）を受け付けました"
            f"（受付番号 {self.report_id}、{wareki_time(self.received_at)}）。{cases}"
        )

    def to_json(self) -> dict[str, Any]:
        """The receipt as the service answers it (and :meth:`from_json` reads it back)."""
        return {
            "report_id": self.report_id,
            "staff_id": self.staff_id,
            "department": self.department,
            "section": self.section,
            "received_at": self.received_at.isoformat(),
            "rows": self.rows,
            "period": self.period,
            "new_cases": list(self.new_cases),
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Receipt:
        return cls(
            report_id=int(data["report_id"]),
            staff_id=str(data["staff_id"]),
            department=str(data["department"]),
            section=str(data["section"]),
            received_at=datetime.fromisoformat(data["received_at"]),
            rows=int(data["rows"]),
            period=str(data["period"]),
            new_cases=tuple(data["new_cases"]),
        )


def refusals(
    *,
    table: pd.DataFrame,
    staff_id: str,
    person: Staff | None,
    sections: Collection[str],
    cases: Mapping[str, str],
    methods: Sequence[str],
    today: date,
) -> list[str]:
    """Why the report ``table`` (as read, not yet normalised) cannot be accepted from ``staff_id``; [] if it can.
    ``person`` is the sender on the year's roster (None: not on it), ``sections`` the 課 of their 部 on it;
    ``cases`` maps each 事例番号 to its 課. Every problem is found at once: the sender, the template's mistakes and,
    in the cells that follow the template, a 部, 課, 職員番号 or 事例番号 that is not the sender's or does not exist.
    Rows are numbered as Excel shows them (the header is row 1)."""
    problems = []
    if person is None or not person.current:
        problems.append(f"職員番号 {staff_id} は今年度の名簿にありません。人事課に確かめてください。")
    elif not person.promoter:
        problems.append(
            f"{person.name}さん（{staff_id}）は名簿で推進員になっていません。報告は各部の推進員が出します。"
        )
    problems += department_report.check(table, methods=methods, first_row=FIRST_DATA_ROW)
    for number, values in department_report.valid_cells(table, methods=methods, first_row=FIRST_DATA_ROW):
        department, section, case = values.get("部"), values.get("課"), values.get("事例番号")
        if person is not None and department is not None and department != person.department:
            problems.append(f"{number}行目「部」: 「{department}」ですが、あなたの所属は{person.department}です")
        elif person is not None and section is not None and section not in sections:
            problems.append(
                f"{number}行目「課」: 「{section}」は名簿の{person.department}にありません"
                f"（{'、'.join(sorted(sections))} のどれかを書いてください）"
            )
        if "職員番号" in values and normalise_staff_id(str(values["職員番号"])) != staff_id:
            problems.append(f"{number}行目「職員番号」: 「{values['職員番号']}」は報告する人（{staff_id}）と違います")
        if "報告日" in values and date.fromisoformat(str(values["報告日"])) > today:
            problems.append(f"{number}行目「報告日」: {values['報告日']} は今日より後の日付です")
        if case and case not in cases:
            problems.append(
                f"{number}行目「事例番号」: {case} という事例はありません（横展開事例集で番号を確かめてください）"
            )
        elif case and section is not None and cases[str(case)] == section:
            problems.append(
                f"{number}行目「事例番号」: {case} は{section}自身の事例です（ほかの課の事例の番号を書きます）"
            )
    return problems


def receive_report(*, course: Course, staff_id: str, path: Path, at: datetime) -> Receipt:
    """Validate the report in ``path`` from ``staff_id`` and store it, or raise ReportRefused with every problem."""
    from course.records import load_rosters

    staff_id = normalise_staff_id(staff_id)
    year = FiscalYear.of(at.date())
    people, _ = year_roster(load_rosters(course=course, upto=year), year)
    person = next((p for p in people if p.staff_id == staff_id), None)
    config = settings(course)
    cases = {c.case_id: c.section for c in load_case_rows(course=course)}
    try:
        table = department_report.read_table(path)
    except CourseError as error:
        raise ReportRefused(path.name, [str(error)]) from None
    sections = {p.section for p in people if person is not None and p.department == person.department}
    problems = refusals(
        table=table, staff_id=staff_id, person=person, sections=sections, cases=cases, methods=config.methods,
        today=at.date(),
    )  # fmt: skip
    if problems:
        raise ReportRefused(path.name, problems)
    assert person is not None
    report = department_report.normalise(table, methods=config.methods)
    report_id, new_cases = _store(course=course, person=person, report=report, file=path.name, at=at, year=year)
    period = config.period_of(at.date())
    return Receipt(
        report_id=report_id,
        staff_id=staff_id,
        department=person.department,
        section=person.section,
        received_at=at,
        rows=len(report),
        period=period.label if period else "",
        new_cases=new_cases,
    )


def _store(
    *, course: Course, person: Staff, report: pd.DataFrame, file: str, at: datetime, year: FiscalYear
) -> tuple[int, tuple[str, ...]]:
    """Write the report, its rows and its new cases in one transaction."""
    import math

    from sqlalchemy import select

    from course.gradebook import cases_table, gradebook_transaction, report_rows_table, reports_table

    stamp = at.astimezone(UTC).replace(tzinfo=None)
    with gradebook_transaction(course) as connection:
        key = connection.execute(
            reports_table.insert().values(
                staff_id=person.staff_id, department=person.department, section=person.section,
                fiscal_year=year.start, received_at=stamp, file=file,
            )
        ).inserted_primary_key  # fmt: skip
        assert key is not None
        report_id = key[0]
        rows = []
        for number, values in enumerate(report.to_dict("records"), start=1):
            row = {FIELDS[name]: value for name, value in values.items()}
            row["report_date"] = date.fromisoformat(row["report_date"])
            row["saved_measured"] = None if math.isnan(row["saved_measured"]) else row["saved_measured"]
            row["shareable"] = row["shareable"] == department_report.YES
            rows.append({"report_id": report_id, "row": number, **row})
        connection.execute(report_rows_table.insert(), rows)
        known = {
            (r.department, r.section, r.initiative)
            for r in connection.execute(select(cases_table.c.department, cases_table.c.section,
                                               cases_table.c.initiative))
        }  # fmt: skip
        count = len(connection.execute(select(cases_table.c.case_id)).all())
        new = []
        for row in rows:
            key = (row["department"], row["section"], row["initiative"])
            if row["shareable"] and key not in known:
                known.add(key)
                count += 1
                new.append(f"C{count:03d}")
                connection.execute(
                    cases_table.insert().values(
                        case_id=new[-1], department=key[0], section=key[1], initiative=key[2],
                        report_id=report_id, created_at=stamp,
                    )
                )  # fmt: skip
    return int(report_id), tuple(new)


# ---------------------------------------------------------------- reading what was received


UNMEASURED = "未測定"  # how a 削減時間実績 not yet measured is written: unlike a measured 0


@dataclass(frozen=True)
class ReceivedRow:
    """One 取組 of one accepted report."""

    report_id: int
    received_at: datetime  # in the course's timezone
    report_date: date
    department: str
    section: str
    staff_id: str
    initiative: str
    step: int
    percent: int
    saved_estimate: float  # 削減時間 (時間/年), the estimate
    saved_measured: float | None  # 削減時間実績, None until measured
    work: str
    method: str
    status: str
    shareable: bool
    case_id: str
    content: str  # 内容: what was done, how
    issues: str  # 課題


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    department: str
    section: str
    initiative: str
    report_id: int


@dataclass(frozen=True)
class Adoption:
    case_id: str
    section: str
    at: datetime
    by: str


def _select(course: Course, table: str, columns: Sequence[str], order: Sequence[str]) -> list[dict[str, Any]]:
    """Every row of one of the course's report tables, as dicts (none when the gradebook has no such table yet)."""
    from course.records import read_course_table

    return read_course_table(course=course, table=table, columns=columns, order=order)


def _local(stamp: object, course: Course) -> datetime:
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC).astimezone(course.timezone)


def load_received(*, course: Course) -> list[ReceivedRow]:
    """Every 取組 of every accepted report, in the order they arrived."""
    received = {r["id"]: r["received_at"] for r in _select(course, "course_reports", ["id", "received_at"], ["id"])}
    names = [name for name in ReceivedRow.__dataclass_fields__ if name not in ("report_id", "received_at")]
    rows = _select(course, "course_report_rows", ["report_id", *names], ["report_id", "row"])
    return [
        ReceivedRow(
            report_id=int(r["report_id"]),
            received_at=_local(received[r["report_id"]], course),
            **{name: r[name] for name in names}
            | {"report_date": _date(r["report_date"]), "shareable": bool(r["shareable"])},
        )
        for r in rows
    ]


def _date(value: object) -> date:
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value  # type: ignore[return-value]


def load_case_rows(*, course: Course) -> list[CaseRow]:
    return [CaseRow(**r) for r in _select(course, "course_cases", list(CaseRow.__dataclass_fields__), ["case_id"])]


def load_adoptions(*, course: Course) -> list[Adoption]:
    rows = _select(course, "course_case_adoptions", ["case_id", "section", "at", "by"], ["at", "case_id"])
    return [Adoption(str(r["case_id"]), str(r["section"]), _local(r["at"], course), str(r["by"])) for r in rows]


# ---------------------------------------------------------------- from a promoter's notebook

SERVICE_URL_ENV = "COURSE_SERVICE_URL"  # the kenshu service's address, given to each server by the hub's spawner
TOKEN_ENV = "JUPYTERHUB_API_TOKEN"  # the single-user server's own token, which may reach the service
UNREACHABLE = (
    "研修のサービスに接続できなかったため、報告は出せていません（{why}）。"
    "時間をおいてもう一度実行し、続くときは情報政策課にお知らせください。"
)


def hand_in(path: str | os.PathLike[str], *, staff_id: str | None = None) -> Receipt | None:
    """Hand in a saved report from JupyterLab and print the receipt, or every reason it was refused (in Japanese).

    In a hub's single-user server the file goes to the course's service, which takes the sender from the server's
    token (the hub user name is the 職員番号; ``staff_id`` may only repeat it). Elsewhere the report is received here,
    from ``staff_id`` or the logged-in user. Returns the receipt, or None when the report was not accepted."""
    source = Path(path)
    service, token = os.environ.get(SERVICE_URL_ENV, ""), os.environ.get(TOKEN_ENV, "")
    if service and token:
        me = os.environ.get("JUPYTERHUB_USER", "")
        if staff_id and normalise_staff_id(staff_id) != normalise_staff_id(me):
            print(
                f"報告は出せていません。研修のハブでは、ログイン中の職員番号（{me}）の報告として出します。"
                "ほかの人の報告は、講師が python -m course reports receive で受け付けます。"
            )
            return None
        if not source.is_file():
            print(
                ReportRefused(
                    source.name, [f"ファイル {source} が見つかりません。保存した場所と名前を確かめてください。"]
                )
            )
            return None
        return _hand_in_to_service(source, service=service, token=token)
    course = Course.load()
    who = staff_id or os.environ.get("JUPYTERHUB_USER", "")
    try:
        receipt = receive_report(course=course, staff_id=who, path=source, at=datetime.now(course.timezone))
    except ReportRefused as error:
        print(error)
        return None
    print(receipt.message)
    return receipt


def _hand_in_to_service(source: Path, *, service: str, token: str) -> Receipt | None:
    """POST the file to the service's ``api/reports`` as a multipart field ``file`` and print its answer."""
    import json
    import urllib.error
    import urllib.request
    import uuid

    boundary = uuid.uuid4().hex
    name = source.name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + source.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(  # the hub's own address for the service, http(s)
        service.rstrip("/") + "/api/reports",
        data=body,
        method="POST",
        headers={"Authorization": f"token {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        answer = _json_or_empty(error.read())
        if error.code == 422 and "problems" in answer:
            print(ReportRefused(source.name, answer["problems"]))
        elif "message" in answer:  # the service's own answer (403: not a logged-in member of staff)
            print(f"報告は出せていません。{answer['message']}")
        else:
            print(UNREACHABLE.format(why=f"HTTP {error.code}"))
        return None
    except (OSError, ValueError) as error:
        print(UNREACHABLE.format(why=error))
        return None
    receipt = Receipt.from_json(answer)
    print(receipt.message)
    return receipt


def _json_or_empty(body: bytes) -> dict[str, Any]:
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
