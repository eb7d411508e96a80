"""Poison messages on every input topic: the streaming job dead-letters each with its reason, the rest flows on.

The real streaming job (``python -m streaming``, its own JVM) runs against the throw-away stack.
Phase 1 puts valid messages and every poison kind on each of the four input topics; phase 2 sends
only valid flight states, newer ones. Verdict:

- the dead-letter topic holds exactly one letter per poison message, with the expected
  ``(source topic, reason)``, and ``stream_progress`` counted the same reasons;
- every valid message came out: all flight states in the Parquet lake (phase 2 too, so a
  future-dated poison did not drag the watermark ahead), the newest state of each aircraft in
  ``flights_live``, the weather cells, the reference records, the schedules;
- the job ran until it was stopped and exited 0 (no query died).
"""

from __future__ import annotations

import io
import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from chaos.core import Scenario, Verdict, wait_until
from infra.processes import PlatformProcess
from skyrisk import contracts, vocabulary
from skyrisk.contracts import (
    FlightState,
    ReferenceRecord,
    ScheduleJourney,
    ScheduleLeg,
    WeatherObservation,
)
from skyrisk.geo import cell_center, cell_id
from skyrisk.settings import Settings

GRID = 0.5
REGION = (-30.0, 145.0, 0.0, 175.0)  # the Coral Sea, where the valid flights and weather are
AIRCRAFT = 6
STATES_PER_PHASE = 2  # per aircraft
WEATHER_CELLS = 4
ONE_MEGABYTE = 1_000_000  # what a producer can still put on the broker (message.max.bytes ~1 MiB)
JOB_START_TIMEOUT_S = 240.0  # a JVM on a 2-core machine shared with other work
PHASE_TIMEOUT_S = 180.0
SETTLE_S = 8.0  # a few triggers after the last expected output: stray letters would show up here


@dataclass(frozen=True)
class Message:
    topic: str
    key: str | None
    value: bytes | None
    kind: str = "valid"  # or the poison kind
    reason: str | None = None  # expected dead-letter reason (None: valid)


# --- the messages ---------------------------------------------------------------------------------
def valid_flights(now: float, phase: int) -> list[FlightState]:
    """Over the Coral Sea; phase 2 is 60 s newer than phase 1 and still inside the live window."""
    states = []
    for a in range(AIRCRAFT):
        for k in range(STATES_PER_PHASE):
            t = now - 90 + 60 * (phase - 1) + 10 * k
            states.append(
                FlightState(source="sim", icao24=f"c0ffe{a}", callsign=f"CHS{a:03d}", origin_country="Australia",
                            event_time=t, snapshot_time=t, last_contact=t, latitude=-20.0 + 0.01 * k + a,
                            longitude=155.0 + a, baro_altitude=10_000.0, on_ground=False, velocity=230.0,
                            true_track=90.0, vertical_rate=0.0, squawk="2000")
            )
    return states


def valid_weather(now: float) -> list[WeatherObservation]:
    observations = []
    for a in range(WEATHER_CELLS):
        cell = cell_id(-20.0 + a, 155.0 + a, GRID)
        lat, lon = cell_center(cell, GRID)
        observations.append(
            WeatherObservation(source="sim", cell_id=cell, cell_latitude=lat, cell_longitude=lon,
                               observation_time=now - 600, fetched_time=now - 570, temperature_2m=25.0,
                               wind_gusts_10m=20.0, weather_code=1, visibility=20_000.0)
        )
    return observations


def valid_reference(now: float) -> list[ReferenceRecord]:
    return [ReferenceRecord(source="sim", type="airport", code=code, name=f"Chaos {code}", fetched_time=now)
            for code in ("ZZA", "ZZB", "ZZC")]


def valid_schedules(now: float) -> list[ScheduleJourney]:
    journeys = []
    for number in (9001, 9002):
        leg = ScheduleLeg(departure_airport="ZZA", departure_local="2026-12-01T10:00", arrival_airport="ZZB",
                          arrival_local="2026-12-01T12:00", marketing_airline="LH", flight_number=number)
        journeys.append(ScheduleJourney(source="sim", origin="ZZA", destination="ZZB", query_date="2026-12-01",
                                        duration_iso="PT2H", duration_minutes=120, stops=0,
                                        flight_numbers=[f"LH{number}"], legs=[leg], fetched_time=now))
    return journeys


@dataclass(frozen=True)
class PoisonRecipe:
    """How to spoil a valid message of one topic."""

    template: Any  # a valid message to start from
    key: str
    wrong_type: tuple[str, Any]  # field, value of the wrong JSON type
    required: str  # a required field to leave out
    text_field: str  # a string field to blow up to 1 MB
    time_field: str  # an epoch-seconds field
    float_field: str  # a float field to set to NaN / Infinity
    nested: tuple[tuple[str, dict[str, Any], str], ...] = ()  # (kind, changes, reason): poison below the top level


