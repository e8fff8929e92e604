"""The task force's progress report (進捗報告書): one self-contained HTML file and extra sheets in the HR workbook.

The numbers come from ``course.taskforce.progress``; this module only lays them out. Plots (course.taskforce.charts)
are PNG images with Japanese labels, embedded in the HTML as data URIs, so the file can be mailed or put on a shared
drive as it is.
"""

from __future__ import annotations

import contextlib
import html
import multiprocessing
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType

from course.completion import StaffCompletion, TrackStatus
from course.config import Course, CourseError
from course.curriculum import Curriculum, Module
from course.export import DEPARTMENT_HEADER, WORKBOOK_STEM, caption
from course.organisation import BY_NAME, ROSTER_SETTINGS, UnitOrder, load_order
from course.records import completion_records, year_plans
from course.spreadsheet import Cell, Table, write_all_atomic, xlsx_bytes
from course.taskforce import initiatives, progress
from course.wareki import wareki
from course.years import FiscalYear, plan_for, year_roster

REPORT_NAME = "進捗報告書.html"
TABLES_NAME = "進捗報告書_集計.xlsx"  # the report's tables as sheets; HR's 修了状況一覧.xlsx belongs to course.export


@dataclass(frozen=True)
class Views:
    """Everything the report shows, computed once."""

    generated_at: datetime
    curriculum: Curriculum
    modules: tuple[Module, ...]
    completions: tuple[StaffCompletion, ...]
    departments: tuple[progress.UnitRate, ...]
    sections: tuple[progress.UnitRate, ...]
    module_stats: tuple[progress.ModuleStat, ...]
    trend: tuple[progress.WeekPoint, ...]
    promoters: tuple[progress.PromoterProgress, ...]
    not_started: tuple[progress.Staff, ...]
    waiting: tuple[progress.Waiting, ...]

    @property
    def staff_count(self) -> int:
        """The report's 対象職員: staff on the roster now (not those who left, 名簿外)."""
        return len(progress.current(self.completions))

    @property
    def as_of(self) -> str:
        """「令和8年度（2026年度） 令和8年12月7日 18:00 現在」: which year and as of when, at the top of every page."""
        day = self.generated_at.date()
        return f"{FiscalYear.of(day).full_label} {wareki(day)} {self.generated_at:%H:%M} 現在"


@dataclass(frozen=True)
class ChartData:
    """What the charts are drawn from: the report's summary views without its lists of people (a whole city's
    records take a second to pickle; this is small enough to hand to the chart process)."""

    curriculum: Curriculum
    departments: tuple[progress.UnitRate, ...]
    module_stats: tuple[progress.ModuleStat, ...]
    trend: tuple[progress.WeekPoint, ...]
    promoters: tuple[progress.PromoterProgress, ...]

    @classmethod
    def of(cls, v: Views) -> ChartData:
        return cls(v.curriculum, v.departments, v.module_stats, v.trend, v.promoters)


@dataclass(frozen=True)
class ReportResult:
    html: Path
    workbook: Path
    staff_count: int  # the report's 対象職員 (Views.staff_count)


def views(
    completions: Sequence[StaffCompletion],
    curriculum: Curriculum,
    modules: Sequence[Module],
    generated_at: datetime,
    *,
    opened: date | None = None,
    order: UnitOrder = BY_NAME,
) -> Views:
    """What the report shows; the weekly trend starts on the year's opening day (``opened``, from its plan), else
    on the first submission."""
    today = generated_at.date()
    stamps = [r.submitted_at.date() for c in completions for r in c.modules.values() if r.submitted_at is not None]
    opened = opened or min(stamps, default=today)
    return Views(
        generated_at=generated_at,
        curriculum=curriculum,
        modules=tuple(modules),
        completions=tuple(completions),
        departments=tuple(progress.unit_rates(completions, curriculum, order=order)),
        sections=tuple(progress.unit_rates(completions, curriculum, by_section=True, order=order)),
        module_stats=tuple(progress.module_stats(completions, modules)),
        trend=tuple(progress.weekly_trend(completions, curriculum, opened=min(opened, today), today=today)),
        promoters=tuple(progress.promoter_progress(completions, curriculum)),
        not_started=tuple(progress.not_started(completions)),
        waiting=tuple(progress.awaiting_grading(completions, modules)),
    )


# ---------------------------------------------------------------- sheets (pure)


def percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


RATE_HEADER = tuple(h for h in DEPARTMENT_HEADER if h != "課")  # per 部: the 課 column left out


