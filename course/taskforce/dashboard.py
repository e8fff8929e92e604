"""The instructor dashboard: the progress report's views, live from the gradebook, filtered by 部 and 職責区分.

``instructor/dashboard.ipynb`` calls :func:`build`; it runs in JupyterLab, and as an app under Voila where installed.
The filters narrow the staff; every number and plot is then the report's own (``course.taskforce.report``) for those staff.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import ipywidgets as widgets

from course.completion import StaffCompletion
from course.config import Course
from course.curriculum import GRADES, Curriculum, load_curriculum
from course.organisation import ROSTER_SETTINGS, load_order
from course.records import completion_records
from course.taskforce import report

ALL = "（すべて）"


def narrow(completions: Sequence[StaffCompletion], *, department: str = ALL, grade: str = ALL) -> list[StaffCompletion]:
    """The staff in the chosen 部 and 職責区分 (ALL keeps everyone)."""
    return [c for c in completions if department in (ALL, c.staff.department) and grade in (ALL, c.staff.grade)]


class Dashboard(widgets.VBox):
    """Two drop-downs, a 「最新の成績簿を読み込む」 button and the report below them."""

    def __init__(self, *, course: Course, curriculum: Curriculum) -> None:
        self.course = course
        self.curriculum = curriculum
        self.order = load_order(course.settings_file(ROSTER_SETTINGS))  # 部 and 課 as HR's lists have them
        self.department = widgets.Dropdown(description="部", options=[ALL])
        self.grade = widgets.Dropdown(description="職責区分", options=[ALL, *GRADES])
        self.reload = widgets.Button(description="最新の成績簿を読み込む", icon="refresh")
        self.view = widgets.HTML()
        self.completions: list[StaffCompletion] = []
        self.department.observe(self.render, "value")
        self.grade.observe(self.render, "value")
        self.reload.on_click(self.load)
        super().__init__([widgets.HBox([self.department, self.grade, self.reload]), self.view])
        self.load()

    def load(self, _button: widgets.Button | None = None) -> None:
        self.completions = completion_records(course=self.course, curriculum=self.curriculum)
        departments = sorted({c.staff.department for c in self.completions if c.staff.current},
                             key=lambda name: self.order(name, ""))  # fmt: skip
        chosen = self.department.value
        self.department.options = [ALL, *departments]
        self.department.value = chosen if chosen in departments else ALL
        self.render()

    def render(self, _change: object = None) -> None:
        chosen = narrow(self.completions, department=self.department.value, grade=self.grade.value)
        modules = self.curriculum.available(self.course.source_dir)
        views = report.views(chosen, self.curriculum, modules, datetime.now(self.course.timezone), order=self.order)
        self.view.value = report.body_html(views)


RUNTIME_ENV = "SANO_COURSE_RUNTIME"  # like the CLI's --runtime: read a trial gradebook (for example the demo's)


def build(*, course: Course | None = None, curriculum: Curriculum | None = None) -> Dashboard:
    if course is None:
        runtime = os.environ.get(RUNTIME_ENV)
        course = Course.load(runtime=Path(runtime) if runtime else None)
    return Dashboard(course=course, curriculum=curriculum or load_curriculum())
