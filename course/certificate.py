"""修了証 (certificates): a PDF for each member of staff who completed a track, numbered and issued as a city issues
them, with a code anyone can check on the course's verification page.

The verification code carries the 職員番号, the track and the completion date in clear, followed by an HMAC-SHA256
over them with a site secret. Anyone with the secret can tell a real code from an invented or edited one; the
secret lives in a file outside git (``secrets/certificate.key``, or the file named by SANO_CERTIFICATE_KEY).

Once issued, a certificate's completion date and its number (第N号, sequential in the order of issue) are frozen in
the gradebook (table ``course_certificates``): a later resubmission never moves or withdraws them. What the city
prints (the issuer's title, how a course and a number are written, the verification page's address) is in the course
folder's settings/certificate.toml.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib_fontja  # noqa: F401  (registers IPAexGothic)
import segno
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from course import staff_id as staff_ids
from course.completion import StaffCompletion, TrackStatus
from course.config import Course, CourseError, read_toml
from course.curriculum import Curriculum
from course.gradebook import certificates_table, open_gradebook
from course.models import Staff
from course.records import completion_records, load_staff
from course.spreadsheet import atomic_open
from course.wareki import wareki

SETTINGS_FILE = "certificate.toml"  # in the course folder's settings/
KEY_ENV = "SANO_CERTIFICATE_KEY"
MAC_LENGTH = 16  # base32 characters = 80 bits
CODE_PATTERN = re.compile(
    rf"^(?P<staff>{staff_ids.PATTERN})-(?P<track>[a-z][a-z0-9_]*)-(?P<day>\d{{8}})-(?P<mac>[A-Z2-7]{{16}})$"
)
# The code's last part is base32 (A–Z, 2–7), which has no 0, 1 or 8: read them as the letters people mistook.
_LOOKALIKES = str.maketrans("018", "OIB")
_ISSUE_ATTEMPTS = 5  # another process (the staff's service, the CLI) may take the same number at the same moment


@dataclass(frozen=True)
class CertificateSettings:
    """What the city prints on its certificates (settings/certificate.toml)."""

    issuer_title: str  # e.g. 佐野市長, 総務部人事課長
    issuer_name: str  # optional: "" prints the title alone
    number_format: str  # e.g. 第{number}号
    course_name: str  # e.g. デジタル人材育成研修（{track}）
    course_names: Mapping[str, str]  # track key → a course name of its own
    verify_url: str  # the verification page; the QR code adds ?code=…

    @property
    def issuer(self) -> str:
        """佐野市長, or 佐野市長　山田 太郎 when a name is set: as the certificate prints it and the verification page
        names who issued it."""
        return f"{self.issuer_title}　{self.issuer_name}" if self.issuer_name else self.issuer_title

    def number_text(self, number: int) -> str:
        return self.number_format.format(number=number)

    def course_name_for(self, *, track_key: str, track_name: str) -> str:
        return self.course_names.get(track_key) or self.course_name.format(track=track_name)

    def verify_link(self, code: str) -> str:
        return f"{self.verify_url}?{urlencode({'code': code})}"


@dataclass(frozen=True)
class Certificate:
    staff: Staff
    track_key: str
    track_name: str
    completed_on: date
    code: str
    number: int  # 第N号
    issued_on: date  # 発行日, in the course's timezone


@dataclass(frozen=True)
class Verification:
    valid: bool  # the code's signature is genuine
    message: str  # Japanese, for the instructor checking at the command line
    certificate: Certificate | None = None  # as issued from this gradebook; None if it never was


def load_settings(path: Path) -> CertificateSettings:
    """Read and check settings/certificate.toml; every problem is named with its key, all at once."""
    data = read_toml(path)
    issuer, settings, verification = (data.get(part, {}) for part in ("issuer", "certificate", "verification"))
    errors = []
    title = str(issuer.get("title", "")).strip()
    if not title:
        errors.append("[issuer] title（発行者の職名。例: 佐野市長）を書いてください。")
    number_format = str(settings.get("number_format", "第{number}号"))
    if "{number}" not in number_format:
        errors.append(f"[certificate] number_format = {number_format!r} に {{number}}（番号の入る所）がありません。")
    course_name = str(settings.get("course_name", "{track}"))
    if "{track}" not in course_name:
        errors.append(f"[certificate] course_name = {course_name!r} に {{track}}（研修区分の入る所）がありません。")
    url = str(verification.get("url", "")).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        errors.append(
            f"[verification] url = {url!r}: 確認ページのアドレスを http:// か https:// から、? や # を付けずに書いてください。"
        )
    if errors:
        raise CourseError(f"{path}:\n" + "\n".join(f"- {e}" for e in errors))
    return CertificateSettings(
        issuer_title=title,
        issuer_name=str(issuer.get("name", "")).strip(),
        number_format=number_format,
        course_name=course_name,
        course_names={str(k): str(v) for k, v in settings.get("course_names", {}).items()},
        verify_url=url,
    )


def course_settings(course: Course) -> CertificateSettings:
    return load_settings(course.settings_file(SETTINGS_FILE))


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


@dataclass(frozen=True)
class _Issued:
    completed_on: date
    code: str
    number: int
    issued_at: datetime  # naive UTC, as stored


def _issued(course: Course) -> dict[tuple[str, str], _Issued]:
    with open_gradebook(course) as gb:
        rows = gb.db.execute(select(certificates_table)).all()
    return {
        (row.staff_id, row.track_key): _Issued(row.completed_on, row.code, row.number, row.issued_at) for row in rows
    }


def issue(
    *, course: Course, curriculum: Curriculum, completions: Sequence[StaffCompletion], secret: bytes
) -> list[Certificate]:
    """Record a certificate for every completed track of ``completions`` (keeping the date and number of any issued
    before), numbered on from the last number in the order the tracks were completed; return them all.

    Two processes issuing at once (the staff's service and the CLI) may reach for the same number: the gradebook's
    unique index refuses the second, which then reads again and takes the next numbers.
    """
    for attempt in range(_ISSUE_ATTEMPTS):
        try:
            issued = _issue_new(course=course, completions=completions, secret=secret)
            break
        except IntegrityError:
            if attempt == _ISSUE_ATTEMPTS - 1:
                raise
    staff = {c.staff.staff_id: c.staff for c in completions}
    return [
        _certificate(staff[s], t, curriculum, record, course)
        for (s, t), record in sorted(issued.items())
        if s in staff and t in curriculum.tracks
    ]


def _issue_new(
    *, course: Course, completions: Sequence[StaffCompletion], secret: bytes
) -> dict[tuple[str, str], _Issued]:
    issued = _issued(course)
    due = sorted(
        (
            (record.completed_at, person.staff.staff_id, record.track_key)
            for person in completions
            for record in person.tracks
            if record.status is TrackStatus.COMPLETE
            and record.completed_at is not None
            and (person.staff.staff_id, record.track_key) not in issued
        ),
    )
    if not due:
        return issued
    now = datetime.now(UTC).replace(tzinfo=None)
    with open_gradebook(course) as gb:
        last = gb.db.execute(select(func.max(certificates_table.c.number))).scalar() or 0
        rows = []
        for number, (completed_at, staff_id, track_key) in enumerate(due, start=last + 1):
            day = completed_at.astimezone(course.timezone).date()
            code = make_code(secret, staff_id=staff_id, track_key=track_key, completed_on=day)
            issued[staff_id, track_key] = _Issued(day, code, number, now)
            rows.append(
                {"staff_id": staff_id, "track_key": track_key, "completed_on": day, "code": code,
                 "issued_at": now, "number": number}
            )  # fmt: skip
        try:
            gb.db.execute(certificates_table.insert(), rows)
            gb.db.commit()
        except IntegrityError:
            gb.db.rollback()
            raise
    return issued


def _certificate(staff: Staff, track_key: str, curriculum: Curriculum, record: _Issued, course: Course) -> Certificate:
    issued_on = record.issued_at.replace(tzinfo=UTC).astimezone(course.timezone).date()
    name = curriculum.tracks[track_key].name if track_key in curriculum.tracks else track_key
    return Certificate(staff, track_key, name, record.completed_on, record.code, record.number, issued_on)


def verify(*, course: Course, curriculum: Curriculum, code: str) -> Verification:
    """What a code stands for: genuine or not, and the certificate issued from this gradebook with that code."""
    secret = load_secret(course, create=False)
    found = check_code(secret, code)
    if found is None:
        return Verification(
            False, f"無効なコードです: {code.strip()}（改ざんされたか、この市で発行したものではありません）"
        )
    staff_id, track_key, day = found
    track = curriculum.tracks[track_key].name if track_key in curriculum.tracks else track_key
    record = _issued(course).get((staff_id, track_key))
    person = next(iter(load_staff(course=course, staff_id=staff_id)), None)
    canonical = make_code(secret, staff_id=staff_id, track_key=track_key, completed_on=day)
    if record is None or record.code != canonical or person is None:
        return Verification(
            True,
            f"署名は正しいですが、この成績簿に発行記録がありません: 職員番号 {staff_id}、{track}、修了日 {wareki(day)}",
        )
    issued = _certificate(person, track_key, curriculum, record, course)
    return Verification(
        True,
        f"有効な修了証です: {course_settings(course).number_text(issued.number)}、職員番号 {staff_id}、{track}、"
        f"修了日 {wareki(day)}（発行記録と一致しました）",
        issued,
    )


# ---------------------------------------------------------------- PDF

_GREEN = "#1b5e20"


def render_pdf(certificate: Certificate, *, settings: CertificateSettings, course_title: str) -> bytes:
    """One A4 landscape page, Japanese text in the embedded IPAexGothic font: number, name, course, dates, the issuer
    with a box left blank for the 公印, and where to check it (the page's address, printed and as a QR code)."""
    staff = certificate.staff
    course_name = settings.course_name_for(track_key=certificate.track_key, track_name=certificate.track_name)
    link = settings.verify_link(certificate.code)
    with plt.rc_context({"pdf.fonttype": 42, "font.family": "IPAexGothic"}):
        figure = plt.figure(figsize=(11.69, 8.27))
        rectangle = matplotlib.patches.Rectangle
        figure.patches.append(
            rectangle((0.03, 0.04), 0.94, 0.92, transform=figure.transFigure, fill=False, linewidth=3, edgecolor=_GREEN)
        )
        text = figure.text
        text(0.92, 0.89, settings.number_text(certificate.number), ha="right", fontsize=14)
        text(0.5, 0.79, "修 了 証", ha="center", fontsize=44)
        text(0.5, 0.67, f"{staff.name}　殿", ha="center", fontsize=30)
        text(0.5, 0.61, f"{staff.department}　{staff.section}", ha="center", fontsize=16)
        text(
            0.5, 0.50,
            f"あなたは{course_title}による\n{course_name}の全課程を修了したことを証します。",
            ha="center", va="center", fontsize=18, linespacing=1.8,
        )  # fmt: skip
        text(0.5, 0.38, f"修了日　{wareki(certificate.completed_on)}", ha="center", fontsize=16)
        text(0.5, 0.32, f"発行日　{wareki(certificate.issued_on)}", ha="center", fontsize=16)
        text(0.80, 0.20, settings.issuer, ha="right", va="center", fontsize=20)
        # The 公印 is stamped by hand: a light dashed box keeps its place clear.
        seal = SEAL_BOX
        figure.patches.append(
            rectangle(seal[:2], seal[2] - seal[0], seal[3] - seal[1], transform=figure.transFigure, fill=False,
                      linewidth=0.8, linestyle=(0, (4, 3)), edgecolor="#b0b0b0")
        )  # fmt: skip
        text((seal[0] + seal[2]) / 2, seal[1] + 0.01, "公印", ha="center", fontsize=7, color="#b0b0b0")
        qr = segno.make(link, error="m")
        axes = figure.add_axes(QR_BOX)
        axes.imshow(
            [list(row) for row in qr.matrix_iter(border=4)], cmap="gray_r", interpolation="none", vmin=0, vmax=1
        )
        axes.set_axis_off()
        text(0.185, 0.155, "この修了証が本物かどうかは、次のページで確かめられます（QR コードでも開けます）:",
             fontsize=9)  # fmt: skip
        text(0.185, 0.125, settings.verify_url, fontsize=10)
        text(0.185, 0.09, f"検証コード: {certificate.code}", fontsize=10)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="pdf", metadata={"Title": f"修了証 {staff.name}", "Creator": course_title})
        plt.close(figure)
    return buffer.getvalue()


# Where the QR code and the seal box sit on the page, as fractions of its width and height (left, bottom, …).
QR_BOX = (0.05, 0.07, 0.10, 0.10 * 11.69 / 8.27)  # left, bottom, width, height: a square on A4 landscape
SEAL_BOX = (0.82, 0.12, 0.92, 0.26)  # left, bottom, right, top


def certificate_dir(course: Course) -> Path:
    return course.export_dir / "修了証"


def certificate_pdf(*, course: Course, curriculum: Curriculum, certificate: Certificate) -> bytes:
    """The PDF of one issued certificate, as the city's settings say to print it."""
    return render_pdf(certificate, settings=course_settings(course), course_title=curriculum.title)


def write_certificates(
    *, course: Course, curriculum: Curriculum, completions: Sequence[StaffCompletion] | None = None
) -> list[Path]:
    """Issue and write every certificate as <職員番号>_<track>.pdf; each file is written atomically."""
    settings = course_settings(course)  # a mistake in the settings stops everything before anything is issued
    if completions is None:
        completions = completion_records(course=course, curriculum=curriculum)
    secret = load_secret(course, create=True)
    certificates = issue(course=course, curriculum=curriculum, completions=completions, secret=secret)
    folder = certificate_dir(course)
    paths = []
    for certificate in certificates:
        data = render_pdf(certificate, settings=settings, course_title=curriculum.title)
        path = folder / f"{certificate.staff.staff_id}_{certificate.track_key}.pdf"
        with atomic_open(path) as handle:
            handle.write(data)
        paths.append(path)
    return paths
