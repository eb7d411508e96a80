"""Sinks without a database: Kafka lag from source progress, the coalescing writer on a fake collection."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

from streaming.sinks import kafka_lag, progress_document


def source(end, latest):
    return SimpleNamespace(endOffset=json.dumps(end), latestOffset=json.dumps(latest))


def test_lag_sums_partitions_per_topic_with_mongo_safe_keys():
    progress = [
        source({"flights.states": {"0": 100, "1": 50}}, {"flights.states": {"0": 130, "1": 50}}),
        source({"weather.current": {"0": 7}}, {"weather.current": {"0": 9}}),
    ]
    assert kafka_lag(progress) == {"flights_states": 30, "weather_current": 2}


def test_lag_ignores_missing_offsets():
    assert kafka_lag([SimpleNamespace(endOffset=None, latestOffset=None)]) == {}
    # a partition the batch has not read yet counts as caught up rather than inventing a number
    assert kafka_lag([source({"t": {}}, {"t": {"0": 5}})]) == {"t": 0}


def query_progress(state_operators):
    """The fields of pyspark's StreamingQueryProgress that progress_document reads."""
    return SimpleNamespace(name="flights", id="q", batchId=3, numInputRows=10, inputRowsPerSecond=5.0,
                           processedRowsPerSecond=8.0, batchDuration=1200, eventTime={"watermark": "2026-01-01T00:00:00.000Z"},
                           sources=[], stateOperators=state_operators)


def test_progress_counts_rows_dropped_as_late_over_every_stateful_operator():
    dropped = [SimpleNamespace(numRowsDroppedByWatermark=4), SimpleNamespace(numRowsDroppedByWatermark=3)]
    assert progress_document(query_progress(dropped), {}, {}).late_rows_dropped == 7
    # a query without state (weather, dead letters) drops nothing as late
    assert progress_document(query_progress([]), {}, {}).late_rows_dropped == 0


class FakeCollection:
    """Records bulk writes; can be made slow to let documents pile up."""

    name = "fake"

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.requests = []

    def bulk_write(self, operations, ordered):
        time.sleep(self.delay_s)
        self.requests.append([(op._filter["_id"], op._doc) for op in operations])


def test_coalescing_writer_keeps_newest_per_id_and_flushes():
    from streaming.sinks import CoalescingWriter

    collection = FakeCollection(delay_s=0.3)
    writer = CoalescingWriter(collection, keep="newest")
    writer.submit([{"_id": "a", "event_time": 1.0}])  # taken by the thread at once, written slowly
    time.sleep(0.05)
    writer.submit([{"_id": "b", "event_time": 5.0}, {"_id": "b", "event_time": 7.0}, {"_id": "b", "event_time": 6.0}])
    assert writer.flush(5)
    writer.close()
    written = [item for request in collection.requests for item in request]
    assert written == [("a", {"$set": {"event_time": 1.0}}), ("b", {"$set": {"event_time": 7.0}})]


def test_coalescing_writer_first_wins_with_set_on_insert():
    from streaming.sinks import CoalescingWriter

    collection = FakeCollection(delay_s=0.2)
    writer = CoalescingWriter(collection, keep="first")
    writer.submit([{"_id": "warmup", "t": 0.0}])
    time.sleep(0.05)
    writer.submit([{"_id": "a:1", "t": 30.0}, {"_id": "a:1", "t": 45.0}])
    writer.close()
    written = [item for request in collection.requests for item in request]
    assert ("a:1", {"$setOnInsert": {"t": 30.0}}) in written and len(written) == 2


def test_coalescing_writer_sends_small_requests_and_housekeeps_between_writes():
    from streaming import sinks

    collection = FakeCollection()
    housekeeping_runs = []
    writer = sinks.CoalescingWriter(collection, keep="newest", housekeeping=lambda: housekeeping_runs.append(1) or 3,
                                    housekeeping_interval_s=0.2)
    writer.submit([{"_id": f"x{i}", "event_time": 1.0} for i in range(sinks.BULK_CHUNK * 2 + 1)])
    assert writer.flush(5)
    time.sleep(0.5)
    writer.wake.set()
    time.sleep(0.2)
    writer.close()
    assert [len(r) for r in collection.requests] == [sinks.BULK_CHUNK, sinks.BULK_CHUNK, 1]
    assert housekeeping_runs and writer.housekept == 3 * len(housekeeping_runs)


def test_failing_housekeeping_does_not_stop_the_writer():
    from streaming.sinks import CoalescingWriter

    def broken():
        raise ConnectionError("database down")

    collection = FakeCollection()
    writer = CoalescingWriter(collection, housekeeping=broken, housekeeping_interval_s=0.0)
    writer.submit([{"_id": "a", "event_time": 1.0}])
    assert writer.flush(5)
    writer.submit([{"_id": "a", "event_time": 2.0}])
    assert writer.flush(5)
    writer.close()
    assert [item for request in collection.requests for item in request][-1] == ("a", {"$set": {"event_time": 2.0}})


def test_database_retries_wait_out_an_outage_then_give_up_at_the_deadline():
    from pymongo.errors import ServerSelectionTimeoutError

    from streaming.sinks import with_database_retries

    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise ServerSelectionTimeoutError("connection refused")
        return "written"

    assert with_database_retries(flaky, "test", deadline_s=60, sleep=sleeps.append) == "written"
    assert sleeps == [1.0, 2.0, 4.0]

    def down():
        raise ServerSelectionTimeoutError("connection refused")

    sleeps.clear()
    try:
        with_database_retries(down, "test", deadline_s=10, sleep=sleeps.append)
    except ServerSelectionTimeoutError:
        pass
    else:
        raise AssertionError("an outage past the deadline must fail the batch")
    assert sum(sleeps) >= 10 and sleeps == [1.0, 2.0, 4.0, 8.0]


def test_database_retries_do_not_hide_other_errors():
    from streaming.sinks import with_database_retries

    def broken():
        raise ValueError("a bug, not an outage")

    try:
        with_database_retries(broken, "test", sleep=lambda _s: None)
    except ValueError:
        return
    raise AssertionError("a non-connection error must surface at once")
