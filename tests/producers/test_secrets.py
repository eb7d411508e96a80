"""No secret is ever logged: the live pollers run with fake credentials against a local server that
answers with 401s, 500s and a failing token endpoint, and every log line, every printed line,
every message handed to Kafka (dead letters included) and every exception is searched for the
client ids, the client secrets and the bearer tokens the server issued."""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from infra.ports import free_port
from producers.http import HttpClient, HttpError, OAuthToken
from producers.lufthansa import LufthansaLive
from producers.opensky import OpenSkyLive
from producers.runner import run
from skyrisk.settings import ENV_PREFIX, Settings, load_settings
from tests.producers.helpers import FakeClock, Reply, ScriptedServer, Seen
from tests.producers.test_output_and_http import make_output

REPO = Path(__file__).resolve().parents[2]

OPENSKY_ID, OPENSKY_SECRET = "osky-client-7f3a9c", "osky-secret-Qm4ZtW8pX2"
LUFTHANSA_ID, LUFTHANSA_SECRET = "lh-client-5d1e2b", "lh-secret-Vr7NcK3yH9"
TOKEN_PREFIX = "issued-bearer-"  # every token the fake server hands out starts with this


class TokenServer:
    """Token endpoints that issue a fresh token, then fail (500, then 401) on every second call; APIs
    that refuse every token (401, so the client refreshes) or fail with 500."""

    def __init__(self, api: ScriptedServer) -> None:
        self.api = api
        self.issued: list[str] = []
        self._calls = itertools.count()
        self._lock = threading.Lock()
        for path in ("/token", "/v1/oauth/token"):
            api.always("POST", path, self.token)
        api.always("GET", "/api/states/all", Reply(401, {"error": "invalid_token"}))
        for endpoint in ("countries", "cities", "airports", "airlines", "aircraft"):
            api.always("GET", f"/v1/mds-references/{endpoint}", Reply(401, {"error": "invalid_token"}))

    def token(self, request: Seen) -> Reply:
        with self._lock:
            call = next(self._calls)
            if call % 4 == 1:
                return Reply(500, "token service down")
            if call % 4 == 3:
                return Reply(401, {"error": "invalid_client"})
            token = f"{TOKEN_PREFIX}{call:04d}-Zk2Lp"
            self.issued.append(token)
            return Reply(200, {"access_token": token, "expires_in": 1800, "token_type": "Bearer"})

    def secrets(self) -> list[str]:
        return [OPENSKY_ID, OPENSKY_SECRET, LUFTHANSA_ID, LUFTHANSA_SECRET, *self.issued]


def leaked(texts: list[str], secrets: list[str]) -> list[str]:
    return sorted({secret for secret in secrets for text in texts if secret in text})


def live_settings(api: ScriptedServer, **extra) -> Settings:
    return load_settings(
        _env_file=None, bbox=(42.0, -5.0, 54.0, 7.0),
        opensky_api_url=api.url + "/api", opensky_token_url=api.url + "/token",
        opensky_client_id=OPENSKY_ID, opensky_client_secret=SecretStr(OPENSKY_SECRET),
        lufthansa_api_url=api.url + "/v1", lufthansa_client_id=LUFTHANSA_ID,
        lufthansa_client_secret=SecretStr(LUFTHANSA_SECRET), lufthansa_routes="FRA-JFK", lufthansa_horizon_days=1,
        **extra,
    )


@pytest.fixture
def server(api) -> TokenServer:
    return TokenServer(api)


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def exception_texts(error: BaseException) -> list[str]:
    """Everything an exception carries that a logger or an error reporter could print."""
    texts = []
    for link in exception_chain(error):
        texts += [str(link), repr(link), repr(link.args), str(getattr(link, "body", ""))]
        request = getattr(link, "request", None)  # requests' exceptions keep the request they failed on
        if request is not None:
            texts += [str(getattr(request, "headers", "")), str(getattr(request, "body", ""))]
    return texts


