"""The course's JupyterHub service ``kenshu``: each member of staff's own records and 修了証, and a verification page.

Started by the hub (deploy/jupyterhub_config.py, ``python -m course.staff_portal``) as the OS user who owns the
course, so it reads the gradebook that staff cannot; the hub's OAuth says who is asking. The hub user name is the
職員番号, and every personal answer is about that person only: no address takes another person's id.

Under the service's prefix (``/services/kenshu/``):

- ``api/me`` (login): the person's record as JSON for the 研修 panel (course/personal_record.py), 404 with a Japanese
  ``message`` for someone not on the roster;
- ``""`` (login): the same as a page, 「わたしの受講記録」;
- ``certificates/<track>.pdf`` (login): the person's own 修了証 of a completed track, issued on first download as
  ``python -m course certificate`` issues it;
- ``verify`` and ``api/verify`` (no login): 有効 or 無効 for a code, with the name, course and completion date only
  (the page also names the issuer of settings/certificate.toml, and keeps an invalid code in its box);
- ``api/reports`` (login, POST): a 推進員's 進捗報告 handed in from their JupyterLab (course/reports.py ``hand_in``),
  the file as the multipart field ``file``; the sender is the logged-in hub user. 200 with the receipt
  (``Receipt.to_json``), 422 with ``{"problems": [...]}`` (Japanese, naming the file, row and column) when refused,
  and nothing recorded then; 403 for a service's token or no login. A request authenticated by the browser's cookie
  needs the hub's XSRF token (HubOAuth checks it); one with ``Authorization: token …`` does not.

Who is asking comes from ``hub_auth``, the application's one seam: the hub's ``HubOAuth`` in service, a stand-in
with the same interface in the tests (tests/test_staff_portal.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

from jupyterhub.services.auth import HubAuth, HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web
from tornado.httpserver import HTTPServer

from course import certificate, reports, staff_id
from course.completion import StaffCompletion, TrackStatus
from course.config import PACKAGE_DIR, Course, CourseError
from course.curriculum import CURRICULUM_FILE, Curriculum, load_curriculum
from course.personal_record import personal_record
from course.records import completion_record
from course.wareki import wareki, wareki_time

SERVICE_NAME = "kenshu"
TEMPLATES = PACKAGE_DIR / "templates" / "portal"
NOT_ON_ROSTER = (
    "このアカウント（{who}）は研修の名簿にありません。職員番号でログインしているか確かめ、"
    "それでも表示されないときは人事課（研修担当）に名簿への登録を依頼してください。"
)
NO_REPORT_FILE = "報告のファイルがありません。保存した進捗報告（.csv か .xlsx）を1つ、file という名前で送ってください。"
NO_CERTIFICATE = "この研修区分の修了証はまだありません。すべての必修モジュールを修了すると、ここから受け取れます。"
# Pages carry no script; styles are inline in the page. Nothing may frame them but the hub's own pages (the panel).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a verification address holds a code
}
log = logging.getLogger("course.staff_portal")
_RENDERING = threading.Lock()  # matplotlib's settings are global: one certificate is drawn at a time
MAX_REPORT_BYTES = 5 * 1024 * 1024  # a report is a few hundred rows at most


@dataclass(frozen=True)
class Portal:
    """What the service serves from: the course, and the address prefix the hub gives it."""

    course: Course
    prefix: str = f"/services/{SERVICE_NAME}/"
    # One report is received at a time: each numbers its new cases after the ones already stored.
    receiving: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def curriculum(self) -> Curriculum:
        """Read on each request, so that a changed settings/curriculum.toml needs no restart."""
        return load_curriculum(self.course.settings_file(CURRICULUM_FILE))

    def certificate_url(self, track_key: str) -> str:
        return f"{self.prefix}certificates/{quote(track_key)}.pdf"

    def record(self, staff: str, curriculum: Curriculum) -> StaffCompletion | None:
        """The person's records; None for someone the course does not know (an instructor, a stranger)."""
        return completion_record(course=self.course, curriculum=curriculum, staff_id=staff_id.normalise(staff))

    def record_json(self, completion: StaffCompletion, curriculum: Curriculum) -> dict[str, Any]:
        tracks = [curriculum.tracks[record.track_key] for record in completion.tracks]
        modules = {m for track in tracks for m in (*track.required, *track.electives)}
        minutes = {m: curriculum.modules[m].stated_minutes(self.course.source_dir) for m in modules}
        return personal_record(
            completion=completion,
            curriculum=curriculum,
            as_of=datetime.now(self.course.timezone),
            certificate_url=self.certificate_url,
            minutes=minutes,
        )

    def own_certificate(self, completion: StaffCompletion, track_key: str, curriculum: Curriculum) -> bytes | None:
        """The PDF of the person's own completed track, issued now if it never was; None if the track is not
        theirs or not complete."""
        record = next((t for t in completion.tracks if t.track_key == track_key), None)
        if record is None or record.status is not TrackStatus.COMPLETE:
            return None
        secret = certificate.load_secret(self.course, create=True)
        issued = certificate.issue(course=self.course, curriculum=curriculum, completions=[completion], secret=secret)
        mine = next(c for c in issued if c.track_key == track_key)
        with _RENDERING:
            return certificate.certificate_pdf(course=self.course, curriculum=curriculum, certificate=mine)

    def receive_report(self, *, sender: str, file_name: str, body: bytes) -> reports.Receipt:
        """Receive the report ``body`` (a file called ``file_name``) from the hub user ``sender``; ReportRefused
        says every problem, and then nothing was recorded."""
        name = PurePosixPath(file_name.replace("\\", "/")).name.strip()  # a browser may send C:\fakepath\…
        if not name or name in (".", ".."):
            raise reports.ReportRefused(
                "（名前のないファイル）", ["ファイル名がありません。保存した報告のファイルを出してください。"]
            )
        if len(body) > MAX_REPORT_BYTES:
            raise reports.ReportRefused(
                name, [f"ファイルが大きすぎます（{MAX_REPORT_BYTES // 1024 // 1024} MB まで）。"]
            )
        with tempfile.TemporaryDirectory(prefix="kenshu-report-") as folder, self.receiving:
            path = Path(folder) / name
            path.write_bytes(body)
            return reports.receive_report(
                course=self.course, staff_id=sender, path=path, at=datetime.now(self.course.timezone)
            )

    def verification(self, code: str, curriculum: Curriculum) -> dict[str, Any]:
        """{"valid": False}, or the name, course name, completion date and number of a certificate as issued."""
        try:
            found = certificate.verify(course=self.course, curriculum=curriculum, code=code)
        except CourseError as error:  # no key yet: nothing was ever issued, so no code is valid
            log.warning("修了証の確認: %s", error)
            return {"valid": False}
        issued = found.certificate
        if issued is None:
            return {"valid": False}
        settings = certificate.course_settings(self.course)
        return {
            "valid": True,
            "name": issued.staff.name,
            "track": settings.course_name_for(track_key=issued.track_key, track_name=issued.track_name),
            "completed_on": issued.completed_on.isoformat(),
            "number": issued.number,
        }


