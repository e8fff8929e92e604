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
from course.reports import UNMEASURED, ReceivedRow, ReportPeriod, ReportSettings
from course.spreadsheet import Cell, Table
from course.wareki import wareki
from course.years import FiscalYear

STOPPED = "中止"
NO_STATUS = "未記入"
# The words of section 7, for the report's glossary (用語).
TERMS: tuple[tuple[str, str], ...] = (
    ("削減時間 見込", "取組を始める前に見積もった、1年間に減らせる時間（現状時間 − 見込時間）。"),
    ("削減時間 実績", "取組のあとに実際に測った、1年間に減った時間。"),
    (UNMEASURED, "まだ実績を測っていないこと。0 時間（測った結果、減らなかった）とは区別しています。"),
    ("横展開", "ある課の取組を、ほかの課がまねて使うこと。採用した課があとの報告に事例番号を書くと数えます。"),
    ("計画人数", "各部に置く推進員の人数の計画（タスクフォースの設定。書いていない部は1人）。"),
    ("推進員の配置", "名簿の推進員の人数と計画人数の比べ（計画どおり・計画より多い・計画より少ない・推進員なし）。"),
    ("期限後", "その期間の報告が期限（期間が終わった翌月の10日など）までに届かず、期限のあとに届いたこと。"),
)


@dataclass(frozen=True)
class DepartmentStatus:
    department: str
    promoters: tuple[Staff, ...]
    expected: int  # 推進員 the plan says (settings/reports.toml)
    last_received: date | None
    last_report_date: date | None
    last_period: str  # the months the latest report counts for (10〜12月分), "" when none or out of every window
    due: ReportPeriod | None  # the latest period whose report is due, None before the first is due
    overdue: bool  # nothing received since the window of ``due`` opened
    late: bool  # nothing received within the window of ``due``, but something after its due day

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
        """「提出済み（10〜12月分、10月29日受付）」, with 「・7〜9月分は期限後」 when nothing came in the window of the
        period that is due, only after its due day;
        「未提出（令和8年7〜9月分、期限 令和8年10月10日）」 when nothing came."""
        if self.overdue and self.due is not None:
            return f"未提出（{self.due.label}、期限 {wareki(self.due.due)}）"
        if self.last_received is None:
            return "最初の期限前"
        received = f"{self.last_received.month}月{self.last_received.day}日受付"
        handed_in = f"提出済み（{self.last_period}、{received}）" if self.last_period else f"提出済み（{received}）"
        if self.late and self.due is not None:
            return f"{handed_in}・{self.due.months}は期限後"
        return handed_in


@dataclass(frozen=True)
class Hours:
    label: str  # 部, or the quarter (第3四半期（10〜12月）)
    initiatives: int
    estimated: float
    measured: float | None  # None when none of its 取組 was measured (未測定), unlike a measured 0
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
    window = settings.window(period) if period else None
    out = []
    for department in sorted({p.department for p in staff if p.current}):
        days = sorted({r.received_at.date() for r in received if r.department == department})
        last = days[-1] if days else None
        last_period = settings.period_of(last) if last else None
        overdue = window is not None and (last is None or last < window[0])
        out.append(
            DepartmentStatus(
                department=department,
                promoters=tuple(p for p in staff if p.current and p.promoter and p.department == department),
                expected=settings.expected_promoters(department),
                last_received=last,
                last_report_date=max((r.report_date for r in received if r.department == department), default=None),
                last_period=last_period.months if last_period else "",
                due=period,
                overdue=overdue,
                late=window is not None and not overdue and not any(window[0] <= d <= window[1] for d in days),
            )
        )
    return out


def hours(label: str, rows: Sequence[ReceivedRow]) -> Hours:
    counted = [r for r in rows if r.status != STOPPED]
    measured = [r.saved_measured for r in counted if r.saved_measured is not None]
    estimated = sum((r.saved_estimate for r in counted), 0.0)
    return Hours(label, len(counted), estimated, sum(measured, 0.0) if measured else None, len(measured))


def total_measured(series: Sequence[Hours]) -> float | None:
    """The measured hours of several rows together: None (未測定) when none of them was measured."""
    measured = [h.measured for h in series if h.measured is not None]
    return sum(measured, 0.0) if measured else None


