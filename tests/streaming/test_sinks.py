"""Pure parts of the sinks: Kafka lag from a query's source progress."""

from __future__ import annotations

import json
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