# ---------------------------------------------------------------------------------------------------------------------
class _Page(web.RequestHandler):
    """Japanese pages and errors, the security headers, and the portal."""

    def initialize(self, portal: Portal, hub_auth: HubAuth) -> None:
        self.portal = portal
        self.hub_auth = hub_auth

    def set_default_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(course_title=self.curriculum_title(), when=_when, percent=_percent)
        return namespace

    def curriculum_title(self) -> str:
        try:
            return self.portal.curriculum().title
        except CourseError:
            return Curriculum.title

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        title = {403: "このページは表示できません", 404: "ページが見つかりません"}.get(
            status_code, "エラーが起きました"
        )
        message = (
            "お手数ですが、時間をおいてもう一度開いてください。続くときは情報政策課にお知らせください。"
            if status_code >= 500
            else "アドレスを確かめてください。研修パネルや受講記録のページから開き直すと確実です。"
        )
        self.render("message.html", title=title, message=message)


class _StaffPage(HubOAuthenticated, _Page):
    """A page or API about the person logged in through the hub; never about anybody else."""

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")

    def who(self) -> str:
        """The hub user asking (never a parameter of the request); 403 for a service's token."""
        user = self.current_user
        if not user or user.get("kind", "user") != "user":  # a service's token is nobody's record
            raise web.HTTPError(403)
        return str(user["name"])

    def own_record(self) -> tuple[str, Curriculum, StaffCompletion | None]:
        """Who is asking, the curriculum, and their records (None: not on the roster)."""
        who = self.who()
        curriculum = self.portal.curriculum()
        return who, curriculum, self.portal.record(who, curriculum)


