"""JupyterHub for the 佐野市デジタル人材育成 e-ラーニング course.

Usage: ``jupyterhub -f deploy/jupyterhub_config.py`` with the SANO_HUB_* environment variables below
(``make hub`` sets them for a local trial; docs/hub.md describes a production set-up).

Who is who:

* staff (職員): log in with their 職員番号 (6 digits), which is also their nbgrader student id, so the
  gradebook, 修了状況一覧.xlsx and 修了証 join up with the roster. They get JupyterLab in Japanese with the course's
  研修 panel (labextension/) instead of nbgrader's screens (no Assignment List, formgrader, course list or
  create-assignment toolbar).
* instructors (講師・タスクフォース): listed in SANO_HUB_INSTRUCTORS (and the JupyterHub group ``instructors``).
  Their server starts in the course folder, with the formgrader, the course's own ``python -m course`` commands
  in a terminal and ``instructor/dashboard.ipynb``.

Authentication (SANO_HUB_AUTH):

* ``ldap`` (default, production): jupyterhub-ldapauthenticator against the city's LDAP / Active Directory
  (SANO_HUB_LDAP_* below), with the course's rules around it (course/hub_login.py): the typed 職員番号 is normalised
  first, and only current trainees on the course roster (or instructors) get in. Accounts stay in the directory.
* ``shared``: SharedPasswordAuthenticator, one password for all staff and a separate admin password (≥ 32
  characters) for the instructors. For trials (``make hub``) and tests only.
* ``dummy``: any password is accepted. Tests only, never on a network.

Spawner (SANO_HUB_SPAWNER):

* ``local`` (default, production): every user is a real OS account (LDAP/SSSD or useradd); nbgrader's exchange
  permissions then really keep one member of staff from listing another's submissions.
* ``simple``: all servers run as the hub's own OS user under SANO_HUB_STATE/home/<user>. Trials and tests only:
  there is no isolation between users.

The course's service ``kenshu`` (course/staff_portal.py, /services/kenshu/) runs beside the hub as the course folder's
owner: each member of staff's own records and 修了証, and the verification page printed on certificates (no login).

The nbgrader course id and exchange come from the course's own nbgrader_config.py (the same file the CLI and the
formgrader read); the exchange root follows COURSE_EXCHANGE_ROOT exactly as nbgrader_config.py does.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import ssl
import sys
from pathlib import Path
from typing import Any

from jupyterhub._data import DATA_FILES_PATH
from jupyterhub.auth import Authenticator, DummyAuthenticator
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator

from course.config import Course
from course.curriculum import CURRICULUM_FILE, load_curriculum
from course.hub_login import login_name
from course.server_ports import ServerPorts

c = get_config()  # noqa: F821  # provided by traitlets when JupyterHub loads this file

DEPLOY = Path(__file__).resolve().parent


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"SANO_HUB_{name}", default)


def _names(name: str) -> list[str]:
    return [n.strip() for n in _env(name).replace("\n", ",").split(",") if n.strip()]


def _dns(name: str) -> list[str]:
    """LDAP DNs, one per line or separated by ";" (a DN holds commas; RFC 4514 escapes a ";" in a value as "\\;")."""
    return [dn.strip() for dn in re.split(r"(?<!\\);|\n", _env(name)) if dn.strip()]


# --- where things are ---------------------------------------------------------------------------------------------
COURSE_ROOT = Path(os.environ.get("COURSE_ROOT", DEPLOY.parent)).resolve()
STATE = Path(_env("STATE", "/srv/sano-dx-hub")).resolve()  # hub database, secrets, generated per-user settings
PYTHON = Path(_env("PYTHON", sys.executable))  # the environment the users' servers run in (course installed)
MODE = _env("SPAWNER", "local")
AUTH = _env("AUTH", "ldap")
STATE.mkdir(parents=True, exist_ok=True)
STATE.chmod(0o711)  # users' servers may pass through to their generated settings, but not list the hub's files
(STATE / "jupyter").mkdir(exist_ok=True)
(STATE / "jupyter").chmod(0o755)
if not (STATE / "jupyterhub.sqlite").exists():  # the hub database holds token hashes: owner only
    (STATE / "jupyterhub.sqlite").touch(mode=0o600)

# The course's nbgrader settings: course id and exchange root, read from nbgrader_config.py as the CLI reads them.
_course = Course.load(COURSE_ROOT)
COURSE_ID = _course.course_id
EXCHANGE = _course.exchange_root
TIMEZONE = _course.timezone.key
TIMESTAMP_FORMAT = str(_course.config.Exchange.get("timestamp_format", "%Y-%m-%d %H:%M:%S.%f %Z"))  # nbgrader's default
INSTRUCTORS = set(_names("INSTRUCTORS"))
STAFF = set(_names("STAFF"))  # allowed staff for the `shared` and `dummy` authenticators; LDAP decides itself

# --- network --------------------------------------------------------------------------------------------------------
c.JupyterHub.bind_url = _env("BIND_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_bind_url = _env("HUB_BIND_URL", "http://127.0.0.1:8081")
c.ConfigurableHTTPProxy.api_url = _env("PROXY_API_URL", "http://127.0.0.1:8001")
_local_chp = DEPLOY / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [_env("PROXY", str(_local_chp) if _local_chp.exists() else "configurable-http-proxy")]
c.ConfigurableHTTPProxy.should_start = True
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True


# --- authentication -------------------------------------------------------------------------------------------------
def _typed_login(base: type[Authenticator]) -> type[Authenticator]:
    """``base`` taking the 職員番号 as people type it (「２０１００１」 is 201001), as CourseLDAPAuthenticator does."""

    async def authenticate(self: Authenticator, handler: object, data: dict[str, Any]) -> Any:
        data = {**data, "username": login_name(typed=str(data.get("username") or ""))}
        if issubclass(base, SharedPasswordAuthenticator) and not str(data.get("password") or "").isascii():
            # Its check (hmac.compare_digest on str) fails with a 500 for a password typed in full-width or kana;
            # no shared password can be such a password (it cannot match either), so it is a wrong password.
            return None
        return await base.authenticate(self, handler, data)

    # Same class name: the c.SharedPasswordAuthenticator / c.DummyAuthenticator settings (and the log) still apply.
    return type(base.__name__, (base,), {"authenticate": authenticate})


if AUTH == "ldap":
    # Production: the city's directory. Fill these in (docs/hub.md, 「本番の設定」). The course's subclass
    # normalises the typed 職員番号 before the lookup and admits only current trainees on the roster
    # (course/hub_login.py); the c.LDAPAuthenticator settings below apply to it as to its base class.
    c.JupyterHub.authenticator_class = "course.hub_login.CourseLDAPAuthenticator"
    c.CourseLDAPAuthenticator.course_root = str(COURSE_ROOT)
    c.CourseLDAPAuthenticator.roster_exempt = INSTRUCTORS | set(_names("ADMINS"))
    c.LDAPAuthenticator.server_address = _env("LDAP_SERVER", "ldap.example.lg.jp")
    c.LDAPAuthenticator.server_port = int(_env("LDAP_PORT", "636"))
    c.LDAPAuthenticator.tls_strategy = _env("LDAP_TLS", "on_connect")  # LDAPS; "before_bind" = StartTLS
    # ldap3 does not check the server's certificate unless told to: check it (chain and host name) against the
    # system's CAs, or against the city's own CA certificate (PEM) in SANO_HUB_LDAP_CA_FILE.
    c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.CERT_REQUIRED} | (
        {"ca_certs_file": ca_file} if (ca_file := _env("LDAP_CA_FILE")) else {}
    )
    c.LDAPAuthenticator.lookup_dn = True
    c.LDAPAuthenticator.lookup_dn_search_filter = _env("LDAP_FILTER", "({login_attr}={login})")
    c.LDAPAuthenticator.user_search_base = _env("LDAP_USER_BASE", "ou=職員,dc=city,dc=sano,dc=lg,dc=jp")
    c.LDAPAuthenticator.user_attribute = _env("LDAP_LOGIN_ATTR", "employeeID")  # the attribute holding 職員番号
    c.LDAPAuthenticator.lookup_dn_user_dn_attribute = _env("LDAP_NAME_ATTR", "cn")
    c.LDAPAuthenticator.lookup_dn_search_user = _env("LDAP_BIND_DN")
    c.LDAPAuthenticator.lookup_dn_search_password = _env("LDAP_BIND_PASSWORD")
    if groups := _dns("LDAP_ALLOWED_GROUPS"):
        c.LDAPAuthenticator.allowed_groups = groups
        # A group lists its members' DNs in `member` (Active Directory, OpenLDAP groupOfNames). ldapauthenticator's
        # default filter also names memberUid, which a directory without the NIS schema rejects outright.
        c.LDAPAuthenticator.group_search_filter = _env("LDAP_GROUP_FILTER", "(member={userdn})")
        c.LDAPAuthenticator.group_attributes = ["member"]
    else:
        c.Authenticator.allow_all = True  # everyone the directory accepts may use the course
elif AUTH == "shared":
    # Trial and tests: one password for staff, a separate long one (≥ 32 characters) for instructors.
    c.JupyterHub.authenticator_class = _typed_login(SharedPasswordAuthenticator)
    c.SharedPasswordAuthenticator.user_password = _env("SHARED_PASSWORD")
    c.SharedPasswordAuthenticator.admin_password = _env("ADMIN_PASSWORD")
    c.Authenticator.allowed_users = STAFF | INSTRUCTORS
elif AUTH == "dummy":
    c.JupyterHub.authenticator_class = _typed_login(DummyAuthenticator)
    c.Authenticator.allowed_users = STAFF | INSTRUCTORS
else:
    raise ValueError(f"SANO_HUB_AUTH={AUTH!r}: ldap, shared, dummy のどれかを指定してください。")
c.Authenticator.admin_users = set(_names("ADMINS")) or INSTRUCTORS
c.JupyterHub.load_groups = {
    "instructors": {"users": sorted(INSTRUCTORS)},
    "staff": {"users": sorted(STAFF)},
}

# --- the course's own service: each member of staff's records and 修了証, and the verification page -----------------
# course/staff_portal.py, at /services/kenshu/ (the 研修 panel reads /services/kenshu/api/me; HR prints the address
# /services/kenshu/verify on certificates, settings/certificate.toml). The hub starts and stops it. It runs as the OS
# user who owns the course folder (the gradebook and the certificate key are theirs; staff cannot read them), or as
# SANO_HUB_COURSE_USER; a hub that is not root cannot change user and runs it as itself.
KENSHU = "kenshu"


def _course_user() -> str | None:
    if os.getuid() != 0:
        return None
    owner = _env("COURSE_USER") or pwd.getpwuid(COURSE_ROOT.stat().st_uid).pw_name
    return None if owner == "root" else owner


_kenshu: dict[str, Any] = {
    "name": KENSHU,
    "url": _env("KENSHU_URL", "http://127.0.0.1:8082"),  # where it listens; the proxy sends /services/kenshu/ there
    "command": [str(PYTHON), "-m", "course.staff_portal"],
    "cwd": str(COURSE_ROOT),
    "environment": {
        "COURSE_ROOT": str(COURSE_ROOT),
        "COURSE_EXCHANGE_ROOT": str(EXCHANGE),
        "PATH": f"{PYTHON.parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONUTF8": "1",
        "TZ": TIMEZONE,
        **({"SANO_CERTIFICATE_KEY": key} if (key := os.environ.get("SANO_CERTIFICATE_KEY")) else {}),
    },
    "oauth_no_confirm": True,  # staff are not asked to approve their own course's service
    "display": False,  # reached from the 研修 panel; the hub's English service menu stays empty
}
if user := _course_user():
    _kenshu["user"] = user
c.JupyterHub.services = [_kenshu]
# Every hub user may open the service (it shows each person only their own records); its verification page needs no
# login at all.
c.JupyterHub.load_roles = [{"name": "user", "scopes": ["self", f"access:services!service={KENSHU}"]}]
# A promoter hands in their 部's 進捗報告 from a notebook (course/reports.py hand_in): the code posts it to the service
# with the server's own token ($JUPYTERHUB_API_TOKEN) to the address below, which the proxy also uses. The token gets
# the hub's default `server` role scopes plus access to kenshu, which the user holds through the role above (the hub
# gives a server token only the requested scopes its owner holds).
KENSHU_SERVICE_URL = f"{str(_kenshu['url']).rstrip('/')}/services/{KENSHU}/"
c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", f"access:services!service={KENSHU}"]

# A token for scripted set-up (tests, load tests, monitoring): only when one is given.
if token := _env("SERVICE_TOKEN"):
    c.JupyterHub.services.append({"name": "sano-dx-driver", "api_token": token})
    c.JupyterHub.load_roles.append(
        {
            "name": "sano-dx-driver",
            "scopes": ["admin:users", "admin:servers", "access:servers", "tokens", "list:users", "read:users"],
            "services": ["sano-dx-driver"],
        }
    )
# Tests of the 研修 panel alone: a stand-in for kenshu already listens at SANO_HUB_KENSHU_URL, and the hub only routes
# /services/kenshu/ there instead of starting the service.
if _env("KENSHU_EXTERNAL"):
    c.JupyterHub.services = [{"name": KENSHU, "url": _kenshu["url"]}, *c.JupyterHub.services[1:]]

# --- the hub's own pages, in Japanese (deploy/templates/) ------------------------------------------------------------
# The templates extend JupyterHub's own ("templates/login.html" is JupyterHub's login.html). <html lang="en"> is not a
# block of JupyterHub's page.html, so its frame is written here with lang="ja" once per start, from the installed
# JupyterHub (deploy/templates/page.html extends it).
JUPYTERHUB_TEMPLATES = Path(DATA_FILES_PATH) / "templates"
_frame = (JUPYTERHUB_TEMPLATES / "page.html").read_text(encoding="utf-8")
if '<html lang="en">' not in _frame:
    print('deploy/jupyterhub_config.py: JupyterHub の page.html に <html lang="en"> がありません', file=sys.stderr)
(STATE / "templates").mkdir(exist_ok=True)
(STATE / "templates" / "jupyterhub-page-ja.html").write_text(
    _frame.replace('<html lang="en">', '<html lang="ja">', 1), encoding="utf-8"
)
c.JupyterHub.template_paths = [str(DEPLOY / "templates"), str(STATE / "templates")]

# --- the users' servers ---------------------------------------------------------------------------------------------
c.Spawner.cmd = [str(PYTHON.parent / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = int(_env("START_TIMEOUT", "180"))
c.Spawner.http_timeout = int(_env("START_TIMEOUT", "180"))
# The 研修 panel reads the person's records from kenshu with the token JupyterLab holds for its own server (page config
# `token`): JupyterHub takes a cookie on a script's request only with an XSRF token of the service's own path, which a
# page of the person's server cannot read, so without this scope the panel's request would loop through the login.
# The token stays the person's: kenshu answers it with that person's records only.
c.Spawner.oauth_client_allowed_scopes = [f"access:services!service={KENSHU}"]
c.JupyterHub.concurrent_spawn_limit = int(_env("CONCURRENT_SPAWNS", "100"))
if MODE == "simple":
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "home" / "{username}")
    if os.getuid() == 0:
        c.Spawner.args = ["--allow-root"]
elif MODE == "local":
    c.JupyterHub.spawner_class = "localprocess"
else:
    raise ValueError(f"SANO_HUB_SPAWNER={MODE!r}: local か simple を指定してください。")

# What each group sees in JupyterLab. Staff: the course's own 研修 panel (labextension/), which fetches, validates and
# submits through nbgrader's server handlers (assignment_list, validate_assignment: kept on). nbgrader's own student
# screens are English and cannot be translated, so its Assignment List, its menu and the notebook's Validate button
# are off for staff, as are the instructors' formgrader, course list and create-assignment toolbar.
STAFF_OFF_SERVER = ["nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list"]
STAFF_OFF_LAB = [
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:menu",
    "@jupyter/nbgrader:validate-assignment",
]
# Instructors keep all of nbgrader's screens. The 研修 panel is for staff: an instructor's server runs in the course
# folder, where its 受け取る would put the student version of a module.
INSTRUCTORS_OFF_LAB = ["@sano-dx/kenshu:plugin"]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for folder in (path.parent, path.parent.parent):
        if folder.is_relative_to(STATE):
            folder.chmod(0o755)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)


def _lab_overrides() -> str:
    """deploy/lab-settings/overrides.json, and whom staff ask in the 研修 panel and 「はじめに」: the contacts of the
    course's settings/curriculum.toml, which the records page reads too (one owner for both screens)."""
    overrides = json.loads((DEPLOY / "lab-settings" / "overrides.json").read_text(encoding="utf-8"))
    contacts = load_curriculum(_course.settings_file(CURRICULUM_FILE)).contacts
    overrides["@sano-dx/kenshu:plugin"] = {"contact": contacts.learning, "recordsContact": contacts.records}
    return json.dumps(overrides, ensure_ascii=False, indent=2) + "\n"


