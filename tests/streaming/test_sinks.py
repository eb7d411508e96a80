"""Sinks without a database: Kafka lag from source progress, the coalescing writer on a fake collection."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

from streaming.sinks import kafka_lag


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
