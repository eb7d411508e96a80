"""The data-access module against the real services of the test stack (seeded, known data)."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import pytest

from batch.lake import MANIFESTS
from dashboard.app import create_app
from dashboard.data import DashboardData
from dashboard.routes import search
from skyrisk.contracts import LAKE_CURATED, LAKE_SUMMARIES, TOPICS
from tests.dashboard import seed

pytestmark = pytest.mark.integration


def test_live_snapshot_holds_every_seeded_aircraft(data):
    snapshot = data.reload_live()
    assert sorted(snapshot.icao24) == sorted(a[0] for a in seed.AIRCRAFT)
    row = snapshot.index_of(seed.DETAIL_ICAO24)
    assert snapshot.callsign[row] == seed.DETAIL_CALLSIGN and snapshot.altitude_m[row] == 11_000.0
    # what the map dead-reckons from: the report's time, ground speed and track
    detail = next(d for d in seed.flights_live() if d["_id"] == seed.DETAIL_ICAO24)
    assert (snapshot.event_time[row], snapshot.velocity[row], snapshot.true_track[row]) == pytest.approx(
        (detail["event_time"], detail["velocity"], detail["true_track"]), abs=1.0)


def test_flight_detail_and_trail(data):
    flight = data.flight(seed.DETAIL_ICAO24)
    assert flight["callsign"] == seed.DETAIL_CALLSIGN and flight["risk_factors"] == [seed.DETAIL_RISK_FACTOR]
    trail = data.track(seed.DETAIL_ICAO24, minutes=30)
    assert [p["t"] for p in trail] == sorted(p["t"] for p in seed.tracks())


def test_route_search_on_the_real_database(data):
    data.reload_reference()
    rows, error = search(data, seed.SEARCH_FROM, seed.SEARCH_TO, seed.TODAY.isoformat())
    assert error is None and [r.flights for r in rows] == list(seed.SEEDED_ROUTE_FLIGHTS)
    assert search(data, seed.EMPTY_FROM, seed.EMPTY_TO, seed.TODAY.isoformat()) == ([], None)


def route_search_callback(client, origin, destination, departure, back=None, nonstop=()):
    """The route search as the browser posts it: (outbound text, inbound text)."""
    from tests.dashboard.test_callbacks import call

    status, response = call(client, [("route-outbound", "children"), ("route-inbound", "children")],
                            [("route-search", "n_clicks", 1)], "route-search.n_clicks",
                            state=[("route-from", "value", origin), ("route-to", "value", destination),
                                   ("route-date", "date", departure), ("route-return", "date", back),
                                   ("route-nonstop", "value", list(nonstop))])
    assert status == 200
    return (json.dumps(response["response"]["route-outbound"]["children"]),
            json.dumps(response["response"]["route-inbound"]["children"]))


@pytest.fixture(scope="module")
def real_client(seeded_stack, data):
    return create_app(seeded_stack, data).server.test_client()


def test_a_return_search_lists_the_return_flights(real_client, data):
    data.reload_reference()
    outbound, inbound = route_search_callback(real_client, seed.SEARCH_FROM, seed.SEARCH_TO, seed.TODAY.isoformat(),
                                              seed.RETURN_DAY.isoformat())
    assert all(flight in outbound for flight in seed.SEEDED_ROUTE_FLIGHTS)
    assert all(flight in inbound for flight in seed.SEEDED_RETURN_FLIGHTS) and "No flights found" not in inbound
    assert f"John F. Kennedy International (JFK) \\u2192 Frankfurt/Main International (FRA), {seed.RETURN_DAY}" in inbound
    assert not any(flight in inbound for flight in seed.SEEDED_ROUTE_FLIGHTS)  # the other direction only


def test_a_city_code_search_finds_every_airport_of_the_city(data):
    reference = data.reload_reference()
    # the city's airports from both the cities collection (LTN, STN are only there) and the airports' city_code
    assert reference["city_airports"]["LON"] == list(seed.CITY_AIRPORTS)
    rows, error = search(data, seed.CITY_FROM, seed.CITY_TO, seed.TODAY.isoformat())
    assert error is None and [r.flights for r in rows] == list(seed.SEEDED_CITY_FLIGHTS)
    assert {r.destination for r in rows} == {"London Heathrow (LHR)", "London City (LCY)"}
    heathrow = next(r for r in rows if r.flights == "LH 900")
    assert (heathrow.departure_terminal, heathrow.arrival_terminal) == seed.CITY_TERMINALS["LH 900"]


def test_a_city_round_trip_with_the_non_stop_filter(real_client, data):
    data.reload_reference()
    outbound, inbound = route_search_callback(real_client, seed.CITY_FROM, seed.CITY_TO, seed.TODAY.isoformat(),
                                              seed.RETURN_DAY.isoformat(), nonstop=["nonstop"])
    assert all(flight in outbound for flight in seed.SEEDED_CITY_NONSTOP)
    assert "LH 2470" not in outbound and "1 journey with stops hidden" in outbound
    assert all(flight in inbound for flight in seed.SEEDED_CITY_RETURN)  # from LHR and from LCY back to FRA
    everything, _ = route_search_callback(real_client, seed.CITY_FROM, seed.CITY_TO, seed.TODAY.isoformat())
    assert "LH 96 + LH 2470" in everything and "hidden" not in everything


def test_a_date_after_the_fetched_days_is_refused_before_any_query(real_client, data):
    last = seed.TODAY + timedelta(days=data.settings.lufthansa_horizon_days - 1)
    outbound, _ = route_search_callback(real_client, seed.SEARCH_FROM, seed.SEARCH_TO,
                                        (last + timedelta(days=1)).isoformat())
    assert f"Schedules are fetched for {seed.TODAY} to {last} only" in outbound


@pytest.mark.parametrize("payload", [{"$ne": None}, {"$regex": "."}, ".*", "FRA' || '1'=='1"])
def test_injection_payloads_find_nothing(data, payload):
    rows, error = search(data, payload, seed.SEARCH_TO, seed.TODAY.isoformat())
    assert rows == [] and error is not None


def test_alert_feed_filters_by_type_and_category(data):
    since = time.time() - 3600
    assert [a["callsign"] for a in data.alerts(["EMERGENCY"], [], since, 50)] == ["EZY77"]
    assert [a["callsign"] for a in data.alerts(["HIGH_RISK", "EMERGENCY"], ["HIGH"], since, 50)] == ["DLH123"]
    assert data.alerts(["HIGH_RISK"], [], time.time() + 60, 50) == []


def test_pipeline_and_history_documents(data):
    progress = data.stream_progress(3)
    assert [p["batch_id"] for p in progress] == [2, 3, 4]  # the newest three, oldest first
    assert [s.date for s in data.daily_stats()] == list(seed.DAILY_DATES)
    assert data.batch_runs(5)[0]["status"] == "succeeded"


def test_topics_and_last_messages_from_the_broker(data, seeded_stack):
    from confluent_kafka import Producer

    topic = TOPICS[-1].name  # deadletter: one partition, nothing else writes to it in tests
    producer = Producer({"bootstrap.servers": seeded_stack.kafka_bootstrap_servers})
    for i in range(seed.TOPIC_ROWS):
        producer.produce(topic, key=f"k{i}", value=json.dumps({"n": i}))
    producer.flush(10)

    statuses = {s.name: s for s in data.topics()}
    assert set(statuses) == {t.name for t in TOPICS}
    assert all(statuses[t.name].partitions == t.partitions for t in TOPICS)
    assert statuses[topic].messages >= seed.TOPIC_ROWS

    records = data.last_messages(topic, 2)
    assert [r.key for r in records] == [f"k{seed.TOPIC_ROWS - 1}", f"k{seed.TOPIC_ROWS - 2}"]
    assert json.loads(records[0].value) == {"n": seed.TOPIC_ROWS - 1}
    assert records[0].offset == records[1].offset + 1


def test_replay_reads_the_published_day_from_the_lake(data, seeded_stack):
    import pyarrow as pa
    import pyarrow.parquet as pq

    day, run = "2026-11-19", "20261120T023000-abcdef12"
    flight_id = "3c6444-20261119T080000"
    bucket = seeded_stack.lake_bucket
    # Written as the platform's writer (root keys): the dashboard's own identity may only read.
    s3 = DashboardData(seeded_stack.model_copy(update={
        "dashboard_s3_access_key": seeded_stack.s3_access_key,
        "dashboard_s3_secret_key": seeded_stack.s3_secret_key}))._s3()
    positions = pa.table({"flight_id": [flight_id] * 3 + ["other-20261119T080000"],
                          "icao24": ["3c6444"] * 4, "callsign": ["DLH400"] * 4,
                          "event_time": [30.0, 10.0, 20.0, 40.0], "latitude": [50.0, 49.0, 49.5, 10.0],
                          "longitude": [8.0, 7.0, 7.5, 1.0], "baro_altitude": [1000.0, 0.0, 500.0, 0.0]})
    summaries = pa.table({"flight_id": [flight_id], "icao24": ["3c6444"], "callsign": ["DLH400"],
                          "first_seen": [10.0], "last_seen": [30.0]})
    tables = {}
    for name, root, table in (("positions", LAKE_CURATED, positions), ("summaries", LAKE_SUMMARIES, summaries)):
        directory = f"{bucket}/{root}/date={day}/run={run}"
        pq.write_table(table, f"{directory}/part-0.parquet", filesystem=s3)
        tables[name] = f"s3a://{directory}"
    with s3.open_output_stream(f"{bucket}/{MANIFESTS}/date={day}.json") as f:
        f.write(json.dumps({"date": day, "run_id": run, "tables": tables}).encode())

    assert day in data.published_days()
    assert [f["flight_id"] for f in data.flights_of_day(date.fromisoformat(day))] == [flight_id]
    track = data.replay_track(date.fromisoformat(day), flight_id)
    assert [p["event_time"] for p in track] == [10.0, 20.0, 30.0]
    assert data.replay_track(date.fromisoformat("2026-11-18"), flight_id) == []


def test_the_pipeline_page_says_how_much_kafka_deleted_before_the_job_read_it(seeded_stack):
    """A stream_progress document with data_lost (retention overtook a stopped job) becomes a warning line."""
    from tests.dashboard.test_callbacks import call

    client = create_app(seeded_stack).server.test_client()
    outputs = [(f"progress-{n}", "figure") for n in ("rates", "duration", "watermark", "rejects", "weather")]
    status, response = call(client, [*outputs, ("batch-run-table", "children"), ("data-loss", "children"),
                                     ("weather-coverage", "children")],
                            [("pipeline-tick", "n_intervals", 1)], "pipeline-tick.n_intervals")
    assert status == 200
    text = json.dumps(response["response"]["data-loss"])
    assert f"Kafka deleted {seed.LOST_TO_RETENTION:,} messages of the enrich query" in text
    assert text.count("Data lost") == 1  # one line per query, not per batch
    # the share of airborne states joined with weather, over the batches shown and per batch
    assert response["response"]["weather-coverage"]["children"] == (
        "Airborne states with weather: 89.1 % (410 of 460 in the last 5 flight batches).")
    shares = response["response"]["progress-weather"]["figure"]["data"][0]["y"]
    assert [round(v, 1) for v in shares] == [88.9, 89.0, 89.1, 89.2, 89.4]
