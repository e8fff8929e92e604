"""Dates as a Japanese city writes them on documents (和暦): 令和8年11月27日, and the 年度 (April to March)."""

from __future__ import annotations

from datetime import date, datetime

REIWA = date(2019, 5, 1)


def era_year(day: date) -> str:
    """令和8年 (平成 before 2019-05-01; the first year of an era is 元年)."""
    if day >= REIWA:
        era, year = "令和", day.year - 2018
    else:
        era, year = "平成", day.year - 1988
    return f"{era}{'元' if year == 1 else year}年"


def wareki(day: date) -> str:
    """令和8年11月27日."""
    return f"{era_year(day)}{day.month}月{day.day}日"


def wareki_time(moment: datetime) -> str:
    """令和8年11月27日 09:05, a moment as a person reads it on a receipt or a record."""
    return f"{wareki(moment.date())} {moment:%H:%M}"
