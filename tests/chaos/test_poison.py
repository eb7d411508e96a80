"""The poison scenario on its own throw-away stack, with the real streaming job."""

from __future__ import annotations

import orjson
import pytest

from chaos.scenarios import poison
from infra.stack import throwaway_stack

pytestmark = pytest.mark.integration


def test_every_poison_kind_is_dead_lettered_and_valid_data_flows_on(tmp_path):
    with throwaway_stack(prefix="chaos-poison-", echo=lambda _m: None) as settings:
        verdict = poison.run(settings, tmp_path)
    assert verdict.passed, verdict.detail
    # random bytes, empty, wrong type, missing field, 1 MB, future, milliseconds, ancient, NaN, Infinity, NUL
    kinds = 11
    nested = 6  # weather: foreign grid; reference: null name, '.' key, '$' key; schedules: null leg, null flight number
    assert verdict.counts["poison_sent"] == 4 * kinds + nested  # on each of the four input topics
    assert verdict.counts["dead_letters"] == verdict.counts["dead_letters_as_expected"] == 4 * kinds + nested
    assert verdict.counts["valid_states_in_lake"] == verdict.counts["valid_states_sent"] == 24
    assert verdict.counts["valid_other_stored"] == verdict.counts["valid_other_sent"] == 9


def test_poison_recipes_cover_every_topic_and_expect_the_contract_reasons():
    import random
    import time

    messages = poison.phase_one(time.time(), random.Random(1))
    reasons = {(m.topic, m.kind): m.reason for m in messages if m.reason}
    assert reasons[("flights.states", "future_time")] == "out_of_range:event_time"
    assert reasons[("weather.current", "missing_field")] == "missing:cell_id"
    assert reasons[("lufthansa.schedules", "one_megabyte")] == "too_large"
    assert reasons[("lufthansa.schedules", "null_leg")] == "missing:legs[]"
    assert reasons[("lufthansa.reference", "dollar_key")] == "bad_key:names"
    assert reasons[("weather.current", "nan")] == "not_finite:wind_gusts_10m"
    assert reasons[("flights.states", "nul_text")] == "bad_text:callsign"
    nul_callsign = next(m for m in messages if (m.topic, m.kind) == ("flights.states", "nul_text"))
    assert orjson.loads(nul_callsign.value)["squawk"] == "7700"  # the alert-path case
    assert {topic for topic, _ in reasons} == {"flights.states", "weather.current", "lufthansa.reference",
                                               "lufthansa.schedules"}
    huge = [m for m in messages if m.kind == "one_megabyte"]
    assert all(len(m.value) == poison.ONE_MEGABYTE for m in huge)