def hours_text(value: float | None) -> str:
    """Hours as the report prints them: one decimal everywhere (180.0, 0.0), 未測定 when nothing was measured."""
    return UNMEASURED if value is None else f"{value:.1f}"


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
        axis.barh([i + 0.2 for i in y], [h.measured or 0 for h in series], height=0.38, label="実績", color="#1b5e20")
        for i, h in enumerate(series):
            if h.measured is None:
                axis.text(0, i + 0.2, f" {UNMEASURED}", va="center", fontsize=8, color="#555555")
        axis.set_yticks(y, [h.label for h in series])
        axis.invert_yaxis()
        axis.set_title(title)
        axis.grid(axis="x", alpha=0.3)
        axis.legend(loc="lower right")
    figure.tight_layout()
    return _png(figure)


def _hours_rows(series: Sequence[Hours]) -> list[tuple[Cell, ...]]:
    """A 削減時間 sheet's rows as the page prints them: hours in one format, 未測定 where nothing was measured."""
    return [
        (h.label, h.initiatives, hours_text(h.estimated), hours_text(h.measured), h.measured_initiatives)
        for h in series
    ]


def section_html(loop: Loop, chart: str, table_html: Callable[..., str]) -> str:
    """The report's section on departments' reports; ``table_html`` is the report's own table renderer."""
    sheets = {t.title: t for t in tables(loop)}
    status = sheets["部別の報告状況"]
    missing = [d.department for d in loop.departments if not d.promoters]
    more = [d.department for d in loop.departments if len(d.promoters) > d.expected]
    late = [d.department for d in loop.departments if d.overdue]
    adopted = sum(len(c.adopted_by) for c in loop.cases)
    spread = sum(len(c.spread_to) for c in loop.cases)
    total = loop.by_department
    estimated, measured = sum((h.estimated for h in total), 0.0), total_measured(total)
    counted, measured_count = sum(h.initiatives for h in total), sum(h.measured_initiatives for h in total)
    parts = [
        "<h2>7. 各部の進捗報告と削減時間</h2>",
        "<p>推進員が研修のハブから提出した報告（タスクフォースが受け付けたファイルを含みます）から作っています。"
        "取組はそれぞれ最新の報告の内容で数え、削減時間は中止した取組を除いた年間の時間です。"
        "実績をまだ測っていない部・四半期は「未測定」と書きます（0 は、測った結果が 0 時間のときだけです）。</p>",
        "<div class='cards'>",
        f"<div class='card{' warn' if late else ''}'>報告が遅れている部<b>{len(late)} 部</b>"
        f"{html.escape('、'.join(late) or 'なし')}</div>",
        f"<div class='card{' warn' if missing else ''}'>推進員がいない部<b>{len(missing)} 部</b>"
        f"{html.escape('、'.join(missing) or 'なし')}</div>",
        f"<div class='card'>計画より推進員が多い部<b>{len(more)} 部</b>{html.escape('、'.join(more) or 'なし')}</div>",
        f"<div class='card'>削減時間（見込 / 実績）<b>{hours_text(estimated)} / {hours_text(measured)}</b>"
        f"時間/年。実績は測った取組 {measured_count} / {counted} 件の合計</div>",
        f"<div class='card'>横展開（採用 / 報告あり）<b>{adopted} / {spread} 件</b>事例 {len(loop.cases)} 件</div>",
        "</div>",
        "<h3>部別の報告状況</h3>",
        table_html(status.header, status.rows, empty="名簿に部がありません", wide=(status.header.index("提出状況"),)),
        "<h3>状況別の取組数</h3>",
        table_html(sheets["取組の状況"].header, sheets["取組の状況"].rows, empty="まだ報告がありません"),
        "<div class='keep'><h3>削減時間（部別・四半期別）</h3>",
        f'<img src="data:image/png;base64,{chart}" alt="部別と四半期末時点の削減時間（見込と実績）の棒グラフ">'
        if loop.initiatives
        else "<p class='muted'>まだ報告がありません。</p>",
        "</div>",
        table_html(sheets["削減時間_部別"].header, _hours_rows(loop.by_department),
                   empty="まだ報告がありません", numeric=(2, 3)),
        table_html(sheets["削減時間_四半期別"].header, _hours_rows(loop.by_quarter),
                   empty="まだ報告がありません", numeric=(2, 3)),
    ]  # fmt: skip
    return "\n".join(parts)
