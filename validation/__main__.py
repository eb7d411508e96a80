"""`make validate`: real OpenSky trajectories through the real stack, figures against targets.

    .venv/bin/python -m validation            # the whole set: 3 h around Paris + injected faults
    .venv/bin/python -m validation --short    # its first 30 minutes, fewer injections (in make test)

Steps: fetch the pinned ``traffic`` wheel into the cache and convert its ``quickstart``
collection (2021-10-07 12:00-15:00 UTC around Paris, 1 Hz) into OpenSky historical CSV and
``/states/all`` snapshots; add copies of real tracks with injected faults and the real
parabolic (zero-g) flight re-timed into the window; start a throw-away stack; replay the CSV
with the real producer (``python -m producers opensky replay``) into the real streaming job;
read the enriched lake and the alerts; print the figures (and write them to
``bench/results/validation-<date>.md`` for the full set). Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from skyrisk.vocabulary import ANOMALY
from validation import dataset, figures, inject

COLLECTION = "collections/quickstart"
ZERO_G = "featured/zero_gravity"
ZERO_G_ICAO24 = "f50000"
RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results"


@dataclass(frozen=True)
class Plan:
    hours: float
    per_kind: int
    speed: float
    name: str


FULL = Plan(hours=3.0, per_kind=100, speed=40.0, name="full")
SHORT = Plan(hours=0.5, per_kind=25, speed=40.0, name="short")


def zero_g_rows(records: list[dict[str, Any]], first_parabola_at: float, start: float, end: float) -> list[dict[str, Any]]:
    """The real zero-g flight (2020-06-25, parabolas at up to ±110 m/s) as aircraft ``f50000``,
    re-timed so that its first parabola begins at ``first_parabola_at``, cut to [start, end):
    a real anomaly inside the replayed window."""
    from skyrisk.vocabulary import MAX_AIRLINER_VERTICAL_RATE_MS

    rows = dataset.state_rows(records)
    parabola = next(r["time"] for r in rows if abs(r["vertical_rate"] or 0.0) > MAX_AIRLINER_VERTICAL_RATE_MS)
    shift = first_parabola_at - parabola
    moved = [{**r, "time": r["time"] + shift, "icao24": ZERO_G_ICAO24} for r in rows]
    return [r for r in moved if start <= r["time"] < end]


def build(cache_dir: Path, plan: Plan, echo=print) -> tuple[Path, list[inject.Injection], dict[str, Any]]:
    """The replay directory (CSV), its manifest and a description of the data."""
    wheel = dataset.fetch_wheel(cache_dir, echo=echo)
    rows = dataset.state_rows(dataset.read_sample(wheel, COLLECTION), hours=plan.hours)
    start, end = rows[0]["time"], rows[-1]["time"] + 1
    copies, manifest = inject.inject(inject.by_aircraft(rows), plan.per_kind)
    zero_g = zero_g_rows(dataset.read_sample(wheel, ZERO_G), start + 600, start, end)
    manifest.append(inject.Injection(ZERO_G_ICAO24, "38cf9b", "real_zero_gravity", start + 600, zero_g[-1]["time"], ANOMALY))
    everything = sorted(rows + copies + zero_g, key=lambda r: (r["time"], r["icao24"]))
    work = cache_dir / "validation" / f"work-{plan.name}"
    replay = work / "opensky"
    if replay.exists():
        for old in replay.iterdir():
            old.unlink()
    files = dataset.write_csv(everything, replay)
    snapshots = dataset.write_snapshots(rows, work / "snapshots", resolution_s=10)
    (work / "injections.json").write_text(json.dumps(inject.manifest_json(manifest), indent=1))
    described = {
        "data": f"traffic {dataset.wheel_pin().version} '{COLLECTION}': real OpenSky state vectors, "
                f"{datetime.fromtimestamp(start, UTC):%Y-%m-%d %H:%M}-{datetime.fromtimestamp(end, UTC):%H:%M} UTC around Paris, 1 Hz",
        "real_rows": len(rows),
        "real_aircraft": len({r["icao24"] for r in rows}),
        "injected_copies": sum(1 for m in manifest if m.kind in inject.KINDS),
        "injected_rows": len(copies),
        "zero_g_rows": len(zero_g),
        "csv_files": len(files),
        "snapshots_10s": snapshots,
        "states_replayed": len(everything),
    }
    return replay, manifest, described


def _flights_offsets(job: Any) -> int:
    """Offsets of the flight topic the flights query has completed."""
    from skyrisk import contracts

    query = next(q for q in job.queries if q.name == "flights")
    progress = query.lastProgress
    if not progress:
        return 0
    end = json.loads(progress["sources"][0]["endOffset"]) if isinstance(progress["sources"][0]["endOffset"], str) \
        else progress["sources"][0]["endOffset"]
    return sum(int(v) for v in end.get(contracts.FLIGHT_STATES.name, {}).values())


def _topic_end(settings: Any) -> int:
    from confluent_kafka import Consumer, TopicPartition

    from skyrisk import contracts

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "validation-probe"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(contracts.FLIGHT_STATES.name, p), timeout=10)[1]
                   for p in range(contracts.FLIGHT_STATES.partitions))
    finally:
        consumer.close()


def run_pipeline(settings: Any, replay: Path, speed: float, logs: Path, echo=print, timeout_s: float = 1800.0) -> dict[str, float]:
    """Replay ``replay`` with the real producer into the real streaming job until it has caught up."""
    from infra.processes import PlatformProcess
    from skyrisk.spark import create_spark_session
    from streaming.app import StreamingJob

    spark = create_spark_session(settings, "skyrisk-validation")
    job = StreamingJob(spark, settings)
    started = time.monotonic()
    try:
        job.start()
        producer = PlatformProcess(settings, "producers", ["producers", "opensky", "replay", str(replay), "--speed", str(speed)],
                                   logs / "producers.log", echo=echo)
        producer.start()
        shown = started
        while producer.returncode() is None:
            if time.monotonic() - started > timeout_s:
                producer.stop()
                raise TimeoutError("the replay did not finish in time")
            if time.monotonic() - shown >= 30.0:  # long work shows its progress
                shown = time.monotonic()
                echo(f"[validate] {shown - started:.0f} s: {_topic_end(settings):,} states replayed, "
                     f"{_flights_offsets(job):,} through the stream")
            time.sleep(2.0)
        if producer.returncode() != 0:
            raise RuntimeError(f"the producer failed (exit {producer.returncode()}): {producer.last_run_log()[-2000:]}")
        produced = _topic_end(settings)
        replayed = time.monotonic() - started
        echo(f"[validate] replay done: {produced:,} states on the topic after {replayed:.0f} s; waiting for the stream")
        while _flights_offsets(job) < produced:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"the streaming job read {_flights_offsets(job):,} of {produced:,} states in time")
            if any(not q.isActive for q in job.queries):
                raise RuntimeError(f"a streaming query stopped: {[(q.name, q.exception()) for q in job.queries]}")
            time.sleep(2.0)
        flights = next(q for q in job.queries if q.name == "flights")
        while flights.status["isTriggerActive"] and time.monotonic() - started < timeout_s:
            time.sleep(0.5)  # stop between micro-batches, not inside one
        return {"produced": produced, "replay_s": replayed, "pipeline_s": time.monotonic() - started}
    finally:
        job.close()


def read_results(settings: Any) -> tuple[Any, list[dict[str, Any]]]:
    from pymongo import MongoClient

    from skyrisk import contracts
    from skyrisk.spark import create_spark_session

    spark = create_spark_session(settings, "skyrisk-validation")
    rows = spark.read.parquet(f"{settings.lake_url}/{contracts.LAKE_ENRICHED}").select(
        "icao24", "event_time", "on_ground", "baro_altitude", "vertical_rate", "phase", "anomaly").toPandas()
    with MongoClient(settings.mongo_uri.get_secret_value()) as client:
        alerts = list(client[settings.mongo_database]["alerts"].find({}, {"_id": 0, "icao24": 1, "type": 1, "started_at": 1, "last_seen": 1}))
    return rows, alerts


def validate(plan: Plan, echo=print) -> tuple[list[figures.Figure], str]:
    from infra.stack import throwaway_stack
    from skyrisk.settings import load_settings

    cache_dir = load_settings().cache_dir
    replay, manifest, described = build(cache_dir, plan, echo)
    echo(f"[validate] {described['data']}: {described['real_rows']:,} real states of {described['real_aircraft']} aircraft, "
         f"{described['injected_copies']} injected copies ({described['injected_rows']:,} states), zero-g flight "
         f"({described['zero_g_rows']:,} states) -> {replay}")
    with throwaway_stack("skyrisk-validate-", echo=lambda _m: None) as settings:
        logs = Path(settings.data_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        timing = run_pipeline(settings, replay, plan.speed, logs, echo)
        rows, alerts = read_results(settings)
    if len(rows) != timing["produced"]:
        echo(f"[validate] note: {timing['produced']:,} states produced, {len(rows):,} in the lake")
    result = figures.figures(rows, alerts, manifest)
    details = [
        f"data: {described['data']}",
        f"replayed: {described['states_replayed']:,} states ({described['real_rows']:,} real of {described['real_aircraft']} aircraft; "
        f"{described['injected_copies']} injected copies, {described['injected_rows']:,} states; the real zero-g flight re-timed, "
        f"{described['zero_g_rows']:,} states), --speed {plan.speed:g}; lake rows {len(rows):,}; alert episodes {len(alerts):,}",
        f"pipeline: replay {timing['replay_s']:.0f} s, caught up after {timing['pipeline_s']:.0f} s",
    ]
    text = figures.report(f"validation ({plan.name}) of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", result, details)
    return result, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="the first 30 minutes and 25 injections per kind")
    args = parser.parse_args(argv)
    plan = SHORT if args.short else FULL
    try:
        result, text = validate(plan)
    except dataset.DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    if plan is FULL:
        path = RESULTS / f"validation-{datetime.now(UTC):%Y-%m-%d}.md"
        path.write_text("```\n" + text + "\n```\n")
        print(f"written to {path}")
    return 0 if all(f.met for f in result) else 1


if __name__ == "__main__":
    sys.exit(main())