def _write_group_settings() -> None:
    """Settings shared by a whole group, generated once at start-up (readable by every user, writable by none)."""
    common = STATE / "jupyter" / "common"
    lab_settings = common / "lab-settings"
    # Japanese UI for everyone (language pack from PyPI); their own choice in 設定 › 言語 still wins.
    _write(lab_settings / "overrides.json", _lab_overrides())
    _write(
        common / "nbgrader_config.py",
        "# Generated by deploy/jupyterhub_config.py from the course's nbgrader_config.py. Do not edit.\n"
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.Exchange.root = {str(EXCHANGE)!r}\n"
        f"c.Exchange.timezone = {TIMEZONE!r}\n"
        f"c.Exchange.timestamp_format = {TIMESTAMP_FORMAT!r}\n"
        f"c.NbGraderAPI.timezone = {TIMEZONE!r}\n",
    )
    # The terminal: JupyterLab starts a login shell by default, and /etc/profile then resets PATH, so `python` and
    # `sano-course` of the course's environment (the PATH set in pre_spawn_hook) are "command not found". An
    # interactive, non-login bash keeps the server's PATH (and still reads /etc/bash.bashrc and ~/.bashrc).
    shell = [shutil.which("bash") or "/bin/sh"]
    server = {
        "LabApp": {"app_settings_dir": str(lab_settings)},
        "ServerApp": {"terminado_settings": {"shell_command": shell}},
    }
    _write(common / "jupyter_server_config.json", json.dumps(server, indent=1))
    staff = STATE / "jupyter" / "staff"
    _write(
        staff / "jupyter_server_config.json",
        json.dumps({"ServerApp": {"jpserver_extensions": dict.fromkeys(STAFF_OFF_SERVER, False)}}, indent=1),
    )
    _write(
        staff / "labconfig" / "page_config.json",
        json.dumps({"disabledExtensions": dict.fromkeys(STAFF_OFF_LAB, True)}, indent=1),
    )
    instructors = STATE / "jupyter" / "instructors"
    # JupyterLab shows the formgrader in a frame of the same server, which JupyterHub's default header
    # (frame-ancestors 'none') forbids: instructors' servers allow frames from their own origin only.
    _write(
        instructors / "jupyter_server_config.json",
        json.dumps(
            {"ServerApp": {"tornado_settings": {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}}},
            indent=1,
        ),
    )
    # The instructors' nbgrader settings are the course's own file, unchanged.
    _write(
        instructors / "nbgrader_config.py",
        f"c = get_config()  # noqa: F821\nload_subconfig({str(COURSE_ROOT / 'nbgrader_config.py')!r})  # noqa: F821\n",
    )
    _write(
        instructors / "labconfig" / "page_config.json",
        json.dumps({"disabledExtensions": dict.fromkeys(INSTRUCTORS_OFF_LAB, True)}, indent=1),
    )


