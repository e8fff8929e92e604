"""The one rule for a 職員番号, used by the roster import, certificates, the promoters' report template and the hub.

A 職員番号 is 1–32 half-width letters and digits, compared in lower case. What people type is normalised first:
full-width digits and letters become half-width (NFKC), spaces anywhere are dropped, capitals become small.
"""

from __future__ import annotations

import re
import unicodedata

PATTERN = r"[0-9a-z]{1,32}"
_FULL = re.compile(PATTERN)


def normalise(value: object) -> str:
    """What a person typed or a sheet holds, as the 職員番号 the course stores (may still be invalid)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel gives 201001.0 for a number cell
    text = unicodedata.normalize("NFKC", "" if value is None else str(value))
    return "".join(text.split()).lower()


def problem(staff_id: str) -> str | None:
    """A Japanese explanation if ``staff_id`` (already normalised) is not a valid 職員番号, else None."""
    if not staff_id:
        return "職員番号が空です。"
    if not _FULL.fullmatch(staff_id):
        return "職員番号には半角の数字と英字だけを使ってください（32文字まで）。"
    return None