class RecordsPage(_StaffPage):
    @web.authenticated
    def get(self) -> None:
        who, curriculum, completion = self.own_record()
        if completion is None:
            self.set_status(404)
            self.render("message.html", title="わたしの受講記録", message=NOT_ON_ROSTER.format(who=who))
            return
        record = self.portal.record_json(completion, curriculum)
        self.render(
            "records.html",
            title="わたしの受講記録",
            contacts=curriculum.contacts,
            **{**record, "as_of": _when(record["as_of"])},
        )


class MeApi(_StaffPage):
    @web.authenticated
    def get(self) -> None:
        who, curriculum, completion = self.own_record()
        if completion is None:
            self.set_status(404)
            _finish_json(self, {"message": NOT_ON_ROSTER.format(who=who)})
            return
        _finish_json(self, self.portal.record_json(completion, curriculum))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        _finish_json(self, {"message": "受講記録を読み出せませんでした。時間をおいてもう一度試してください。"})


class ReportsApi(_StaffPage):
    """A 推進員's 進捗報告, handed in from their JupyterLab (multipart field ``file``)."""

    @web.authenticated
    async def post(self) -> None:
        sender = self.who()
        files = self.request.files.get("file", [])
        if len(files) != 1:
            self.set_status(422)
            _finish_json(self, {"problems": [NO_REPORT_FILE]})
            return
        upload = files[0]
        try:
            receipt = await asyncio.to_thread(
                self.portal.receive_report, sender=sender, file_name=upload.filename, body=upload.body
            )
        except reports.ReportRefused as refused:
            log.info(
                "進捗報告を受け付けませんでした（%s、%s）: %d 件の問題", sender, upload.filename, len(refused.problems)
            )
            self.set_status(422)
            _finish_json(self, {"problems": list(refused.problems), "message": str(refused)})
            return
        log.info("進捗報告を受け付けました（%s、受付番号 %d）", sender, receipt.report_id)
        _finish_json(self, receipt.to_json())

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = {
            403: "報告を出すには、研修の JupyterHub にログインした職員のアカウントで実行してください。",
        }.get(
            status_code,
            "報告を受け付ける処理でエラーが起きました。時間をおいてもう一度出し、続くときは情報政策課にお知らせください。",
        )
        _finish_json(self, {"message": message})


class CertificateDownload(_StaffPage):
    @web.authenticated
    async def get(self, track_key: str) -> None:
        _, curriculum, completion = self.own_record()
        pdf = None
        if completion is not None:  # rendering takes a moment: keep the service answering others meanwhile
            pdf = await asyncio.to_thread(self.portal.own_certificate, completion, track_key, curriculum)
        if pdf is None:
            self.set_status(404)
            self.render("message.html", title="修了証", message=NO_CERTIFICATE)
            return
        track = curriculum.tracks[track_key].name
        self.set_header("Content-Type", "application/pdf")
        self.set_header("Content-Disposition", f"inline; filename*=UTF-8''{quote(f'修了証_{track}.pdf')}")
        self.finish(pdf)


