"""The pure helpers of the chaos runner: count comparison, checkpoint reading, status parsing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from chaos.__main__ import choose, format_counts, table
from chaos.core import (
    Scenario,
    Verdict,
    batch_in_flight,
    caught_up,
    checkpoint_offsets,
    committed_offsets,
    compare_counts,
    crash_cause,
    live_lagging,
    max_undelivered,
    newest_per_aircraft,
    producer_totals,
)


def test_compare_counts_finds_missing_duplicate_and_unexpected_states():
    sent = Counter({("abc123", 1.0): 1, ("abc123", 2.0): 1, ("def456", 1.0): 2})
    stored = Counter({("abc123", 1.0): 3, ("def456", 1.0): 1, ("fff000", 5.0): 1})
    check = compare_counts(sent, stored)
    assert (check.sent, check.sent_duplicates, check.stored_rows) == (3, 1, 5)
    assert (check.missing, check.duplicates, check.unexpected) == (1, 2, 1)
    assert not check.ok


def test_compare_counts_passes_only_an_exact_copy():
    sent = Counter({("abc123", 1.0): 1, ("abc123", 2.0): 1})
    assert compare_counts(sent, Counter(sent)).ok
    assert not compare_counts(Counter(), Counter()).ok  # nothing sent proves nothing


def test_producer_totals_reads_the_final_status_line():
    log = (
        "2026-11-21 10:00:00 INFO producers.runner: produced=1000 (1000/s) delivered=990 errors=0 dead=0\n"
        "2026-11-21 10:00:09 INFO producers.runner: stopped: produced=61000 (998/s) delivered=61000 errors=0 "
        "dead=0 skipped=0 backpressure=0 | opensky: aircraft=1000 flights=1000 ticks=61 lag=0.00s\n"
    )
    assert producer_totals(log) == {"produced": 61000, "delivered": 61000, "errors": 0, "dead": 0}
    assert producer_totals("produced=5 delivered=5 errors=0") is None  # not stopped yet


def test_max_undelivered_is_the_largest_gap_of_the_status_lines():
    log = (
        "runner: produced=400 (40/s) delivered=400 errors=0\n"
        "runner: produced=800 (40/s) delivered=410 errors=0\n"  # broker down: the producer holds them
        "runner: produced=1200 (40/s) delivered=1200 errors=0\n"
        "runner: stopped: produced=1300 (40/s) delivered=1300 errors=0\n"
    )
    assert max_undelivered(log) == 390
    assert max_undelivered("") == 0


def write_offsets(checkpoint: Path, batch_id: int, offsets: dict[str, dict[str, int]]) -> None:
    import json

    (checkpoint / "offsets").mkdir(parents=True, exist_ok=True)
    (checkpoint / "offsets" / str(batch_id)).write_text(
        "v1\n" + json.dumps({"batchWatermarkMs": 0, "batchTimestampMs": 1, "conf": {}}) + "\n" + json.dumps(offsets)
    )


def commit(checkpoint: Path, batch_id: int) -> None:
    (checkpoint / "commits").mkdir(parents=True, exist_ok=True)
    (checkpoint / "commits" / str(batch_id)).write_text('v1\n{"nextBatchWatermarkMs":0}')


def test_checkpoint_reading_follows_the_offset_and_commit_logs(tmp_path: Path):
    assert committed_offsets(tmp_path, "flights.states") == {} and batch_in_flight(tmp_path) is None
    write_offsets(tmp_path, 0, {"flights.states": {"0": 10, "1": 20}})
    assert batch_in_flight(tmp_path) == 0
    commit(tmp_path, 0)
    write_offsets(tmp_path, 1, {"flights.states": {"0": 15, "1": 30}})
    (tmp_path / "offsets" / ".1.crc").write_text("")  # Spark's checksum files are not batches
    assert batch_in_flight(tmp_path) == 1
    assert committed_offsets(tmp_path, "flights.states") == {0: 10, 1: 20}
    assert checkpoint_offsets(tmp_path, 1, "flights.states") == {0: 15, 1: 30}
    assert checkpoint_offsets(tmp_path, 1, "weather.current") == {}
    commit(tmp_path, 1)
    assert batch_in_flight(tmp_path) is None


def test_caught_up_needs_every_partition_with_data_at_its_end():
    ends = {0: 15, 1: 30, 2: 0}
    assert caught_up({0: 15, 1: 30}, ends)
    assert not caught_up({0: 15, 1: 29}, ends)
    assert not caught_up({}, ends)


def test_live_lagging_counts_absent_and_stale_aircraft():
    newest = newest_per_aircraft([("a", 1.0), ("a", 3.0), ("b", 2.0), ("c", 5.0)])
    assert newest == {"a": 3.0, "b": 2.0, "c": 5.0}
    assert live_lagging(newest, {"a": 3.0, "b": 1.0}) == 2  # b stale, c absent
    assert live_lagging(newest, {"a": 3.0, "b": 2.0, "c": 6.0}) == 0


def noop(_settings, _workdir):
    raise AssertionError("not run")


def test_choose_filters_by_name_and_quick_and_rejects_unknown_names():
    scenarios = [Scenario("a", noop, "", quick=True), Scenario("b", noop, ""), Scenario("c", noop, "", quick=True)]
    assert [s.name for s in choose(scenarios, [], False)] == ["a", "b", "c"]
    assert [s.name for s in choose(scenarios, [], True)] == ["a", "c"]
    assert [s.name for s in choose(scenarios, ["b", "c"], True)] == ["c"]
    with pytest.raises(SystemExit, match="unknown scenario"):
        choose(scenarios, ["zzz"], False)


def test_table_shows_verdict_counts_and_detail():
    rows = [
        (Verdict("kill9", True, {"sent": 5, "parquet_rows": 5, "missing": 0, "duplicates": 0}, "fine"), 61.4),
        (Verdict("mongo", False, {"streaming_crashes": 2}, "crashed"), 120.0),
    ]
    text = table(rows).splitlines()
    assert text[0].split() == ["scenario", "verdict", "time", "counts", "detail"]
    assert text[1].split() == ["kill9", "PASS", "61s", "in=5", "out=5", "missing=0", "dup=0", "fine"]
    assert text[2].split() == ["mongo", "FAIL", "120s", "crashes=2", "crashed"]
    assert format_counts({"other": 1}) == ""


def test_crash_cause_names_the_exception_spark_terminated_the_query_with():
    log = """\
