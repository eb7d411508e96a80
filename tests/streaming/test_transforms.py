"""Transforms on static DataFrames: parsing and rejects, cell id, weather as-of join, risk, phase, flags."""

from __future__ import annotations

import json

import pytest

from skyrisk.contracts import DeadLetter, EnrichedState, FlightState, WeatherObservation, spark_schema
from skyrisk.behaviour import empty_context_table
from skyrisk.phase import PhaseModel
from streaming import transforms as tf
from pyspark.testing import assertDataFrameEqual
from tests.streaming.messages import EUROPE, FRANKFURT_CELL, GRID, T0, as_kafka_rows, flight, weather

pytestmark = pytest.mark.integration

MAX_AGE_MIN = 60

CRUISE_MODEL = PhaseModel(
    version="test-1",
    mode="kmeans",
    feature_means=[0.0, 0.0, 0.0],
    feature_stds=[100.0, 1000.0, 10.0],
    centroids=[[0.7, 0.2, 0.0], [1.8, 5.0, 0.0], [2.4, 11.0, 0.0]],
    labels=["Takeoff/Landing", "Climb/Descent", "Cruise"],
    threshold=3.0,
)


def kafka_frame(spark, pairs):
    return spark.createDataFrame(pairs, "key string, value string")


def parse_reasons(spark, payloads):
    parsed = tf.parse_messages(kafka_frame(spark, [(None, p) for p in payloads]), FlightState)
    return [r.reject_reason for r in parsed.collect()]


def test_parse_accepts_contract_messages_and_fills_defaults(spark):
    message = flight()
    payload = json.loads(message.model_dump_json())
    del payload["schema_version"], payload["spi"]  # defaults, as pydantic would fill them
    parsed = tf.parse_messages(kafka_frame(spark, [("3c6444", json.dumps(payload))]), FlightState)
    row = tf.valid_rows(parsed, FlightState).first().asDict()
    assert row == message.model_dump()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: "{not json", "malformed_json"),
        (lambda p: p.replace('"event_time":1763726400.0', '"event_time":"noon"'), "wrong_type"),
        (lambda p: p.replace('"schema_version":1', '"schema_version":2'), "unknown_schema_version"),
        (lambda p: p.replace('"latitude":50.03', '"latitude":91.5'), "out_of_range:latitude"),
        (lambda p: p.replace('"longitude":8.57', '"longitude":-181.0'), "out_of_range:longitude"),
        (lambda p: p.replace('"velocity":240.0', '"velocity":-3.0'), "out_of_range:velocity"),
        (lambda p: p.replace('"icao24":"3c6444"', '"icao24":"3C64ZZ"'), "bad_format:icao24"),
        (lambda p: p.replace('"source":"sim"', '"source":"tv"'), "unknown_value:source"),
        (lambda p: p.replace('"on_ground":false,', ""), "missing:on_ground"),
    ],
)
def test_parse_rejects_with_reason(spark, change, reason):
    good = flight().model_dump_json()
    payload = change(good)
    assert payload != good  # the edit really applied
    assert parse_reasons(spark, [payload]) == [reason]


def test_rejected_rows_are_dead_letters_and_counted(spark):
    # pydantic refuses velocity -1, so that one is edited from a valid payload
    negative_speed = flight().model_dump_json().replace('"velocity":240.0', '"velocity":-1.0')
    payloads = ["{", negative_speed, "[]", flight().model_dump_json()]
    parsed = tf.parse_messages(kafka_frame(spark, [("k", p) for p in payloads]), FlightState)
    dead = tf.rejected_rows(parsed, "flights.states")
    assert [f.name for f in dead.schema.fields] == [f.name for f in spark_schema(DeadLetter).fields]
    assert tf.reject_counts(dead) == {"malformed_json": 2, "out_of_range:velocity": 1}
    assert sorted(r.raw for r in dead.collect()) == sorted(payloads[:3])
    assert tf.valid_rows(parsed, FlightState).count() == 1


