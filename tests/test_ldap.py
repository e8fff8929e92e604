"""The hub's LDAP login (course/hub_login.py, wired in deploy/jupyterhub_config.py) against a real OpenLDAP server.

The tests marked ``hub`` start Debian's slapd (``make test`` installs it, unconfigured) on a free port of 127.0.0.1,
with its own slapd.conf, schema and database in a temporary folder: /etc/ldap and any system slapd are never used.
The fictional directory is a small city directory: ``ou=職員`` with people whose ``employeeID`` (as in Active Directory)
holds their 職員番号, a search account in ``ou=システム`` and the course's group in ``ou=グループ``. The authenticator is
built from the real deploy/jupyterhub_config.py, and the last test logs in through a real JupyterHub's login form.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import hashlib
import ipaddress
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from tornado import web
from traitlets.config.loader import PyFileConfigLoader
from traitlets.utils.importstring import import_item

from course import hub_login
from course.config import Course
from course.models import Staff
from course.roster import import_roster
from tests.conftest import REPO, write_csv
from tests.hub_support import deadline

sys.path.insert(0, str(REPO / "deploy"))
import hubctl  # deploy/ is a folder of scripts, not a package

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
BASE = "dc=city,dc=sano,dc=lg,dc=jp"
PEOPLE = f"ou=職員,{BASE}"
SEARCH_DN, SEARCH_PASSWORD = f"cn=jupyterhub,ou=システム,{BASE}", "search-" + secrets.token_hex(8)
COURSE_GROUP = f"cn=dx研修,ou=グループ,{BASE}"


@dataclass(frozen=True)
class Person:
    staff_no: str
    name: str
    in_group: bool
    roster: str  # "current", "left" (was on the roster, no longer) or "absent"

    @property
    def password(self) -> str:
        return f"Sano-{self.staff_no}-pw"


# Fictional staff. 201001 is the ordinary case; each of the others differs from it in one way.
HANAKO = Person("201001", "佐野 花子", in_group=True, roster="current")
ICHIRO = Person("201002", "田沼 一郎", in_group=False, roster="current")  # not in the course's group
JIRO = Person("201003", "葛生 次郎", in_group=True, roster="absent")  # in the directory, not on the roster
MINA = Person("201004", "赤見 三奈", in_group=True, roster="left")  # dropped from the roster by a later import
SENSEI = Person("209999", "吾妻 講師", in_group=True, roster="absent")  # an instructor: needs no roster entry
STAFF = (HANAKO, ICHIRO, JIRO, MINA, SENSEI)

# employeeID as Active Directory defines it (its OID), with a matching rule so that OpenLDAP can search on it; the
# auxiliary class uses OpenLDAP's experimental OID arc.
SCHEMA = """\
attributetype ( 1.2.840.113556.1.4.35 NAME 'employeeID'
	EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{16} SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.1 NAME 'sanoStaff' AUXILIARY MAY employeeID )
