"""The organisation's order of 部 and 課 (settings/roster.toml, [organisation]): how every list HR sends is sorted.

A 部 or 課 the settings do not name comes after the named ones, by name, so a new 課 is never lost from a list."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

from course.hr_sheet import nfkc

ROSTER_SETTINGS = "roster.toml"  # in the course folder's settings/: the roster's mapping, and this order
UnitKey = tuple[int, str, int, str]
UnitOrder = Callable[[str, str], UnitKey]  # a sort key for (部, 課)


def load_order(path: Path) -> UnitOrder:
    """A sort key for (部, 課) in the organisation's order, from the roster settings file."""
    data = tomllib.loads(path.read_text(encoding="utf-8")).get("organisation", {})
    return unit_order(data.get("departments", ()), data.get("sections", ()))


def unit_order(departments: Sequence[str], sections: Sequence[str]) -> UnitOrder:
    department_rank = {nfkc(name): index for index, name in enumerate(departments)}
    section_rank = {nfkc(name): index for index, name in enumerate(sections)}

    def key(department: str, section: str) -> UnitKey:
        return (
            department_rank.get(department, len(department_rank)),
            department,
            section_rank.get(section, len(section_rank)),
            section,
        )

    return key


BY_NAME: UnitOrder = unit_order((), ())  # no organisation order given: by name
