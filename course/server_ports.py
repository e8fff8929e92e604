"""Ports for the staff's JupyterLab servers on one hub host, each handed to one server only.

JupyterHub's local spawners pick a port with ``random_port()``: bind port 0, read the number, close the socket. The
port is free again until the server binds it a second or two later, so when many staff log in at once (a morning at
8:30, a load test of 50) two servers can be given the same port. The second then fails to start, but the hub's
readiness check accepts the first server's 404 for its address and marks it ready: that person's fetch and submit
reach someone else's server and fail. ``deploy/jupyterhub_config.py`` asks :class:`ServerPorts` for the port instead,
which remembers the ports it handed out until the server stops.
"""

from __future__ import annotations

import socket
from collections.abc import Callable


def unused_port() -> int:
    """A TCP port nothing on this host is bound to right now (the OS chooses it)."""
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


class ServerPorts:
    """The ports this hub has given its users' servers: a new one is never one still held by another server."""

    def __init__(self, *, pick: Callable[[], int] = unused_port, attempts: int = 1000) -> None:
        self._pick, self._attempts = pick, attempts
        self._held: dict[str, int] = {}

    def reserve(self, *, server: str) -> int:
        """A port for ``server`` (a user's name, or name/server name); its previous port, if any, is given back."""
        self._held.pop(server, None)
        taken = set(self._held.values())
        for _ in range(self._attempts):
            port = self._pick()
            if port not in taken:
                self._held[server] = port
                return port
        # The hub's "could not start" page shows this, then says to start again and whom to call if it goes on.
        raise RuntimeError(
            f"混み合っていて、学習画面に使える空きポートが見つかりませんでした（起動中 {len(taken)} 台）。"
            "少し待ってから起動してください。"
        )

    def release(self, *, server: str) -> None:
        """The server stopped: its port may be given to another."""
        self._held.pop(server, None)

    def held(self) -> dict[str, int]:
        return dict(self._held)