def test_poison_payloads_are_rejected_with_reason(spark):
    import time

    now = time.time()
    recent = flight(t=now - 30)  # T0 is in the past; these checks are relative to now
    huge = recent.model_copy(update={"callsign": "X" * (tf.MAX_PAYLOAD_BYTES + 1)}).model_dump_json()
    cases = [
        ("", "malformed_json"),
        (None, "malformed_json"),  # an empty Kafka value
        (huge, "too_large"),  # valid by the contract, but no state is 64 KiB
        (flight(t=now + 86_400).model_dump_json(), "out_of_range:event_time"),
        (flight(t=now * 1000).model_dump_json(), "out_of_range:event_time"),  # milliseconds sent as seconds
        (flight(t=0.0).model_dump_json(), "out_of_range:event_time"),
        (flight(t=631_152_000.0).model_dump_json(), "out_of_range:event_time"),  # 1990
        (recent.model_dump_json(), None),
        (flight(t=1_656_288_000.0).model_dump_json(), None),  # a 2022 replay stays valid
    ]
    parsed = tf.parse_messages(spark.createDataFrame([("k", p) for p, _ in cases], "key string, value string"), FlightState)
    assert [r.reject_reason for r in parsed.collect()] == [reason for _, reason in cases]
    letters = {r.reason: r.raw for r in tf.rejected_rows(parsed, "flights.states").collect()}
    assert letters["too_large"] == huge[: tf.MAX_PAYLOAD_BYTES]  # a dead letter must fit the broker


def test_future_skew_stays_below_the_watermark_delay(spark):
    import time

    # 200 s ahead: inside the old 300 s skew, beyond the 120 s watermark delay (issue 12)
    assert parse_reasons(spark, [flight(t=time.time() + 200).model_dump_json()]) == ["out_of_range:event_time"]
    # An accepted state at now + skew moves the watermark to now + skew - delay: with skew >= delay
    # one such state makes every real state late.
    assert 0 < tf.MAX_FUTURE_SKEW_S < tf.FLIGHT_WATERMARK_S
    assert tf.FLIGHT_WATERMARK == f"{tf.FLIGHT_WATERMARK_S} seconds"


def test_future_weather_observation_is_rejected(spark):
    import time

    payload = weather(observed=time.time() + 3600).model_dump_json()
    parsed = tf.parse_messages(kafka_frame(spark, [(FRANKFURT_CELL, payload)]), WeatherObservation)
    assert [r.reject_reason for r in parsed.collect()] == ["out_of_range:observation_time"]


def weather_table(spark, observations):
    frame = tf.valid_rows(tf.parse_messages(kafka_frame(spark, as_kafka_rows(observations)), WeatherObservation), WeatherObservation)
    return tf.merge_weather_table(tf.empty_weather_table(spark), frame, MAX_AGE_MIN)


def flights_frame(spark, states):
    parsed = tf.parse_messages(kafka_frame(spark, as_kafka_rows(states, "icao24")), FlightState)
    return tf.valid_rows(parsed, FlightState)


def test_cell_id_is_the_grid_cell(spark):
    states = [flight("aaaaaa", lat=50.03, lon=8.57), flight("bbbbbb", lat=-33.9, lon=-0.2), flight("cccccc", lat=0.0, lon=0.0)]
    joined = tf.join_latest_weather(flights_frame(spark, states), tf.empty_weather_table(spark), GRID, MAX_AGE_MIN)
    got = joined.select("icao24", "cell_id")
    # floor(lat/0.5):floor(lon/0.5) worked out by hand
    assertDataFrameEqual(got, spark.createDataFrame([("aaaaaa", "100:17"), ("bbbbbb", "-68:-1"), ("cccccc", "0:0")], "icao24 string, cell_id string"))


def test_as_of_join_picks_latest_usable_observation(spark):
    table = weather_table(
        spark,
        [
            weather(observed=T0 - 1800, wind_gusts_10m=1.0),
            weather(observed=T0 - 900, wind_gusts_10m=2.0),
            weather(observed=T0 + 900, wind_gusts_10m=3.0),  # after the first flight: not for it
            weather(cell="10:10", observed=T0 - 7200, wind_gusts_10m=4.0),  # too old for its flight
        ],
    )
    states = [
        flight("aaaaaa", t=T0),  # -> T0-900
        flight("bbbbbb", t=T0 + 1000),  # -> T0+900 (weather that arrived "after" earlier flights)
        flight("cccccc", t=T0 - 1000),  # -> T0-1800
        flight("dddddd", t=T0 - 5000),  # all Frankfurt observations after it or... T0-1800 is after: none
        flight("eeeeee", t=T0, lat=5.2, lon=5.2),  # cell 10:10: observation 2 h old -> missing
        flight("ffffff", t=T0, lat=-20.0, lon=-20.0),  # a cell with no weather at all
    ]
    got = tf.join_latest_weather(flights_frame(spark, states), table, GRID, MAX_AGE_MIN).select(
        "icao24", "weather.observation_time", "weather.wind_gusts_10m", "weather_missing"
    )
    expected = spark.createDataFrame(
        [
            ("aaaaaa", T0 - 900, 2.0, False),
            ("bbbbbb", T0 + 900, 3.0, False),
            ("cccccc", T0 - 1800, 1.0, False),
            ("dddddd", None, None, True),
            ("eeeeee", None, None, True),
            ("ffffff", None, None, True),
        ],
        "icao24 string, observation_time double, wind_gusts_10m double, weather_missing boolean",
    )
    assertDataFrameEqual(got, expected)