def _rate_cells(r: progress.UnitRate) -> tuple[Cell, ...]:
    return (r.track, r.staff_count, r.completed, percent(r.rate), r.awaiting, r.in_progress, r.not_started)


def report_tables(v: Views) -> list[Table]:
    """The report's lists as workbook sheets, in the order of its sections."""
    today = v.generated_at.date()
    steps = v.curriculum.promoter_track().steps
    return [
        Table("部別の修了率", RATE_HEADER, tuple((r.department, *_rate_cells(r)) for r in v.departments)),
        Table("課別の修了率", DEPARTMENT_HEADER, tuple((r.department, r.section, *_rate_cells(r)) for r in v.sections)),
        Table(
            "モジュール成績",
            ("モジュール", "名称", "提出者数", "採点済み", "修了者数", "合格率(%)", "平均得点率(%)"),
            tuple(
                (
                    s.module.id,
                    s.module.title,
                    s.submitted,
                    s.graded,
                    s.passed,
                    percent(s.pass_rate),
                    percent(s.mean_score),
                )
                for s in v.module_stats
            ),
        ),
        Table(
            "週別推移",
            ("週（月曜日）", *(t.name for t in v.curriculum.tracks.values())),
            tuple((p.week_start, *p.completed.values()) for p in v.trend),
        ),
        Table(
            "推進員ステップ",
            ("職員番号", "氏名", "部", "課", *(f"{i}. {s.name}" for i, s in enumerate(steps, 1)), "到達ステップ"),
            tuple(
                (
                    p.staff.staff_id,
                    p.staff.name,
                    p.staff.department,
                    p.staff.section,
                    *("済" if done else "" for done in p.steps_done),
                    progress.reached_label(steps, p.reached),
                )
                for p in v.promoters
            ),
        ),
        Table(
            "未着手者",
            ("職員番号", "氏名", "部", "課", "役職", "職責区分", "推進員"),
            tuple(
                (s.staff_id, s.name, s.department, s.section, s.position, s.grade, "○" if s.promoter else "")
                for s in v.not_started
            ),
        ),
        Table(
            "採点待ち",
            ("職員番号", "氏名", "部", "課", "モジュール", "提出日", "待ち日数"),
            tuple(
                (
                    w.staff.staff_id,
                    w.staff.name,
                    w.staff.department,
                    w.staff.section,
                    f"{w.module.id} {w.module.title}",
                    w.submitted_at.date() if w.submitted_at else None,
                    (today - w.submitted_at.date()).days if w.submitted_at else None,
                )
                for w in v.waiting
            ),
        ),
    ]


# ---------------------------------------------------------------- HTML

GLOSSARY: tuple[tuple[str, str], ...] = (
    (
        "修了",
        "モジュールは得点率が合格基準以上で手動採点も済んだもの。研修区分は必須（推進員は選択の必要数も）をすべて修了。",
    ),
    ("採点待ち", "提出済みで、講師の手動採点がまだのもの。"),
    ("受講中", "採点済みで合格基準に届いていないもの（再提出できます）。"),
    ("未着手", "その研修区分で1件も提出がないもの。"),
)

