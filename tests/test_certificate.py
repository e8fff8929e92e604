"""修了証: verification codes reject tampering, dates are frozen once issued, and the PDF shows Japanese text."""

from __future__ import annotations

import re
import stat
from datetime import date
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
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


def test_pdf_shows_what_a_city_prints_and_the_qr_code_opens_the_verification_page(cohort: Course, capsys):
    """第N号, the person, the course as a sentence, 修了日 and 発行日, the issuer's title from settings beside an empty
    seal box, and where to check it: the page's address printed, and as a QR code holding that address with the code."""
    path = certificate.write_certificates(course=cohort, curriculum=load_curriculum())[0]
    staff_id, track_key = path.stem.split("_")
    person = next(c.staff for c in completion_records(course=cohort, curriculum=load_curriculum())
                  if c.staff.staff_id == staff_id)  # fmt: skip
    settings = certificate.load_settings(cohort.root / "settings" / "certificate.toml")
    issued = next(c for c in _issue(cohort) if (c.staff.staff_id, c.track_key) == (staff_id, track_key))
    document = pdfium.PdfDocument(path)
    page = document[0]
    text = page.get_textpage().get_text_range()
    course_name = settings.course_name_for(track_key=track_key, track_name=load_curriculum().tracks[track_key].name)
    for expected in (f"第{issued.number}号", "修 了 証", f"{person.name}　殿", person.department, person.section,
                     f"{course_name}の全課程を修了", f"修了日　{wareki(issued.completed_on)}",
                     f"発行日　{wareki(issued.issued_on)}", "佐野市長", "公印", settings.verify_url,
                     f"検証コード: {issued.code}"):  # fmt: skip
        assert expected in text, expected
    assert "python -m course" not in text  # staff are sent to the page, not to a command
    image = page.render(scale=150 / 72).to_pil().convert("L")
    width, height = image.size
    # Rendered to an image, the name line is really drawn (glyphs, not empty boxes: a missing glyph would have
    # raised matplotlib's warning, which the test suite turns into an error).
    name_band = image.crop((0, int(height * 0.25), width, int(height * 0.36)))
    assert sum(1 for value in name_band.tobytes() if value < 128) > 500
    # The seal box is left empty for the 公印: inside its dashed border only the small grey label is drawn.
    left, bottom, right, top = certificate.SEAL_BOX
    inside = image.crop((int(width * left) + 6, int(height * (1 - top)) + 6,
                         int(width * right) - 6, int(height * (1 - bottom)) - 30))  # fmt: skip
    assert inside.size[0] > 100 and inside.size[1] > 100
    assert min(inside.tobytes()) > 200, "something is drawn where the seal goes"
    codes = [found.text for found in zxingcpp.read_barcodes(image)]
    assert codes == [f"{settings.verify_url}?code={issued.code}"]
    page.close()
    document.close()
    assert main(["--runtime", str(cohort.runtime), "certificate", "verify", issued.code]) == 0
    out = capsys.readouterr().out
    assert "有効な修了証です" in out and f"第{issued.number}号" in out
    forged = issued.code.replace(staff_id, str(int(staff_id) + 1))
    assert main(["--runtime", str(cohort.runtime), "certificate", "verify", forged]) == 1
    assert "無効なコードです" in capsys.readouterr().out


def test_numbers_run_on_in_the_order_of_completion_and_never_change(cohort: Course):
    """第1号 goes to the earliest completion; a later issue continues from the last number; numbers stay put."""
    curriculum = load_curriculum()
    completions = completion_records(course=cohort, curriculum=curriculum)
    secret = certificate.load_secret(cohort, create=True)
    half = len(completions) // 2
    first = certificate.issue(course=cohort, curriculum=curriculum, completions=completions[:half], secret=secret)
    assert sorted(c.number for c in first) == list(range(1, len(first) + 1))
    done = {(c.staff.staff_id, t.track_key): t.completed_at for c in completions[:half] for t in c.tracks}
    by_number = sorted(first, key=lambda c: c.number)
    stamps = [done[c.staff.staff_id, c.track_key] for c in by_number]
    assert stamps == sorted(stamps)
    everyone = certificate.issue(course=cohort, curriculum=curriculum, completions=completions, secret=secret)
    again = {(c.staff.staff_id, c.track_key): c.number for c in everyone}
    assert all(again[c.staff.staff_id, c.track_key] == c.number for c in first)
    assert sorted(again.values()) == list(range(1, len(everyone) + 1))
    assert len(everyone) > len(first)


def test_a_gradebook_from_before_numbers_gets_them_in_the_order_of_issue(cohort: Course):
    """An existing course_certificates table without the number column: the column is added and the certificates
    already there are numbered by issue time, once (opening the gradebook again changes nothing)."""
    issued = _issue(cohort)
    assert len(issued) >= 3
    with open_gradebook(cohort) as gb:  # back to the old schema, issue times in reverse 職員番号 order
        connection = gb.db.connection()
        connection.exec_driver_sql("DROP INDEX course_certificates_number")
        connection.exec_driver_sql("ALTER TABLE course_certificates DROP COLUMN number")
        for rank, cert in enumerate(sorted(issued, key=lambda c: (c.staff.staff_id, c.track_key), reverse=True)):
            connection.exec_driver_sql(
                "UPDATE course_certificates SET issued_at = ? WHERE staff_id = ? AND track_key = ?",
                (f"2026-11-{rank + 1:02d} 00:00:00.000000", cert.staff.staff_id, cert.track_key),
            )
        gb.db.commit()
    numbered = {(c.staff.staff_id, c.track_key): c.number for c in _issue(cohort)}
    expected = sorted(numbered, reverse=True)
    assert [numbered[key] for key in expected] == list(range(1, len(expected) + 1))
    assert {(c.staff.staff_id, c.track_key): c.number for c in _issue(cohort)} == numbered


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (('title = "佐野市長"', 'title = ""'), "[issuer] title"),
        (('"第{number}号"', '"第号"'), "number_format"),
        (('"デジタル人材育成研修（{track}）"', '"デジタル人材育成研修"'), "course_name"),
        (("https://kenshu.example.lg.jp/services/kenshu/verify", "kenshu.example.lg.jp/verify"), "[verification] url"),
        (
            ("https://kenshu.example.lg.jp/services/kenshu/verify", "https://x.example/verify?code="),
            "[verification] url",
        ),
    ],
)
def test_a_mistake_in_the_certificate_settings_is_named_and_nothing_is_issued(cohort: Course, replace, message):
    settings = cohort.root / "settings" / "certificate.toml"
    original = settings.read_text(encoding="utf-8")
    assert replace[0] in original
    settings.write_text(original.replace(replace[0], replace[1]), encoding="utf-8")
    with pytest.raises(CourseError, match=re.escape(message)) as raised:
        certificate.write_certificates(course=cohort, curriculum=load_curriculum())
    assert str(settings) in str(raised.value)
    assert not certificate.key_file(cohort).exists() and not certificate.certificate_dir(cohort).exists()


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