"""


def ssha(password: str) -> str:
    """userPassword as slappasswd writes it ({SSHA}: salted SHA-1), so slapd checks a hash, not plain text."""
    salt = secrets.token_bytes(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def ldif(entries: list[dict[str, list[str]]]) -> str:
    """LDIF (RFC 2849): values that are not plain ASCII are base64 (``attr:: …``), as the standard requires."""
    lines = []
    for entry in entries:
        for attr, values in entry.items():
            for value in values:
                if value.isascii() and not value.startswith((" ", ":", "<")):
                    lines.append(f"{attr}: {value}")
                else:
                    lines.append(f"{attr}:: {base64.b64encode(value.encode()).decode()}")
        lines.append("")
    return "\n".join(lines)


def directory_entries() -> list[dict[str, list[str]]]:
    entries: list[dict[str, list[str]]] = [
        {"dn": [BASE], "objectClass": ["dcObject", "organization"], "dc": ["city"], "o": ["佐野市"]},
        *(
            {"dn": [f"ou={ou},{BASE}"], "objectClass": ["organizationalUnit"], "ou": [ou]}
            for ou in ("職員", "システム", "グループ")
        ),
        {
            "dn": [SEARCH_DN],
            "objectClass": ["organizationalRole", "simpleSecurityObject"],
            "cn": ["jupyterhub"],
            "userPassword": [ssha(SEARCH_PASSWORD)],
        },
    ]
    for person in STAFF:
        entries.append(
            {
                "dn": [f"cn={person.name},{PEOPLE}"],
                "objectClass": ["inetOrgPerson", "sanoStaff"],
                "cn": [person.name],
                "sn": [person.name.split()[0]],
                "employeeID": [person.staff_no],
                "userPassword": [ssha(person.password)],
            }
        )
    members = [f"cn={p.name},{PEOPLE}" for p in STAFF if p.in_group]
    entries.append({"dn": [COURSE_GROUP], "objectClass": ["groupOfNames"], "cn": ["dx研修"], "member": members})
    return entries


def make_certificates(folder: Path) -> None:
    """A throwaway CA (ca.pem) and a certificate for 127.0.0.1 signed by it (server.pem, server.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "佐野市 テスト用認証局")])
    usage = dict.fromkeys(("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                           "encipher_only", "decipher_only"), False)  # fmt: skip

    def certificate(subject: x509.Name, public: Any, extensions: list[tuple[Any, bool]]) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(ca_key, hashes.SHA256())

    ca = certificate(ca_name, ca_key.public_key(), [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **usage), True),
    ])  # fmt: skip
    server = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), key.public_key(), [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
    ])  # fmt: skip
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))  # fmt: skip
    (folder / "server.key").chmod(0o600)


def slapd_conf(folder: Path) -> str:
    """A whole server in one file: schema, TLS, one MDB database, and who may read what."""
    return f"""\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include {folder / "sano.schema"}
pidfile {folder / "slapd.pid"}
argsfile {folder / "slapd.args"}
TLSCACertificateFile {folder / "ca.pem"}
TLSCertificateFile {folder / "server.pem"}
TLSCertificateKeyFile {folder / "server.key"}
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "{BASE}"
rootdn "cn=admin,{BASE}"
directory {folder / "db"}
maxsize 16777216
index objectClass,employeeID eq
# Passwords: only binding checks them. Everything else: the search account and logged-in people may read,
# anonymous clients see nothing (so the hub must use its search account).
access to attrs=userPassword
	by anonymous auth
	by * none
access to *
	by dn.exact="{SEARCH_DN}" read
	by users read
	by * none
"""


@dataclass
class Slapd:
    """A throwaway OpenLDAP server on 127.0.0.1 (its own config, certificate and database in ``folder``):
    plain LDAP (and StartTLS) on ``port``, LDAPS on ``tls_port``."""

    folder: Path
    port: int
    tls_port: int
    process: subprocess.Popen[bytes]
    seconds_to_start: float = 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        return (self.folder / "slapd.log").read_text(encoding="utf-8", errors="replace")[-3000:]


def start_slapd(folder: Path, timeout: float = 15) -> Slapd:
    """Write the config and the fictional directory, load it with slapadd, start slapd in the foreground."""
    assert SLAPD.exists(), "slapd がありません: make test（root）が apt-get install slapd を行います（make slapd）"
    started = time.monotonic()
    (folder / "db").mkdir(parents=True)
    (folder / "sano.schema").write_text(SCHEMA, encoding="utf-8")
    make_certificates(folder)
    conf = folder / "slapd.conf"
    conf.write_text(slapd_conf(folder), encoding="utf-8")
    (folder / "directory.ldif").write_text(ldif(directory_entries()), encoding="utf-8")
    loaded = subprocess.run([str(SLAPADD), "-f", str(conf), "-l", str(folder / "directory.ldif")],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    for _ in range(3):  # a free port can be taken by someone else before slapd binds it: try another
        port, tls_port = hubctl.free_port(), hubctl.free_port()
        urls = f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
        with (folder / "slapd.log").open("ab") as log:
            # -d 0: stay in the foreground (no fork, so this process owns it and stops it) and log little.
            process = subprocess.Popen([str(SLAPD), "-f", str(conf), "-h", urls, "-d", "0"],
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        server = Slapd(folder, port, tls_port, process)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=1),
                socket.create_connection(("127.0.0.1", tls_port), timeout=1),
            ):
                server.seconds_to_start = round(time.monotonic() - started, 2)
                return server
            time.sleep(0.02)
        server.stop()
    raise RuntimeError(f"slapd が起動しませんでした:\n{server.log()}")


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with deadline(0, "slapd のテスト"):
        yield from _slapd(tmp_path_factory)


