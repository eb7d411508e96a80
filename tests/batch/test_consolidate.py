"""The whole nightly job on the real stack: lake (MinIO) in, lake + MongoDB out."""

from __future__ import annotations

import math
import threading

import pytest

from batch import job, lake
from batch.__main__ import run_consolidate
from batch.scheduler import Scheduler, parse_hhmm
from batch.store import MongoRunLog
from skyrisk.contracts import EnrichedState, spark_schema
from tests.batch import scenario
from tests.batch.test_scheduler import FakeClock, utc
from tests.batch.test_transforms import assert_summaries_equal, summary_dicts

pytestmark = pytest.mark.integration


def write_enriched_day(spark, settings, day: str) -> None:
    """The day as the streaming job leaves it: Parquet under date=/hour=/batch_id=."""
    from pyspark.sql import functions as F

    df = spark.createDataFrame(scenario.rows(day), spark_schema(EnrichedState))
    df.withColumn("hour", F.hour(F.timestamp_seconds("event_time"))).withColumn(
        "batch_id", (F.floor(F.col("event_time") / 60) % 3).cast("long")
    ).write.mode("overwrite").partitionBy("hour", "batch_id").parquet(job.enriched_day_url(settings, day))


def load_references(db) -> None:
    for record in scenario.reference_airports() + scenario.reference_airlines():
        collection = "airports" if record.type == "airport" else "airlines"
        db[collection].replace_one({"_id": record.code}, {"_id": record.code, **record.model_dump()}, upsert=True)
    for journey in scenario.schedules():
        db["schedules"].replace_one({"_id": journey.key}, {"_id": journey.key, **journey.model_dump()}, upsert=True)


@pytest.fixture(scope="module")
def lake_days(spark, stack, mongo_client):
    db = mongo_client[stack.mongo_database]
    load_references(db)
    for day in (scenario.DAY, scenario.NEXT_DAY):
        write_enriched_day(spark, stack, day)
    return db


def published_rows(spark, settings, table: str, day: str) -> list[tuple]:
    df = lake.read_published(spark, settings.lake_url, table, [day])
    return sorted(tuple(row) for row in df.collect())


@pytest.fixture(scope="module")
def first_run(spark, stack, lake_days):
    return job.consolidate_day(spark, stack, lake_days, scenario.DAY)


def test_consolidated_day_matches_the_known_truth(spark, stack, lake_days, first_run):
    assert first_run.rows == {
        "input": scenario.INPUT_ROWS,
        "positions": scenario.POSITIONS,
        "duplicates_dropped": 3,
        "flights": 5,
        "model_training_rows": 5 + 3 + 3 + 4 + 3,  # airborne positions of A1, A2, B1, B2, C1
    }
    summaries = lake.read_published(spark, stack.lake_url, "summaries", [scenario.DAY]).drop("date")
    assert_summaries_equal(summary_dicts(summaries), scenario.expected_summaries(scenario.DAY))
    positions = lake.read_published(spark, stack.lake_url, "positions", [scenario.DAY])
    assert positions.count() == scenario.POSITIONS
    assert positions.select("icao24", "event_time").distinct().count() == scenario.POSITIONS
    assert lake_days["daily_stats"].find_one({"_id": scenario.DAY}) == scenario.expected_daily_stats(scenario.DAY)


def test_curated_files_are_few_and_sorted_by_aircraft_and_time(spark, stack, first_run):
    url = lake.run_url(stack.lake_url, "positions", scenario.DAY, first_run.run_id)
    files = [n for n in lake.child_names(spark, url) if n.endswith(".parquet")]
    assert len(files) == 1  # 29 input rows -> one file
    rows = spark.read.parquet(url).collect()  # one file: read order is file order
    keys = [(r.icao24, r.event_time) for r in rows]
    assert keys == sorted(keys)


def test_rerun_replaces_the_day_with_identical_outputs(spark, stack, lake_days, first_run):
    before = {t: published_rows(spark, stack, t, scenario.DAY) for t in lake.TABLES}
    second = job.consolidate_day(spark, stack, lake_days, scenario.DAY, retrain_model=False)
    third = job.consolidate_day(spark, stack, lake_days, scenario.DAY, retrain_model=False)
    assert len({first_run.run_id, second.run_id, third.run_id}) == 3
    for table in lake.TABLES:
        assert published_rows(spark, stack, table, scenario.DAY) == before[table]
        # the run the manifest replaced stays for readers in flight; older ones are gone
        day_dir = f"{lake.table_url(stack.lake_url, table)}/date={scenario.DAY}"
        assert lake.child_names(spark, day_dir) == sorted([f"run={second.run_id}", f"run={third.run_id}"])
    assert len(before["positions"]) == scenario.POSITIONS and len(before["summaries"]) == 5
    assert lake.read_manifest(spark, stack.lake_url, scenario.DAY)["run_id"] == third.run_id
    assert third.rows == {k: v for k, v in first_run.rows.items() if k != "model_training_rows"}
    assert lake_days["daily_stats"].count_documents({"_id": scenario.DAY}) == 1
    assert lake_days["daily_stats"].find_one({"_id": scenario.DAY}) == scenario.expected_daily_stats(scenario.DAY)


