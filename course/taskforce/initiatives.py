"""The task force's view of the departments' reports: who reported, who is late, which 部 lacks a 推進員, the 取組
by 状況, and the hours freed per 部 and per quarter, estimated and measured apart.

Pure functions over what course/reports.py received; course/taskforce/report.py lays them out. A 取組 counts with
its latest reported state (the latest 報告日, then the latest report) among the reports of the 年度. Hours freed are
annual rates (時間/年) of the 取組 not 中止: 削減時間 is the estimate, 削減時間実績 the measurement (a 取組 without
one adds nothing to the measured total).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from course.cases import Case, latest
from course.department_report import STATUSES
from course.models import Staff
from course.reports import ReceivedRow, ReportSettings
from course.spreadsheet import Table
from course.years import FiscalYear

STOPPED = "中止"
NO_STATUS = "未記入"


@dataclass(frozen=True)
class DepartmentStatus:
    department: str
    promoters: tuple[Staff, ...]
    expected: int  # 推進員 the plan says (settings/reports.toml)
    last_received: date | None
    last_report_date: date | None
    due: str  # the latest period that is due (2026年7〜9月分, 期限 2026/10/10), "" before the first is due
    overdue: bool

    @property
    def promoter_note(self) -> str:
        if not self.promoters:
            return "推進員なし"
        if len(self.promoters) > self.expected:
            return f"計画より多い（{len(self.promoters)}人 / 計画{self.expected}人）"
        if len(self.promoters) < self.expected:
            return f"計画より少ない（{len(self.promoters)}人 / 計画{self.expected}人）"
        return ""

    @property
    def state(self) -> str:
        if not self.due:
            return "最初の期限前"
        return f"未提出（{self.due}）" if self.overdue else "提出済み"


@dataclass(frozen=True)
class Hours:
    label: str  # 部, or the quarter (第3四半期（10〜12月）)
    initiatives: int
    estimated: float
    measured: float
    measured_initiatives: int


@dataclass(frozen=True)
class Loop:
    """Everything the report shows about the departments' reports."""

    year: FiscalYear
    departments: tuple[DepartmentStatus, ...]
    initiatives: tuple[ReceivedRow, ...]  # latest state of every 取組 of the year, in organisation order
    by_department: tuple[Hours, ...]
    by_quarter: tuple[Hours, ...]
    cases: tuple[Case, ...]


def year_rows(received: Sequence[ReceivedRow], year: FiscalYear) -> list[ReceivedRow]:
    return [r for r in received if r.report_date in year]


def department_statuses(
    *, staff: Sequence[Staff], received: Sequence[ReceivedRow], settings: ReportSettings, today: date
) -> list[DepartmentStatus]:
    """Every 部 of the current roster: its 推進員 against the plan, its latest report, and whether it is overdue
    (no report since the window of the latest period that is due opened)."""
    period = settings.latest_due(today)
    opened = settings.window(period)[0] if period else None
    out = []
    for department in sorted({p.department for p in staff if p.current}):
        reports = [r for r in received if r.department == department]
        last = max((r.received_at.date() for r in reports), default=None)
        out.append(
            DepartmentStatus(
                department=department,
                promoters=tuple(p for p in staff if p.current and p.promoter and p.department == department),
                expected=settings.expected_promoters(department),
                last_received=last,
                last_report_date=max((r.report_date for r in reports), default=None),
                due=f"{period.label}, 期限 {period.due:%Y/%m/%d}" if period else "",
                overdue=opened is not None and (last is None or last < opened),
            )
        )
    return out


def hours(label: str, rows: Sequence[ReceivedRow]) -> Hours:
    counted = [r for r in rows if r.status != STOPPED]
    measured = [r.saved_measured for r in counted if r.saved_measured is not None]
    return Hours(label, len(counted), sum(r.saved_estimate for r in counted), sum(measured), len(measured))