def _slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"))
    print(
        f"\nslapd: 127.0.0.1:{server.port}/{server.tls_port}, 証明書・設定・読み込み・起動まで {server.seconds_to_start} 秒"
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def course_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course folder whose gradebook holds the roster: imported twice, so MINA is on it but no longer current."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "settings", root / "settings")  # the roster import's column mapping
    course = Course.load(root)

    def roster_csv(people: list[Person]) -> Path:
        rows = [(p.staff_no, p.name.replace(" ", "　"), "", "総務部", "人事課", "主事", "") for p in people]
        return write_csv(root / "roster.csv", rows)

    import_roster(course=course, path=roster_csv([p for p in STAFF if p.roster in {"current", "left"}]))
    import_roster(course=course, path=roster_csv([p for p in STAFF if p.roster == "current"]))
    return root


def ldap_env(server: Slapd | None, *, groups: bool, port: int | None = None, tls: str = "insecure") -> dict[str, str]:
    """The SANO_HUB_LDAP_* settings of docs/hub.md for the test directory: plain LDAP unless ``tls`` is
    "on_connect" (LDAPS, as in production) or "before_bind" (StartTLS), both with the test CA."""
    if port is None and server is not None:
        port = server.tls_port if tls == "on_connect" else server.port
    env = {
        "SANO_HUB_AUTH": "ldap",
        "SANO_HUB_LDAP_SERVER": "127.0.0.1",
        "SANO_HUB_LDAP_PORT": str(port or 389),
        "SANO_HUB_LDAP_TLS": tls,
        "SANO_HUB_LDAP_BIND_DN": SEARCH_DN,
        "SANO_HUB_LDAP_BIND_PASSWORD": SEARCH_PASSWORD,
        "SANO_HUB_INSTRUCTORS": SENSEI.staff_no,
    }
    if groups:
        env["SANO_HUB_LDAP_ALLOWED_GROUPS"] = COURSE_GROUP
    if tls != "insecure" and server is not None:
        env["SANO_HUB_LDAP_CA_FILE"] = str(server.folder / "ca.pem")
    return env


def hub_authenticator(env: Mapping[str, str], *, course_root: Path, state: Path) -> Any:
    """The authenticator exactly as deploy/jupyterhub_config.py configures it for ``env``."""
    saved = dict(os.environ)
    os.environ.update(env, COURSE_ROOT=str(course_root), SANO_HUB_STATE=str(state))
    try:
        config = PyFileConfigLoader("jupyterhub_config.py", path=str(REPO / "deploy")).load_config()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return import_item(config.JupyterHub.authenticator_class)(config=config)


def login(authenticator: Any, username: str, password: str) -> dict[str, Any] | None:
    """What JupyterHub's login form does with a username and password (the outer API, as the hub calls it)."""
    return asyncio.run(authenticator.get_authenticated_user(None, {"username": username, "password": password}))


@pytest.fixture
def make_authenticator(course_root: Path, tmp_path: Path) -> Any:
    def make(server: Slapd | None, *, groups: bool = True, port: int | None = None, tls: str = "insecure") -> Any:
        env = ldap_env(server, groups=groups, port=port, tls=tls)
        return hub_authenticator(env, course_root=course_root, state=tmp_path)

    return make


# --- the pure parts ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("typed", ["201001", "２０１００１", "201 001", "２０１　００１", " 201001\t"])
def test_a_typed_staff_id_becomes_the_directorys(typed):
    assert hub_login.login_name(typed=typed) == "201001"


def test_roster_decides_who_is_a_current_trainee():
    person = Staff("201001", "佐野 花子", "", "総務部", "人事課", "主事", "一般職", promoter=False)
    left = Staff("201004", "赤見 三奈", "", "総務部", "人事課", "主事", "一般職", promoter=False, current=False)
    assert hub_login.roster_refusal(staff_no="201001", roster=[person, left]) is None
    assert hub_login.roster_refusal(staff_no="201004", roster=[person, left]) == hub_login.LEFT_ROSTER
    assert hub_login.roster_refusal(staff_no="201003", roster=[person, left]) == hub_login.NOT_ON_ROSTER
    assert hub_login.roster_refusal(staff_no="201001", roster=[]) == hub_login.NOT_ON_ROSTER
    for message in (hub_login.NOT_ON_ROSTER, hub_login.LEFT_ROSTER):
        assert "人事課に連絡してください" in message  # says what to do


def test_a_staff_id_is_a_valid_login_name():
    """ldapauthenticator's own default (^[a-z]…) refuses every 職員番号 that starts with a digit; the course's does not."""
    from ldapauthenticator import LDAPAuthenticator

    assert not re.match(LDAPAuthenticator().valid_username_regex, "201001")
    pattern = hub_login.CourseLDAPAuthenticator().valid_username_regex
    assert all(re.match(pattern, name) for name in ("201001", "a00123"))
    assert not any(re.match(pattern, name) for name in ("201 001", "x)(cn=*", "", "山田"))


def test_the_hub_config_uses_the_course_authenticator(make_authenticator, course_root: Path, tmp_path: Path):
    authenticator = make_authenticator(None)
    assert type(authenticator) is hub_login.CourseLDAPAuthenticator
    assert authenticator.course_root == str(course_root.resolve())
    assert authenticator.roster_exempt == {SENSEI.staff_no}
    assert authenticator.allowed_groups == [COURSE_GROUP]  # one DN, commas and all
    assert (authenticator.user_attribute, authenticator.user_search_base) == ("employeeID", PEOPLE)
    assert authenticator.lookup_dn and authenticator.lookup_dn_search_user == SEARCH_DN
    assert not make_authenticator(None, groups=False).allowed_groups
    two = f"{COURSE_GROUP};cn=講師\\;臨時,ou=グループ,{BASE}\n"  # ";" between DNs, "\;" inside one
    env = {**ldap_env(None, groups=False), "SANO_HUB_LDAP_ALLOWED_GROUPS": two}
    groups = hub_authenticator(env, course_root=course_root, state=tmp_path).allowed_groups
    assert groups == [COURSE_GROUP, f"cn=講師\\;臨時,ou=グループ,{BASE}"]


# --- against slapd --------------------------------------------------------------------------------------------------
@pytest.mark.hub
def test_staff_id_and_password_log_in_as_the_staff_id(slapd: Slapd, make_authenticator):
    user = login(make_authenticator(slapd), HANAKO.staff_no, HANAKO.password)
    assert user is not None and user["name"] == "201001"
    assert user["auth_state"]["ldap_groups"] == [COURSE_GROUP]


@pytest.mark.hub
@pytest.mark.parametrize("typed", ["２０１００１", "201 001", "２０１　００１", " ２０１００１ "])
def test_full_width_or_spaced_staff_id_logs_in(slapd: Slapd, make_authenticator, typed: str):
    """Normalised before the directory lookup; the JupyterHub user (= nbgrader student id) is the plain 職員番号."""
    user = login(make_authenticator(slapd), typed, HANAKO.password)
    assert user is not None and user["name"] == "201001"


@pytest.mark.hub
def test_only_the_course_group_may_log_in(slapd: Slapd, make_authenticator):
    """With SANO_HUB_LDAP_ALLOWED_GROUPS someone outside the group is refused, with the right password and on the
    roster; without it the directory's whole staff may log in."""
    assert login(make_authenticator(slapd, groups=True), ICHIRO.staff_no, ICHIRO.password) is None
    user = login(make_authenticator(slapd, groups=False), ICHIRO.staff_no, ICHIRO.password)
    assert user is not None and user["name"] == ICHIRO.staff_no


@pytest.mark.hub
@pytest.mark.parametrize(
    ("who", "password"),
    [
        ("201001", "wrong"),  # wrong password
        ("201001", ICHIRO.password),  # someone else's password
        ("201001", " "),  # blank
        ("201003", "wrong"),  # not on the roster either: the roster is not revealed without the password
        ("209998", "wrong"),  # nobody in the directory
        ("201001)(cn=*", HANAKO.password),  # filter injection: not a 職員番号
    ],
    ids=["wrong", "someone-elses", "blank", "off-roster-wrong", "not-in-directory", "injection"],
)
def test_a_wrong_password_is_refused(slapd: Slapd, make_authenticator, who: str, password: str):
    assert login(make_authenticator(slapd), who, password) is None


@pytest.mark.hub
@pytest.mark.parametrize(
    ("person", "message"),
    [(JIRO, hub_login.NOT_ON_ROSTER), (MINA, hub_login.LEFT_ROSTER)],
    ids=["not-on-roster", "left-roster"],
)
def test_someone_off_the_roster_is_told_what_to_do(slapd: Slapd, make_authenticator, person: Person, message: str):
    """The directory accepts them (password and group), the roster does not: a 403 whose message JupyterHub shows on
    its login page, instead of "Invalid username or password"."""
    with pytest.raises(web.HTTPError) as refused:
        login(make_authenticator(slapd), person.staff_no, person.password)
    assert (refused.value.status_code, refused.value.log_message) == (403, message)


@pytest.mark.hub
def test_instructors_need_no_roster_entry(slapd: Slapd, make_authenticator):
    user = login(make_authenticator(slapd), SENSEI.staff_no, SENSEI.password)
    assert user is not None and user["name"] == SENSEI.staff_no


@pytest.mark.hub
def test_a_roster_import_takes_effect_at_the_next_login(slapd: Slapd, make_authenticator, tmp_path: Path):
    """The roster is read at every login: once HR's import adds someone, they get in, with no restart of the hub."""
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "settings", root / "settings")
    authenticator = make_authenticator(slapd)
    authenticator.course_root = str(root)
    with pytest.raises(web.HTTPError, match="まだ登録されていません"):  # no gradebook yet: nobody is on the roster
        login(authenticator, JIRO.staff_no, JIRO.password)
    row = (JIRO.staff_no, JIRO.name.replace(" ", "　"), "", "総務部", "人事課", "主事", "")
    import_roster(course=Course.load(root), path=write_csv(root / "roster.csv", [row]))
    user = login(authenticator, JIRO.staff_no, JIRO.password)
    assert user is not None and user["name"] == JIRO.staff_no