class VerifyPage(_Page):
    """No login: anyone on the intranet checks a code (typed, or from the certificate's QR code)."""

    def get(self) -> None:
        typed = self.get_argument("code", "").strip()
        result = None
        if typed:
            result = self.portal.verification(typed, self.portal.curriculum())
            if result["valid"]:
                result["completed_on_text"] = wareki(date.fromisoformat(result["completed_on"]))
                result["issuer"] = certificate.course_settings(self.portal.course).issuer
        # A valid code is not shown again (it holds the 職員番号): the page shows the result and nothing else of the
        # person. An invalid one stays in the box and is named, to be compared with the certificate letter by letter.
        shown = "" if result is not None and result["valid"] else typed
        self.set_header("Cache-Control", "no-store")
        self.render(
            "verify.html", title="修了証の確認", action=f"{self.portal.prefix}verify", typed=shown, result=result
        )


class VerifyApi(_Page):
    def get(self) -> None:
        _finish_json(self, self.portal.verification(self.get_argument("code", ""), self.portal.curriculum()))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        _finish_json(self, {"valid": False})


class OAuthCallback(HubOAuthCallbackHandler):
    """Where the hub sends a browser back after login: JupyterHub's own handler, with the application's hub_auth."""

    def initialize(self, hub_auth: HubAuth) -> None:
        self.hub_auth = hub_auth


class NotFound(_Page):
    def prepare(self) -> None:
        raise web.HTTPError(404)


def make_app(*, portal: Portal, hub_auth: HubAuth) -> web.Application:
    """The service's tornado application; ``hub_auth`` says who is asking (the hub's OAuth, or a test's stand-in)."""
    prefix = portal.prefix
    args = {"portal": portal, "hub_auth": hub_auth}
    return web.Application(
        [
            (prefix, RecordsPage, args),
            (f"{prefix}api/me", MeApi, args),
            (rf"{prefix}certificates/([a-z][a-z0-9_]*)\.pdf", CertificateDownload, args),
            (f"{prefix}verify", VerifyPage, args),
            (f"{prefix}api/verify", VerifyApi, args),
            (f"{prefix}api/reports", ReportsApi, args),
            (f"{prefix}oauth_callback", OAuthCallback, {"hub_auth": hub_auth}),
        ],
        template_path=str(TEMPLATES),
        cookie_secret=os.urandom(32),  # signs the login cookie; after a restart the hub's OAuth simply logs in again
        default_handler_class=NotFound,
        default_handler_args=args,
        # Tornado's own check stays off: HubOAuth checks the hub's XSRF token on a POST authenticated by the cookie
        # (api/reports) and lets one with an Authorization token through, as the hub's own API does.
        xsrf_cookies=False,
    )


# ---------------------------------------------------------------------------------------------------------------------
def _finish_json(handler: web.RequestHandler, data: dict[str, Any]) -> None:
    """JSON in UTF-8 as written (Japanese stays readable), not tornado's \\u escapes."""
    handler.set_header("Content-Type", "application/json; charset=UTF-8")
    handler.finish(json.dumps(data, ensure_ascii=False))


def _when(value: str | None, *, time: bool = True) -> str:
    """An ISO time of the record as a person reads it: 令和8年12月7日 20:15 (or the date alone); "—" for none."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value)
    return wareki_time(moment) if time else wareki(moment.date())


def _percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.0f} %"


async def serve(*, course: Course, environ: dict[str, str]) -> None:
    """Listen where the hub says (JUPYTERHUB_SERVICE_URL), under its prefix, until stopped."""
    prefix = environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{SERVICE_NAME}/")
    listen = urlsplit(environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8082"))
    app = make_app(portal=Portal(course=course, prefix=prefix), hub_auth=HubOAuth.instance())
    HTTPServer(app, xheaders=True).listen(listen.port or 80, listen.hostname or "127.0.0.1")
    log.info("受講記録と修了証の確認を %s で受け付けます（コース: %s）", prefix, course.root)
    await asyncio.Event().wait()


def main() -> None:
    """Run as the hub starts it, in the course's environment (COURSE_ROOT names the course)."""
    logging.basicConfig(level=logging.INFO, format="[kenshu %(asctime)s %(levelname)s] %(message)s")
    # The hub stops its services with SIGINT. A process started with SIGINT ignored (a hub run by nohup or as a
    # script's background job passes that on) would never stop: take it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(course=Course.load(), environ=dict(os.environ)))
    log.info("停止しました。")


if __name__ == "__main__":
    main()