def test_a_second_day_does_not_touch_the_first(spark, stack, lake_days, first_run):
    manifest_before = lake.read_manifest(spark, stack.lake_url, scenario.DAY)
    rows_before = {t: published_rows(spark, stack, t, scenario.DAY) for t in lake.TABLES}
    job.consolidate_day(spark, stack, lake_days, scenario.NEXT_DAY, retrain_model=False)
    assert lake.read_manifest(spark, stack.lake_url, scenario.DAY) == manifest_before
    assert {t: published_rows(spark, stack, t, scenario.DAY) for t in lake.TABLES} == rows_before
    summaries = lake.read_published(spark, stack.lake_url, "summaries", [scenario.NEXT_DAY]).drop("date")
    assert_summaries_equal(summary_dicts(summaries), scenario.expected_summaries(scenario.NEXT_DAY))
    both = lake.read_published(spark, stack.lake_url, "positions", [scenario.DAY, scenario.NEXT_DAY])
    assert both.count() == 2 * scenario.POSITIONS


def test_missing_input_day_is_one_clear_error_line(spark, stack, lake_days, capsys):
    status = run_consolidate(spark, stack, lake_days, ["2026-01-01"], retrain_model=False)
    err = capsys.readouterr().err
    assert status == 2
    assert err.strip() == (
        f"[batch] error: no enriched flight history for 2026-01-01 (nothing at {stack.lake_url}/enriched/flights/date=2026-01-01)"
    )
    assert lake.read_manifest(spark, stack.lake_url, "2026-01-01") is None


def test_streaming_scores_with_the_model_this_job_trained(spark, stack, first_run):
    from skyrisk.model_store import load_latest_phase_model
    from skyrisk.phase import FEATURES, phase_columns

    model = load_latest_phase_model(stack)
    assert model is not None and model.version == f"batch-{scenario.DAY}" and not model.bootstrap
    assert first_run.model_location.endswith(f"batch-{scenario.DAY}.json")
    assert {"centroid_separation", "fraction_flagged", "rows"} <= set(model.metrics)
    assert model.mode in ("kmeans", "rules")
    assert model.metrics["rows"] == first_run.rows["model_training_rows"]
    positions = lake.read_published(spark, stack.lake_url, "positions", [scenario.DAY])
    scored = phase_columns(positions, model).collect()
    for row in scored:
        if row.on_ground:
            assert row.phase == "Ground" and row.anomaly_score is None
        elif model.mode == "kmeans":
            # the score is the distance to the nearest centroid in the model's scaled space
            scaled = [(row[f] - m) / s for f, m, s in zip(FEATURES, model.feature_means, model.feature_stds)]
            expected = min(math.dist(scaled, c) for c in model.centroids)
            assert row.anomaly_score == pytest.approx(expected, rel=1e-9)


def test_scheduler_catches_up_a_missed_day_and_records_it_in_batch_runs(spark, stack, lake_days):
    missed = "2026-10-05"
    write_enriched_day(spark, stack, missed)
    stop = threading.Event()
    # Started at 01:00 on the 7th: the 5th was due (its night has passed), the 6th not yet.
    clock = FakeClock(utc("2026-10-07T01:00:00"), stop, until=utc("2026-10-07T01:00:01"))
    Scheduler(
        batch_time=parse_hhmm("02:30"), lookback_days=3, clock=clock, run_log=MongoRunLog(lake_days),
        available_days=lambda: job.available_days(stack),
        run_day=lambda day, _lease: job.consolidate_day(spark, stack, lake_days, day, retrain_model=False).rows,
        stop=stop, echo=lambda _m: None,
    ).run_forever()
    runs = list(lake_days["batch_runs"].find({"day": missed}))
    assert len(runs) == 1
    assert runs[0]["status"] == "succeeded" and runs[0]["error"] is None
    assert runs[0]["rows"]["positions"] == scenario.POSITIONS and runs[0]["rows"]["flights"] == 5
    assert runs[0]["started_at"] == utc("2026-10-07T01:00:00").timestamp()
    assert lake.read_manifest(spark, stack.lake_url, missed)["run_id"]
    # this start of the scheduler ran nothing else (other modules' runs have other start times)
    assert lake_days["batch_runs"].count_documents({"started_at": runs[0]["started_at"], "day": {"$ne": missed}}) == 0


class DatabaseGone:
    """A database that fails on first use: the job needs it only after the curated positions."""

    def __getitem__(self, collection: str):
        raise ConnectionError(f"database gone (asked for {collection})")


def test_a_run_that_fails_halfway_leaves_the_published_day_as_it_was(spark, stack, lake_days, first_run):
    manifest_before = lake.read_manifest(spark, stack.lake_url, scenario.DAY)
    rows_before = {t: published_rows(spark, stack, t, scenario.DAY) for t in lake.TABLES}
    stats_before = lake_days["daily_stats"].find_one({"_id": scenario.DAY})
    positions_dir = f"{lake.table_url(stack.lake_url, 'positions')}/date={scenario.DAY}"
    runs_before = set(lake.child_names(spark, positions_dir))

    with job.day_lease(lake_days, stack, scenario.DAY, "test") as lease, \
            pytest.raises(ConnectionError, match="database gone"):
        job.consolidate_day(spark, stack, DatabaseGone(), scenario.DAY, retrain_model=False, lease=lease)

    # the failed run got as far as writing its curated positions...
    (failed_run,) = set(lake.child_names(spark, positions_dir)) - runs_before
    assert spark.read.parquet(f"{positions_dir}/{failed_run}").count() == scenario.POSITIONS
    # ...and readers still see exactly the day published before it
    assert lake.read_manifest(spark, stack.lake_url, scenario.DAY) == manifest_before
    assert {t: published_rows(spark, stack, t, scenario.DAY) for t in lake.TABLES} == rows_before
    assert lake_days["daily_stats"].find_one({"_id": scenario.DAY}) == stats_before
