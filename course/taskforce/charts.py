"""The progress report's charts: PNG images with Japanese labels, as base64 for data URIs.

The only module of the report that imports matplotlib (most of a second): the CLI's report imports it in a process of
its own while the gradebook is read (course.taskforce.report.ChartWorker), and the dashboard when it first draws.
"""

from __future__ import annotations

import base64
import io
import multiprocessing
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib_fontja  # noqa: F401  (registers IPAexGothic: Japanese labels without tofu)
from matplotlib.dates import DateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from course.taskforce import progress
from course.taskforce.report import ChartData, percent


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def heatmap(v: ChartData) -> str:
    """Completion rate per 部 (rows) and track (columns), with the numbers written in the cells."""
    if not v.departments:
        return ""  # nobody on the roster yet: the report says so in words instead
    departments = list(dict.fromkeys(r.department for r in v.departments))  # in the organisation's order
    tracks = [t.name for t in v.curriculum.tracks.values() if any(r.track == t.name for r in v.departments)]
    cells = {(r.department, r.track): r for r in v.departments}
    figure, axis = plt.subplots(figsize=(1.9 * len(tracks) + 2.5, 0.48 * len(departments) + 1.4))
    values = [[cells[(d, t)].rate * 100 if (d, t) in cells else float("nan") for t in tracks] for d in departments]
    image = axis.imshow(values, cmap="Greens", vmin=0, vmax=100, aspect="auto")
    for i, department in enumerate(departments):
        for j, track in enumerate(tracks):
            if (rate := cells.get((department, track))) is not None:
                colour = "white" if rate.rate > 0.6 else "black"
                label = f"{rate.rate * 100:.0f}%\n({rate.completed}/{rate.staff_count}人)"
                axis.text(j, i, label, ha="center", va="center", fontsize=8.5, color=colour)
            else:
                axis.text(j, i, "対象者なし", ha="center", va="center", fontsize=8, color="#999999")
    axis.set_xticks(range(len(tracks)), tracks)
    axis.set_yticks(range(len(departments)), departments)
    axis.xaxis.tick_top()
    figure.colorbar(image, ax=axis, label="修了率（%）", shrink=0.8)
    axis.set_title("部 × 研修区分の修了率", pad=28)
    return _png(figure)


def module_chart(v: ChartData) -> str:
    stats = v.module_stats
    figure, axis = plt.subplots(figsize=(8.5, 0.38 * len(stats) + 1.3))
    labels = [f"{s.module.id} {s.module.title}" for s in stats]
    y = list(range(len(stats)))
    axis.barh(
        [i - 0.2 for i in y], [percent(s.pass_rate) or 0 for s in stats], height=0.38, label="合格率", color="#2e7d32"
    )
    axis.barh(
        [i + 0.2 for i in y],
        [percent(s.mean_score) or 0 for s in stats],
        height=0.38,
        label="平均得点率",
        color="#90caf9",
    )
    axis.set_yticks(y, labels)
    axis.invert_yaxis()
    axis.set_xlim(0, 100)
    axis.set_xlabel("%（採点が済んだ提出について）")
    axis.set_title("モジュール別の合格率と平均得点率")
    axis.legend(loc="lower right")
    axis.grid(axis="x", alpha=0.3)
    return _png(figure)


def trend_chart(v: ChartData) -> str:
    figure, axis = plt.subplots(figsize=(8.5, 3.6))
    weeks = date2num([p.week_start for p in v.trend])
    for track in v.curriculum.tracks.values():
        axis.plot(weeks, [p.completed[track.name] for p in v.trend], marker="o", label=track.name)
    axis.set_title("研修区分ごとの修了者数（累計、週ごと）")
    axis.set_xlabel("週（月曜日の日付）")
    axis.set_ylabel("修了者数（人）")
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, ncols=2)
    axis.set_xticks(weeks)
    axis.xaxis.set_major_formatter(DateFormatter("%m/%d"))
    figure.autofmt_xdate()
    return _png(figure)


def promoter_chart(v: ChartData) -> str:
    steps = v.curriculum.promoter_track().steps
    labels = [progress.reached_label(steps, level) for level in range(len(steps) + 1)]
    counts = [sum(p.reached == level for p in v.promoters) for level in range(len(steps) + 1)]
    figure, axis = plt.subplots(figsize=(8.5, 2.8))
    bars = axis.bar(labels, counts, color=["#bdbdbd", "#c8e6c9", "#81c784", "#43a047", "#1b5e20"][: len(labels)])
    axis.bar_label(bars, labels=[f"{c}人" for c in counts])
    axis.set_title("業務デジタル化推進員: どのステップまで進んだか")
    axis.set_ylabel("推進員（人）")
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_ylim(0, max(counts, default=0) + 1)
    return _png(figure)


CHARTS = (heatmap, module_chart, trend_chart, promoter_chart)  # in the order the report shows them
_DRAWING: list[ChartData] = []  # what a forked chart worker draws from (inherited, never pickled)


def _draw(index: int) -> str:
    return CHARTS[index](_DRAWING[0])


def draw_charts(v: ChartData, *, processes: int = 1) -> dict[str, str]:
    """Every chart of the report as base64 PNG, by function name. With ``processes`` > 1 (the CLI: a whole city's
    report on two cores), the charts are drawn in forked workers side by side; in a kernel (the dashboard) they are
    drawn here, one after the other."""
    names = [chart.__name__ for chart in CHARTS]
    if processes <= 1 or not hasattr(os, "fork"):
        return {name: chart(v) for name, chart in zip(names, CHARTS, strict=True)}
    _DRAWING[:] = [v]
    try:
        with multiprocessing.get_context("fork").Pool(min(processes, len(CHARTS))) as pool:
            return dict(zip(names, pool.map(_draw, range(len(CHARTS))), strict=True))
    finally:
        _DRAWING.clear()