def test_pollers_log_no_secret_on_error_paths(server, api, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # urllib3 and requests included
    settings = live_settings(api)
    clock = FakeClock()
    http = HttpClient(clock, max_attempts=3)
    output, producer = make_output(settings)
    sources = [OpenSkyLive(settings, clock, http), LufthansaLive(settings, clock, http)]

    # many rounds: 401 -> refresh -> token 500 / 401 / fresh token, and polls giving up
    code = run(sources, output, clock, status_interval_s=1.0, max_seconds=20_000.0, restart=True)

    captured = capsys.readouterr()
    assert code == 0
    assert len(server.issued) >= 3, "the scenario never refreshed a token"
    refreshes = [r for r in api.seen if r.path in ("/token", "/v1/oauth/token")]
    assert any(r.form.get("client_secret") == [OPENSKY_SECRET] for r in refreshes)  # the secrets were in use
    assert any(r.headers.get("Authorization", "").startswith(f"Bearer {TOKEN_PREFIX}") for r in api.seen)
    assert "401" in caplog.text and "token request refused" in "".join(
        m[2].decode(errors="replace") for m in producer.delivered), "the error paths were not exercised"
    texts = [caplog.text, captured.out, captured.err] + [
        (key or "") + value.decode(errors="replace") for _, key, value in producer.delivered]
    assert leaked(texts, server.secrets()) == []


def test_http_errors_carry_no_authorization_header_nor_token_request_body(server, api):
    settings = live_settings(api)
    clock = FakeClock()
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection errors until giving up
    token = OAuthToken(HttpClient(clock, max_attempts=2), closed + "/token", OPENSKY_ID,
                       settings.opensky_client_secret)
    with pytest.raises(HttpError) as token_failure:
        token.get()

    http = HttpClient(clock, max_attempts=2)
    good = OAuthToken(http, api.url + "/token", OPENSKY_ID, settings.opensky_client_secret)
    good.get()
    with pytest.raises(HttpError) as poll_failure:
        http.request("GET", closed + "/api/states/all", token=good)

    refused = OAuthToken(HttpClient(clock), api.url + "/token", OPENSKY_ID, settings.opensky_client_secret)
    refused.get()  # call 2 of the token server: 200
    refused.invalidate()
    with pytest.raises(HttpError) as token_refused:  # call 3: 401 invalid_client
        for _ in range(3):
            refused.get()
            refused.invalidate()

    for failure in (token_failure.value, poll_failure.value, token_refused.value):
        texts = exception_texts(failure)
        assert leaked(texts, server.secrets()) == [], failure
        assert not any("client_secret=" in t or "Authorization" in t for t in texts)


def test_settings_never_reveal_secret_values():
    settings = load_settings(
        _env_file=None, opensky_client_secret=SecretStr(OPENSKY_SECRET),
        lufthansa_client_secret=SecretStr(LUFTHANSA_SECRET), s3_secret_key=SecretStr("s3-Hd8Wq1Lr"),
        mongo_uri=SecretStr("mongodb://writer:Mongo-Pw-9x@db:27017/"),
        dashboard_mongo_uri=SecretStr("mongodb://reader:Reader-Pw-4k@db:27017/"),
    )
    texts = [repr(settings), str(settings), f"{settings}", repr(settings.model_dump()), str(dict(settings))]
    assert leaked(texts, [OPENSKY_SECRET, LUFTHANSA_SECRET, "s3-Hd8Wq1Lr", "Mongo-Pw-9x", "Reader-Pw-4k"]) == []


@pytest.mark.integration
def test_the_producers_cli_logs_no_secret(server, api, stack, tmp_path):
    """``python -m producers all live`` as `make run` would start it, secrets from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)} | {
        "PYTHONPATH": str(REPO),
        f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        f"{ENV_PREFIX}OPENSKY_API_URL": api.url + "/api", f"{ENV_PREFIX}OPENSKY_TOKEN_URL": api.url + "/token",
        f"{ENV_PREFIX}OPENSKY_CLIENT_ID": OPENSKY_ID, f"{ENV_PREFIX}OPENSKY_CLIENT_SECRET": OPENSKY_SECRET,
        f"{ENV_PREFIX}LUFTHANSA_API_URL": api.url + "/v1", f"{ENV_PREFIX}LUFTHANSA_CLIENT_ID": LUFTHANSA_ID,
        f"{ENV_PREFIX}LUFTHANSA_CLIENT_SECRET": LUFTHANSA_SECRET, f"{ENV_PREFIX}LUFTHANSA_ROUTES": "FRA-JFK",
        f"{ENV_PREFIX}OPEN_METEO_URL": api.url + "/forecast",
    }
    result = subprocess.run(
        [sys.executable, "-m", "producers", "all", "live", "--duration", "8", "--status-interval", "2",
         "--bbox", "50,8,51,9"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90,
    )
    output = result.stdout + result.stderr
    assert "status" in output.lower() or "produced" in output, output[-2000:]
    assert server.issued, "no token was issued: the live clients did not authenticate"
    assert any(r.path == "/v1/oauth/token" for r in api.seen) and any(r.path == "/token" for r in api.seen)
    assert "401" in output or "refused" in output or "HTTP 500" in output, output[-2000:]
    assert leaked([output], server.secrets()) == []
