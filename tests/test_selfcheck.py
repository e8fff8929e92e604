"""Self-check widgets, driven without a browser or kernel: set the answer, press 「答え合わせ」, read the feedback."""

from __future__ import annotations

import html

import pytest

from course.selfcheck import Option, SelfCheck, choice, text

OPTIONS = [
    Option("CSV", False, "CSV は表の形式で、文字コードではありません。"),
    Option("UTF-8", True, "UTF-8 は世界中の文字を表せる文字コードです。"),
    Option("Shift_JIS", False, "<b>Shift_JIS</b> は古い文字コードで、「髙」を表せません。"),
]
NO_ANSWER = "答えを選ぶか入力してから「答え合わせ」を押してください。"


def _quiz() -> SelfCheck:
    return choice("「髙」を確実に表せる文字コードはどれですか。", OPTIONS, show=False)


def _answer(check: SelfCheck, value: object) -> SelfCheck:
    check.answer_input.value = value
    check.click()
    return check


def test_choice_shows_the_question_options_and_an_empty_feedback():
    """A question (escaped), radio buttons with every option and nothing chosen, the button and an empty feedback."""
    check = choice("a < b ですか。", OPTIONS, show=False)
    title, radio, button, feedback = check.children
    assert "a &lt; b ですか。" in title.value and "採点されません" in title.value
    assert list(radio.options) == ["CSV", "UTF-8", "Shift_JIS"] and radio.value is None
    assert button is check.button and button.description == "答え合わせ"
    assert feedback is check.feedback and feedback.value == ""
    assert check.last_result is None


def test_the_correct_option_is_praised_with_its_explanation():
    """Choosing the correct option: 正解, its own explanation, and last_result True."""
    check = _answer(_quiz(), "UTF-8")
    assert check.last_result is True
    assert "⭕ 正解です。" in check.feedback.value
    assert "UTF-8 は世界中の文字を表せる文字コードです。" in check.feedback.value


@pytest.mark.parametrize("label", ["CSV", "Shift_JIS"])
def test_a_wrong_option_explains_why_that_option_is_wrong(label: str):
    """A wrong option: try again, with that option's explanation (escaped) and no other's."""
    check = _answer(_quiz(), label)
    assert check.last_result is False
    assert "❌ もう一度考えてみましょう。" in check.feedback.value and "正解です" not in check.feedback.value
    chosen = next(o for o in OPTIONS if o.label == label)
    assert html.escape(chosen.why) in check.feedback.value  # the explanation is shown as text, never as HTML
    assert all(html.escape(o.why) not in check.feedback.value for o in OPTIONS if o is not chosen)


def test_pressing_without_an_answer_asks_for_one():
    """Nothing chosen: a request to answer first, neither right nor wrong."""
    check = _quiz()
    check.click()
    assert NO_ANSWER in check.feedback.value and check.last_result is None


def test_the_feedback_follows_the_latest_answer():
    """Changing the answer and pressing again replaces the feedback."""
    check = _answer(_quiz(), "CSV")
    _answer(check, "UTF-8")
    assert "正解です" in check.feedback.value and "もう一度" not in check.feedback.value
    assert check.last_result is True


@pytest.mark.parametrize("correct", [0, 2])
def test_a_quiz_needs_exactly_one_correct_option(correct: int):
    """No correct option, or two: refused in Japanese before anything is shown."""
    options = [Option(str(i), i < correct, "") for i in range(3)]
    with pytest.raises(ValueError, match="正解はちょうど1つ"):
        choice("?", options, show=False)


def _short() -> SelfCheck:
    return text(
        "西暦2019年5月1日は何という元号の元年ですか。",
        ["令和", "R 1"],
        why="2019年5月1日に令和に改元されました。",
        hint="改元の日付を調べてみましょう。",
        show=False,
    )


@pytest.mark.parametrize("typed", ["令和", " 令和　", "　令　和　", "R1", "Ｒ１", "Ｒ　1"])
def test_text_answers_are_compared_after_nfkc_and_without_spaces(typed: str):
    """Full-width letters and digits, full- and half-width spaces anywhere: all accepted as the same answer."""
    check = _answer(_short(), typed)
    assert check.last_result is True, typed
    assert "⭕ 正解です。" in check.feedback.value and "2019年5月1日に令和に改元されました。" in check.feedback.value


@pytest.mark.parametrize("typed", ["平成", "r1", "令和元年"])
def test_a_wrong_text_answer_gets_the_hint(typed: str):
    """Another word (letters keep their case): try again, with the hint and not the explanation."""
    check = _answer(_short(), typed)
    assert check.last_result is False
    assert "改元の日付を調べてみましょう。" in check.feedback.value and "改元されました" not in check.feedback.value


def test_a_wrong_text_answer_without_a_hint_gets_the_general_one():
    """No hint given: a general hint to run the example again."""
    check = _answer(text("1+1は？", ["2"], why="足し算です。", show=False), "3")
    assert "ヒント: 上の例をもう一度実行して、結果を確かめてみましょう。" in check.feedback.value


def test_an_empty_text_answer_asks_for_one():
    """Pressing with the box empty asks for an answer, like an unchosen quiz."""
    check = _short()
    check.click()
    assert NO_ANSWER in check.feedback.value and check.last_result is None


def test_click_goes_through_the_button():
    """click() presses the real button: a handler registered on the button runs too."""
    check = _short()
    pressed = []
    check.button.on_click(lambda button: pressed.append(button))
    _answer(check, "令和")
    assert pressed == [check.button] and check.last_result is True
