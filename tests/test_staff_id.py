"""One rule for a 職員番号: what the roster accepts, a certificate carries and verifies, the hub logs in."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from course import staff_id
from course.certificate import check_code, make_code


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("２０１００１", "201001"),
        (" 201 001 ", "201001"),
        ("A00123", "a00123"),
        (201001.0, "201001"),
        ("ａ００１２３", "a00123"),
    ],
)
def test_what_people_type_becomes_the_stored_id(typed, stored):
    """Full-width digits and letters, spaces and capitals are normalised the same way everywhere."""
    assert staff_id.normalise(typed) == stored
    assert staff_id.problem(stored) is None


@pytest.mark.parametrize("bad", ["", "201-001", "山田", "x" * 33])
def test_invalid_ids_get_a_japanese_reason(bad):
    assert "職員番号" in (staff_id.problem(staff_id.normalise(bad)) or "")


@pytest.mark.parametrize("person", ["a00123", "201001", "k1"])
def test_an_id_that_is_not_six_digits_survives_a_certificate(person):
    """A 職員番号 the roster accepts gives a code that verifies, however it is retyped (case, 0 for O, 1 for I)."""
    secret = b"k" * 32
    code = make_code(secret, staff_id=person, track_key="ippan", completed_on=date(2026, 11, 27))
    assert check_code(secret, code) == (person, "ippan", date(2026, 11, 27))
    staff, track, day, mac = code.split("-")
    retyped = f"{staff.upper()}-{track}-{day}-{mac.lower().replace('o', '0').replace('i', '1')}"
    assert check_code(secret, retyped) == (person, "ippan", date(2026, 11, 27))
    assert check_code(secret, code[:-1] + ("A" if code[-1] != "A" else "B")) is None


def test_an_id_that_is_not_six_digits_works_end_to_end(tmp_path):
    """「Ａ００１２３」 in the roster → graded as a00123 → a 修了証 for 一般職 → its code verifies (retyped too)."""
    from course.certificate import verify, write_certificates
    from course.curriculum import load_curriculum
    from course.records import completion_records
    from course.roster import import_roster
    from tests.conftest import write_csv
    from tests.synthetic import course_folder
    from tests.test_years import Hand, _hand_in

    course = course_folder(tmp_path / "course")
    cur = load_curriculum(course.root / "settings" / "curriculum.toml")
    roster = write_csv(tmp_path / "r.csv", [("Ａ００１２３", "架空　花子", "", "総務部", "人事課", "主事", "")])
    import_roster(course=course, path=roster)
    now = datetime.now(ZoneInfo("Asia/Tokyo"))
    _hand_in(course, tuple(Hand("a00123", m, 9, now) for m in cur.tracks["ippan"].required))
    [person] = completion_records(course=course, curriculum=cur)
    assert person.staff.staff_id == "a00123" and person.grade_track.status.value == "修了"
    [pdf] = write_certificates(course=course, curriculum=cur)
    assert pdf.name == "a00123_ippan.pdf"
    code = next(c for c in _issued_codes(course))
    for typed in (code, code.upper().replace("O", "0")):
        result = verify(course=course, curriculum=cur, code=typed)
        assert result.valid and result.certificate is not None and result.certificate.staff.name == "架空　花子"


def _issued_codes(course):
    from sqlalchemy import create_engine, select

    from course.gradebook import certificates_table

    engine = create_engine(course.db_url)
    try:
        with engine.connect() as connection:
            return [row.code for row in connection.execute(select(certificates_table.c.code))]
    finally:
        engine.dispose()