def assert_directory_unreachable(authenticator: Any) -> None:
    """Logging in answers a Japanese 503 that says the directory could not be reached."""
    with pytest.raises(web.HTTPError) as refused:
        login(authenticator, HANAKO.staff_no, HANAKO.password)
    assert (refused.value.status_code, refused.value.log_message) == (503, hub_login.DIRECTORY_UNREACHABLE)
    # ldap3 leaves the socket of a failed connect to the garbage collector (a ResourceWarning): collect it here.
    del refused
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_an_unreachable_directory_is_explained(make_authenticator):
    """No LDAP server at the address: a Japanese 503, not a stack trace."""
    assert_directory_unreachable(make_authenticator(None, port=hubctl.free_port()))


@pytest.mark.hub
@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("SANO_HUB_LDAP_BIND_PASSWORD", "expired", hub_login.DIRECTORY_FAILED),  # the hub's search account
        ("SANO_HUB_LDAP_LOGIN_ATTR", "staffNumber", hub_login.DIRECTORY_FAILED),  # not in the directory's schema
    ],
    ids=["search-password-expired", "unknown-attribute"],
)
def test_a_misconfigured_hub_says_so(slapd: Slapd, course_root: Path, tmp_path: Path, setting, value, message):
    """Not "Invalid username or password" (the person's password is right) and not a server error: a 503 that
    tells them to call 情報政策課, and the hub's log says what is wrong."""
    env = {**ldap_env(slapd, groups=True), setting: value}
    authenticator = hub_authenticator(env, course_root=course_root, state=tmp_path)
    with pytest.raises(web.HTTPError) as refused:
        login(authenticator, HANAKO.staff_no, HANAKO.password)
    assert (refused.value.status_code, refused.value.log_message) == (503, message)


