"""HTTP plumbing shared by the live clients: retries, OAuth2 tokens, rate limits, the recorder.

Every wait goes through the injected :class:`~producers.core.Clock`, so tests run the pacing and
back-off logic against a fake clock without sleeping.
"""

from __future__ import annotations

import gzip
import logging
import os
import random
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from pydantic import SecretStr

from producers.core import Clock, Stopped

log = logging.getLogger(__name__)

RETRY_AFTER_HEADERS = ("X-Rate-Limit-Retry-After-Seconds", "Retry-After")
# Worth another attempt: the server or the network may be fine a moment later. A connection cut
# in the middle of the body surfaces as ChunkedEncodingError/ContentDecodingError, not as a
# ConnectionError.
TRANSIENT_ERRORS = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class HttpError(Exception):
    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class HttpClient:
    """GET/POST with: 401 -> one token refresh, 429 -> wait the server's retry-after,
    5xx/timeouts/connection errors -> exponential back-off with jitter. Other statuses are returned."""

    def __init__(
        self,
        clock: Clock,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 6,
        backoff_base_s: float = 2.0,
        backoff_cap_s: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        self.clock = clock
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.rng = rng or random.Random()
        self.retries = 0

    def backoff_delay(self, attempt: int) -> float:
        """Full exponential delay times a jitter in [0.5, 1.5) so clients don't retry in lockstep."""
        return min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1)) * (0.5 + self.rng.random())

    def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        token: OAuthToken | None = None,
        before_attempt: Callable[[], None] | None = None,
    ) -> requests.Response:
        """``before_attempt`` runs before every attempt, retries included (e.g. charge a rate limiter:
        a retried call costs the provider a call like any other)."""
        attempt = 0
        refreshed = False
        while True:
            if self.clock.stopped:
                raise Stopped()
            # A token fetch (its own requests, waits and retries) comes before the charge, so that
            # the charge is stamped at the moment this request is sent, as the provider counts it.
            bearer = token.get() if token is not None else None
            if before_attempt is not None:
                before_attempt()
                if token is not None:
                    bearer = token.get()  # cached; fetched again only if it expired while we waited
            sent_headers = dict(headers or {})
            if bearer is not None:
                sent_headers["Authorization"] = f"Bearer {bearer}"
            failure = None
            try:
                response = self.session.request(
                    method, url, params=params, data=data, headers=sent_headers, timeout=self.timeout
                )
            except TRANSIENT_ERRORS as exc:
                failure = type(exc).__name__
            if failure is not None:
                # Retried (or given up) outside the except block: requests' exception holds the request
                # (Authorization header, the token request's client_secret) and must not become the
                # context of the HttpError that callers log or put in a dead letter.
                attempt = self._retry(attempt, f"{failure} on {url}", self.backoff_delay(attempt + 1))
                continue
            status = response.status_code
            if status == 401 and token is not None and not refreshed:
                log.info("401 from %s: refreshing the token", url)
                token.invalidate()
                refreshed = True
                continue
            if status == 429:
                wait = retry_after_seconds(response)
                attempt = self._retry(
                    attempt, f"429 from {url}", wait if wait is not None else self.backoff_delay(attempt + 1),
                    body=response.text,
                )
                continue
            if status >= 500:
                attempt = self._retry(attempt, f"HTTP {status} from {url}", self.backoff_delay(attempt + 1),
                                      body=response.text)
                continue
            return response

    def _retry(self, attempt: int, what: str, wait: float, body: str = "") -> int:
        attempt += 1
        if attempt >= self.max_attempts:
            raise HttpError(f"{what}: giving up after {attempt} attempts", body=body)
        self.retries += 1
        log.warning("%s: retry %d in %.1f s", what, attempt, wait)
        self.clock.sleep(wait)
        return attempt


def retry_after_seconds(response: requests.Response) -> float | None:
    for header in RETRY_AFTER_HEADERS:
        value = response.headers.get(header)
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None


