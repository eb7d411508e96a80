"""Rows of a day that reach the enriched lake after the day was consolidated (real stack)."""

from __future__ import annotations

import contextlib
import threading

import pytest

from batch import job, lake
from batch.__main__ import build_scheduler
from skyrisk.contracts import EnrichedState, spark_schema
from tests.batch import scenario
from tests.batch.test_consolidate import load_references, write_enriched_day
from tests.batch.test_scheduler import FakeClock, utc

pytestmark = pytest.mark.integration

LATE_DAY = "2026-09-10"
LATE = [scenario.Point("23:00", 48.0, 11.0, 9000, False), scenario.Point("23:01", 48.1, 11.0, 9000, False),
        scenario.Point("23:02", 48.2, 11.0, 9000, False)]


def append_late_rows(spark, settings, day: str) -> None:
    """Three states of another aircraft, written later by a micro-batch of its own, as the
    streaming job writes rows that arrive late (one of them also a copy of an old state): two
    files, one in hour=23 and one in hour=6."""
    from pyspark.sql import functions as F

    rows = [scenario.state("d0d0d0", "DLH999", p, day) for p in LATE] + [scenario.state("3c6444", "DLH400", scenario.A1[2], day)]
    spark.createDataFrame(rows, spark_schema(EnrichedState)).coalesce(1).withColumn(
        "hour", F.hour(F.timestamp_seconds("event_time"))).withColumn("batch_id", F.lit(99).cast("long")).write.mode(
        "append").partitionBy("hour", "batch_id").parquet(job.enriched_day_url(settings, day))


def night(spark, settings, db, now: str) -> list[str]:
    """One start of the scheduler as `python -m batch schedule` wires it, at ``now`` (fake clock)."""
    stop = threading.Event()
    clock = FakeClock(utc(now), stop, until=utc(now))  # stops at its first sleep: one catch-up
    lines: list[str] = []
    scheduler = build_scheduler(settings, db, clock=clock, stop=stop, echo=lines.append,
                                spark_session=lambda: contextlib.nullcontext(spark))
    scheduler.run_forever()
    return lines


def test_rows_arriving_after_the_consolidation_are_consolidated_at_the_next_tick(spark, stack, mongo_db):
    settings = stack.model_copy(update={"batch_enriched_retention_days": 0, "batch_catchup_days": 3})
    load_references(mongo_db)
    write_enriched_day(spark, settings, LATE_DAY)
    night(spark, settings, mongo_db, "2026-09-11T03:00:00")
    first = lake.read_manifest(spark, settings.lake_url, LATE_DAY)
    assert first["rows"]["positions"] == scenario.POSITIONS

    append_late_rows(spark, settings, LATE_DAY)
    lines = night(spark, settings, mongo_db, "2026-09-12T03:00:00")
    assert f"[batch] {LATE_DAY}: 2 enriched file(s) reached the lake after its consolidation; consolidating it again" in lines

    second = lake.read_manifest(spark, settings.lake_url, LATE_DAY)
    assert second["run_id"] != first["run_id"]
    positions = lake.read_published(spark, settings.lake_url, "positions", [LATE_DAY])
    assert positions.count() == scenario.POSITIONS + 3  # the late aircraft; its copy of an old state dropped
    assert positions.select("icao24", "event_time").distinct().count() == scenario.POSITIONS + 3
    assert positions.where("icao24 = 'd0d0d0'").count() == 3
    summaries = lake.read_published(spark, settings.lake_url, "summaries", [LATE_DAY])
    assert summaries.count() == 5 + 1
    assert mongo_db["daily_stats"].find_one({"_id": LATE_DAY})["positions"] == scenario.POSITIONS + 3
    runs = sorted(mongo_db["batch_runs"].find({"day": LATE_DAY}), key=lambda r: r["started_at"])
    assert [(r["status"], r["trigger"], r["rows"]["input"]) for r in runs] == [
        ("succeeded", "scheduled", scenario.INPUT_ROWS), ("succeeded", "scheduled", scenario.INPUT_ROWS + 4)]

    # consolidated now: the next night leaves the day alone
    night(spark, settings, mongo_db, "2026-09-13T03:00:00")
    assert lake.read_manifest(spark, settings.lake_url, LATE_DAY)["run_id"] == second["run_id"]
    assert mongo_db["batch_runs"].count_documents({"day": LATE_DAY}) == 2
