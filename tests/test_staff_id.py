"""One rule for a 職員番号: what the roster accepts, a certificate carries and verifies, the hub logs in."""

from __future__ import annotations

from datetime import date

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
