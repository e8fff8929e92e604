"""What HR and the task force get on paper: HR's workbook printed by LibreOffice, and the progress report printed by
Chromium, read back from the PDFs page by page (poppler's pdftotext and pdfimages)."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from course.completion import evaluate
from course.curriculum import load_curriculum
from course.export import build_tables
from course.spreadsheet import write_atomic, xlsx_bytes
from course.taskforce import report
from course.years import FiscalYear
from tests import synthetic
from tests.hub_support import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.print

JST = ZoneInfo("Asia/Tokyo")
SOFFICE = "/usr/bin/soffice"


def _pages(pdf: Path) -> list[str]:
    """The text of each page (pdftotext separates pages with a form feed)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return text.split("\f")[:-1]


def test_every_printed_page_of_the_staff_sheet_carries_names(tmp_path: Path):
    """150 staff: 職員別 runs over several pages and, across the page width, over several columns of pages; each of
    them repeats the header row and the 職員番号・氏名 columns and says which year and as of when."""
    cur = load_curriculum()
    staff = synthetic.make_staff(150, seed=3)
    completions = evaluate(curriculum=cur, staff=staff, submissions=[], available=list(cur.modules))
    tables = build_tables(
        completions, cur, list(cur.modules.values()), datetime(2026, 12, 7, 9, 0, tzinfo=JST), FiscalYear(2026)
    )
    book = write_atomic(tmp_path / "修了状況一覧.xlsx", xlsx_bytes(tables[:1]))  # 職員別 only
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf", "--outdir",
         str(tmp_path), str(book)],
        check=True, capture_output=True, timeout=300, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    pages = _pages(tmp_path / "修了状況一覧.pdf")
    assert len(pages) >= 4, len(pages)
    names = {person.name for person in staff}
    for number, page in enumerate(pages, start=1):
        assert "令和8年度（2026年度） 令和8年12月7日現在" in page, number
        assert "職員番号" in page and "氏名" in page, number
        assert sum(name in page for name in names) >= 5, (number, page[:400])


def test_the_report_prints_each_heading_on_the_page_of_its_chart(tmp_path: Path):
    """Chromium's print of 進捗報告書.html: each of the four charts is on the same page as its heading, every page says
    which year and as of when, and the 課 breakdown (folded on screen) is printed as a table."""
    from playwright.sync_api import sync_playwright

    from course.organisation import ROSTER_SETTINGS, load_order
    from course.records import completion_records

    course = synthetic.course_folder(tmp_path / "course")
    cur = load_curriculum()
    synthetic.make_cohort(course=course, curriculum=cur, staff_count=300, today=date(2026, 12, 4), seed=5, share=0.8)
    at = datetime(2026, 12, 4, 17, 30, tzinfo=JST)
    result = report.write_report(course=course, curriculum=cur, out_dir=tmp_path, generated_at=at)
    pdf = tmp_path / "report.pdf"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(result.html.as_uri())
            page.pdf(path=str(pdf), format="A4", print_background=True)
        finally:
            browser.close()
    pages = _pages(pdf)
    images = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True).stdout
    image_pages = [int(line.split()[0]) for line in images.splitlines()[2:] if line.split()[2] == "image"]
    assert len(image_pages) == 4, images
    headings = [
        "1. 部署別の修了率",
        "2. モジュール別の合格率と平均得点率",
        "3. 修了者数の推移",
        "4. 業務デジタル化推進員の歩み",
    ]
    for heading, image_page in zip(headings, image_pages, strict=True):
        found = [n for n, text in enumerate(pages, start=1) if heading in re.sub(r"\s+", " ", text)]
        assert found == [image_page], (heading, found, image_page)
    assert len(pages) > 2  # the report does run over several pages
    for number, text in enumerate(pages, start=1):
        assert "進捗報告書（令和8年度（2026年度） 令和8年12月4日 17:30 現在）" in text, number
    printed = re.sub(r"\s+", "", "".join(pages))
    breakdown = printed[printed.index("課ごとの内訳") : printed.index("2.モジュール別の合格率")]
    assert "課ごとの内訳を表で見る" not in printed  # the folded line is for the screen only
    v = report.views(
        completion_records(course=course, curriculum=cur, as_of=at), cur, cur.available(course.source_dir), at,
        order=load_order(course.settings_file(ROSTER_SETTINGS)),
    )  # fmt: skip
    assert v.sections
    for rate in v.sections:  # every row of the table, with its numbers
        row = f"{rate.department}{rate.section}{rate.track}{rate.staff_count}{rate.completed}{100 * rate.rate:.1f}"
        assert row in breakdown, row
