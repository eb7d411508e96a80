"""Thin wiring of the nightly consolidation: lake and MongoDB I/O around batch.transforms."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from batch import lake, store, transforms
from skyrisk.contracts import LAKE_ENRICHED, EnrichedState, ReferenceRecord, ScheduleJourney, spark_schema
from skyrisk.s3 import child_prefixes
from skyrisk.settings import Settings

if TYPE_CHECKING:
    from pymongo.database import Database
    from pyspark.sql import DataFrame, SparkSession

# "Few large files": one curated file per about this many positions (~25 MB of zstd Parquet on
# the benchmark's day). Also the size of each sort task: 16 tasks of the 35 M-row day ran the
# stage (without its write) in 154 s, 9 tasks in 167 s.
ROWS_PER_FILE = 2_000_000
# The phase model needs a representative sample, not every one of ~30 M airborne states.
MODEL_TRAINING_ROWS = 500_000

Echo = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


class InputDayMissing(lake.LakeError):
    """The enriched history has no data for the day asked for."""


@dataclass
class Stage:
    name: str
    rows: int  # rows the stage read (its throughput is measured on these)
    seconds: float
    output_rows: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class DayResult:
    day: str
    run_id: str
    rows: dict[str, int] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    model_location: str | None = None
    model_metrics: dict[str, float] = field(default_factory=dict)


class Progress:
    """Console progress: day k of n, stage, rows, time."""

    def __init__(self, echo: Echo = _print, total_days: int = 1) -> None:
        self.echo = echo
        self.total_days = total_days
        self.index = 0
        self.day = ""

    def start_day(self, day: str) -> None:
        self.index += 1
        self.day = day
        self.echo(f"[batch] day {self.index}/{self.total_days} {day}: started")

    def stage(self, stage: Stage) -> None:
        self.echo(
            f"[batch] day {self.index}/{self.total_days} {self.day}: {stage.name:<18} {stage.rows:>12,} rows in "
            f"{stage.seconds:7.1f} s {stage.rows_per_second:>10,.0f} rows/s -> {stage.output_rows:,} rows out"
        )


def curated_files(rows: int, cores: int) -> int:
    """Files (= sort tasks) of a curated day: about ROWS_PER_FILE rows each; more than one is
    rounded up to a multiple of the cores, so that no core idles through the last wave of tasks."""
    files = max(1, math.ceil(rows / ROWS_PER_FILE))
    return files if files == 1 else math.ceil(files / max(1, cores)) * max(1, cores)


def days_between(first: date, last: date) -> list[str]:
    if last < first:
        raise ValueError(f"--from {first} is after --to {last}")
    return [(first + timedelta(days=k)).isoformat() for k in range((last - first).days + 1)]


def enriched_day_url(settings: Settings, day: str) -> str:
    return f"{settings.lake_url}/{LAKE_ENRICHED}/date={day}"


def available_days(settings: Settings) -> list[str]:
    """Days the streaming job has written history for (an S3 listing: no Spark needed)."""
    names = child_prefixes(settings, LAKE_ENRICHED)
    return sorted(name[len("date=") :] for name in names if name.startswith("date="))


def reference_frames(spark: "SparkSession", db: "Database", day: str) -> dict[str, "DataFrame"]:
    reference = spark_schema(ReferenceRecord)
    journeys = spark.createDataFrame(store.schedule_journeys(db, day), spark_schema(ScheduleJourney))
    return {
        "airlines": spark.createDataFrame(store.reference_records(db, "airlines"), reference),
        "airports": spark.createDataFrame(store.reference_records(db, "airports"), reference),
        "legs": transforms.scheduled_legs(journeys, day),
    }


def has_input(spark: "SparkSession", settings: Settings, day: str) -> bool:
    """The day has enriched files, or its enriched files were retired after a consolidation
    (its published positions are then its input)."""
    if lake.has_files(spark, enriched_day_url(settings, day)):
        return True
    manifest = lake.read_manifest(spark, settings.lake_url, day)
    return bool(manifest and manifest.get("enriched_retired_at"))


def require_input(spark: "SparkSession", settings: Settings, day: str) -> None:
    if not has_input(spark, settings, day):
        raise InputDayMissing(
            f"no enriched flight history for {day} (nothing at {enriched_day_url(settings, day)})"
        )


def late_days(settings: Settings, days: list[str], echo: Echo = _print) -> dict[str, int]:
    """Of consolidated ``days``: those with enriched files their published run did not read,
    and how many (an S3 listing per day: no Spark). A day that cannot be checked is reported
    and left alone until the next tick."""
    late = {}
    for day in days:
        try:
            files = lake.late_files(settings, day)
        except Exception as exc:  # noqa: BLE001 - one unreadable day must not stop the others
            echo(f"[batch] {day}: could not check for late rows ({type(exc).__name__}: {exc})")
            continue
        if files:
            late[day] = len(files)
    return late


def read_input(spark: "SparkSession", settings: Settings, day: str) -> tuple["DataFrame", list[str]]:
    """The day's input rows and the enriched files they come from (relative to ``date=D/``).

    Spark lists the files once, when the DataFrame is made; every stage reads that listing, so
    the names returned are exactly what the run reads. A day whose enriched files the retention
    deleted also reads its published positions (projected back to EnrichedState): rows that
    arrive late for it are added to the day, not put in its place."""
    from functools import reduce

    schema = spark_schema(EnrichedState)
    source = enriched_day_url(settings, day)
    frames, names = [], []
    if lake.has_files(spark, source):
        enriched = spark.read.schema(schema).parquet(source)
        names = [path.split(f"/date={day}/", 1)[1] for path in enriched.inputFiles()]
        frames.append(transforms.conform(enriched, schema))
    manifest = lake.read_manifest(spark, settings.lake_url, day)
    if manifest and manifest.get("enriched_retired_at"):
        frames.append(transforms.conform(spark.read.parquet(manifest["tables"]["positions"]), schema))
    if not frames:
        raise InputDayMissing(f"no enriched flight history for {day} (nothing at {source})")
    return reduce(lambda a, b: a.unionByName(b), frames), names


def day_lease(db: "Database", settings: Settings, day: str, trigger: str, echo: Echo = _print) -> store.DayLease:
    return store.DayLease(db, day, owner=store.lease_owner(trigger), ttl_s=settings.batch_lock_ttl_s, echo=echo)


def consolidate_day(
    spark: "SparkSession",
    settings: Settings,
    db: "Database",
    day: str,
    progress: Progress | None = None,
    *,
    retrain_model: bool = True,
    lease: store.DayLease | None = None,
) -> DayResult:
    """Curated positions, flight summaries, daily stats and the retrained model of one day.

    Runs under the day's lease (:class:`batch.store.DayLease`): without ``lease`` it takes one
    and raises :class:`batch.store.DayBusy` when another run holds the day; before publishing it
    checks the lease is still its own (:class:`batch.store.LeaseLost` otherwise)."""
    if lease is None:
        with day_lease(db, settings, day, "batch", progress.echo if progress else _print) as held:
            return consolidate_day(spark, settings, db, day, progress, retrain_model=retrain_model, lease=held)
    progress = progress or Progress()
    enriched, input_files = read_input(spark, settings, day)
    result = DayResult(day=day, run_id=lake.new_run_id())

    def timed(name: str, action: Callable[[], int], rows_in: int | None = None) -> int:
        started = time.perf_counter()
        rows_out = action()
        stage = Stage(name, rows_out if rows_in is None else rows_in, time.perf_counter() - started, rows_out)
        result.stages.append(stage)
        progress.stage(stage)
        return rows_out

    input_rows = timed("read (count)", enriched.count)
    positions_url = lake.run_url(settings.lake_url, "positions", day, result.run_id)
    summaries_url = lake.run_url(settings.lake_url, "summaries", day, result.run_id)

    def write_curated() -> int:
        curated = transforms.curate_positions(
            enriched,
            partitions=curated_files(input_rows, spark.sparkContext.defaultParallelism),
            gap_minutes=settings.batch_flight_gap_minutes,
        )
        curated.write.mode("errorifexists").parquet(positions_url)
        return spark.read.parquet(positions_url).count()

    positions_rows = timed("curated positions", write_curated, input_rows)
    positions = spark.read.parquet(positions_url)

    def write_summaries() -> int:
        summaries = transforms.flight_summaries(positions, day=day, **reference_frames(spark, db, day))
        # A day has thousands of flights: one file, in a stable order.
        summaries.repartition(1).sortWithinPartitions("icao24", "first_seen").write.mode("errorifexists").parquet(
            summaries_url
        )
        return spark.read.parquet(summaries_url).count()

    flights = timed("flight summaries", write_summaries, positions_rows)
    result.rows = {
        "input": input_rows,
        "positions": positions_rows,
        "duplicates_dropped": input_rows - positions_rows,
        "flights": flights,
    }
    inputs_url = lake.inputs_url(settings.lake_url, day, result.run_id)
    lake.write_inputs(settings, inputs_url, input_files)

    def publish() -> int:
        lease.check()  # a run that stalled and lost the day to another run must not publish over it
        lake.publish_day(spark, settings.lake_url, day, result.run_id, result.rows,
                         extra={"inputs": inputs_url, "input_files": len(input_files)})
        return 1

    timed("publish", publish)

    def write_daily_stats() -> int:
        counts = [row.asDict() for row in transforms.daily_counts(positions).collect()]
        alerts = transforms.total_alert_episodes(spark.read.parquet(summaries_url)).first().asDict()
        document = transforms.daily_stats_document(
            day,
            counts,
            aircraft=positions.select("icao24").distinct().count(),
            flights=flights,
            alert_episodes={k: v or 0 for k, v in alerts.items()},
        )
        store.write_daily_stats(db, document)
        return 1

    timed("daily stats", write_daily_stats, positions_rows)
    if retrain_model:
        result.rows["model_training_rows"] = timed(
            "model retraining", lambda: _retrain_model(positions, settings, day, result), positions_rows
        )
    return result


def _retrain_model(positions: "DataFrame", settings: Settings, day: str, result: DayResult) -> int:
    # Imported here: the model code is the streaming side's, only this stage needs it.
    from skyrisk.model_store import save_phase_model, trained_version
    from skyrisk.phase import train_phase_model

    airborne = transforms.airborne_states(positions)
    available = airborne.count()
    fraction = min(1.0, MODEL_TRAINING_ROWS / available) if available else 1.0
    sample = airborne.sample(fraction=fraction, seed=int(day.replace("-", ""))) if fraction < 1.0 else airborne
    # One version per day: a rerun replaces the day's model instead of adding another.
    model = train_phase_model(sample, version=trained_version(day))
    result.model_location = save_phase_model(model, settings)
    result.model_metrics = dict(model.metrics)
    return int(model.metrics.get("rows", 0))


def mongo_database(settings: Settings) -> Any:
    from pymongo import MongoClient

    client = MongoClient(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=10_000)
    return client[settings.mongo_database]