def quarters(year: FiscalYear, today: date) -> list[tuple[str, date]]:
    """The year's quarters that have begun by ``today``: their label and last day."""
    ends = [date(year.start, 6, 30), date(year.start, 9, 30), date(year.start, 12, 31), date(year.start + 1, 3, 31)]
    months = ("4〜6月", "7〜9月", "10〜12月", "1〜3月")
    starts = [year.first_day, date(year.start, 7, 1), date(year.start, 10, 1), date(year.start + 1, 1, 1)]
    return [(f"第{i + 1}四半期（{months[i]}）", ends[i]) for i in range(4) if starts[i] <= today]


def build(
    *,
    staff: Sequence[Staff],
    received: Sequence[ReceivedRow],
    cases: Sequence[Case],
    settings: ReportSettings,
    today: date,
    order: Callable[[str, str], tuple[int, str, int, str]],
) -> Loop:
    year = FiscalYear.of(today)
    rows = year_rows(received, year)
    state = sorted(latest(rows).values(), key=lambda r: (*order(r.department, r.section), r.initiative))
    departments = sorted(
        department_statuses(staff=staff, received=rows, settings=settings, today=today),
        key=lambda d: order(d.department, ""),
    )
    names = [d.department for d in departments] + sorted(
        {r.department for r in state} - {d.department for d in departments}
    )
    return Loop(
        year=year,
        departments=tuple(departments),
        initiatives=tuple(state),
        by_department=tuple(hours(name, [r for r in state if r.department == name]) for name in names),
        by_quarter=tuple(
            hours(label, list(latest([r for r in rows if r.report_date <= end]).values()))
            for label, end in quarters(year, today)
        ),
        cases=tuple(cases),
    )


def status_counts(loop: Loop) -> list[tuple[str, dict[str, int]]]:
    """Per 部: how many 取組 in each 状況 (未記入 for reports written before the column)."""
    out = []
    for h in loop.by_department:
        counts = dict.fromkeys((*STATUSES, NO_STATUS), 0)
        for row in loop.initiatives:
            if row.department == h.label:
                counts[row.status or NO_STATUS] += 1
        out.append((h.label, counts))
    return out


# ---------------------------------------------------------------- sheets and HTML


def tables(loop: Loop) -> list[Table]:
    """The sheets added to 進捗報告書_集計.xlsx."""
    hours_header = ("取組数", "削減時間 見込（時間/年）", "削減時間 実績（時間/年）", "実績を測った取組数")
    return [
        Table(
            "部別の報告状況",
            ("部", "推進員", "推進員数", "計画人数", "推進員の配置", "最新の受付日", "最新の報告日", "提出状況"),
            tuple(
                (
                    d.department,
                    "、".join(p.name for p in d.promoters),
                    len(d.promoters),
                    d.expected,
                    d.promoter_note or "計画どおり",
                    d.last_received,
                    d.last_report_date,
                    d.state,
                )
                for d in loop.departments
            ),
        ),
        Table(
            "取組の状況",
            ("部", *STATUSES, NO_STATUS),
            tuple((name, *counts.values()) for name, counts in status_counts(loop)),
        ),
        Table(
            "削減時間_部別",
            ("部", *hours_header),
            tuple(
                (h.label, h.initiatives, h.estimated, h.measured, h.measured_initiatives) for h in loop.by_department
            ),
        ),
        Table(
            "削減時間_四半期別",
            ("四半期（期末時点）", *hours_header),
            tuple((h.label, h.initiatives, h.estimated, h.measured, h.measured_initiatives) for h in loop.by_quarter),
        ),
        Table(
            "取組一覧",
            (
                "部",
                "課",
                "取組名",
                "業務",
                "手法",
                "状況",
                "ステップ",
                "進捗率",
                "削減時間 見込",
                "削減時間 実績",
                "報告日",
                "事例番号",
            ),
            tuple(
                (
                    r.department,
                    r.section,
                    r.initiative,
                    r.work,
                    r.method,
                    r.status or NO_STATUS,
                    r.step,
                    r.percent,
                    r.saved_estimate,
                    r.saved_measured,
                    r.report_date,
                    r.case_id,
                )
                for r in loop.initiatives
            ),
        ),
    ]