_write_group_settings()


def is_instructor(user: object) -> bool:
    groups = {g.name for g in getattr(user, "groups", [])}
    return getattr(user, "name", "") in INSTRUCTORS or "instructors" in groups


def pre_spawn_hook(spawner: object) -> None:
    """Per user: group settings, the nbgrader student id (= 職員番号) and the course's environment."""
    user = spawner.user  # type: ignore[attr-defined]
    group = "instructors" if is_instructor(user) else "staff"
    own = STATE / "jupyter" / "users" / user.name
    # nbgrader files submissions under the student id; as one OS user (simple mode) it would be the hub's user.
    _write(
        own / "nbgrader_config.py",
        "c = get_config()  # noqa: F821\n"
        + ("" if group == "instructors" else f"c.CourseDirectory.student_id = {user.name!r}\n"),
    )
    config_path = [own, STATE / "jupyter" / group, STATE / "jupyter" / "common"]
    bin_dir = PYTHON.parent
    spawner.environment.update(  # type: ignore[attr-defined]
        {
            "JUPYTER_CONFIG_PATH": os.pathsep.join(map(str, config_path)),
            "COURSE_EXCHANGE_ROOT": str(EXCHANGE),
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",  # nbgrader runs `alembic` from PATH
            "LANG": "C.UTF-8",
            "PYTHONUTF8": "1",
            "TZ": TIMEZONE,
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "COURSE_SERVICE_URL": KENSHU_SERVICE_URL,  # reports.SERVICE_URL_ENV
        }
    )
    if group == "instructors":
        spawner.environment["COURSE_ROOT"] = str(COURSE_ROOT)  # type: ignore[attr-defined]
        spawner.notebook_dir = str(COURSE_ROOT)  # type: ignore[attr-defined]  # formgrader needs the course inside
    if MODE == "simple":
        Path(spawner.home_dir).mkdir(parents=True, exist_ok=True)  # type: ignore[attr-defined]
    # JupyterHub's own random port can go to two servers that start in the same second (course/server_ports.py).
    spawner.port = SERVER_PORTS.reserve(server=_server_key(spawner))  # type: ignore[attr-defined]


def post_stop_hook(spawner: object) -> None:
    SERVER_PORTS.release(server=_server_key(spawner))


def _server_key(spawner: object) -> str:
    return f"{spawner.user.name}/{spawner.name}"  # type: ignore[attr-defined]


SERVER_PORTS = ServerPorts()
c.Spawner.pre_spawn_hook = pre_spawn_hook
c.Spawner.post_stop_hook = post_stop_hook
