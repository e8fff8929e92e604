"""修了証 (certificates): a PDF for each member of staff who completed a track, with a code the city can verify.

The verification code carries the 職員番号, the track and the completion date in clear, followed by an HMAC-SHA256
over them with a site secret. Anyone with the secret can tell a real code from an invented or edited one; the
secret lives in a file outside git (``secrets/certificate.key``, or the file named by SANO_CERTIFICATE_KEY).

Once issued, a certificate's completion date is frozen in the gradebook (table ``course_certificates``): a later
resubmission never moves or withdraws it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib_fontja  # noqa: F401  (registers IPAexGothic)
from sqlalchemy import select

from course import staff_id as staff_ids
from course.completion import StaffCompletion, TrackStatus
from course.config import Course, CourseError
from course.curriculum import Curriculum
from course.gradebook import certificates_table, open_gradebook
from course.models import Staff
from course.records import completion_records
from course.spreadsheet import atomic_open
from course.wareki import wareki

KEY_ENV = "SANO_CERTIFICATE_KEY"
MAC_LENGTH = 16  # base32 characters = 80 bits
CODE_PATTERN = re.compile(
    rf"^(?P<staff>{staff_ids.PATTERN})-(?P<track>[a-z][a-z0-9_]*)-(?P<day>\d{{8}})-(?P<mac>[A-Z2-7]{{16}})$"
)
# The code's last part is base32 (A–Z, 2–7), which has no 0, 1 or 8: read them as the letters people mistook.
_LOOKALIKES = str.maketrans("018", "OIB")


@dataclass(frozen=True)
class Certificate:
    staff: Staff
    track_key: str
    track_name: str
    completed_on: date
    code: str


@dataclass(frozen=True)
class Verification:
    valid: bool
    message: str  # Japanese, for the person checking


# ---------------------------------------------------------------- codes (pure)


def _mac(secret: bytes, staff_id: str, track_key: str, day: date) -> str:
    digest = hmac.new(secret, f"{staff_id}|{track_key}|{day:%Y%m%d}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:MAC_LENGTH]


def make_code(secret: bytes, *, staff_id: str, track_key: str, completed_on: date) -> str:
    return f"{staff_id}-{track_key}-{completed_on:%Y%m%d}-{_mac(secret, staff_id, track_key, completed_on)}"


def check_code(secret: bytes, code: str) -> tuple[str, str, date] | None:
    """(職員番号, track key, completion date) if the code is genuine, else None."""
    parts = unicodedata.normalize("NFKC", code).strip().replace(" ", "").split("-")
    if len(parts) != 4:
        return None
    mac = parts[3].upper().translate(_LOOKALIKES)
    match = CODE_PATTERN.match(f"{staff_ids.normalise(parts[0])}-{parts[1].lower()}-{parts[2]}-{mac}")
    if match is None:
        return None
    try:
        day = datetime.strptime(match["day"], "%Y%m%d").date()
    except ValueError:
        return None
    expected = _mac(secret, match["staff"], match["track"], day)
    if not hmac.compare_digest(expected, match["mac"]):
        return None
    return match["staff"], match["track"], day


# ---------------------------------------------------------------- the secret


def key_file(course: Course) -> Path:
    if path := os.environ.get(KEY_ENV):
        return Path(path)
    return (course.runtime or course.root) / "secrets" / "certificate.key"


def load_secret(course: Course, *, create: bool) -> bytes:
    """The site secret; created (readable by its owner only) on first issue, never on verify."""
    path = key_file(course)
    if path.is_file():
        secret = path.read_bytes().strip()
        if len(secret) < 32:
            msg = f"{path}: 鍵が短すぎます（32 文字以上が必要です）。"
            raise CourseError(msg)
        return secret
    if not create:
        msg = f"修了証の鍵ファイル {path} がありません。発行に使った鍵ファイルを置くか、{KEY_ENV} で場所を指定してください。"
        raise CourseError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret + b"\n")
    return secret


# ---------------------------------------------------------------- issuing


def _issued(course: Course) -> dict[tuple[str, str], tuple[date, str]]:
    with open_gradebook(course) as gb:
        rows = gb.db.execute(select(certificates_table)).all()
    return {(row.staff_id, row.track_key): (row.completed_on, row.code) for row in rows}


def issue(
    *, course: Course, curriculum: Curriculum, completions: Sequence[StaffCompletion], secret: bytes
) -> list[Certificate]:
    """Record a certificate for every completed track (keeping the date of any issued before); return them all."""
    issued = _issued(course)
    new_rows = []
    now = datetime.now(UTC).replace(tzinfo=None)
    for person in completions:
        for record in person.tracks:
            key = (person.staff.staff_id, record.track_key)
            if key in issued or record.status is not TrackStatus.COMPLETE or record.completed_at is None:
                continue
            day = record.completed_at.astimezone(course.timezone).date()
            code = make_code(secret, staff_id=key[0], track_key=key[1], completed_on=day)
            issued[key] = (day, code)
            new_rows.append(
                {"staff_id": key[0], "track_key": key[1], "completed_on": day, "code": code, "issued_at": now}
            )
    if new_rows:
        with open_gradebook(course) as gb:
            gb.db.execute(certificates_table.insert(), new_rows)
            gb.db.commit()
    staff = {c.staff.staff_id: c.staff for c in completions}
    return [
        Certificate(staff[s], t, curriculum.tracks[t].name, day, code)
        for (s, t), (day, code) in sorted(issued.items())
        if s in staff and t in curriculum.tracks
    ]


def verify(*, course: Course, curriculum: Curriculum, code: str) -> Verification:
    secret = load_secret(course, create=False)
    found = check_code(secret, code)
    if found is None:
        return Verification(
            False, f"無効なコードです: {code.strip()}（改ざんされたか、この市で発行したものではありません）"
        )
    staff_id, track_key, day = found
    track = curriculum.tracks[track_key].name if track_key in curriculum.tracks else track_key
    with open_gradebook(course) as gb:
        row = gb.db.execute(
            select(certificates_table).where(
                certificates_table.c.staff_id == staff_id, certificates_table.c.track_key == track_key
            )
        ).first()
    where = (
        "発行記録と一致しました"
        if row is not None and row.code == code.strip()
        else "署名は正しいですが、この成績簿に発行記録がありません"
    )
    return Verification(True, f"有効な修了証です: 職員番号 {staff_id}、{track}、修了日 {wareki(day)}（{where}）")


# ---------------------------------------------------------------- PDF


def render_pdf(certificate: Certificate, *, issuer: str, course_title: str) -> bytes:
    """One A4 landscape page, Japanese text in the embedded IPAexGothic font."""
    staff = certificate.staff
    with plt.rc_context({"pdf.fonttype": 42, "font.family": "IPAexGothic"}):
        figure = plt.figure(figsize=(11.69, 8.27))
        figure.patches.append(
            matplotlib.patches.Rectangle(
                (0.03, 0.04), 0.94, 0.92, transform=figure.transFigure, fill=False, linewidth=3, edgecolor="#1b5e20"
            )
        )
        text = figure.text
        text(0.5, 0.82, "修 了 証", ha="center", fontsize=44)
        text(0.5, 0.68, f"{staff.name}　殿", ha="center", fontsize=30)
        text(0.5, 0.61, f"{staff.department}　{staff.section}", ha="center", fontsize=16)
        text(
            0.5, 0.47,
            f"あなたは{course_title}の\n「{certificate.track_name}」の課程を修了したことを証します。",
            ha="center", va="center", fontsize=18, linespacing=1.8,
        )  # fmt: skip
        text(0.5, 0.33, f"修了日　{wareki(certificate.completed_on)}", ha="center", fontsize=16)
        text(0.5, 0.22, issuer, ha="center", fontsize=18)
        text(0.5, 0.09, f"検証コード: {certificate.code}", ha="center", fontsize=11)
        text(0.5, 0.065, "（python -m course certificate verify 検証コード で確認できます）", ha="center", fontsize=8)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="pdf", metadata={"Title": f"修了証 {staff.name}", "Creator": course_title})
        plt.close(figure)
    return buffer.getvalue()


def certificate_dir(course: Course) -> Path:
    return course.export_dir / "修了証"


def write_certificates(
    *, course: Course, curriculum: Curriculum, completions: Sequence[StaffCompletion] | None = None
) -> list[Path]:
    """Issue and write every certificate as <職員番号>_<track>.pdf; each file is written atomically."""
    if completions is None:
        completions = completion_records(course=course, curriculum=curriculum)
    secret = load_secret(course, create=True)
    certificates = issue(course=course, curriculum=curriculum, completions=completions, secret=secret)
    folder = certificate_dir(course)
    paths = []
    for certificate in certificates:
        data = render_pdf(certificate, issuer=curriculum.issuer, course_title=curriculum.title)
        path = folder / f"{certificate.staff.staff_id}_{certificate.track_key}.pdf"
        with atomic_open(path) as handle:
            handle.write(data)
        paths.append(path)
    return paths
