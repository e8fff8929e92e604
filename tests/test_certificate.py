"""修了証: verification codes reject tampering, dates are frozen once issued, and the PDF shows Japanese text."""

from __future__ import annotations

import re
import stat
from datetime import date
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from nbgrader.api import SubmittedAssignment

from course import certificate
from course.cli import main
from course.completion import TrackStatus
from course.config import Course, CourseError
from course.curriculum import load_curriculum
from course.gradebook import open_gradebook
from course.records import completion_records
from course.wareki import wareki
from tests import synthetic

SECRET = b"0123456789abcdef0123456789abcdef-test-only"
CODE = certificate.make_code(SECRET, staff_id="201001", track_key="ippan", completed_on=date(2026, 11, 27))


def test_a_genuine_code_is_accepted_in_any_letter_case():
    assert certificate.check_code(SECRET, CODE) == ("201001", "ippan", date(2026, 11, 27))
    staff, track, day, mac = CODE.split("-")
    assert certificate.check_code(SECRET, f" {staff}-{track.upper()}-{day}-{mac.lower()} ") is not None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c.replace("201001", "201002"),  # someone else's 職員番号
        lambda c: c.replace("-ippan-", "-kacho-"),  # a higher track
        lambda c: c.replace("20261127", "20261126"),  # another date
        lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"),  # one character of the signature
        lambda c: c[:-2],  # a shortened signature
        lambda c: c.replace("20261127", "20261332"),  # an impossible date
        lambda c: "",
    ],
)
def test_tampered_codes_are_rejected(tamper):
    assert certificate.check_code(SECRET, tamper(CODE)) is None


def test_a_code_from_another_secret_is_rejected():
    assert certificate.check_code(b"another-site-secret-another-site-secret", CODE) is None


def test_wareki():
    assert wareki(date(2026, 11, 27)) == "令和8年11月27日"
    assert wareki(date(2019, 5, 1)) == "令和元年5月1日"
    assert wareki(date(2019, 4, 30)) == "平成31年4月30日"


@pytest.fixture
def cohort(tmp_path: Path, monkeypatch) -> Course:
    monkeypatch.delenv(certificate.KEY_ENV, raising=False)
    course = synthetic.course_folder(tmp_path / "course")
    curriculum = load_curriculum()
    synthetic.make_cohort(
        course=course, curriculum=curriculum, staff_count=40, today=date(2026, 11, 27), seed=3, share=0.95
    )
    return course


def _completed(course: Course) -> set[tuple[str, str]]:
    completions = completion_records(course=course, curriculum=load_curriculum())
    return {(c.staff.staff_id, t.track_key) for c in completions for t in c.tracks if t.status is TrackStatus.COMPLETE}


def test_every_completed_track_gets_a_pdf_and_the_secret_stays_private(cohort: Course):
    paths = certificate.write_certificates(course=cohort, curriculum=load_curriculum())
    expected = _completed(cohort)
    assert expected, "the synthetic cohort has people who completed a track"
    assert {tuple(p.stem.split("_")) for p in paths} == expected
    key = certificate.key_file(cohort)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not key.is_relative_to(Path(__file__).parents[1])  # never inside the repository


def test_pdf_shows_japanese_text_and_the_code_verifies(cohort: Course, capsys):
    path = certificate.write_certificates(course=cohort, curriculum=load_curriculum())[0]
    staff_id, track_key = path.stem.split("_")
    person = next(c.staff for c in completion_records(course=cohort, curriculum=load_curriculum())
                  if c.staff.staff_id == staff_id)  # fmt: skip
    page = pdfium.PdfDocument(path)[0]
    text = page.get_textpage().get_text_range()
    for expected in ("修 了 証", f"{person.name}　殿", person.department, person.section,
                     load_curriculum().tracks[track_key].name, "修了日　令和", "デジタル人材育成タスクフォース"):  # fmt: skip
        assert expected in text, expected
    code = re.search(r"検証コード: (\S+)", text).group(1)
    # Rendered to an image, the name line is really drawn (glyphs, not empty boxes: a missing glyph would have
    # raised matplotlib's warning, which the test suite turns into an error).
    image = page.render(scale=1).to_pil().convert("L")
    width, height = image.size
    name_band = image.crop((0, int(height * 0.25), width, int(height * 0.36)))
    dark = sum(1 for value in name_band.tobytes() if value < 128)
    assert dark > 500
    assert main(["--runtime", str(cohort.runtime), "certificate", "verify", code]) == 0
    assert "有効な修了証です" in capsys.readouterr().out
    forged = code.replace(staff_id, str(int(staff_id) + 1))
    assert main(["--runtime", str(cohort.runtime), "certificate", "verify", forged]) == 1
    assert "無効なコードです" in capsys.readouterr().out


def test_completion_date_is_frozen_once_issued(cohort: Course):
    first = {(c.staff.staff_id, c.track_key): (c.completed_on, c.code) for c in _issue(cohort)}
    # Everyone resubmits a week later: recomputed completion dates move, certificates must not.
    with open_gradebook(cohort) as gb:
        for submission in gb.db.query(SubmittedAssignment):
            submission.timestamp = submission.timestamp.replace(year=2027)
        gb.db.commit()
    moved = completion_records(course=cohort, curriculum=load_curriculum())
    assert all(t.completed_at.year == 2027 for c in moved for t in c.tracks if t.status is TrackStatus.COMPLETE)
    again = {(c.staff.staff_id, c.track_key): (c.completed_on, c.code) for c in _issue(cohort)}
    assert again == first
    assert all(day.year == 2026 for day, _ in again.values())


def _issue(course: Course) -> list[certificate.Certificate]:
    curriculum = load_curriculum()
    return certificate.issue(
        course=course,
        curriculum=curriculum,
        completions=completion_records(course=course, curriculum=curriculum),
        secret=certificate.load_secret(course, create=True),
    )


def test_verify_without_the_key_file_is_a_clear_error(cohort: Course):
    with pytest.raises(CourseError, match="鍵ファイル"):
        certificate.verify(course=cohort, curriculum=load_curriculum(), code=CODE)