@pytest.mark.hub
def test_an_unreadable_roster_says_so(slapd: Slapd, make_authenticator, tmp_path: Path):
    broken = tmp_path / "broken-course"
    (broken / "gradebook").mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", broken / "nbgrader_config.py")
    (broken / "gradebook" / "gradebook.db").write_bytes(b"not a database" * 100)
    authenticator = make_authenticator(slapd)
    authenticator.course_root = str(broken)
    with pytest.raises(web.HTTPError) as refused:
        login(authenticator, HANAKO.staff_no, HANAKO.password)
    assert (refused.value.status_code, refused.value.log_message) == (503, hub_login.ROSTER_UNREADABLE)


@pytest.mark.hub
@pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning")  # ldap3's host name check (Python 3.11)
@pytest.mark.parametrize("tls", ["on_connect", "before_bind"])
def test_tls_checks_the_directorys_certificate(slapd: Slapd, make_authenticator, tls: str):
    """LDAPS (the production default) and StartTLS log in with the city's CA (SANO_HUB_LDAP_CA_FILE); without it the
    test CA is unknown and the login stops before a password is sent (ldap3 alone would not check at all)."""
    user = login(make_authenticator(slapd, tls=tls), HANAKO.staff_no, HANAKO.password)
    assert user is not None and user["name"] == "201001"
    authenticator = make_authenticator(slapd, tls=tls)
    authenticator.tls_kwargs = {k: v for k, v in authenticator.tls_kwargs.items() if k != "ca_certs_file"}
    assert_directory_unreachable(authenticator)


