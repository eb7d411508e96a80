"""Doubles for exercising the producers without the internet: a clock that never sleeps and a
scripted HTTP server on 127.0.0.1. Used by the producers' tests and the chaos scenarios.

The server can also misbehave the way real APIs do: hold a request without answering (longer than
a client's timeout) and cut the connection in the middle of a body.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FakeClock:
    """Same interface as producers.core.Clock; sleeping advances the time instantly and is recorded."""

    def __init__(self, start: float = 1_763_719_200.0) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self._stopped = False

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sleeps.append(seconds)
            self.t += seconds

    def stop(self) -> None:
        self._stopped = True

    @property
    def stopped(self) -> bool:
        return self._stopped


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, bytes/str as is
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0  # hold the connection this long, then drop it unanswered (early when the server closes)
    cut_after: int | None = None  # announce the whole body, send only this many bytes, close


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]]
    at: float = 0.0  # wall time the request arrived
    status: int | None = None  # what it was answered with (None: never answered)
    reply_headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Seen], Reply]


class ScriptedServer:
    """A real HTTP server on 127.0.0.1 (free port) answering each path from a script of replies."""

    def __init__(self) -> None:
        self.script: dict[tuple[str, str], deque[Reply | Handler]] = {}
        self.fallback: dict[tuple[str, str], Reply | Handler] = {}
        self.seen: list[Seen] = []
        self.closing = threading.Event()
        self._lock = threading.Lock()
        server = self

        class RequestHandler(BaseHTTPRequestHandler):

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                request = Seen(method, parts.path, parse_qs(parts.query), dict(self.headers.items()), parse_qs(body),
                               at=time.time())
                with server._lock:
                    server.seen.append(request)
                    queue = server.script.get((method, parts.path))
                    reply: Reply | Handler | None = queue.popleft() if queue else server.fallback.get((method, parts.path))
                if reply is None:
                    reply = Reply(404, {"unscripted": parts.path})
                if callable(reply):
                    reply = reply(request)
                if reply.hang_s:
                    server.closing.wait(reply.hang_s)
                    self.close_connection = True
                    return
                payload = reply.body if isinstance(reply.body, bytes) else (
                    reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body).encode())
                request.status, request.reply_headers = reply.status, dict(reply.headers)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload if reply.cut_after is None else payload[: reply.cut_after])
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.close_connection = True
                    return
                if reply.cut_after is not None:
                    self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, method: str, path: str, *replies: Reply | Handler) -> None:
        with self._lock:
            self.script.setdefault((method, path), deque()).extend(replies)

    def always(self, method: str, path: str, reply: Reply | Handler) -> None:
        self.fallback[(method, path)] = reply

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.seen if r.path == path]

    def close(self) -> None:
        self.closing.set()  # releases hanging replies
        self.httpd.shutdown()
        self.httpd.server_close()
