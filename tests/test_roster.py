"""職員名簿: validation, normalisation and idempotent import."""

from __future__ import annotations

from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from openpyxl import Workbook

from course.config import Course
from course.records import load_staff
from course.roster import RosterError, import_roster, read_roster
from tests.conftest import HEADER, STAFF_ROWS, write_csv


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_csv_in_every_excel_encoding_is_read(tmp_path: Path, encoding: str):
    """UTF-8, UTF-8 with BOM (Excel 「CSV UTF-8」) and CP932 (Excel 「CSV」) give the same staff."""
    staff, _ = read_roster(write_csv(tmp_path / "r.csv", STAFF_ROWS, encoding=encoding))
    assert [s.staff_id for s in staff] == ["100001", "100002", "100003", "100004"]
    assert staff[0].name == "山田　花子"  # kept as HR wrote it (full-width space), for HR's own lists to match
    assert staff[0].family_and_given == ("山田", "花子")
    assert [s.grade for s in staff] == ["一般職", "係長職", "課長職以上", "一般職"]
    assert [s.promoter for s in staff] == [False, True, False, False]


def test_xlsx_with_numeric_ids_and_full_width_digits(tmp_path: Path):
    """Excel stores 職員番号 as numbers; full-width digits and stray spaces are normalised."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(HEADER))
    sheet.append([100001, " 山田　花子 ", "", "総務部", "人事課", "主事", None])
    sheet.append(["１０００２", "ｻﾄｳ ｲﾁﾛｳ", "", "総務部", "人事課", "係長", "はい"])
    workbook.save(tmp_path / "r.xlsx")
    staff, _ = read_roster(tmp_path / "r.xlsx")
    assert [(s.staff_id, s.name, s.promoter) for s in staff] == [
        ("100001", "山田　花子", False),  # names as HR wrote them, only trimmed
        ("10002", "ｻﾄｳ ｲﾁﾛｳ", True),
    ]


def test_every_mistake_is_reported_at_once_with_row_column_and_value(tmp_path: Path):
    """A duplicate 職員番号, an unknown 役職, an empty 氏名 and a bad 推進員 flag: four messages, one error."""
    rows = [
        STAFF_ROWS[0],
        ("100001", "別人　太郎", "", "総務部", "人事課", "主事", ""),
        ("100005", "", "", "総務部", "人事課", "主事", ""),
        ("100006", "謎野　役職", "", "総務部", "人事課", "特命担当", ""),
        ("100007", "旗川　一", "", "総務部", "人事課", "主事", "たぶん"),
    ]
    with pytest.raises(RosterError) as caught:
        read_roster(write_csv(tmp_path / "bad.csv", rows))
    problems = caught.value.problems
    assert [(p.row, p.column) for p in problems] == [(3, "職員番号"), (4, "氏名"), (5, "役職"), (6, "推進員")]
    assert "2行目 と重複" in problems[0].message
    assert problems[2].value == "特命担当"
    text = str(caught.value)
    assert "bad.csv 5行目 「役職」列" in text and "何も取り込んでいません" in text


def test_missing_columns_are_named(tmp_path: Path):
    """A roster without 役職 and 推進員 columns is rejected, naming both columns."""
    header = ("職員番号", "氏名", "部", "課")
    with pytest.raises(RosterError) as caught:
        read_roster(write_csv(tmp_path / "r.csv", [("1", "a", "b", "c")], header=header))
    assert [p.column for p in caught.value.problems] == ["役職", "推進員"]


def test_unreadable_bytes_get_a_japanese_message(tmp_path: Path):
    """A file in neither UTF-8 nor CP932 is refused with advice on how to save it."""
    path = tmp_path / "r.csv"
    path.write_bytes(b"\xff\xfe\x00\x81\xff" * 10)
    with pytest.raises(Exception, match="文字コードを判別できません"):
        read_roster(path)


def _gradebook_rows(course: Course) -> tuple[list, list]:
    gb = Gradebook(course.db_url, course.course_id)
    try:
        students = sorted((s.id, s.last_name, s.first_name) for s in gb.students)
    finally:
        gb.close()
    return students, [(s.staff_id, s.current) for s in load_staff(course=course)]


def test_import_creates_nbgrader_students_and_is_idempotent(course: Course, tmp_path: Path):
    """Staff become nbgrader students with id = 職員番号; importing the same file again changes nothing."""
    path = write_csv(tmp_path / "r.csv", STAFF_ROWS)
    first = import_roster(course=course, path=path)
    assert len(first.added) == 4
    before = _gradebook_rows(course)
    assert before[0][0] == ("100001", "山田", "花子")
    second = import_roster(course=course, path=path)
    assert (second.added, second.updated, len(second.unchanged), second.retired) == ((), (), 4, ())
    assert _gradebook_rows(course) == before


def test_people_missing_from_a_new_roster_are_kept_as_not_current(course: Course, tmp_path: Path):
    """Nobody is deleted: a person absent from the new roster stays, marked 名簿外, and comes back if re-added."""
    import_roster(course=course, path=write_csv(tmp_path / "a.csv", STAFF_ROWS))
    report = import_roster(course=course, path=write_csv(tmp_path / "b.csv", STAFF_ROWS[1:]))
    assert report.retired == ("100001",)
    students, staff = _gradebook_rows(course)
    assert len(students) == 4 and ("100001", False) in staff
    back = import_roster(course=course, path=write_csv(tmp_path / "c.csv", STAFF_ROWS))
    assert back.updated == ("100001",)


def test_a_broken_roster_leaves_the_gradebook_unchanged(course: Course, tmp_path: Path):
    """If any row is wrong, nothing at all is written, not even the good rows."""
    import_roster(course=course, path=write_csv(tmp_path / "ok.csv", STAFF_ROWS[:2]))
    before = _gradebook_rows(course)
    broken = [*STAFF_ROWS, ("100004", "重複　花子", "", "総務部", "人事課", "主事", "")]
    with pytest.raises(RosterError):
        import_roster(course=course, path=write_csv(tmp_path / "bad.csv", broken))
    assert _gradebook_rows(course) == before


def test_dry_run_writes_nothing(course: Course, tmp_path: Path):
    """--dry-run reports what would change and leaves the gradebook as it was."""
    report = import_roster(course=course, path=write_csv(tmp_path / "r.csv", STAFF_ROWS), dry_run=True)
    assert len(report.added) == 4
    assert _gradebook_rows(course) == ([], [])
