"""The enriched lake's retention on the real stack: what is deleted, what is kept, and that a
day's late rows after its retention are added to it, not put in its place."""

from __future__ import annotations

from datetime import date

import pytest

from batch import job, lake, retention
from tests.batch import scenario
from tests.batch.test_consolidate import load_references, published_rows, write_enriched_day
from tests.batch.test_late_rows import append_late_rows

pytestmark = pytest.mark.integration

TODAY = date(2026, 8, 25)
DONE = "2026-08-01"  # consolidated, old: expires
OPEN = "2026-08-02"  # old, never consolidated: kept
LATE = "2026-08-03"  # old, consolidated, then late rows: kept
RECENT = "2026-08-20"  # consolidated, inside the 7 days: kept


def test_consolidated_old_days_lose_their_enriched_files_and_nothing_else(spark, stack, mongo_db):
    settings = stack.model_copy(update={"batch_enriched_retention_days": 7})
    load_references(mongo_db)
    for day in (DONE, OPEN, LATE, RECENT):
        write_enriched_day(spark, settings, day)
    for day in (DONE, LATE, RECENT):
        job.consolidate_day(spark, settings, mongo_db, day, retrain_model=False)
    append_late_rows(spark, settings, LATE)
    before = {t: published_rows(spark, settings, t, DONE) for t in lake.TABLES}
    files_before = {day: lake.enriched_files(settings, day) for day in (DONE, OPEN, LATE, RECENT)}
    assert all(files_before.values())

    lines: list[str] = []
    dry = retention.expire_enriched(settings, mongo_db, TODAY, echo=lines.append, dry_run=True)
    assert {r.day: r.action for r in dry} == {DONE: "would delete", OPEN: "kept", LATE: "kept"}
    assert {day: lake.enriched_files(settings, day) for day in files_before} == files_before

    lines.clear()
    results = {r.day: r for r in retention.expire_enriched(settings, mongo_db, TODAY, echo=lines.append)}
    assert {day: r.action for day, r in results.items()} == {DONE: "deleted", OPEN: "kept", LATE: "kept"}
    assert results[DONE].files == len(files_before[DONE])
    assert lake.enriched_files(settings, DONE) == {}
    assert DONE not in job.available_days(settings)
    for day in (OPEN, LATE, RECENT):  # untouched, file for file
        assert lake.enriched_files(settings, day) == files_before[day]
    assert f"[batch] retention: {OPEN}: kept, not consolidated yet (its enriched files are its only copy)" in lines
    assert any(line.startswith(f"[batch] retention: {LATE}: kept, 2 file(s) reached the lake after its "
                               "consolidation") for line in lines)
    # the consolidated day reads as before, its manifest says its enriched files are gone
    assert {t: published_rows(spark, settings, t, DONE) for t in lake.TABLES} == before
    assert lake.read_manifest(spark, settings.lake_url, DONE)["enriched_retired_at"]

    # a second pass has nothing more to do
    assert {r.day: r.action for r in retention.expire_enriched(settings, mongo_db, TODAY, echo=lines.append)} == {
        OPEN: "kept", LATE: "kept"}

    # late rows of the expired day: the rerun adds them to the published day
    append_late_rows(spark, settings, DONE)
    result = job.consolidate_day(spark, settings, mongo_db, DONE, retrain_model=False)
    assert result.rows["input"] == scenario.POSITIONS + 4  # the published positions + the late file's rows
    positions = lake.read_published(spark, settings.lake_url, "positions", [DONE])
    assert positions.count() == scenario.POSITIONS + 3
    assert positions.select("icao24", "event_time").distinct().count() == scenario.POSITIONS + 3
    assert lake.read_published(spark, settings.lake_url, "summaries", [DONE]).count() == 6
    manifest = lake.read_manifest(spark, settings.lake_url, DONE)
    assert manifest["enriched_retired_at"] and manifest["input_files"] == 2
    # ...and the next retention pass deletes the late files it consolidated
    results = {r.day: r for r in retention.expire_enriched(settings, mongo_db, TODAY, echo=lines.append)}
    assert results[DONE].action == "deleted" and results[DONE].files == 2
    assert lake.read_published(spark, settings.lake_url, "positions", [DONE]).count() == scenario.POSITIONS + 3


def test_retention_zero_keeps_everything(stack, mongo_db):
    settings = stack.model_copy(update={"batch_enriched_retention_days": 0})
    assert retention.expire_enriched(settings, mongo_db, date(2030, 1, 1), echo=lambda _m: None) == []