@pytest.mark.hub
def test_the_hub_login_page(slapd: Slapd, course_root: Path, tmp_path: Path):
    """A real JupyterHub (deploy/jupyterhub_config.py, SANO_HUB_AUTH=ldap over LDAPS) and its login form, posted
    as a browser posts it."""
    exchange = tmp_path / "exchange"
    hub = hubctl.Hub(state=tmp_path / "state", course_root=course_root, exchange=exchange, auth="ldap",
                     instructors=[SENSEI.staff_no], extra_env=ldap_env(slapd, groups=True, tls="on_connect"))  # fmt: skip
    started = time.monotonic()
    try:
        with deadline(180, "LDAP のハブのテスト"):
            hub.start(timeout=90)
            seconds_to_start = time.monotonic() - started

            def post(username: str, password: str) -> requests.Response:
                with requests.Session() as browser:
                    form = browser.get(f"{hub.url}/hub/login", timeout=30)
                    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)
                    assert xsrf, form.text[:2000]
                    return browser.post(f"{hub.url}/hub/login", data={"_xsrf": xsrf[1], "username": username,
                                        "password": password}, allow_redirects=False, timeout=60)  # fmt: skip

            def login_error(response: requests.Response) -> str:
                # The page says <meta charset="utf-8">, and browsers go by it: the error page's Content-Type has no charset.
                page = response.content.decode("utf-8")
                assert '<meta charset="utf-8">' in page
                found = re.search(r'<p class="login_error">(.*?)</p>', page, re.S)
                return found[1].strip() if found else ""

            ok = post("２０１ ００１", HANAKO.password)
            assert ok.status_code == 302, (ok.status_code, login_error(ok), hub.log_tail())
            assert "jupyterhub-session-id" in ok.cookies or "jupyterhub-hub-login" in ok.cookies
            api = requests.get(f"{hub.url}/hub/api/users", headers={"Authorization": f"token {hub.token}"}, timeout=30)
            assert sorted(u["name"] for u in api.json()) == ["201001", SENSEI.staff_no], api.text  # + admin_users

            off_roster = post(JIRO.staff_no, JIRO.password)
            assert (off_roster.status_code, login_error(off_roster)) == (403, hub_login.NOT_ON_ROSTER)
            assert 'id="username_input"' in off_roster.text  # the login form again, with the message above it
            left = post(MINA.staff_no, MINA.password)
            assert (left.status_code, login_error(left)) == (403, hub_login.LEFT_ROSTER)

            for username, password in [(HANAKO.staff_no, "wrong"), (ICHIRO.staff_no, ICHIRO.password)]:
                refused = post(username, password)
                assert (refused.status_code, login_error(refused)) == (
                    403,
                    "職員番号またはパスワードが違います。もう一度入力してください。",
                )
            print(
                f"\nJupyterHub（LDAP）起動 {seconds_to_start:.1f} 秒、ログイン 5 回まで {time.monotonic() - started:.1f} 秒"
            )
    finally:
        hub.stop()