def hours_chart(loop: Loop) -> str:
    """Hours freed per 部 and per quarter, estimated beside measured (base64 PNG)."""
    import matplotlib.pyplot as plt
    import matplotlib_fontja  # noqa: F401

    from course.taskforce.charts import _png

    figure, axes = plt.subplots(1, 2, figsize=(11, 0.42 * max(len(loop.by_department), 4) + 1.6))
    for axis, series, title in (
        (axes[0], loop.by_department, "部別の削減時間（時間/年）"),
        (axes[1], loop.by_quarter, "四半期末時点の削減時間（時間/年、累計）"),
    ):
        y = list(range(len(series)))
        axis.barh([i - 0.2 for i in y], [h.estimated for h in series], height=0.38, label="見込", color="#90caf9")
        axis.barh([i + 0.2 for i in y], [h.measured for h in series], height=0.38, label="実績", color="#1b5e20")
        axis.set_yticks(y, [h.label for h in series])
        axis.invert_yaxis()
        axis.set_title(title)
        axis.grid(axis="x", alpha=0.3)
        axis.legend(loc="lower right")
    figure.tight_layout()
    return _png(figure)


def section_html(loop: Loop, chart: str, table_html: Callable[..., str]) -> str:
    """The report's section on departments' reports; ``table_html`` is the report's own table renderer."""
    sheets = {t.title: t for t in tables(loop)}
    missing = [d.department for d in loop.departments if not d.promoters]
    more = [d.department for d in loop.departments if len(d.promoters) > d.expected]
    late = [d.department for d in loop.departments if d.overdue]
    adopted = sum(len(c.adopted_by) for c in loop.cases)
    spread = sum(len(c.spread_to) for c in loop.cases)
    total = loop.by_department
    estimated, measured = sum(h.estimated for h in total), sum(h.measured for h in total)
    parts = [
        "<h2>7. 各部の進捗報告と削減時間</h2>",
        "<p>推進員が出した進捗報告（python -m course reports receive）から作っています。"
        "取組はそれぞれ最新の報告の内容で数え、削減時間は中止した取組を除いた年間の時間です。</p>",
        "<div class='cards'>",
        f"<div class='card{' warn' if late else ''}'>報告が遅れている部<b>{len(late)} 部</b>"
        f"{html.escape('、'.join(late) or 'なし')}</div>",
        f"<div class='card{' warn' if missing else ''}'>推進員がいない部<b>{len(missing)} 部</b>"
        f"{html.escape('、'.join(missing) or 'なし')}</div>",
        f"<div class='card'>計画より推進員が多い部<b>{len(more)} 部</b>{html.escape('、'.join(more) or 'なし')}</div>",
        f"<div class='card'>削減時間（見込 / 実績）<b>{estimated:g} / {measured:g}</b>時間/年</div>",
        f"<div class='card'>横展開（採用 / 報告あり）<b>{adopted} / {spread} 件</b>事例 {len(loop.cases)} 件</div>",
        "</div>",
        "<h3>部別の報告状況</h3>",
        table_html(sheets["部別の報告状況"].header, sheets["部別の報告状況"].rows, empty="名簿に部がありません"),
        "<h3>状況別の取組数</h3>",
        table_html(sheets["取組の状況"].header, sheets["取組の状況"].rows, empty="まだ報告がありません"),
        "<div class='keep'><h3>削減時間（部別・四半期別）</h3>",
        f'<img src="data:image/png;base64,{chart}" alt="部別と四半期末時点の削減時間（見込と実績）の棒グラフ">'
        if loop.initiatives
        else "<p class='muted'>まだ報告がありません。</p>",
        "</div>",
        table_html(sheets["削減時間_部別"].header, sheets["削減時間_部別"].rows, empty="まだ報告がありません"),
        table_html(sheets["削減時間_四半期別"].header, sheets["削減時間_四半期別"].rows, empty="まだ報告がありません"),
    ]
    return "\n".join(parts)
