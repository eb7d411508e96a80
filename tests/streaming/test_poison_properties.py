"""Generated poison: messages built from valid contract messages with one value, at any depth,
replaced by null, NaN/±Infinity, huge numbers, NUL characters, '$'/'.' keys, wrong types or deep
nesting. Property, on real Spark and the real FerretDB: every message is either rejected with a
reason (a dead letter) or valid for the pydantic twin *and* stored by the database as it is
written (nothing the Spark checks let through is refused downstream). Fixed seed, small budget.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from pymongo import UpdateOne

from skyrisk.contracts import FlightState, ReferenceRecord, ScheduleJourney, ScheduleLeg, WeatherObservation
from streaming import sinks
from streaming import transforms as tf
from tests.streaming.messages import EUROPE, T0, flight, weather

pytestmark = pytest.mark.integration

NOW = time.time()


def templates() -> dict[type, dict[str, Any]]:
    leg = ScheduleLeg(departure_airport="FRA", departure_local="2026-12-01T10:00", arrival_airport="JFK",
                      arrival_local="2026-12-01T12:00", marketing_airline="LH", flight_number=400)
    journey = ScheduleJourney(source="sim", origin="FRA", destination="JFK", query_date="2026-12-01", duration_iso="PT2H",
                              duration_minutes=120, stops=0, flight_numbers=["LH400"], legs=[leg], fetched_time=NOW)
    city = ReferenceRecord(source="sim", type="city", code="FRA", names={"en": "Frankfurt", "de": "Frankfurt am Main"},
                           airports=["FRA"], latitude=50.1, longitude=8.7, fetched_time=NOW)
    return {
        FlightState: json.loads(flight(t=NOW - 30).model_dump_json()),
        WeatherObservation: json.loads(weather(observed=NOW - 600).model_dump_json()),
        ReferenceRecord: json.loads(city.model_dump_json()),
        ScheduleJourney: json.loads(journey.model_dump_json()),
    }


TEMPLATES = templates()


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


POISON = st.sampled_from([
    None, float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 10**20, -(10**20), 0, -1, "", "\x00",
    "DLH\x00400", "$where", "a.b", True, "text", [], [None], {}, {"$gt": 1}, {"a.b": "x"}, {"": "x"},
    {"en": None}, deep(60), "x" * 5000,
])
BAD_KEYS = st.sampled_from(["$en", "e.n", "", "\x00", "de\x00"])


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place a value sits in a JSON document: fields, list elements, map values, nested."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, prefix + (index,))
    return found


def replaced(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, list):
        return [replaced(item, rest, value) if i == head else item for i, item in enumerate(document)]
    return {k: (replaced(v, rest, value) if k == head else v) for k, v in document.items()}


@st.composite
def poisoned_message(draw) -> tuple[type, str]:
    model = draw(st.sampled_from(list(TEMPLATES)))
    document = TEMPLATES[model]
    if model is ReferenceRecord and draw(st.booleans()):  # poison a key of the free-form map
        names = dict(document["names"])
        names[draw(BAD_KEYS)] = names.pop("en")
        document = {**document, "names": names}
    else:
        document = replaced(document, draw(st.sampled_from(paths(document))), draw(POISON))
    return model, json.dumps(document)  # NaN/Infinity as JSON's non-standard tokens


WHOLE_MESSAGE_REASONS = ("malformed_json", "wrong_type", "too_large", "unknown_schema_version")
FIELD_REASONS = ("missing:", "out_of_range:", "bad_format:", "unknown_value:", "not_finite:", "bad_text:", "bad_key:",
                 "wrong_grid:")


# Fixed seed, no shrinking: each example is a few Spark jobs, and a failure prints its whole batch.
@seed(20261203)
@settings(max_examples=6, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(poisoned_message(), min_size=30, max_size=30))
def test_every_generated_message_is_rejected_with_a_reason_or_valid_and_storable(spark, mongo_db, messages):
    collection = mongo_db["poison_properties"]
    accepted = rejected = 0
    for model in TEMPLATES:
        payloads = [payload for m, payload in messages if m is model]
        if not payloads:
            continue
        frame = spark.createDataFrame([(str(i), p) for i, p in enumerate(payloads)], "key string, value string")
        parsed = tf.parse_messages(frame, model, tf.weather_cell_checks(0.5, EUROPE) if model is WeatherObservation else None)
        fields = tf.spark_schema(model).fieldNames()
        for row in parsed.collect():
            if row["reject_reason"] is not None:
                assert row["reject_reason"] in WHOLE_MESSAGE_REASONS or row["reject_reason"].startswith(FIELD_REASONS)
                rejected += 1
                continue
            values = row.asDict(recursive=True)
            message = model.model_validate({f: values[f] for f in fields})  # the twin agrees it is valid
            refused: list[BaseException] = []
            document = {"_id": f"{model.__name__}:{row['kafka_key']}:{time.time_ns()}", **message.model_dump()}
            sinks.bulk_upsert(collection, [UpdateOne({"_id": document["_id"]}, {"$set": document}, upsert=True)],
                              lambda _i, error: refused.append(error))
            assert not refused, f"{model.__name__} accepted but refused by the database: {row['raw'][:200]} -> {refused}"
            accepted += 1
    assert accepted + rejected == len(messages)