class OAuthToken:
    """OAuth2 client-credentials token, cached until shortly before it expires."""

    def __init__(
        self,
        http: HttpClient,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        default_lifetime_s: float = 1800.0,
        margin_s: float = 60.0,
    ) -> None:
        self.http = http
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.default_lifetime_s = default_lifetime_s
        self.margin_s = margin_s
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetches = 0

    def get(self) -> str:
        if self._token is None or self.http.clock.now() >= self._expires_at:
            self._fetch()
        assert self._token is not None
        return self._token

    def invalidate(self) -> None:
        self._token = None

    def _fetch(self) -> None:
        response = self.http.request(
            "POST",
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret.get_secret_value(),
            },
        )
        if response.status_code != 200:
            raise HttpError(f"token request refused: HTTP {response.status_code}", response.status_code, response.text)
        try:  # an unusable answer is an HttpError like a refusal: dead-lettered, the poller goes on
            body = response.json()
            token, lifetime = body["access_token"], float(body.get("expires_in") or self.default_lifetime_s)
            if not isinstance(token, str) or not token:
                raise ValueError("access_token is not a string")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # the body is not quoted: it may hold a token
            raise HttpError(f"token answer from {self.token_url} is unusable: {type(exc).__name__}",
                            response.status_code) from None
        self._token = token
        self._expires_at = self.http.clock.now() + max(0.0, lifetime - self.margin_s)
        self.fetches += 1
        log.info("token from %s valid %.0f s", self.token_url, lifetime)


class RateLimiter:
    """At most ``limit`` units in any ``window_s`` seconds, for each (window_s, limit) given."""

    def __init__(self, clock: Clock, limits: Sequence[tuple[float, int]]) -> None:
        self.clock = clock
        self.limits = tuple(limits)
        self._spent: deque[tuple[float, int]] = deque()
        self._longest = max(window for window, _ in self.limits)

    def used(self, window_s: float) -> int:
        now = self.clock.now()
        return sum(cost for at, cost in self._spent if at > now - window_s)

    def left(self) -> dict[float, int]:
        return {window: limit - self.used(window) for window, limit in self.limits}

    def wait_needed(self, cost: int) -> float:
        now = self.clock.now()
        wait = 0.0
        for window, limit in self.limits:
            if cost > limit:
                raise ValueError(f"a request costing {cost} can never fit {limit} per {window} s")
            inside = [(at, c) for at, c in self._spent if at > now - window]
            excess = sum(c for _, c in inside) + cost - limit
            for at, c in inside:  # oldest first: wait until enough of them leave the window
                if excess <= 0:
                    break
                excess -= c
                wait = max(wait, at + window - now)
        return wait

    def acquire(self, cost: int = 1) -> None:
        while (wait := self.wait_needed(cost)) > 0:
            self.clock.sleep(wait)
            if self.clock.stopped:
                raise Stopped()
        now = self.clock.now()
        self._spent.append((now, cost))
        while self._spent and self._spent[0][0] <= now - self._longest:
            self._spent.popleft()


# --- recorder: raw responses, gzipped, named <stem>__<UTC time>.json.gz ----------------------
RECORDING_SUFFIX = ".json.gz"
PART_SUFFIX = ".part"  # a recording being written; renamed to its final name when complete
_TIME_FORMAT = "%Y%m%dT%H%M%S"


def recording_name(stem: str, at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return f"{stem}__{moment.strftime(_TIME_FORMAT)}{moment.microsecond // 1000:03d}Z{RECORDING_SUFFIX}"


def parse_recording_name(path: Path) -> tuple[str, float] | None:
    """(stem, epoch seconds) of a recorded file, or None if the name is not a recording's."""
    name = path.name
    for suffix in (RECORDING_SUFFIX, ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    else:
        return None
    stem, sep, stamp = name.rpartition("__")
    if not sep or len(stamp) != 19 or not stamp.endswith("Z"):
        return None
    try:
        moment = datetime.strptime(stamp[:15], _TIME_FORMAT).replace(tzinfo=UTC)
        return stem, moment.timestamp() + int(stamp[15:18]) / 1000
    except ValueError:
        return None


class Recorder:
    """Saves every raw response body in exactly the form the replay clients read.

    Each file is written as ``<name>.part`` and renamed to its final name only once it is complete
    (flushed and fsynced), so a recorder killed mid-file never leaves a truncated recording under a
    name replay reads. A file that cannot be written (disk full) is logged and counted, and the
    poll that fetched it goes on: the answer is still published, only not recorded.
    """

    def __init__(self, directory: Path, clock: Clock) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.saved = 0
        self.failed = 0

    def save(self, stem: str, body: bytes) -> Path | None:
        at = self.clock.now()
        path = self.directory / recording_name(stem, at)
        while path.exists():  # two responses in the same millisecond keep their order
            at += 0.001
            path = self.directory / recording_name(stem, at)
        part = path.with_name(path.name + PART_SUFFIX)
        try:
            with open(part, "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw) as handle:
                    handle.write(body)
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(part, path)
        except OSError as exc:
            self.failed += 1
            part.unlink(missing_ok=True)
            log.error("could not record %s: %s (the answer is still published)", path, exc)
            return None
        self.saved += 1
        return path


def read_maybe_gzip(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
