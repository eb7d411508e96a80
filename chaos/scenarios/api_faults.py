"""API faults against the live pollers: they survive, keep to the budget and recover.

The real producers process (``python -m producers all live``, the three live clients with their
production HTTP settings: 5 s connect / 30 s read timeout, 6 attempts) polls a local HTTP server on
127.0.0.1 that plays OpenSky, Open-Meteo and Lufthansa. Each API first misbehaves, then answers
normally:

- a 429 storm with ``X-Rate-Limit-Retry-After-Seconds`` / ``Retry-After``;
- a burst of 5xx;
- a 200 whose JSON is cut short (honest ``Content-Length``);
- a response that hangs for longer than the read timeout;
- OpenSky only: a connection cut in the middle of the body.

Verdict, from what the server saw and what reached Kafka:

- the process ran until it was stopped and exited 0;
- no request came before the Retry-After of the 429 before it, none less than the minimum
  back-off (1 s) after a 5xx; the charged calls (answered 2xx) stay within each client's budget
  per window (OpenSky credits at the tier's pace, Open-Meteo locations per minute, Lufthansa calls
  per second and hour of its plan);
- every healthy answer became messages on its topic (exact counts) and every cut-short JSON one
  dead letter; after the faults each source published again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chaos.core import Scenario, Verdict, wait_until
from infra.processes import PlatformProcess
from producers.lufthansa import CALL_LIMITS, PLAN_LIMITS
from producers.opensky import poll_interval_s
from producers.testing import Reply, ScriptedServer, Seen
from producers.weather import LOCATION_LIMITS
from skyrisk import contracts
from skyrisk.settings import Settings

BBOX = (45.0, 5.0, 50.0, 10.0)  # 25 square degrees: 1 credit a call
GRID = 0.25  # 400 cells; the planner asks for 200 (its reserve kept) in its first minute, then a few a minute
TIER = "feeder"  # the fastest pace OpenSky allows: a poll every 10.8 s
ROUTE, HORIZON_DAYS = ("FRA", "JFK"), 3
HANG_S = 40.0  # held without an answer, longer than the clients' 30 s read timeout
RETRY_AFTER_S = 3
MIN_BACKOFF_S = 1.0  # HttpClient: 2 s base times a jitter of at least 0.5
TOLERANCE_S = 0.05  # clock granularity between the client's sleep and the server's stamp
STATES_PER_ANSWER = 3
OBSERVE_TIMEOUT_S = 300.0
HEALTHY_OPENSKY_AFTER_FAULTS = 2

OPENSKY = "/opensky/api/states/all"
OPENSKY_TOKEN = "/opensky/token"
OPEN_METEO = "/v1/forecast"
LH = "/lh/v1"
LH_TOKEN = f"{LH}/oauth/token"
LH_REFERENCE_PATHS = [f"{LH}/mds-references/{kind}" for kind in ("countries", "cities", "airports", "airlines", "aircraft")]


# --- healthy answers ------------------------------------------------------------------------------
def opensky_states(_request: Seen) -> Reply:
    now = int(time.time())
    states = [[f"c0ffe{i}", f"CHS{i:03d}  ", "Germany", now - 2, now - 1, 6.0 + i, 47.0 + i, 10_000.0, False, 230.0,
               90.0, 0.0, None, 10_100.0, "2000", False, 0, 1] for i in range(STATES_PER_ANSWER)]
    return Reply(200, {"time": now, "states": states}, {"X-Rate-Limit-Remaining": "7000"})


def open_meteo_current(request: Seen) -> Reply:
    latitudes = request.query["latitude"][0].split(",")
    longitudes = request.query["longitude"][0].split(",")
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
    answers = [
        {"latitude": float(lat), "longitude": float(lon), "utc_offset_seconds": 0, "timezone": "GMT",
         "current": {"time": stamp, "interval": 900, "temperature_2m": 8.0, "relative_humidity_2m": 70,
                     "wind_speed_10m": 12.0, "wind_direction_10m": 250, "wind_gusts_10m": 30.0, "precipitation": 0.0,
                     "rain": 0.0, "cloud_cover": 40, "weather_code": 2, "visibility": 24_000.0}}
        for lat, lon in zip(latitudes, longitudes)
    ]
    return Reply(200, answers if len(answers) > 1 else answers[0])


def token(_request: Seen) -> Reply:
    return Reply(200, {"access_token": "chaos-token", "token_type": "bearer", "expires_in": 21_600})


def lufthansa_reference(resource: str, collection: str, item: str, record: dict[str, Any]) -> Reply:
    return Reply(200, {resource: {collection: {item: record}, "Meta": {"TotalCount": 1}}})


LH_HEALTHY = {
    f"{LH}/mds-references/countries": lufthansa_reference(
        "CountryResource", "Countries", "Country", {"CountryCode": "DE", "Names": {"Name": {"@LanguageCode": "en", "$": "Germany"}}}),
    f"{LH}/mds-references/cities": lufthansa_reference(
        "CityResource", "Cities", "City", {"CityCode": "FRA", "CountryCode": "DE", "Airports": {"AirportCode": "FRA"},
                                          "Names": {"Name": {"@LanguageCode": "en", "$": "Frankfurt"}}}),
    f"{LH}/mds-references/airports": lufthansa_reference(
        "AirportResource", "Airports", "Airport", {"AirportCode": "FRA", "CityCode": "FRA", "CountryCode": "DE",
                                                  "Names": {"Name": {"@LanguageCode": "en", "$": "Frankfurt"}}}),
    f"{LH}/mds-references/airlines": lufthansa_reference(
        "AirlineResource", "Airlines", "Airline", {"AirlineID": "LH", "AirlineID_ICAO": "DLH",
                                                  "Names": {"Name": {"@LanguageCode": "en", "$": "Lufthansa"}}}),
    f"{LH}/mds-references/aircraft": lufthansa_reference(
        "AircraftResource", "AircraftSummaries", "AircraftSummary", {"AircraftCode": "744",
                                                                     "Names": {"Name": {"@LanguageCode": "en", "$": "Boeing 747-400"}}}),
}


def schedule(query_date: str) -> Reply:
    leg = {"Departure": {"AirportCode": ROUTE[0], "ScheduledTimeLocal": {"DateTime": f"{query_date}T10:00"}},
           "Arrival": {"AirportCode": ROUTE[1], "ScheduledTimeLocal": {"DateTime": f"{query_date}T13:00"}},
           "MarketingCarrier": {"AirlineID": "LH", "FlightNumber": 400}, "Equipment": {"AircraftCode": "744"},
           "Details": {"Stops": {"StopQuantity": 0}, "DaysOfOperation": "1234567"}}
    return Reply(200, {"ScheduleResource": {"Schedule": {"TotalJourney": {"Duration": "PT9H"}, "Flight": leg}}})


def cut_short(reply: Reply) -> Reply:
    """The same 200 with its JSON cut in half (the length header matches what is sent)."""
    body = json.dumps(reply.body).encode()
    return Reply(200, body[: len(body) // 2], reply.headers)


def late(handler: Callable[[Seen], Reply]) -> Callable[[Seen], Reply]:
    def hang(request: Seen) -> Reply:
        return replace(handler(request), hang_s=HANG_S)

    return hang


def cut_connection(handler: Callable[[Seen], Reply]) -> Callable[[Seen], Reply]:
    def cut(request: Seen) -> Reply:
        return replace(handler(request), cut_after=40)

    return cut


def storm(header: str, count: int) -> list[Reply]:
    return [Reply(429, {"error": "rate limited"}, {header: str(RETRY_AFTER_S)}) for _ in range(count)]


def five_hundreds(*statuses: int) -> list[Reply]:
    return [Reply(status, "<html>upstream trouble</html>") for status in statuses]


def script_faults(server: ScriptedServer, schedule_dates: list[str]) -> None:
    """Each API misbehaves first, then answers normally forever."""
    # OpenSky, one fault per poll: 429 storm, 5xx burst, cut-short JSON, a hang, a cut connection
    healthy = opensky_states
    server.add("POST", OPENSKY_TOKEN, Reply(503, "token service down"))
    server.always("POST", OPENSKY_TOKEN, token)
    server.add("GET", OPENSKY, *storm("X-Rate-Limit-Retry-After-Seconds", 3), healthy,
               *five_hundreds(503, 500, 502), healthy,
               lambda r: cut_short(healthy(r)),
               late(healthy), healthy,
               cut_connection(healthy))
    server.always("GET", OPENSKY, healthy)
    # Open-Meteo, one fault per request (the planner's first two of 100 locations, then one a minute)
    server.add("GET", OPEN_METEO, *storm("Retry-After", 3), open_meteo_current,
               *five_hundreds(500, 503), open_meteo_current,
               lambda r: cut_short(open_meteo_current(r)),
               late(open_meteo_current), open_meteo_current)
    server.always("GET", OPEN_METEO, open_meteo_current)
    # Lufthansa: a 429 on the token, then one fault per reference kind
    server.add("POST", LH_TOKEN, *storm("Retry-After", 1))
    server.always("POST", LH_TOKEN, token)
    countries, cities, airports, airlines, aircraft = LH_REFERENCE_PATHS
    server.add("GET", countries, *storm("Retry-After", 2))
    server.add("GET", cities, *five_hundreds(502, 503))
    server.add("GET", airports, cut_short(LH_HEALTHY[airports]))
    server.add("GET", airlines, late(lambda _r: LH_HEALTHY[airlines]))
    for path, reply in LH_HEALTHY.items():
        server.always("GET", path, reply)
    for day in schedule_dates:
        server.always("GET", f"{LH}/operations/schedules/{ROUTE[0]}/{ROUTE[1]}/{day}", schedule(day))


# --- checks on what the server saw ------------------------------------------------------------------
def retry_violations(requests: list[Seen]) -> list[str]:
    """Requests sent before the Retry-After of the 429 before them, or sooner than the minimum
    back-off after a 5xx (per path: each path is one client's sequence of attempts)."""
    problems = []
    by_path: dict[str, list[Seen]] = {}
    for request in requests:
        by_path.setdefault(request.path, []).append(request)
    for path, seen in by_path.items():
        seen.sort(key=lambda r: r.at)
        for before, after in zip(seen, seen[1:]):
            wait = None
            if before.status == 429:
                headers = {k.lower(): v for k, v in before.reply_headers.items()}
                value = headers.get("x-rate-limit-retry-after-seconds") or headers.get("retry-after")
                wait = float(value) if value is not None else MIN_BACKOFF_S
            elif before.status is not None and before.status >= 500:
                wait = MIN_BACKOFF_S
            if wait is not None and after.at - before.at < wait - TOLERANCE_S:
                problems.append(f"{path}: {after.at - before.at:.2f} s after a {before.status} (allowed {wait:.1f} s)")
    return problems


def max_in_window(events: list[tuple[float, int]], window_s: float) -> int:
    """The largest total weight of events inside any window of ``window_s`` seconds."""
    events = sorted(events)
    best, total, start = 0, 0, 0
    for at, weight in events:
        total += weight
        while events[start][0] <= at - window_s:
            total -= events[start][1]
            start += 1
        best = max(best, total)
    return best


def answered(requests: list[Seen], path_prefix: str) -> list[Seen]:
    return [r for r in requests if r.path.startswith(path_prefix) and r.status is not None and 200 <= r.status < 300]


def weather_lost(answers: list[Seen]) -> int:
    """Locations answered 200 that cannot reach Kafka: the cut-short answer (3rd, a dead letter) and the
    held one (4th) when the client gave up on it and asked again (the next answer is the same request)."""
    def locations(r: Seen) -> int:
        return len(r.query["latitude"][0].split(","))

    lost = locations(answers[2]) if len(answers) > 2 else 0
    if len(answers) > 4 and answers[4].query == answers[3].query:
        lost += locations(answers[3])
    return lost


def count_topic(settings: Settings, topic: str) -> list[dict[str, Any]]:
    from chaos.scenarios.poison import (
        read_topic,  # one topic reader for the chaos package
    )

    return [json.loads(m.value()) for m in read_topic(settings, topic)]


# --- the scenario -----------------------------------------------------------------------------------
def run(settings: Settings, workdir: Path) -> Verdict:
    name = "api_faults"
    started = time.monotonic()
    server = ScriptedServer()
    today = datetime.now(UTC).date()
    dates = [(today + timedelta(days=d)).isoformat() for d in range(HORIZON_DAYS + 1)]  # +1: midnight may pass
    script_faults(server, dates)
    settings = settings.model_copy(update={
        "bbox": BBOX,
        "weather_grid_deg": GRID,
        "opensky_api_url": f"{server.url}/opensky/api",
        "opensky_token_url": f"{server.url}{OPENSKY_TOKEN}",
        "opensky_client_id": "chaos",
        "opensky_client_secret": "chaos-secret",
        "opensky_tier": TIER,
        "open_meteo_url": f"{server.url}{OPEN_METEO}",
        "lufthansa_api_url": f"{server.url}{LH}",
        "lufthansa_client_id": "chaos",
        "lufthansa_client_secret": "chaos-secret",
        "lufthansa_routes": "-".join(ROUTE),
        "lufthansa_horizon_days": HORIZON_DAYS,
        "producer_status_interval_s": 10.0,
    })
    from pydantic import SecretStr

    settings = settings.model_copy(update={"opensky_client_secret": SecretStr("chaos-secret"),
                                           "lufthansa_client_secret": SecretStr("chaos-secret")})
    # the four scripted faults (429 storm, 5xx, cut-short, a hang past the timeout) and one healthy answer after them
    weather_answers_needed = 5
    opensky_scripted = len(server.script[("GET", OPENSKY)])
    schedule_paths = {f"{LH}/operations/schedules/{ROUTE[0]}/{ROUTE[1]}/{d}" for d in dates}

    def faults_done_and_recovered() -> bool:
        seen = server.seen
        opensky_after = [r for r in seen if r.path == OPENSKY][opensky_scripted:]
        weather_answers = [r for r in seen if r.path == OPEN_METEO and r.status == 200]
        schedules = [r for r in seen if r.path in schedule_paths and r.status == 200]
        return (sum(r.status == 200 for r in opensky_after) >= HEALTHY_OPENSKY_AFTER_FAULTS
                and len(weather_answers) >= weather_answers_needed and len(schedules) >= HORIZON_DAYS)

    problems: list[str] = []
    log_path = workdir / "producers.log"
    producers = PlatformProcess(settings, "producers", ["producers", "all", "live"], log_path)
    try:
        producers.start()
        try:
            wait_until(faults_done_and_recovered, OBSERVE_TIMEOUT_S, interval_s=1.0,
                       alive=lambda: producers.returncode() is None)
            if not faults_done_and_recovered():
                problems.append("the pollers did not get through the faults to healthy answers in time")
            alive = producers.returncode() is None
        finally:
            exit_code = producers.stop(60)
        if not alive:
            problems.append(f"the producers process died (exit {exit_code}); see {log_path}")
        elif exit_code != 0:
            problems.append(f"the producers process exited {exit_code} on SIGTERM")
    finally:
        server.close()
    seen = sorted(server.seen, key=lambda r: r.at)

    problems += retry_violations(seen)
    # budgets, on the charged (answered 2xx) calls
    opensky_charged = answered(seen, OPENSKY)
    interval = poll_interval_s(BBOX, TIER)
    span = opensky_charged[-1].at - seen[0].at if opensky_charged else 0.0
    if len(opensky_charged) > span / interval + 1:
        problems.append(f"OpenSky: {len(opensky_charged)} charged polls in {span:.0f} s (pace {interval:.1f} s)")
    meteo = [(r.at, len(r.query["latitude"][0].split(","))) for r in answered(seen, OPEN_METEO)]
    for window, limit in LOCATION_LIMITS:
        if (peak := max_in_window(meteo, window)) > limit:
            problems.append(f"Open-Meteo: {peak} locations within {window:.0f} s (limit {limit})")
    lh_calls = [(r.at, 1) for r in answered(seen, LH) if r.method == "GET"]
    lh_attempts = [(r.at, 1) for r in seen if r.path.startswith(LH) and r.method == "GET"]
    # Against the plan: the client's own, lower limits (CALL_LIMITS) are its margin for the jitter
    # between charging a call and the call's arrival here; their exact pacing is unit-tested.
    for window, limit in PLAN_LIMITS:
        if (peak := max_in_window(lh_calls, window)) > limit:
            problems.append(f"Lufthansa: {peak} answered calls within {window:.0f} s (plan limit {limit})")

    # what reached Kafka: every healthy answer, and one dead letter per cut-short JSON
    states = count_topic(settings, contracts.FLIGHT_STATES.name)
    weather = count_topic(settings, contracts.WEATHER.name)
    reference = count_topic(settings, contracts.LH_REFERENCE.name)
    journeys = count_topic(settings, contracts.LH_SCHEDULES.name)
    letters = count_topic(settings, contracts.DEAD_LETTER.name)
    expected = {
        "states": STATES_PER_ANSWER * (len(opensky_charged) - 2),  # the cut-short and the cut-off answers carry none
        "weather": sum(n for _, n in meteo) - weather_lost(answered(seen, OPEN_METEO)),
        "reference": len(LH_HEALTHY) - 1,  # airports came cut short
        "journeys": HORIZON_DAYS,
        "dead_letters": 3,  # one cut-short JSON per source
    }
    got = {"states": len(states), "weather": len(weather), "reference": len(reference), "journeys": len(journeys),
           "dead_letters": len(letters)}
    if got != expected:
        problems.append(f"messages on Kafka {got} != expected {expected}")
    late_states = [s for s in states if s["event_time"] > seen[0].at + 60]
    if not late_states:
        problems.append("OpenSky published nothing after the faults")

    statuses: dict[str, int] = {}
    for r in seen:
        key = "hung" if r.status is None else str(r.status)
        statuses[key] = statuses.get(key, 0) + 1
    counts = {
        "requests": len(seen),
        **{f"answered_{k}": v for k, v in sorted(statuses.items())},
        "opensky_charged_polls": len(opensky_charged),
        "lufthansa_max_attempts_1s": max_in_window(lh_attempts, 1.0),
        "lufthansa_max_answered_1s": max_in_window(lh_calls, 1.0),
        "lufthansa_client_limit_1s": dict(CALL_LIMITS)[1.0],
        **{f"kafka_{k}": v for k, v in got.items()},
        "seconds": round(time.monotonic() - started, 1),
    }
    detail = ("429 storms, 5xx bursts, cut-short JSON, hangs and a cut connection: the pollers survived, "
              "kept Retry-After and their budgets, and published again" if not problems else "; ".join(problems))
    return Verdict(name, not problems, counts, detail)


SCENARIOS = [
    Scenario(
        name="api_faults",
        run=run,
        description="OpenSky, Open-Meteo and Lufthansa on a local server: 429 storms with Retry-After, 5xx bursts, "
        "cut-short JSON, hanging responses, a cut connection; the live pollers survive, keep the budget, recover",
        quick=True,
    )
]
