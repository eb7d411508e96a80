"""End to end on the real stack: contract messages -> Kafka -> the streaming job -> MongoDB and Parquet.

The job runs with ``availableNow`` twice on one checkpoint: the second run must add exactly the
new states (none lost, no duplicates even though old states are delivered again).
Aircraft ids are unique per run, so data other tests put on the shared topics doesn't count.
The watermark tests run the job twice too: what run 1 saw sets the watermark run 2 is judged by.
"""

from __future__ import annotations

import json
import random
import time

import pytest

from skyrisk import contracts
from skyrisk.contracts import ReferenceRecord, ScheduleJourney, ScheduleLeg
from streaming.app import StreamingJob
from skyrisk.geo import cell_id
from tests.streaming.messages import GRID, flight, weather

# Over the South Pacific: no simulator of the shared test session publishes weather there.
STORM = (-44.77, 170.57)  # the four positions (+0.00 to +0.03 lat) stay in this cell
STORM_CELL = cell_id(*STORM, GRID)
STORM_REGION = (-50.0, 165.0, -40.0, 175.0)

pytestmark = pytest.mark.integration


def produce(settings, topic: str, pairs) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True, "acks": "all"})
    for key, value in pairs:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def run_job(spark, settings) -> None:
    job = StreamingJob(spark, settings)
    try:
        job.start(available_now=True)
        job.await_all(timeout_s=240)
    finally:
        job.close()


@pytest.fixture(scope="module")
def private_broker(stack, tmp_path_factory):
    """A broker of its own: the session's topics carry other tests' traffic (simulator weather,
    journeys, bulk states) that this test's exact counts must not see."""
    from infra import stack as stack_manager
    from infra.ports import free_port

    settings = stack.model_copy(
        update={
            "data_dir": tmp_path_factory.mktemp("e2e-broker"),
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
            "kafka_controller_port": free_port(),
            "kafka_heap": "256m",
        }
    )
    quiet = lambda _message: None  # noqa: E731
    try:
        stack_manager.start_service(settings, stack_manager.kafka_service(settings), quiet, owned=True)
        stack_manager.create_topics(settings, quiet)
        yield settings
    finally:
        stack_manager.down(settings, quiet)  # only this broker has a pid file in its data dir


@pytest.fixture
def job_settings(private_broker, tmp_path):
    """Own broker, database, bucket and checkpoints, so other tests' data and models don't interfere."""
    from infra.stack import create_bucket, create_collections

    run = f"{int(time.time())}{random.randrange(1000):03d}"
    settings = private_broker.model_copy(
        update={
            "mongo_database": f"streaming_e2e_{run}",
            "lake_bucket": f"streaming-e2e-{run}",
            "checkpoint_dir": str(tmp_path / "checkpoints"),
            "bbox": STORM_REGION,  # the job takes weather of its region's cells only
        }
    )
    create_collections(settings, echo=lambda _m: None)
    create_bucket(settings, echo=lambda _m: None)
    return settings


