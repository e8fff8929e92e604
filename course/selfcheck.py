"""Instant, ungraded self-check widgets for the course notebooks.

Every module imports these so that all self-checks look and behave the same. The widgets are returned
(and displayed) so that tests can drive them without a browser: set ``.value`` and call ``.click()``.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
from IPython.display import display

_OK_STYLE = "color:#1b5e20;background:#e8f5e9;border-left:4px solid #2e7d32;padding:6px 10px;"
_NG_STYLE = "color:#b71c1c;background:#ffebee;border-left:4px solid #c62828;padding:6px 10px;"
_INFO_STYLE = "color:#0d47a1;background:#e3f2fd;border-left:4px solid #1565c0;padding:6px 10px;"


@dataclass(frozen=True)
class Option:
    """One choice of a quiz, with the explanation shown when it is picked."""

    label: str
    correct: bool
    why: str


class SelfCheck(widgets.VBox):
    """A question, an input, a 「答え合わせ」 button and a feedback area."""

    def __init__(
        self,
        question: str,
        answer_input: widgets.ValueWidget,
        judge: Callable[[object], tuple[bool, str]],
    ) -> None:
        self.answer_input = answer_input
        self.button = widgets.Button(description="答え合わせ", button_style="primary", icon="check")
        self.feedback = widgets.HTML(value="")
        self._judge = judge
        self.last_result: bool | None = None
        self.button.on_click(self._check)
        title = widgets.HTML(value=f"<b>✅ セルフチェック（採点されません）</b><br>{html.escape(question)}")
        super().__init__([title, answer_input, self.button, self.feedback])

    def _check(self, _button: widgets.Button | None = None) -> None:
        value = self.answer_input.value
        if value is None or value == "":
            self.last_result = None
            self.feedback.value = (
                f'<div style="{_INFO_STYLE}">答えを選ぶか入力してから「答え合わせ」を押してください。</div>'
            )
            return
        ok, why = self._judge(value)
        self.last_result = ok
        head = "⭕ 正解です。" if ok else "❌ もう一度考えてみましょう。"
        style = _OK_STYLE if ok else _NG_STYLE
        self.feedback.value = f'<div style="{style}"><b>{head}</b> {html.escape(why)}</div>'

    def click(self) -> None:
        """Press the button from code (used by tests and by headless grading)."""
        self.button.click()


def choice(question: str, options: Sequence[Option], *, show: bool = True) -> SelfCheck:
    """A single-choice question; every option explains why it is right or wrong."""
    if sum(option.correct for option in options) != 1:
        msg = "選択肢のうち正解はちょうど1つにしてください。"
        raise ValueError(msg)
    by_label = {option.label: option for option in options}
    radio = widgets.RadioButtons(
        options=[option.label for option in options], value=None, layout={"width": "max-content"}
    )

    def judge(value: object) -> tuple[bool, str]:
        option = by_label[str(value)]
        return option.correct, option.why

    check = SelfCheck(question, radio, judge)
    if show:
        display(check)
    return check


def text(
    question: str,
    accepted: Sequence[str],
    *,
    why: str,
    hint: str = "",
    show: bool = True,
) -> SelfCheck:
    """A short free-text answer, compared after NFKC normalisation and trimming.

    ``why`` is shown when the answer is right, ``hint`` when it is wrong.
    """
    normalised = {_normalise(answer) for answer in accepted}
    box = widgets.Text(placeholder="ここに入力", value="")

    def judge(value: object) -> tuple[bool, str]:
        if _normalise(str(value)) in normalised:
            return True, why
        return False, hint or "ヒント: 上の例をもう一度実行して、結果を確かめてみましょう。"

    check = SelfCheck(question, box, judge)
    if show:
        display(check)
    return check


def _normalise(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().replace(" ", "")
