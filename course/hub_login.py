"""The course's rules for logging in to its JupyterHub with the city's directory (LDAP / Active Directory).

``deploy/jupyterhub_config.py`` uses :class:`CourseLDAPAuthenticator` for ``SANO_HUB_AUTH=ldap``. It is
jupyterhub-ldapauthenticator with two of the course's rules around it:

* what a person types as their user name is normalised with ``course.staff_id.normalise`` (the course's one rule for a
  職員番号: full-width digits become half-width, spaces are dropped) before the directory is asked, so the JupyterHub
  user name, the nbgrader student id and the roster all hold the same 職員番号;
* the directory decides who a person is (password, group); the course roster (the gradebook's staff table, imported
  by ``python -m course roster import``) decides whether they are a current trainee. Someone the directory accepts but
  the roster does not know gets a Japanese message saying what to do, not "Invalid username or password".

Instructors listed in ``roster_exempt`` need not be on the roster. When the hub itself is at fault (the directory
unreachable or its certificate untrusted, the search account refused, the gradebook unreadable) people get a 503 in
Japanese that tells them to call 情報政策課, and the hub's log says why. The LDAP connections of a login are unbound
afterwards (ldapauthenticator leaves them open). Everything else (TLS, search account, groups) is ldapauthenticator's
own configuration, set in deploy/jupyterhub_config.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tornado import web
from traitlets import Set, Unicode

from course import staff_id
from course.config import Course
from course.models import Staff
from course.records import load_staff

with warnings.catch_warnings():
    # ldap3 2.9.1, the latest release, imports names that pyasn1 0.6 deprecated (tagMap, typeMap) when it loads.
    warnings.simplefilter("ignore", DeprecationWarning)
    from ldap3.core.exceptions import (
        LDAPCommunicationError,
        LDAPException,
        LDAPResponseTimeoutError,
        LDAPStartTLSError,
    )
    from ldapauthenticator import LDAPAuthenticator

NOT_ON_ROSTER = "研修の名簿にまだ登録されていません。所属の課から人事課に連絡してください。"
LEFT_ROSTER = (
    "研修の名簿で受講中になっていません（異動や退職などで名簿から外れています）。"
    "受講を続ける場合は、所属の課から人事課に連絡してください。"
)
ROSTER_UNREADABLE = (
    "研修の名簿を確認できませんでした。しばらくしてから、もう一度ログインしてください。"
    "続くときは情報政策課に連絡してください。"
)
DIRECTORY_UNREACHABLE = (
    "職員の認証サーバー（LDAP）につながりませんでした。しばらくしてから、もう一度ログインしてください。"
    "続くときは情報政策課に連絡してください。"
)
DIRECTORY_FAILED = "職員の認証サーバー（LDAP）での確認がうまくいきませんでした。情報政策課に連絡してください。"


# The LDAP connections opened during one login (ldapauthenticator never unbinds its own), per asyncio task.
_opened: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("sano_ldap_connections", default=None)


def login_name(*, typed: str) -> str:
    """The 職員番号 to look up in the directory, from what a person typed in the login form."""
    return staff_id.normalise(typed)


def roster_refusal(*, staff_no: str, roster: Iterable[Staff]) -> str | None:
    """Why ``staff_no`` may not use the course (a Japanese message for them), or None if they are a current trainee."""
    for person in roster:
        if person.staff_id == staff_no:
            return None if person.current else LEFT_ROSTER
    return NOT_ON_ROSTER


def load_roster(*, course_root: Path | None) -> list[Staff]:
    """Everyone on the course roster (current or not), from the gradebook of the course at ``course_root``."""
    return load_staff(course=Course.load(course_root))


class CourseLDAPAuthenticator(LDAPAuthenticator):
    """jupyterhub-ldapauthenticator with the 職員番号 normalised first and the course roster checked last."""

    course_root = Unicode(
        "", config=True, help="The course folder (nbgrader_config.py) whose gradebook holds the roster."
    )
    roster_exempt = Set(
        Unicode(), config=True, help="JupyterHub user names that need no roster entry (the instructors)."
    )
    # ldapauthenticator's default (^[a-z][.a-z0-9_-]*$) refuses a 職員番号 that starts with a digit.
    valid_username_regex = Unicode(
        f"^{staff_id.PATTERN}$", config=True, help="What a normalised login must look like (a 職員番号)."
    )

    async def authenticate(self, handler: object, data: dict[str, Any]) -> dict[str, Any] | None:
        """ldapauthenticator's bind and group search, for the normalised 職員番号."""
        data = {**data, "username": login_name(typed=str(data.get("username") or ""))}
        opened: list[Any] = []
        token = _opened.set(opened)
        # The log gets an error's text, not the error: its traceback would keep ldap3's socket open.
        try:
            result: dict[str, Any] | None = await super().authenticate(handler, data)
        except (LDAPCommunicationError, LDAPStartTLSError, LDAPResponseTimeoutError) as error:  # down, TLS refused
            self.log.error("LDAP server %s:%s unreachable: %s", self.server_address, self.server_port, repr(error))
            raise web.HTTPError(503, DIRECTORY_UNREACHABLE) from error
        except LDAPException as error:  # the server answered, but not as configured (a filter, an attribute): a 503
            self.log.error("LDAP server %s:%s: %s", self.server_address, self.server_port, repr(error))
            raise web.HTTPError(503, DIRECTORY_FAILED) from error
        finally:
            _opened.reset(token)
            for connection in opened:
                with contextlib.suppress(LDAPException, OSError):
                    connection.unbind()
        return result

    def get_connection(self, userdn: str | None, password: str | None) -> Any:
        """ldapauthenticator's bound connection, remembered so that ``authenticate`` closes it afterwards.

        If the hub's own search account cannot bind (its password expired or changed), nobody can log in: say so
        (503) instead of letting ldapauthenticator report every login as a wrong password.
        """
        connection = super().get_connection(userdn, password)
        if connection is None and self.lookup_dn and userdn and userdn == self.lookup_dn_search_user:
            self.log.error("The search account %s cannot bind: check SANO_HUB_LDAP_BIND_PASSWORD.", userdn)
            raise web.HTTPError(503, DIRECTORY_FAILED)
        if connection is not None and (opened := _opened.get()) is not None:
            opened.append(connection)
        return connection

    async def get_authenticated_user(self, handler: object, data: dict[str, Any]) -> dict[str, Any] | None:
        """JupyterHub's whole check (directory, groups, allow lists), then the roster for everyone not exempt."""
        user: dict[str, Any] | None = await super().get_authenticated_user(handler, data)
        if user is None or user["name"] in {self.normalize_username(name) for name in self.roster_exempt}:
            return user
        try:
            roster = await asyncio.to_thread(
                load_roster, course_root=Path(self.course_root) if self.course_root else None
            )
        except Exception as error:  # any failure to read it (config, SQLite, PostgreSQL, files): say so, log why
            self.log.error("Course roster unreadable (%s): %s", self.course_root, repr(error))
            raise web.HTTPError(503, ROSTER_UNREADABLE) from error
        if not roster:
            self.log.warning("The course roster is empty: import it with `python -m course roster import`.")
        if refusal := roster_refusal(staff_no=user["name"], roster=roster):
            self.log.warning("User %r is in the directory but not a current trainee on the roster.", user["name"])
            raise web.HTTPError(403, refusal)
        return user