def test_kafka_to_mongo_and_parquet_with_restart(spark, job_settings, mongo_client):
    settings = job_settings
    db = mongo_client[settings.mongo_database]
    rng = random.Random()
    prefix = f"{rng.randrange(16**3):03x}"
    icaos = [f"{prefix}{i:03x}" for i in range(6)]
    # Topics are shared by the whole test session (other tests publish FRA-JFK journeys too).
    flight_number = rng.randrange(5000, 9999)
    now = time.time()

    # Thunderstorm and heavy rain: 40 + 20 = HIGH for every aircraft in that cell.
    produce(settings, contracts.WEATHER.name, [(STORM_CELL, weather(STORM_CELL, observed=now - 600, weather_code=95, precipitation=6.0).model_dump_json())])
    first = [flight(icao, t=now - 120 + 10 * k, lat=STORM[0] + 0.01 * k, lon=STORM[1]) for icao in icaos[:5] for k in range(4)]
    first.append(flight(icaos[5], t=now - 100, lat=-20.0, lon=-20.0, squawk="7700"))  # no weather there
    bad = ["not json", first[0].model_copy(update={"latitude": 95.0}).model_dump_json()]
    produce(settings, contracts.FLIGHT_STATES.name, [(s.icao24, s.model_dump_json()) for s in first] + [(None, b) for b in bad])
    airport = ReferenceRecord(source="sim", type="airport", code="FRA", name="Frankfurt", city_code="FRA", fetched_time=now)
    airline = ReferenceRecord(source="sim", type="airline", code="LH", icao_code="DLH", name="Lufthansa", fetched_time=now)
    leg = ScheduleLeg(departure_airport="FRA", departure_local="2026-11-22T10:00", arrival_airport="JFK",
                      arrival_local="2026-11-22T13:00", marketing_airline="LH", flight_number=flight_number)
    journey = ScheduleJourney(source="sim", origin="FRA", destination="JFK", query_date="2026-11-22", duration_iso="PT9H",
                              duration_minutes=540, stops=0, flight_numbers=[f"LH{flight_number}"], legs=[leg],
                              fetched_time=now)
    produce(settings, contracts.LH_REFERENCE.name, [(r.key, r.model_dump_json()) for r in (airport, airline)] * 2)
    produce(settings, contracts.LH_SCHEDULES.name, [(journey.key, journey.model_dump_json())] * 2)

    db["flights_live"].insert_one({"_id": "stale1", "last_seen": now - 3600})  # unseen for an hour

    run_job(spark, settings)

    assert db["flights_live"].find_one({"_id": "stale1"}) is None
    live = {d["_id"]: d for d in db["flights_live"].find({"_id": {"$in": icaos}})}
    assert set(live) == set(icaos)
    assert live[icaos[0]]["event_time"] == now - 120 + 30  # the newest of its four states
    assert live[icaos[0]]["risk_category"] == "HIGH" and live[icaos[0]]["weather_missing"] is False
    assert live[icaos[5]]["weather_missing"] is True and live[icaos[5]]["emergency"] == "7700 emergency"
    # The states' snapshot times lie 10 s apart: the job observed that poll interval and stored it.
    assert [live[i].get("poll_interval_s") for i in icaos] == [pytest.approx(10.0, abs=1e-3)] * len(icaos)
    alerts = list(db["alerts"].find({"icao24": {"$in": icaos}}))
    # the squawking aircraft cruises normally: an EMERGENCY episode, no separate ANOMALY one
    assert sorted((a["icao24"], a["type"]) for a in alerts) == sorted([(i, "HIGH_RISK") for i in icaos[:5]] + [(icaos[5], "EMERGENCY")])
    assert db["airports"].count_documents({"_id": "FRA"}) == 1 and db["airlines"].find_one({"_id": "LH"})["icao_code"] == "DLH"
    assert db["schedules"].count_documents({"flight_numbers": f"LH{flight_number}"}) == 1  # sent twice, stored once
    assert db["weather_latest"].find_one({"_id": STORM_CELL})["weather_code"] == 95
    assert db["tracks"].count_documents({"icao24": {"$in": icaos}}) >= len(icaos)
    progress = list(db["stream_progress"].find({"query": "deadletter"}))
    assert sum(p["rejects"].get("malformed_json", 0) for p in progress) >= 1
    assert sum(p["rejects"].get("out_of_range:latitude", 0) for p in progress) >= 1

    def lake_rows():
        from pyspark.sql import functions as F

        frame = spark.read.parquet(f"{settings.lake_url}/{contracts.LAKE_ENRICHED}").where(F.col("icao24").isin(icaos))
        return frame.count(), frame.select("icao24", "event_time").distinct().count()

    assert lake_rows() == (len(first), len(first))

    # Second run on the same checkpoint: new states plus a redelivery of old ones.
    second = [flight(icao, t=now - 60 + 10 * k, lat=STORM[0], lon=STORM[1]) for icao in icaos[:5] for k in range(2)]
    produce(settings, contracts.FLIGHT_STATES.name, [(s.icao24, s.model_dump_json()) for s in second + first[:5]])
    run_job(spark, settings)
    assert lake_rows() == (len(first) + len(second), len(first) + len(second))
    assert db["flights_live"].find_one({"_id": icaos[0]})["event_time"] == now - 60 + 10
    # one HIGH_RISK episode per aircraft, extended rather than duplicated
    assert db["alerts"].count_documents({"icao24": icaos[0], "type": "HIGH_RISK"}) == 1
    assert db["alerts"].find_one({"icao24": icaos[0], "type": "HIGH_RISK"})["last_seen"] == now - 60 + 10