def test_weather_table_keeps_few_rows_per_cell_and_replaces_refetches(spark):
    first = weather_table(spark, [weather(observed=T0 - 900 * i) for i in range(8)])  # 0..105 min old
    frame = tf.valid_rows(
        tf.parse_messages(kafka_frame(spark, as_kafka_rows([weather(observed=T0, wind_gusts_10m=99.0)])), WeatherObservation),
        WeatherObservation,
    )
    merged = tf.merge_weather_table(first, frame, MAX_AGE_MIN).collect()
    assert len(merged) == 1
    times = [w.observation_time for w in merged[0].observations]
    assert times == [T0 - 900 * i for i in range(5)]  # within 60 min of the newest, newest first
    assert merged[0].observations[0].wind_gusts_10m == 99.0


def enrich(spark, joined):
    """The streaming job's enrich with no aircraft seen before (an empty context table)."""
    return tf.enrich(joined, CRUISE_MODEL, empty_context_table(spark))


def enrich_one(spark, state, observation=None):
    table = weather_table(spark, [observation] if observation else [])
    joined = tf.join_latest_weather(flights_frame(spark, [state]), table, GRID, MAX_AGE_MIN)
    return enrich(spark, joined).collect()[0]


def test_enrich_projects_enriched_state_with_risk_phase_and_partitions(spark):
    table = weather_table(spark, [weather(weather_code=95, wind_gusts_10m=60.0, visibility=2500.0)])
    joined = tf.join_latest_weather(flights_frame(spark, [flight()]), table, GRID, MAX_AGE_MIN)
    enriched = enrich(spark, joined)
    assert enriched.columns == spark_schema(EnrichedState).fieldNames() + ["date", "hour"]
    row = enriched.collect()[0]
    assert (row.risk_score, row.risk_category) == (60, "HIGH")  # 40 + 10 + 10
    assert row.risk_factors == ["thunderstorm", "gusts > 50 km/h", "visibility < 3000 m"]
    assert row.callsign == "DLH400" and row.airline_icao == "DLH"
    assert row.phase == "Cruise"  # level at 11,000 m
    assert row.anomaly_score == pytest.approx(0.0)  # scaled (2.4, 11, 0) sits on the third centroid
    assert row.anomaly is False and row.anomaly_reasons == []
    assert (row.date, row.hour) == ("2025-11-21", 12)
    assert row.weather.cell_id == FRANKFURT_CELL and row.weather_missing is False
    assert row.model_version == "test-1"
    EnrichedState.model_validate(row.asDict(recursive=True))  # the stored shape really is the contract


def test_an_emergency_alone_is_no_anomaly(spark):
    row = enrich_one(spark, flight(squawk="7700"))
    assert row.emergency == "7700 emergency"
    assert row.anomaly is False and row.anomaly_reasons == []


def test_enrich_flags_behaviour_outside_the_envelope_only_when_it_persists(spark):
    # one report a second outside the envelope: the third in a row is an anomaly, not the first two
    states = [flight("cccccc", t=T0 + k, vertical_rate=-45.0, lat=50.0 + 0.001 * k) for k in range(4)]
    states += [flight("dddddd", t=T0 + k, velocity=400.0, lat=40.0 + 0.001 * k) for k in range(2)]
    rows = {(r.icao24, r.event_time): r for r in enrich(spark, tf.join_latest_weather(
        flights_frame(spark, states), weather_table(spark, []), GRID, MAX_AGE_MIN)).collect()}
    assert [rows[("cccccc", T0 + k)].anomaly for k in range(4)] == [False, False, True, True]
    assert rows[("cccccc", T0 + 2)].anomaly_reasons == ["vertical rate outside airliner envelope"]
    assert [rows[("cccccc", T0 + k)].envelope_streak for k in range(4)] == [1, 2, 3, 4]
    assert {rows[("cccccc", T0 + k)].envelope_since for k in range(4)} == {T0}
    assert [rows[("dddddd", T0 + k)].anomaly for k in range(2)] == [False, False]  # a 1 s blip is noise