def poison_messages(topic: str, recipe: PoisonRecipe, now: float, rng: random.Random) -> list[Message]:
    base = orjson.loads(recipe.template.model_dump_json())

    def edited(**changes: Any) -> bytes:
        return orjson.dumps({**base, **changes})

    missing = {k: v for k, v in base.items() if k != recipe.required}
    huge = edited(**{recipe.text_field: ""})
    huge = edited(**{recipe.text_field: "X" * (ONE_MEGABYTE - len(huge))})
    field, bad = recipe.wrong_type
    return [
        Message(topic, recipe.key, b"\x00\xff" + rng.randbytes(254), "random_bytes", "malformed_json"),
        Message(topic, recipe.key, b"", "empty_value", "malformed_json"),
        Message(topic, recipe.key, edited(**{field: bad}), "wrong_type", "wrong_type"),
        Message(topic, recipe.key, orjson.dumps(missing), "missing_field", f"missing:{recipe.required}"),
        Message(topic, recipe.key, huge, "one_megabyte", "too_large"),
        Message(topic, recipe.key, edited(**{recipe.time_field: now + 86_400}), "future_time",
                f"out_of_range:{recipe.time_field}"),
        Message(topic, recipe.key, edited(**{recipe.time_field: now * 1000}), "milliseconds_time",
                f"out_of_range:{recipe.time_field}"),
        Message(topic, recipe.key, edited(**{recipe.time_field: 0.0}), "ancient_time",
                f"out_of_range:{recipe.time_field}"),
        # FerretDB refuses NaN, Infinity and NUL: before, one such value froze a writer or crash-looped the job.
        Message(topic, recipe.key, _json_with_nan(base, recipe.float_field, "NaN"), "nan", f"not_finite:{recipe.float_field}"),
        Message(topic, recipe.key, _json_with_nan(base, recipe.float_field, "Infinity"), "infinity",
                f"not_finite:{recipe.float_field}"),
        # the alert-path case: for flights a NUL callsign squawking 7700 (an EMERGENCY if it got through)
        Message(topic, recipe.key, edited(**{recipe.text_field: "chaos\u0000",
                                             **({"squawk": "7700"} if "squawk" in base else {})}),
                "nul_text", f"bad_text:{recipe.text_field}"),
    ] + [Message(topic, recipe.key, edited(**changes), kind, reason) for kind, changes, reason in recipe.nested]


def _json_with_nan(base: dict[str, Any], field: str, token: str) -> bytes:
    """The message with ``field`` set to JSON's non-standard NaN/Infinity token (as Python's json writes it)."""
    import json

    return json.dumps({**base, field: float("nan") if token == "NaN" else float("inf")}).encode()


def phase_one(now: float, rng: random.Random) -> list[Message]:
    flights, weather = valid_flights(now, 1), valid_weather(now)
    reference, schedules = valid_reference(now), valid_schedules(now)
    recipes = {
        contracts.FLIGHT_STATES.name: PoisonRecipe(flights[0], flights[0].icao24, ("latitude", "north"),
                                                   "origin_country", "callsign", "event_time", "velocity"),
        contracts.WEATHER.name: PoisonRecipe(weather[0], weather[0].cell_id, ("weather_code", "storm"),
                                             "cell_id", "cell_id", "observation_time", "wind_gusts_10m",
                                             nested=(("wrong_grid", {"cell_id": "1:1"}, "wrong_grid:cell_id"),)),
        contracts.LH_REFERENCE.name: PoisonRecipe(reference[0], reference[0].key, ("latitude", [1, 2]),
                                                  "code", "name", "fetched_time", "latitude", nested=(
                                                      ("null_name", {"names": {"en": None}}, "missing:names{}"),
                                                      ("dotted_key", {"names": {"e.n": "Chaos"}}, "bad_key:names"),
                                                      ("dollar_key", {"names": {"$en": "Chaos"}}, "bad_key:names"),
                                                  )),
        contracts.LH_SCHEDULES.name: PoisonRecipe(schedules[0], schedules[0].key, ("legs", "none"),
                                                  "origin", "days_of_operation", "fetched_time", "fetched_time", nested=(
                                                      ("null_leg", {"legs": [None]}, "missing:legs[]"),
                                                      ("null_flight_number", {"flight_numbers": [None]},
                                                       "missing:flight_numbers[]"),
                                                  )),
    }
    valid = (
        [Message(contracts.FLIGHT_STATES.name, s.icao24, s.model_dump_json().encode()) for s in flights]
        + [Message(contracts.WEATHER.name, w.cell_id, w.model_dump_json().encode()) for w in weather]
        + [Message(contracts.LH_REFERENCE.name, r.key, r.model_dump_json().encode()) for r in reference]
        + [Message(contracts.LH_SCHEDULES.name, j.key, j.model_dump_json().encode()) for j in schedules]
    )
    poison = [m for topic, recipe in recipes.items() for m in poison_messages(topic, recipe, now, rng)]
    mixed = valid + poison
    rng.shuffle(mixed)  # poison between valid messages, in the same partitions
    return mixed