def test_a_newer_model_is_picked_up_without_restart(spark, job_settings):
    from skyrisk.model_store import save_phase_model
    from skyrisk.phase import PhaseModel
    from streaming import app

    job = StreamingJob(spark, job_settings)
    try:
        assert job.model.bootstrap is True  # an empty lake: the job trained and saved a bootstrap model
        trained = PhaseModel.from_json(job.model.to_json())
        trained.version, trained.bootstrap, trained.trained_at = "nightly-test", False, time.time()
        save_phase_model(trained, job_settings)
        job.model_checked_at -= app.MODEL_POLL_SECONDS  # as if the poll interval had passed
        job._maybe_reload_model()
        assert job.model.version == "nightly-test"
    finally:
        job.close()


def test_stream_and_nightly_batch_agree_on_the_alerts_of_the_same_rows(spark, job_settings, mongo_client):
    """One anomaly-only aircraft, one emergency-only aircraft, one ordinary one, through the real
    streaming job and then the real nightly batch over the rows it left in the lake."""
    from batch import job as batch_job
    from batch import lake

    settings = job_settings
    db = mongo_client[settings.mongo_database]
    day, start = "2025-06-01", 1_748_772_000.0  # 10:00 UTC: a past day, so the whole track is one day
    diving, squawking, ordinary = "a1b2c3", "a1b2c4", "a1b2c5"
    states = []
    for k in range(8):
        t, lat = start + 10 * k, 45.0 + 0.02 * k
        dive = -60.0 if 2 <= k <= 6 else 0.0  # five reports over 40 s outside the envelope
        states.append(flight(diving, t=t, lat=lat, lon=2.0, vertical_rate=dive, squawk="1000"))
        states.append(flight(squawking, t=t, lat=lat, lon=3.0, squawk="7700"))
        states.append(flight(ordinary, t=t, lat=lat, lon=4.0, squawk="1000"))
    produce(settings, contracts.FLIGHT_STATES.name, [(s.icao24, s.model_dump_json()) for s in states])
    run_job(spark, settings)

    mine = [diving, squawking, ordinary]
    stream_episodes = sorted((a["icao24"], a["type"]) for a in db["alerts"].find({"icao24": {"$in": mine}}))
    assert stream_episodes == [(diving, "ANOMALY"), (squawking, "EMERGENCY")]

    batch_job.consolidate_day(spark, settings, db, day, retrain_model=False)
    summaries = lake.read_published(spark, settings.lake_url, "summaries", [day]).collect()
    batch_episodes = sorted(
        (s.icao24, t) for s in summaries for t, n in s.alert_episodes.items() for _ in range(n) if s.icao24 in mine)
    assert batch_episodes == stream_episodes
    stats = db["daily_stats"].find_one({"_id": day})
    assert stats["alerts_by_type"] == {"HIGH_RISK": 0, "ANOMALY": 1, "EMERGENCY": 1}


def lake_keys(spark, settings, icaos) -> list[tuple[str, float]]:
    """(icao24, event_time) of the lake rows of these aircraft, repeats kept."""
    from pyspark.sql import functions as F

    frame = spark.read.parquet(f"{settings.lake_url}/{contracts.LAKE_ENRICHED}").where(F.col("icao24").isin(icaos))
    return sorted((r.icao24, r.event_time) for r in frame.select("icao24", "event_time").collect())


def flights_progress(db) -> list[dict]:
    return list(db["stream_progress"].find({"query": "flights"}))


