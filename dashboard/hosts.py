"""Answer only the dashboard's own host names (a guard against DNS rebinding).

The dashboard listens on loopback, but a web page the analyst opens can point its own domain at
127.0.0.1 (DNS rebinding) and then read the dashboard as "same origin". The browser still sends
that domain in the ``Host`` header, so every request whose Host is not one of ours is answered
``400`` before Flask or Dash see it: pages, assets, layout and callbacks alike.

Allowed: ``localhost``, ``127.0.0.1``, ``::1``, the bind address (unless it is a wildcard such as
``0.0.0.0``) and the names of ``SKYRISK_DASHBOARD_ALLOWED_HOSTS``; any port, case-insensitive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from skyrisk.settings import Settings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "*")
REFUSAL = (b"Bad Request: unknown host. This dashboard answers only its configured host names "
           b"(SKYRISK_DASHBOARD_ALLOWED_HOSTS).\n")


def allowed_hosts(settings: Settings) -> frozenset[str]:
    names = {*LOOPBACK_NAMES, *settings.dashboard_allowed_hosts.split(",")}
    if settings.dashboard_host not in WILDCARD_ADDRESSES:
        names.add(settings.dashboard_host)
    return frozenset(n for n in (_normal(name) for name in names) if n)


def host_name(header: str | None) -> str | None:
    """The name of a ``Host`` header (``[::1]:8050`` -> ``::1``), or None when it is no valid host."""
    if not header:
        return None
    header = header.strip()
    if header.startswith("["):  # IPv6 literal, maybe with a port
        name, bracket, rest = header[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
    else:
        name, colon, port = header.rpartition(":") if ":" in header else (header, "", "")
        if colon and not port.isdigit():
            return None
    if not name or any(c in name for c in "@/\\ \t?#"):
        return None
    return _normal(name)


def _normal(name: str) -> str:
    return name.strip().strip("[]").rstrip(".").lower()


class HostGuard:
    """WSGI middleware: requests whose Host is not allowed get a short 400, nothing else runs."""

    def __init__(self, app: Callable[..., Iterable[bytes]], allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(allowed)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if host_name(environ.get("HTTP_HOST")) in self.allowed:
            return self.app(environ, start_response)
        start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8"),
                                           ("Content-Length", str(len(REFUSAL)))])
        return [REFUSAL]