def test_enrich_ground_and_low_airborne(spark):
    ground = enrich_one(spark, flight(on_ground=True, baro_altitude=100.0, velocity=5.0), weather())
    assert (ground.phase, ground.risk_score) == ("Ground", 0)
    low = enrich_one(spark, flight(baro_altitude=200.0, velocity=70.0, vertical_rate=-4.0), weather())
    assert low.risk_factors == ["airborne below 300 m"] and low.risk_score == 15
    assert low.phase == "Takeoff/Landing"
    missing = enrich_one(spark, flight())
    assert missing.weather is None and missing.weather_missing is True and missing.risk_score == 0


def test_newest_per_aircraft_tracks_and_alert_signals(spark):
    table = weather_table(spark, [weather(weather_code=97, precipitation=6.0)])  # 40 + 20 = HIGH
    states = [flight("aaaaaa", t=T0 + s) for s in (0, 10, 29, 31)] + [flight("bbbbbb", t=T0, squawk="7600", lat=-20.0)]
    enriched = enrich(spark, tf.join_latest_weather(flights_frame(spark, states), table, GRID, MAX_AGE_MIN))

    newest = {r.icao24: r.event_time for r in tf.newest_per_aircraft(enriched).collect()}
    assert newest == {"aaaaaa": T0 + 31, "bbbbbb": T0}

    tracks = sorted((r._id, r.t) for r in tf.track_points(enriched).collect())
    bucket = int(T0 // 30)
    assert tracks == [(f"aaaaaa:{bucket}", T0), (f"aaaaaa:{bucket + 1}", T0 + 31), (f"bbbbbb:{bucket}", T0)]

    signals = {(r.icao24, r.type): r for r in tf.alert_signals(enriched).collect()}
    assert set(signals) == {("aaaaaa", "HIGH_RISK"), ("bbbbbb", "EMERGENCY")}
    high = signals[("aaaaaa", "HIGH_RISK")]
    assert (high.first_seen, high.last_seen, high.reasons) == (T0, T0 + 31, ["thunderstorm", "precipitation > 5 mm"])
    assert signals[("bbbbbb", "EMERGENCY")].reasons == ["squawk 7600 radio failure"]


NESTED_POISON = [
    # (model, change to a valid message, the dead-letter reason the job must give)
    ("journey", {"legs": [None]}, "missing:legs[]"),
    ("journey", {"flight_numbers": [None]}, "missing:flight_numbers[]"),
    ("journey", {"legs": [{"flight_number": None}]}, "missing:legs[].flight_number"),
    ("journey", {"legs": [{"departure_airport": "FR\x00"}]}, "bad_text:legs[].departure_airport"),
    ("reference", {"names": {"en": None}}, "missing:names{}"),
    ("reference", {"names": {"e.n": "x"}}, "bad_key:names"),
    ("reference", {"names": {"$where": "x"}}, "bad_key:names"),
    ("reference", {"names": {"e\x00n": "x"}}, "bad_key:names"),
    ("reference", {"names": {"": "x"}}, "bad_key:names"),
    ("reference", {"latitude": float("nan")}, "not_finite:latitude"),
    ("flight", {"callsign": "DLH\x00"}, "bad_text:callsign"),
    ("flight", {"velocity": float("nan")}, "not_finite:velocity"),
    ("flight", {"baro_altitude": float("inf")}, "not_finite:baro_altitude"),
    ("flight", {"vertical_rate": 9_000.0}, "out_of_range:vertical_rate"),
    ("weather", {"wind_gusts_10m": float("nan")}, "not_finite:wind_gusts_10m"),
]


def _poisoned(kind: str, change: dict) -> tuple[type, str]:
    from skyrisk.contracts import ReferenceRecord, ScheduleJourney, ScheduleLeg

    if kind == "flight":
        base, model = json.loads(flight().model_dump_json()), FlightState
    elif kind == "weather":
        base, model = json.loads(weather().model_dump_json()), WeatherObservation
    elif kind == "reference":
        base = json.loads(ReferenceRecord(source="sim", type="city", code="FRA", names={"en": "Frankfurt"},
                                          fetched_time=T0).model_dump_json())
        model = ReferenceRecord
    else:
        leg = ScheduleLeg(departure_airport="FRA", departure_local="2026-12-01T10:00", arrival_airport="JFK",
                          arrival_local="2026-12-01T12:00", marketing_airline="LH", flight_number=400)
        base = json.loads(ScheduleJourney(source="sim", origin="FRA", destination="JFK", query_date="2026-12-01",
                                          duration_iso="PT2H", duration_minutes=120, stops=0, flight_numbers=["LH400"],
                                          legs=[leg], fetched_time=T0).model_dump_json())
        model = ScheduleJourney
    for name, value in change.items():
        if name == "legs" and value != [None]:
            value = [{**base["legs"][0], **value[0]}]
        base[name] = value
    return model, json.dumps(base)  # NaN/Infinity as JSON's non-standard tokens, as a sloppy producer writes them


@pytest.mark.parametrize(("kind", "change", "reason"), NESTED_POISON, ids=[r for _k, _c, r in NESTED_POISON])
def test_nested_and_non_finite_poison_gets_its_reason_instead_of_reaching_the_database(spark, kind, change, reason):
    model, payload = _poisoned(kind, change)
    parsed = tf.parse_messages(kafka_frame(spark, [("k", payload)]), model)
    assert [r.reject_reason for r in parsed.collect()] == [reason]


def test_omitted_defaults_of_nested_models_are_filled_as_pydantic_would(spark):
    from skyrisk.contracts import ScheduleJourney

    model, payload = _poisoned("journey", {})
    journey = json.loads(payload)
    del journey["legs"][0]["stops"]  # optional in the leg model: pydantic takes 0
    parsed = tf.parse_messages(kafka_frame(spark, [("k", json.dumps(journey))]), ScheduleJourney)
    row = parsed.collect()[0]
    assert row.reject_reason is None
    assert ScheduleJourney.model_validate(tf.valid_rows(parsed, ScheduleJourney).collect()[0].asDict(recursive=True)).legs[0].stops == 0


def test_weather_of_a_cell_from_another_grid_is_rejected(spark):
    on_grid = weather(FRANKFURT_CELL)
    quarter_grid = on_grid.model_copy(update={"cell_id": "201:35"})  # a 0.25° producer's id for the same place
    frame = kafka_frame(spark, [("a", on_grid.model_dump_json()), ("b", quarter_grid.model_dump_json())])
    parsed = tf.parse_messages(frame, WeatherObservation, tf.weather_cell_checks(GRID, EUROPE))
    assert [r.reject_reason for r in parsed.orderBy("kafka_key").collect()] == [None, "wrong_grid:cell_id"]


def test_weather_of_a_cell_outside_the_region_is_rejected_so_the_table_is_bounded_by_the_grid(spark):
    """Issue 14 (10): any valid cell on Earth used to pass, growing weather_latest and the broadcast table."""
    from skyrisk.geo import cell_center, grid_cells

    box = (50.0, 8.0, 51.0, 9.0)  # 2 x 2 cells at 0.5°
    cells = [c for c, _, _ in grid_cells(box, GRID)]
    outside = ["99:16", "102:16", "100:15", "101:18", "-20:100"]  # one row/column beyond each edge, and far away
    observations = []
    for cell in cells + outside:
        lat, lon = cell_center(cell, GRID)
        observations.append(weather(cell).model_copy(update={"cell_latitude": lat, "cell_longitude": lon}))
    frame = kafka_frame(spark, [(o.cell_id, o.model_dump_json()) for o in observations])
    parsed = tf.parse_messages(frame, WeatherObservation, tf.weather_cell_checks(GRID, box))
    reasons = {r.kafka_key: r.reject_reason for r in parsed.collect()}
    assert reasons == {**{c: None for c in cells}, **{c: "outside_region:cell_id" for c in outside}}


def test_weather_coverage_counts_airborne_states_and_those_joined_with_weather(spark):
    joined = spark.createDataFrame(
        [(False, False), (False, True), (True, False), (True, True), (None, False)],
        "on_ground boolean, weather_missing boolean")
    # a null on_ground counts as airborne: weather is never left out of the share for want of it
    assert tf.weather_coverage(joined) == (5, 3, 2)