def test_a_future_state_cannot_make_real_states_late(spark, job_settings, mongo_client):
    """Issue 12: a state 200 s ahead (inside the old 300 s skew, beyond the 120 s watermark delay).

    Had it been accepted, the watermark would stand at now + 80 s and every real state after it
    would be dropped as late. A batch's watermark applies from the next batch, so the future state
    goes in run 1 and real states follow in run 2 on the same checkpoint.
    """
    from chaos.scenarios.poison import read_topic

    settings = job_settings
    db = mongo_client[settings.mongo_database]
    prefix = f"{random.randrange(16**3):03x}"
    icaos = [f"{prefix}{i:03x}" for i in range(3)]
    hijacker = f"{prefix}fff"
    now = time.time()
    real = [flight(icao, t=now - 60 + 10 * k, lat=10.0, lon=10.0) for icao in icaos for k in range(7)]  # now-60 ... now
    first, second = [s for s in real if s.event_time < now - 30], [s for s in real if s.event_time >= now - 30]

    produce(settings, contracts.FLIGHT_STATES.name, [(s.icao24, s.model_dump_json()) for s in [flight(hijacker, t=now + 200)] + first])
    run_job(spark, settings)
    produce(settings, contracts.FLIGHT_STATES.name, [(s.icao24, s.model_dump_json()) for s in second])
    run_job(spark, settings)

    assert lake_keys(spark, settings, icaos + [hijacker]) == sorted((s.icao24, s.event_time) for s in real)
    live = {d["_id"]: d["event_time"] for d in db["flights_live"].find({"_id": {"$in": icaos + [hijacker]}})}
    assert live == {icao: now for icao in icaos}
    letters = [json.loads(m.value()) for m in read_topic(settings, contracts.DEAD_LETTER.name)]
    assert [d["reason"] for d in letters if hijacker in d["raw"]] == ["out_of_range:event_time"]
    progress = flights_progress(db)
    assert len(progress) >= 2 and all(p["late_rows_dropped"] == 0 for p in progress)


def test_states_behind_the_watermark_are_counted_as_dropped_late(spark, job_settings, mongo_client):
    from streaming.transforms import FLIGHT_WATERMARK_S

    settings = job_settings
    db = mongo_client[settings.mongo_database]
    prefix = f"{random.randrange(16**3):03x}"
    icaos = [f"{prefix}{i:03x}" for i in range(3)]
    now = time.time()
    current = [flight(icao, t=now, lat=10.0, lon=10.0) for icao in icaos]
    produce(settings, contracts.FLIGHT_STATES.name, [(s.icao24, s.model_dump_json()) for s in current])
    run_job(spark, settings)  # the watermark now stands at now - FLIGHT_WATERMARK_S
    assert sum(p["late_rows_dropped"] for p in flights_progress(db)) == 0

    # a minute beyond the watermark: late; half the delay behind the newest state: on time
    late = [flight(icao, t=now - FLIGHT_WATERMARK_S - 60 + k, lat=10.0, lon=10.0) for icao in icaos for k in range(2)]
    on_time = [flight(icao, t=now - FLIGHT_WATERMARK_S / 2, lat=10.0, lon=10.0) for icao in icaos]
    produce(settings, contracts.FLIGHT_STATES.name, [(s.icao24, s.model_dump_json()) for s in late + on_time])
    run_job(spark, settings)

    assert lake_keys(spark, settings, icaos) == sorted((s.icao24, s.event_time) for s in current + on_time)
    assert sum(p["late_rows_dropped"] for p in flights_progress(db)) == len(late)


def test_a_reset_checkpoint_neither_overwrites_nor_writes_the_retained_states_again(spark, job_settings, mongo_client):
    """Issue 14: deleting the flights checkpoint (the way out of a poisoned query) used to restart
    batch ids at 0, overwriting the lake's batch_id=0.. partitions of the same hour, and to read
    the whole retained topic again (every state twice). Now the lake partition carries the
    checkpoint's id and a new checkpoint resumes at the offsets the last run committed."""
    import shutil
    from pathlib import Path

    settings = job_settings
    prefix = f"{random.randrange(16**3):03x}"
    icaos = [f"{prefix}{i:03x}" for i in range(3)]
    now = time.time()
    first = [flight(i, t=now - 100 + k, lat=-30.0, lon=-100.0 - k * 0.01) for i in icaos for k in range(3)]
    produce(settings, contracts.FLIGHT_STATES.name, [(s.icao24, s.model_dump_json()) for s in first])
    run_job(spark, settings)
    assert len(lake_keys(spark, settings, icaos)) == len(first)

    shutil.rmtree(Path(settings.resolved_checkpoint_dir) / "streaming" / "flights")
    second = [flight(i, t=now - 50 + k, lat=-30.0, lon=-100.1 - k * 0.01) for i in icaos for k in range(3)]
    produce(settings, contracts.FLIGHT_STATES.name, [(s.icao24, s.model_dump_json()) for s in second])
    run_job(spark, settings)

    expected = sorted((s.icao24, s.event_time) for s in first + second)
    assert lake_keys(spark, settings, icaos) == expected  # each state once: none overwritten, none repeated
