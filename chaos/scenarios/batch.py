"""Batch faults: two runs of one day's consolidation at the same time.

``concurrent-batch-runs`` writes a day of enriched history into the lake the way the streaming
job leaves it (many small files under ``date=D/hour=H/batch_id=N``, about 1 % of the states
delivered twice), then starts, at the same moment, the nightly scheduler (``python -m batch
schedule``, which catches the day up at once: it is due and has no run) and a manual
``python -m batch consolidate --date D`` on the same day. One of them must consolidate the day
and the other must be refused by the day's lease, in one line; the scheduler, if it was the
one refused, tries again a minute later and finds the day done. Then it counts: every distinct
(icao24, event_time) of the enriched day is in the published positions once (missing 0,
duplicates 0, nothing unexpected), exactly one run succeeded, and the day's lake folder holds
exactly the published run.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from chaos.core import PlatformProcess, Scenario, Verdict, compare_counts, say, wait_until
from skyrisk import contracts
from skyrisk.s3 import child_prefixes
from skyrisk.settings import Settings

AIRCRAFT = 60
INTERVAL_S = 60  # one state per aircraft per minute: 86,400 states a day
BATCH_S = 600  # one "micro-batch" file per 10 minutes and hour: 144 small files
DUPLICATE_EVERY = 97  # ~1 % of the states are delivered twice, in a later batch
START_DEADLINE_S = 600.0  # two Spark drivers starting at once on a busy 2-core machine
RUN_DEADLINE_S = 900.0
BUSY_LINE = re.compile(r"consolidation of (\S+) is already running \(owner (.+), since (\S+)\); try again later")


def _filesystem(settings: Settings):
    import pyarrow.fs as pafs

    host, port = settings.s3_host_port
    return pafs.S3FileSystem(
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        endpoint_override=f"{host}:{port}",
        scheme="https" if settings.s3_endpoint.startswith("https") else "http",
        region=settings.s3_region,
    )


def _state(icao24: str, t: float, k: int, a: int) -> dict:
    """A plausible state: a 2-hour cycle of ground, climb, cruise and descent."""
    tau = (k * INTERVAL_S + a * 613) % 7200
    on_ground = tau < 600 or tau >= 6600
    altitude = 0.0 if on_ground else min(11000.0, (tau - 600) * 11000 / 900, (6600 - tau) * 11000 / 900)
    lat = 45.0 + (a % 10) + 0.5 * math.sin(2 * math.pi * tau / 7200)
    lon = 5.0 + (a // 10) + 0.5 * math.cos(2 * math.pi * tau / 7200)
    return contracts.EnrichedState(
        icao24=icao24, callsign=f"DLH{100 + a}", airline_icao="DLH", origin_country="Germany", source="sim",
        event_time=t, latitude=lat, longitude=lon, baro_altitude=altitude, geo_altitude=altitude + 40,
        velocity=0.0 if on_ground else 230.0, true_track=90.0, vertical_rate=0.0, on_ground=on_ground,
        squawk="1000", cell_id=f"{math.floor(lat)}:{math.floor(lon)}", weather=None, weather_missing=True,
        risk_score=10, risk_category="LOW", risk_factors=[], phase="Ground" if on_ground else "Cruise",
        anomaly=False, anomaly_score=None, anomaly_reasons=[], emergency=None, model_version="bootstrap-1",
    ).model_dump()


def write_enriched_day(settings: Settings, day: str) -> tuple[Counter, int]:
    """The day in the streaming job's layout; returns its (icao24, event_time) keys with their
    counts and the number of files."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(contracts.spark_schema(contracts.EnrichedState))
    start = datetime.fromisoformat(f"{day}T00:00:00+00:00").timestamp()
    batches: dict[tuple[int, int], list[dict]] = {}
    keys: Counter = Counter()
    n = 0
    for k in range(86_400 // INTERVAL_S):
        t = start + k * INTERVAL_S
        for a in range(AIRCRAFT):
            row = _state(f"c{a:05x}", t + a * 0.5, k, a)
            offset = BATCH_S if n % DUPLICATE_EVERY == 0 and k * INTERVAL_S + BATCH_S < 86_400 else 0
            copies = [0] if offset == 0 else [0, offset]  # a re-delivered copy lands in a later batch
            for extra in copies:  # hour from the event time, batch from the arrival (as streaming writes)
                second = int(row["event_time"] - start)
                batches.setdefault((second // 3600, (second + extra) // BATCH_S), []).append(row)
                keys[(row["icao24"], row["event_time"])] += 1
            n += 1
    fs = _filesystem(settings)
    root = f"{settings.lake_bucket}/{contracts.LAKE_ENRICHED}/date={day}"
    for (hour, batch_id), rows in sorted(batches.items()):
        table = pa.Table.from_pylist(rows, schema=schema)
        pq.write_table(table, f"{root}/hour={hour}/batch_id={batch_id}/part-00000-{uuid.uuid4()}.c000.zstd.parquet",
                       filesystem=fs, compression="zstd")
    return keys, len(batches)


def published_keys(settings: Settings, day: str) -> tuple[Counter, dict | None]:
    import pyarrow.dataset as ds

    from batch import lake

    manifest = lake.manifest_of(settings, day)
    if manifest is None:
        return Counter(), None
    path = lake.object_key(settings, manifest["tables"]["positions"])
    table = ds.dataset(f"{settings.lake_bucket}/{path}", filesystem=_filesystem(settings), format="parquet").to_table(
        columns=["icao24", "event_time"])
    return Counter(zip(table.column("icao24").to_pylist(), table.column("event_time").to_pylist())), manifest


def _mongo(settings: Settings):
    from pymongo import MongoClient

    client = MongoClient(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=5_000)
    return client, client[settings.mongo_database]


def _batch_lines(process: PlatformProcess) -> list[str]:
    return [line for line in process.last_run_log().splitlines() if line.startswith("[batch]")]


def concurrent_batch_runs(settings: Settings, workdir: Path) -> Verdict:
    from batch import lake
    from batch.scheduler import last_due_day, parse_hhmm
    from batch.store import BATCH_LOCKS, BATCH_RUNS

    name = "concurrent-batch-runs"
    day = last_due_day(datetime.now(timezone.utc), parse_hhmm(settings.batch_time_utc)).isoformat()
    say(f"writing an enriched day {day}: {AIRCRAFT} aircraft, one state a minute, ~1 % delivered twice")
    keys, files = write_enriched_day(settings, day)
    say(f"{sum(keys.values())} rows ({len(keys)} distinct states) in {files} files")

    scheduler = PlatformProcess(settings, "batch-schedule", ["batch", "schedule"], workdir / "schedule.log", echo=say)
    manual = PlatformProcess(settings, "batch-manual", ["batch", "consolidate", "--date", day, "--no-model"],
                             workdir / "manual.log", echo=say)
    client, db = _mongo(settings)
    problems: list[str] = []
    counts: dict[str, float] = {"enriched_rows": sum(keys.values()), "enriched_files": files}
    try:
        say("starting the scheduler and `python -m batch consolidate --date` on the same day at once")
        scheduler.start()
        manual.start()

        def settled() -> bool:
            lines = _batch_lines(scheduler)
            return (manual.returncode() is not None and db[BATCH_LOCKS].find_one({"_id": day}) is None
                    and db[BATCH_RUNS].count_documents({"day": day, "status": "succeeded"}) > 0
                    and bool(lines) and lines[-1].startswith("[batch] next run at"))

        if not wait_until(settled, START_DEADLINE_S + RUN_DEADLINE_S, interval_s=2.0,
                          alive=lambda: scheduler.returncode() is None):
            problems.append(f"the runs did not settle (manual exit {manual.returncode()}, scheduler exit "
                            f"{scheduler.returncode()}); see {workdir}")
    finally:
        manual_code = manual.stop()
        scheduler_code = scheduler.stop()
    manual_log = manual.last_run_log()
    schedule_lines = _batch_lines(scheduler)
    runs = list(db[BATCH_RUNS].find({"day": day}, {"_id": 0}))
    client.close()

    refusals = [m for text in (manual_log, "\n".join(schedule_lines)) for m in BUSY_LINE.finditer(text)]
    succeeded = [r for r in runs if r["status"] == "succeeded"]
    say(f"manual exit {manual_code}, scheduler exit {scheduler_code}; runs {[(r.get('trigger'), r['status']) for r in runs]}; "
        f"{len(refusals)} refusal(s)")
    for match in refusals:
        say(f"refused: {match.group(0)}")

    stored, manifest = published_keys(settings, day)
    check = compare_counts(keys, stored)
    run_dirs = {table: sorted(child_prefixes(settings, f"{lake.TABLES[table]}/date={day}")) for table in lake.TABLES}
    counts.update(check.counts())
    counts.update({"runs_succeeded": len(succeeded), "runs_failed": sum(r["status"] == "failed" for r in runs),
                   "busy_refusals": len(refusals), "run_dirs": max(len(v) for v in run_dirs.values()),
                   "manual_exit": -1 if manual_code is None else manual_code,
                   "scheduler_exit": -1 if scheduler_code is None else scheduler_code})
    say(f"count check: {check}")

    if not check.ok:
        problems.append(f"published positions differ from the enriched day: missing {check.missing}, duplicates "
                        f"{check.duplicates}, unexpected {check.unexpected} (of {check.sent})")
    if len(succeeded) != 1 or counts["runs_failed"]:
        problems.append(f"expected exactly one successful run and none failed, got {runs}")
    if len(refusals) < 1:
        problems.append("neither run was refused: they did not overlap, or the lease did not hold them apart")
    if manifest and any(names != [f"run={manifest['run_id']}"] for names in run_dirs.values()):
        problems.append(f"the day's folders hold other runs than the published one: {run_dirs}")
    if manual_code not in (0, 3):
        problems.append(f"the manual command exited {manual_code} (0 = it ran the day, 3 = refused)")
    if scheduler_code != 0:
        problems.append(f"the scheduler exited {scheduler_code} on SIGTERM")
    if problems:
        return Verdict(name, False, counts, "; ".join(problems))
    winner = succeeded[0].get("trigger")
    return Verdict(name, True, counts,
                   f"the {winner} run consolidated {check.stored_rows} of {check.sent} states "
                   f"({counts['enriched_rows']:.0f} rows in {files} files), the other was refused in one line; "
                   "no state missing or doubled")


SCENARIOS = [
    Scenario("concurrent-batch-runs", concurrent_batch_runs,
             "the scheduler and `python -m batch consolidate --date D` on one day at once: one runs, the other is "
             "refused by the day's lease; the published day holds every enriched state once"),
]
