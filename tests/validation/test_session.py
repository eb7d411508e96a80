"""The replayable live session (validation.session): built from the real-traffic set, replayed by
`python -m producers all replay` into the real broker and streamed by the real job."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from infra.processes import REPO, child_environment
from tests.streaming.messages import EUROPE
from tests.streaming.test_streaming_e2e import job_settings, private_broker, run_job  # noqa: F401 (fixtures)
from validation.session import COLLECTION, build_session


@pytest.fixture(scope="module")
def real_rows(stack_settings):
    from validation.dataset import fetch_wheel, read_sample, state_rows

    return state_rows(read_sample(fetch_wheel(stack_settings.cache_dir, echo=lambda _m: None), COLLECTION))


def test_a_session_holds_polls_weather_answers_and_both_directions_of_every_route(real_rows, stack_settings, tmp_path):
    import gzip
    import json

    today = datetime(2026, 12, 4, tzinfo=UTC).date()
    summary = build_session(real_rows, tmp_path, stack_settings, minutes=15, poll_s=90, warmup_minutes=10, today=today)
    assert summary.polls == 11 and summary.last_poll - summary.first_poll == 10 * 90  # 15 minutes, both ends
    polls = sorted((tmp_path / "opensky").iterdir())
    first = json.loads(gzip.decompress(polls[0].read_bytes()))
    assert set(first) == {"time", "states"} and all(len(s) == 17 for s in first["states"])  # apis.md's shape
    weather = [json.loads(gzip.decompress(p.read_bytes())) for p in sorted((tmp_path / "weather").iterdir())]
    answers = [a for w in weather for a in (w if isinstance(w, list) else [w])]
    assert len(answers) == summary.weather_locations and all(len(w) <= 100 for w in weather if isinstance(w, list))
    assert {"latitude", "longitude", "utc_offset_seconds", "current"} <= set(answers[0])
    assert answers[0]["current"]["interval"] == 900
    names = {p.name.split("__")[0] for p in (tmp_path / "lufthansa").iterdir()}
    assert "lufthansa.schedules.FRA.JFK.2026-12-04" in names and "lufthansa.schedules.JFK.FRA.2026-12-04" in names
    assert {"lufthansa.airports.0", "lufthansa.cities.0"} <= names


@pytest.mark.integration
def test_the_session_replays_end_to_end_with_weather_for_the_aircraft_and_return_trips(
        real_rows, job_settings, spark, tmp_path):  # noqa: F811
    settings = job_settings.model_copy(update={"producer_mode": "replay", "bbox": EUROPE})
    today = datetime.now(UTC).date()
    build_session(real_rows, tmp_path / "session", settings, minutes=20, poll_s=90, warmup_minutes=30,
                            today=today)
    replay = subprocess.run(
        [sys.executable, "-m", "producers", "all", "replay", str(tmp_path / "session"), "--speed", "30", "--shift-to-now"],
        cwd=REPO, env=child_environment(settings), capture_output=True, text=True, timeout=300)
    assert replay.returncode == 0, replay.stdout[-2000:] + replay.stderr[-2000:]
    run_job(spark, settings)

    from pymongo import MongoClient

    db = MongoClient(settings.mongo_uri.get_secret_value())[settings.mongo_database]
    # weather where the aircraft are: the share of airborne states joined with weather, as the Pipeline page shows it
    rows = [p.get("sink_rows") or {} for p in db["stream_progress"].find({"query": "flights"})]
    airborne = sum(r.get("airborne", 0) for r in rows)
    with_weather = sum(r.get("airborne_with_weather", 0) for r in rows)
    assert airborne >= 200 and with_weather / airborne >= 0.95, (with_weather, airborne)  # ~20 airborne a poll
    # every aircraft of the last poll is on the live map
    import gzip
    import json

    last = json.loads(gzip.decompress(sorted((tmp_path / "session" / "opensky").iterdir())[-1].read_bytes()))
    live = {d["_id"] for d in db["flights_live"].find({}, {"_id": 1})}
    assert {s[0] for s in last["states"]} <= live
    # the return trips were fetched: both directions of a configured route are in the schedules
    day = today.isoformat()
    routes = {(d["origin"], d["destination"]) for d in db["schedules"].find({"query_date": day})}
    assert ("FRA", "JFK") in routes and ("JFK", "FRA") in routes, sorted(routes)[:10]
    # and the route search finds a round trip and a city (the dashboard's search on this database)
    from datetime import timedelta

    from dashboard.data import DashboardData
    from dashboard.routes import round_trip, search

    data = DashboardData(settings)
    try:
        outbound, back = round_trip(data, "FRA", "JFK", day, (today + timedelta(days=1)).isoformat(), today=today)
        assert outbound.error is None and outbound.rows and back is not None and back.error is None and back.rows
        assert {r.flights for r in back.rows} == {"LH 401"}  # the simulator's timetable: LH 400 out, LH 401 back
        rows, error = search(data, "MUC", "LON", day)
        assert error is None and rows
    finally:
        data.close()