# --- talking to the stack ----------------------------------------------------------------------------
def produce(settings: Settings, messages: list[Message]) -> None:
    from confluent_kafka import Producer

    producer = Producer({
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "message.max.bytes": 1_048_576,  # lets the 1 MB poison through to the broker (limit 1,048,588)
    })
    failures: list[str] = []
    for m in messages:
        producer.produce(m.topic, key=m.key, value=m.value,
                         on_delivery=lambda err, _msg: failures.append(str(err)) if err else None)
        producer.poll(0)
    if producer.flush(60) or failures:
        raise RuntimeError(f"producing the scenario's messages failed: {failures[:3]}")


def read_topic(settings: Settings, topic: str) -> list[Any]:
    """Every message of a topic, from the beginning to the current end."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": f"chaos-{time.time_ns()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        messages: list[Any] = []
        deadline = time.monotonic() + 60
        while sum(ends.values()) > len(messages) and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                messages.append(message)
        return messages
    finally:
        consumer.close()


def lake_states(settings: Settings) -> list[tuple[str, float]]:
    """(icao24, event_time) of every row of the enriched Parquet lake."""
    import pyarrow.parquet as pq

    from skyrisk.s3 import s3_client

    client = s3_client(settings)
    rows: list[tuple[str, float]] = []
    for item in client.list_objects(settings.lake_bucket, prefix=f"{contracts.LAKE_ENRICHED}/", recursive=True):
        if not item.object_name.endswith(".parquet"):
            continue
        response = client.get_object(settings.lake_bucket, item.object_name)
        try:
            table = pq.read_table(io.BytesIO(response.read()), columns=["icao24", "event_time"])
        finally:
            response.close()
            response.release_conn()
        rows.extend(zip(table.column("icao24").to_pylist(), table.column("event_time").to_pylist()))
    return rows


@contextmanager
def streaming_job(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen]:
    """``python -m streaming`` on these settings, in its own session (its JVM included);
    SIGTERM on exit, SIGKILL of its process group if it does not stop."""
    job = PlatformProcess(settings, "streaming", ["streaming"], log_path)
    job.start()
    try:
        yield job.process
    finally:
        job.stop(90)


# --- the scenario -------------------------------------------------------------------------------------
def run(settings: Settings, workdir: Path) -> Verdict:
    from pymongo import MongoClient

    name = "poison"
    settings = settings.model_copy(update={
        "checkpoint_dir": str(workdir / "checkpoints"),
        "mongo_database": "chaos_poison",
        "weather_grid_deg": GRID,
        "bbox": REGION,  # the job takes weather of its region's cells only
        "spark_master": "local[2]",
        "spark_shuffle_partitions": 2,
        "spark_driver_memory": "1g",
        "spark_ui_port": 0,
    })
    from infra.stack import create_collections

    create_collections(settings, echo=lambda _m: None)
    rng = random.Random(20261121)
    now = time.time()
    first = phase_one(now, rng)
    second = [Message(contracts.FLIGHT_STATES.name, s.icao24, s.model_dump_json().encode()) for s in valid_flights(now, 2)]
    poison = [m for m in first if m.reason is not None]
    expected_letters = Counter((m.topic, m.reason) for m in poison)
    good_states = {(s.icao24, s.event_time) for s in valid_flights(now, 1) + valid_flights(now, 2)}
    newest = {s.icao24: s.event_time for s in valid_flights(now, 2)}
    newest_first = {s.icao24: s.event_time for s in valid_flights(now, 1)}

    mongo = MongoClient(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=10_000)
    db = mongo[settings.mongo_database]

    def live_times() -> dict[str, float]:
        return {d["_id"]: d["event_time"] for d in db["flights_live"].find({"_id": {"$in": list(newest)}})}

    def letters_count() -> int:
        return len(read_topic(settings, contracts.DEAD_LETTER.name))

    started = time.monotonic()
    problems: list[str] = []
    got_letters: Counter[tuple[str, str]] = Counter()
    ours: list[tuple[str, float]] = []
    weather_rows = airports = schedules = 0
    try:
        with streaming_job(settings, workdir / "streaming.log") as job:
            produce(settings, first)

            def running() -> bool:
                return job.poll() is None

            phase_one_out = wait_until(lambda: live_times() == newest_first and letters_count() >= len(poison),
                                       JOB_START_TIMEOUT_S + PHASE_TIMEOUT_S, interval_s=1.0, alive=running)
            if not phase_one_out:
                problems.append(f"phase 1 did not come out (flights_live {live_times()}, {letters_count()} letters)")
            produce(settings, second)
            if phase_one_out and not wait_until(lambda: live_times() == newest, PHASE_TIMEOUT_S, interval_s=1.0,
                                                alive=running):
                problems.append(f"phase 2 states did not come out: flights_live {live_times()}")
            time.sleep(SETTLE_S)
            alive_until_stopped = job.poll() is None
        exit_code = job.returncode
        if not alive_until_stopped:
            problems.append(f"the streaming job died (exit {exit_code}); see {workdir / 'streaming.log'}")
        elif exit_code != 0:
            problems.append(f"the streaming job exited {exit_code} on SIGTERM (a query died)")

        letters = [orjson.loads(m.value()) for m in read_topic(settings, contracts.DEAD_LETTER.name)]
        got_letters = Counter((d["source_topic"], d["reason"]) for d in letters)
        if got_letters != expected_letters:
            missing, extra = expected_letters - got_letters, got_letters - expected_letters
            problems.append(f"dead letters differ: missing {dict(missing)}, unexpected {dict(extra)}")
        oversized = [len(d["raw"]) for d in letters if d["reason"] == "too_large"]
        if any(size > ONE_MEGABYTE // 2 for size in oversized):
            problems.append(f"too_large dead letters carry {oversized} characters of raw payload")
        progress_rejects: Counter[str] = Counter()
        for doc in db["stream_progress"].find({"query": "deadletter"}):
            progress_rejects.update(doc.get("rejects") or {})
        expected_by_reason = Counter(m.reason for m in poison)
        if progress_rejects != expected_by_reason:
            problems.append(f"stream_progress rejects {dict(progress_rejects)} != {dict(expected_by_reason)}")

        lake = lake_states(settings)
        ours = [row for row in lake if row[0] in newest]
        if set(ours) != good_states or len(ours) != len(good_states):
            problems.append(f"lake holds {len(ours)} of our states ({len(set(ours) & good_states)} expected ones)"
                            f", {len(lake) - len(ours)} others; expected exactly {len(good_states)}")
        if live_times() != newest:
            problems.append(f"flights_live is not the newest state of each aircraft: {live_times()}")
        cells = {w.cell_id for w in valid_weather(now)}
        weather_rows = db["weather_latest"].count_documents({"_id": {"$in": sorted(cells)}})
        airports = db["airports"].count_documents({"_id": {"$in": ["ZZA", "ZZB", "ZZC"]}})
        schedules = db["schedules"].count_documents({"flight_numbers": {"$in": ["LH9001", "LH9002"]}})
        if (weather_rows, airports, schedules) != (WEATHER_CELLS, 3, 2):
            problems.append(f"weather cells {weather_rows}/{WEATHER_CELLS}, airports {airports}/3, schedules {schedules}/2")
        # the NUL callsign squawking 7700 is a dead letter, never an EMERGENCY (the valid flights squawk 2000)
        if (emergencies := db["alerts"].count_documents({"type": vocabulary.EMERGENCY})) != 0:
            problems.append(f"{emergencies} EMERGENCY alert(s) from poison")
    finally:
        mongo.close()

    counts = {
        "poison_sent": len(poison),
        "dead_letters": sum(got_letters.values()),
        "dead_letters_as_expected": sum((got_letters & expected_letters).values()),
        "valid_states_sent": len(good_states),
        "valid_states_in_lake": len(set(ours) & good_states),
        "valid_other_sent": WEATHER_CELLS + 3 + 2,
        "valid_other_stored": weather_rows + airports + schedules,
        "seconds": round(time.monotonic() - started, 1),
    }
    kinds = sorted({m.kind for m in poison})
    detail = (f"{len(poison)} poison messages ({', '.join(kinds)}) on 4 topics; "
              + ("all dead-lettered with the expected reason, valid data flowed on, job exited 0"
                 if not problems else "; ".join(problems)))
    return Verdict(name, not problems, counts, detail)


SCENARIOS = [
    Scenario(
        name="poison",
        run=run,
        description="random bytes, empty values, wrong types, missing fields, 1 MB payloads, future/ms/ancient "
        "timestamps, NaN/Infinity, NUL characters on every input topic, and nested poison (null legs and flight "
        "numbers, null names, '$'/'.' keys, a foreign grid's cell): each dead-lettered with its reason, valid data "
        "flows on",
        quick=True,
    )
]