2026-11-21 15:13:06 ERROR streaming: writing stream progress failed
Traceback (most recent call last):
  File "/work/main/streaming/app.py", line 324, in on_progress
    self.db["stream_progress"].insert_one(document.model_dump())
ConnectionRefusedError: [Errno 111] Connection refused
26/11/21 15:13:31 ERROR MicroBatchExecution: Query flights [id = 1] terminated with error
org.apache.spark.sql.execution.streaming.sources.ForeachBatchUserFuncException: [FOREACH_BATCH_USER_FUNCTION_ERROR]
Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/pyspark/sql/utils.py", line 162, in call
  File "/work/main/streaming/sinks.py", line 61, in expire_live_flights
    return db["flights_live"].delete_many({"last_seen": {"$lt": now}}).deleted_count
  File "/work/main/.venv/lib/python3.11/site-packages/pymongo/synchronous/collection.py", line 1, in delete_many
pymongo.errors.ServerSelectionTimeoutError: 127.0.0.1:1: [Errno 111] Connection refused
"""
    assert crash_cause(log) == ("pymongo.errors.ServerSelectionTimeoutError: 127.0.0.1:1: [Errno 111] Connection refused "
                                "(at streaming/sinks.py:61 in expire_live_flights)")
    # without a terminated query (a crash at start) the last exception is the cause
    assert crash_cause(log.split("26/11/21")[0]).startswith("ConnectionRefusedError: [Errno 111] Connection refused (at streaming/app.py:324")
    assert crash_cause("just output\n") == "no Python exception in its output"
