"""The Streams page's message browser with messages no producer of ours writes: JSON nested far
deeper than Python's recursion limit, and payloads far larger than a browser pane. Each is shown,
cut or unformatted, with a note saying so; the other messages are shown as usual."""

from __future__ import annotations

import json

import pytest

from dashboard.app import create_app
from dashboard.data import MAX_PRETTY_DEPTH, MAX_SHOWN_CHARS, pretty_payload, shown_payload
from skyrisk.contracts import ALERTS, DEAD_LETTER
from tests.dashboard.test_callbacks import call

DEPTH = 10_000
DEEP_ARRAY = ("[" * DEPTH + "]" * DEPTH).encode()
DEEP_OBJECT = ('{"a":' * DEPTH + "1" + "}" * DEPTH).encode()
DEEP_IN_STRINGS = json.dumps({"text": "[" * DEPTH, "n": 1}).encode()  # brackets inside a string nest nothing
HUGE = json.dumps({"blob": "x" * 900_000}).encode()


# --- the display of one payload (pure) ----------------------------------------------------------------
@pytest.mark.parametrize("payload", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_a_payload_nested_10000_levels_is_shown_unformatted_with_a_note(payload):
    value, note = shown_payload(payload)
    assert value == payload.decode()  # as received, on one line (20 kB: not cut)
    assert note is not None and "nested deeper than" in note and str(MAX_PRETTY_DEPTH) in note


def test_pretty_payload_no_longer_raises_on_deep_nesting():
    assert pretty_payload(DEEP_ARRAY).startswith("[[[[")


def test_nesting_up_to_the_limit_is_still_pretty_printed():
    payload = ("[" * MAX_PRETTY_DEPTH + "1" + "]" * MAX_PRETTY_DEPTH).encode()
    value, note = shown_payload(payload)
    assert note is None and value == json.dumps(json.loads(payload), indent=2)


def test_brackets_inside_strings_do_not_count_as_nesting():
    value, note = shown_payload(DEEP_IN_STRINGS)
    assert note is None and json.loads(value) == json.loads(DEEP_IN_STRINGS)


def test_a_huge_payload_is_cut_with_a_note():
    value, note = shown_payload(HUGE)
    assert len(value) == MAX_SHOWN_CHARS and value.startswith('{\n  "blob": "xxx')
    assert note is not None and f"first {MAX_SHOWN_CHARS:,} of" in note


def test_ordinary_and_non_json_payloads_are_unchanged():
    assert shown_payload(b'{"n": 1}') == ('{\n  "n": 1\n}', None)
    assert shown_payload(b"not json [[[") == ("not json [[[", None)
    assert shown_payload(None) == ("(null)", None)


# --- on the real broker: data access, the callback, what the page returns -----------------------------
def produce(settings, topic: str, values: list[tuple[str, bytes]]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "message.max.bytes": 2_000_000})
    for key, value in values:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


@pytest.fixture(scope="module")
def deep_messages(seeded_stack):
    """On the one-partition dead-letter topic, oldest first: ordinary, deep array, deep object, huge, ordinary."""
    produce(seeded_stack, DEAD_LETTER.name, [("before", b'{"n": 1}'), ("deep-array", DEEP_ARRAY),
                                             ("deep-object", DEEP_OBJECT), ("huge", HUGE), ("after", b'{"n": 2}')])
    return seeded_stack


@pytest.mark.integration
def test_last_messages_returns_deep_and_huge_messages_with_notes(data, deep_messages):
    records = data.last_messages(DEAD_LETTER.name, 5)
    assert [r.key for r in records] == ["after", "huge", "deep-object", "deep-array", "before"]
    by_key = {r.key: r for r in records}
    assert by_key["after"].note is None and json.loads(by_key["after"].value) == {"n": 2}
    assert by_key["deep-array"].value == DEEP_ARRAY.decode() and "nested deeper" in by_key["deep-array"].note
    assert by_key["deep-object"].value.startswith('{"a":{"a":') and "nested deeper" in by_key["deep-object"].note
    assert len(by_key["huge"].value) == MAX_SHOWN_CHARS and "first" in by_key["huge"].note


@pytest.mark.integration
def test_a_deep_message_on_a_partitioned_topic_is_shown_too(data, seeded_stack):
    produce(seeded_stack, ALERTS.name, [("deep", DEEP_OBJECT)])
    records = data.last_messages(ALERTS.name, 10)
    assert any(r.key == "deep" and "nested deeper" in (r.note or "") for r in records)


@pytest.mark.integration
def test_the_browse_callback_shows_every_message_and_the_notes(deep_messages):
    client = create_app(deep_messages).server.test_client()
    status, response = call(client, [("browse-records", "children")],
                            [("browse-topic", "value", DEAD_LETTER.name), ("browse-count", "value", 10),
                             ("browse-refresh", "n_clicks", 1)], "browse-topic.value")
    assert status == 200
    text = json.dumps(response)
    assert "Cannot read" not in text and "recursion" not in text
    assert f"newest message(s) of {DEAD_LETTER.name}" in text
    summaries = summary_texts(response["response"]["browse-records"]["children"])
    assert "nested deeper than" in summaries["deep-array"] and "shown as received" in summaries["deep-array"]
    assert "nested deeper than" in summaries["deep-object"]
    assert f"first {MAX_SHOWN_CHARS:,} of" in summaries["huge"]
    assert "·" not in summaries["after"].split("key after", 1)[1]  # no note on an ordinary message


def summary_texts(children: list) -> dict[str, str]:
    """The summary line of each record the callback returned, by its key."""
    found = {}
    for node in children:
        if node.get("type") != "Details":
            continue
        parts = node["props"]["children"][0]["props"]["children"]  # Summary: [text, Span(note)?]
        line = "".join(p if isinstance(p, str) else p["props"]["children"] for p in parts)
        found[line.split(" · key ", 1)[1].split(" · ", 1)[0]] = line
    return found