STYLE = """
.sano-report{font-family:"Yu Gothic","Hiragino Sans","Noto Sans JP","IPAexGothic",sans-serif;margin:2em auto;
max-width:1100px;color:#212121;line-height:1.6;padding:0 1em}
.sano-report h1{font-size:1.6em;border-bottom:3px solid #2e7d32;padding-bottom:.2em}
.sano-report h1 .as-of{display:block;font-size:.6em;font-weight:normal}
.sano-report h2{margin-top:2em;border-left:6px solid #2e7d32;padding-left:.5em}
.sano-report .cards{display:flex;flex-wrap:wrap;gap:12px}
.sano-report .card{flex:1 1 180px;background:#f1f8e9;border-radius:8px;padding:10px 14px}
.sano-report .card b{display:block;font-size:1.7em}.sano-report .card.warn{background:#fff3e0}
.sano-report .lead{background:#e3f2fd;padding:10px 14px;border-radius:8px}
.sano-report table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
.sano-report th,.sano-report td{border:1px solid #ccc;padding:3px 8px;word-break:keep-all}
.sano-report th{background:#ddebf7}.sano-report td.n{text-align:right}.sano-report td.wide{min-width:18em}
@media screen{.sano-report td.wide{white-space:nowrap}}
.sano-report img{max-width:100%}.sano-report .muted{color:#666;font-size:.9em}.sano-report .print-only{display:none}
@page{size:A4;margin:12mm}
@media print{.sano-report{margin:0;max-width:none;font-size:10.5pt}.sano-report table{width:100%}
.sano-report h1,.sano-report h2{break-after:avoid}
.sano-report .keep{break-inside:avoid}.sano-report img{max-height:170mm}.sano-report tr{break-inside:avoid}
.sano-report thead{display:table-header-group}.sano-report .screen-only{display:none}
.sano-report .print-only{display:block}}
"""


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    empty: str = "該当なし",
    numeric: Collection[int] = (),
    wide: Collection[int] = (),
) -> str:
    """A table of the page: numbers right-aligned (also the columns ``numeric``, already written as text), numbers with
    a fraction in one format (one decimal), dates as 2026/12/07; the columns ``wide`` (sentences) are not squeezed."""
    if not rows:
        return f"<p class='muted'>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            number = index in numeric or (isinstance(value, int | float) and not isinstance(value, bool))
            text = "" if value is None else (value.strftime("%Y/%m/%d") if isinstance(value, date) else str(value))
            text = f"{value:.1f}" if isinstance(value, float) else text
            kind = "n" if number else "wide" if index in wide else ""
            cells.append(f"<td class='{kind}'>{html.escape(text)}</td>" if kind else f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _keep(*parts: str) -> str:
    """A heading with its chart: printed on the same page."""
    return f"<div class='keep'>{''.join(parts)}</div>"


def _img(png: str, alt: str) -> str:
    return f'<img src="data:image/png;base64,{png}" alt="{html.escape(alt)}">'


def render_html(
    v: Views, charts: dict[str, str] | None = None, *, extra: str = "", terms: Sequence[tuple[str, str]] = ()
) -> str:
    """The whole report page: styles, title and the body that the dashboard shows too (``extra``: more sections,
    placed before the glossary; ``terms``: their words for the glossary). Every printed page carries the title and
    the year and date in its top margin."""
    title = f"デジタル人材育成 進捗報告書（{v.as_of}）"
    running = f"@page{{@top-left{{content:{_css_string(title)};font-size:8pt;color:#555}}}}"
    return (
        "<!DOCTYPE html><html lang='ja'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{running}</style></head><body>\n"
        f"{body_html(v, charts, extra=extra, terms=terms)}\n</body></html>"
    )


def _css_string(text: str) -> str:
    """``text`` as a CSS string (for ``content:``)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def body_html(
    v: Views, charts: dict[str, str] | None = None, *, extra: str = "", terms: Sequence[tuple[str, str]] = ()
) -> str:
    """The report's content (cards, plots, lists) as an HTML fragment; the dashboard displays it under its filters.
    ``charts`` are the plots already drawn (a ChartWorker's); they are drawn here when not given."""
    if charts is None:
        from course.taskforce.charts import draw_charts  # matplotlib, imported when first needed

        charts = draw_charts(ChartData.of(v))
    people = progress.current(v.completions)
    grade_done = sum(c.grade_track.status is TrackStatus.COMPLETE for c in people)
    promoters = [c for c in people if c.promoter_track is not None]
    promoter_done = sum(
        c.promoter_track is not None and c.promoter_track.status is TrackStatus.COMPLETE for c in promoters
    )
    rate = f"{100 * grade_done / len(people):.1f}" if people else "0.0"
    sheets = {t.title: t for t in report_tables(v)}
    planned = [m for m in v.curriculum.modules.values() if m not in v.modules]
    by_section = sheets["課別の修了率"]
    glossary = (*GLOSSARY, *terms)
    parts = [
        f"<style>{STYLE}</style><div class='sano-report'>",
        f"<h1>佐野市デジタル人材育成 e-ラーニング 進捗報告書<span class='as-of'>{html.escape(v.as_of)}</span></h1>",
        "<p>この日時の成績簿から作成しました（タスクフォース: 人事課・情報政策課・行政経営課）。</p>",
        "<p class='lead'>この報告書の読み方: まず下の数字で全体をつかみ、1 で部ごとの遅れ、2 でつまずいている教材、"
        "3 で修了の伸び、4 で推進員の歩み、5・6 で次に声をかける人と採点の残り、7 で各部の進捗報告を確認してください。"
        "「修了」は合格基準以上かつ手動採点まで済んだものだけを数えます。</p>",
        "<div class='cards'>",
        f"<div class='card'>対象職員<b>{v.staff_count} 人</b>在籍者のみ</div>",
        f"<div class='card'>職責区分別研修の修了<b>{grade_done} 人</b>修了率 {rate}%</div>",
        f"<div class='card'>推進員研修の修了<b>{promoter_done} / {len(promoters)} 人</b>業務デジタル化推進員</div>",
        f"<div class='card warn'>採点待ち<b>{len(v.waiting)} 件</b>講師の手動採点が必要</div>",
        f"<div class='card warn'>未着手<b>{len(v.not_started)} 人</b>1件も提出がない職員</div>",
        "</div>",
        _keep(
            "<h2>1. 部署別の修了率</h2>",
            _img(charts["heatmap"], "部と研修区分ごとの修了率のヒートマップ")
            if v.departments
            else "<p class='muted'>名簿に職員がいません。人事課の名簿を取り込んでから、作り直してください。</p>",
        ),
        # Folded on screen; on paper the table itself (a closed <details> prints as its summary line only).
        "<details class='screen-only'><summary>課ごとの内訳を表で見る</summary>",
        _table(by_section.header, by_section.rows),
        "</details><div class='print-only'><h3>課ごとの内訳</h3>",
        _table(by_section.header, by_section.rows),
        "</div>",
        _keep(
            "<h2>2. モジュール別の合格率と平均得点率</h2>",
            _img(charts["module_chart"], "モジュール別の合格率と平均得点率の棒グラフ"),
        ),
        "<p class='muted'>合格率 = 修了者数 ÷ 採点済みの提出数。平均得点率は採点済みの提出の平均です（採点待ちは含みません）。</p>",
        _table(sheets["モジュール成績"].header, sheets["モジュール成績"].rows),
        (
            f"<p class='muted'>準備中のモジュール: {html.escape('、'.join(f'{m.id} {m.title}' for m in planned))}</p>"
            if planned
            else ""
        ),
        _keep("<h2>3. 修了者数の推移</h2>", _img(charts["trend_chart"], "研修区分ごとの修了者数の週別推移")),
        _keep(
            "<h2>4. 業務デジタル化推進員の歩み</h2>",
            "<p>指針の4つのステップ（基礎・リテラシー → スキル習得 → 現場実践 → 事例共有）のどこまで進んだかです。"
            "前のステップがすべて済んだところまでを数えます（「ステップ1の途中」には採点待ちの人も入ります）。</p>",
            _img(charts["promoter_chart"], "推進員の到達ステップ別人数"),
        ),
        _table(sheets["推進員ステップ"].header, sheets["推進員ステップ"].rows, empty="推進員が名簿にいません"),
        "<h2>5. まだ1件も提出していない職員</h2>",
        _table(sheets["未着手者"].header, sheets["未着手者"].rows, empty="全員が1件以上提出しています"),
        "<h2>6. 採点待ちの提出（古い順）</h2>",
        "<p>振り返りなど講師が採点する部分が残っている提出です。採点が済むまで修了になりません。</p>",
        _table(sheets["採点待ち"].header, sheets["採点待ち"].rows, empty="採点待ちはありません"),
        extra,
        "<h2>用語</h2><ul>",
        *(f"<li>{html.escape(word)}: {html.escape(meaning)}</li>" for word, meaning in glossary),
        "</ul>",
        f"<p class='muted'>同じ内容の一覧は {html.escape(TABLES_NAME)} の各シートにもあります。"
        f"職員ごとの修了状況は人事課の {html.escape(WORKBOOK_STEM)}（年度・日付つきの Excel）にあります。</p>",
        "</div>",
    ]
    return "\n".join(parts)


class ChartWorker:
    """Draws the report's charts in a process of its own, forked before the gradebook is read.

    matplotlib takes most of a second to import: the worker imports it while this process reads the records, then
    draws the charts on every core (charts.draw_charts) while this process renders the workbook. Without fork, or on
    one core, the charts are drawn here when asked for.
    """

    def __init__(self) -> None:
        self._link: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._data: ChartData | None = None  # what was sent, when the charts are drawn here
        self._sent = self._received = False
        if hasattr(os, "fork") and (os.cpu_count() or 1) > 1:
            context = multiprocessing.get_context("fork")
            self._link, child_link = context.Pipe()
            self._process = context.Process(target=_serve_charts, args=(child_link,), name="report-charts")
            self._process.start()
            child_link.close()

    def __enter__(self) -> ChartWorker:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._process is None or self._link is None:
            return
        if not self._sent:
            self._process.terminate()  # still importing or waiting for data: nothing of it is wanted
        elif not self._received:
            # Drawing (with a pool of its own): let it finish, and take what it sends so that it can exit.
            with contextlib.suppress(EOFError):
                self._link.recv()
        self._link.close()
        self._process.join()

    def send(self, data: ChartData) -> None:
        """Start drawing (returns at once)."""
        self._sent = True
        if self._link is None:
            self._data = data
            return
        with contextlib.suppress(OSError):  # the chart process has already stopped: charts() reads why
            self._link.send(data)

    def charts(self) -> dict[str, str]:
        """The charts sent for, by function name; a CourseError if they could not be drawn."""
        if self._link is None:
            assert self._data is not None, "send() comes first"
            try:
                from course.taskforce.charts import draw_charts

                return draw_charts(self._data)
            except Exception as error:
                raise CourseError(_not_drawn(f"{type(error).__name__}: {error}")) from error
        try:
            outcome, value = self._link.recv()
        except EOFError:
            outcome, value = "error", "描画用のプロセスが途中で終了しました"
        self._received = True
        if outcome != "ok":
            raise CourseError(_not_drawn(value))
        return value


def _not_drawn(reason: str) -> str:
    return (
        f"進捗報告書のグラフを描けませんでした（{reason}）。ファイルは書き込んでいません。"
        "もう一度実行しても同じなら、この表示を管理者に伝えてください。"
    )


def _serve_charts(link: Connection) -> None:
    """The chart process: import matplotlib, wait for the data, draw every chart side by side, send them back."""
    try:
        from course.taskforce import charts

        link.send(("ok", charts.draw_charts(link.recv(), processes=os.cpu_count() or 1)))
    except KeyboardInterrupt:
        pass  # Ctrl-C reaches every process of the command: the parent says that it stopped
    except Exception as error:  # whatever went wrong is reported by the parent, in Japanese
        link.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        link.close()


def loop_view(*, course: Course, today: date) -> initiatives.Loop:
    """The departments' reports as the report shows them (section 7)."""
    from course import reports
    from course.cases import load_cases
    from course.records import load_rosters

    year = FiscalYear.of(today)
    staff, _ = year_roster(load_rosters(course=course, upto=year), year)
    return initiatives.build(
        staff=staff,
        received=reports.load_received(course=course),
        cases=load_cases(course=course),
        settings=reports.settings(course),
        today=today,
        order=load_order(course.settings_file(ROSTER_SETTINGS)),
    )


def write_report(
    *, course: Course, curriculum: Curriculum, out_dir: Path | None = None, generated_at: datetime | None = None
) -> ReportResult:
    """Write 進捗報告書.html and its tables as 進捗報告書_集計.xlsx, as of ``generated_at`` (default: now). Both are
    rendered before either is written.

    HR's 修了状況一覧.xlsx is not touched: `course.export` is its only writer."""
    out_dir = out_dir or course.export_dir
    generated_at = generated_at or datetime.now(course.timezone)
    with ChartWorker() as worker:
        completions = completion_records(course=course, curriculum=curriculum, as_of=generated_at)
        modules = curriculum.available(course.source_dir)
        plan = plan_for(year_plans(course=course, curriculum=curriculum), FiscalYear.of(generated_at.date()))
        order = load_order(course.settings_file(ROSTER_SETTINGS))
        v = views(completions, curriculum, modules, generated_at, opened=plan.opened, order=order)
        worker.send(ChartData.of(v))
        loop = loop_view(course=course, today=generated_at.date())
        extra = initiatives.section_html(loop, initiatives.hours_chart(loop) if loop.initiatives else "", _table)
        year = FiscalYear.of(generated_at.date())
        sheets = [
            replace(t, caption=caption(curriculum, f"進捗報告書の集計（{t.title}）", year, generated_at))
            for t in [*report_tables(v), *initiatives.tables(loop)]
        ]  # every printed page says which year and as of when, as HR's lists do
        workbook = xlsx_bytes(sheets)
        page = render_html(v, worker.charts(), extra=extra, terms=initiatives.TERMS).encode("utf-8")
    html_path, workbook_path = write_all_atomic({out_dir / REPORT_NAME: page, out_dir / TABLES_NAME: workbook})
    return ReportResult(html=html_path, workbook=workbook_path, staff_count=v.staff_count)
