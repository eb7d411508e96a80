"""Sinks without a database: Kafka lag from source progress, the coalescing writer on a fake collection."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

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


# --- poison the database refuses, and the producer's queue -------------------------------------------
@pytest.mark.integration
def test_a_writer_isolates_a_document_the_database_refuses_and_writes_the_rest(mongo_db):
    """FerretDB refuses NaN: the one document goes to the dead letters, the other 99 are written
    (before: the whole pending batch was resubmitted forever and the writer stalled at that chunk)."""
    from streaming.sinks import CoalescingWriter

    collection = mongo_db[f"refusal_{time.time_ns()}"]
    refused: list[tuple[str, str]] = []
    writer = CoalescingWriter(collection, on_refused=lambda doc, error: refused.append((doc["_id"], str(error))))
    docs = [{"_id": f"a{i:03d}", "event_time": 1.0, "velocity": float("nan") if i == 5 else 240.0} for i in range(100)]
    try:
        writer.submit(docs)
        assert writer.flush(60)
    finally:
        writer.close()
    assert [r[0] for r in refused] == ["a005"]
    assert collection.count_documents({}) == 99 and writer.refused == 1


@pytest.mark.integration
def test_a_refused_reference_record_is_reported_with_its_collection_and_document(mongo_db):
    """The callback names the collection the record went to and the document as sent (``_id`` = its code);
    before, the app guessed the collection from the record and took its topic key for ``_id``."""
    from skyrisk.contracts import ReferenceRecord
    from streaming.sinks import upsert_reference

    suffix = str(time.time_ns())
    good = ReferenceRecord(type="airport", code=f"G{suffix}", name="good", source="sim", fetched_time=1.0)
    # what the model would refuse, built past it: FerretDB refuses a '$' field name
    bad = ReferenceRecord.model_construct(**{**ReferenceRecord(type="airline", code=f"B{suffix}", source="sim", fetched_time=1.0)
                                             .model_dump(), "names": {"$where": "1"}})
    refused: list[tuple[str, str]] = []
    written = upsert_reference(mongo_db, [good, bad], lambda collection, doc, _error: refused.append((collection, doc["_id"])))
    assert refused == [("airlines", f"B{suffix}")]
    assert written == {"airports": 1, "airlines": 0}
    assert mongo_db.airports.find_one({"_id": f"G{suffix}"})["name"] == "good"


@pytest.mark.integration
def test_a_refused_emergency_alert_is_reported_and_the_other_alerts_are_written(mongo_db):
    """Poison in a squawk-7700 alert is isolated. The issue's NUL callsign never gets here (the parser
    dead-letters it as bad_text:callsign, test_transforms), and nothing else the model admits is
    refused by our FerretDB (checked: a NUL in a value and 17 MB documents are stored), so the
    refusal is forced past the model with a '$' key. Before, a refused alert upsert ended the
    flights query and the app crash-looped."""
    from skyrisk.contracts import Alert
    from skyrisk.vocabulary import EMERGENCY, EMERGENCY_SQUAWKS
    from streaming.sinks import upsert_alerts

    suffix = str(time.time_ns())
    fields = {"source": "sim", "type": EMERGENCY, "started_at": 1.0, "last_seen": 2.0, "reasons": [EMERGENCY_SQUAWKS["7700"]]}
    good = Alert(icao24="aaa001", episode_id=f"good-{suffix}", callsign="DLH400", **fields)
    # what the model would refuse, built past it
    bad = Alert.model_construct(**{**good.model_dump(), "icao24": "bbb002", "episode_id": f"bad-{suffix}", "reasons": [{"$where": "1"}]})
    refused: list[int] = []
    written = upsert_alerts(mongo_db, [bad, good], lambda index, _error: refused.append(index))
    assert refused == [0]
    assert written == 1
    assert mongo_db.alerts.find_one({"_id": f"good-{suffix}"})["callsign"] == "DLH400"
    assert mongo_db.alerts.find_one({"_id": f"bad-{suffix}"}) is None


def test_a_record_the_model_refuses_becomes_an_invalid_dead_letter_naming_the_field():
    from pydantic import ValidationError

    from skyrisk.contracts import LH_REFERENCE, DeadLetter, ReferenceRecord
    from streaming.sinks import invalid_dead_letter

    raw = '{"type": "airline", "code": "LH", "names": {"en": null}, "source": "live", "fetched_time": 1.0}'
    with pytest.raises(ValidationError) as refused:
        ReferenceRecord.model_validate_json(raw)
    topic, value = invalid_dead_letter(LH_REFERENCE.name, raw, "airline:LH", refused.value)
    letter = DeadLetter.model_validate_json(value)
    assert topic == LH_REFERENCE.name and letter.source_topic == LH_REFERENCE.name
    assert letter.reason == "invalid:names.en"
    assert letter.raw == raw and letter.key == "airline:LH" and "names.en" in letter.detail


def test_a_refused_document_becomes_a_dead_letter_of_its_source_topic():
    from skyrisk.contracts import DeadLetter
    from streaming.sinks import refused_dead_letter

    key, value = refused_dead_letter("flights.states", "flights_live", {"_id": "3c6444", "source": "sim", "velocity": float("nan")},
                                     ValueError("NaN is not allowed"))
    letter = DeadLetter.model_validate_json(value)
    assert key == "flights.states" and letter.reason == "refused:flights_live" and letter.key == "3c6444"
    assert "NaN" in letter.raw and letter.detail == "NaN is not allowed" and letter.source == "sim"


class QueueFullProducer:
    """confluent-kafka's Producer as publish() uses it: a queue of ``room`` messages, drained by poll()."""

    def __init__(self, room: int, undeliverable: int = 0) -> None:
        self.room, self.queued, self.sent, self.undeliverable = room, 0, [], undeliverable

    def produce(self, topic, key=None, value=None, on_delivery=None):
        if self.queued >= self.room:
            raise BufferError("Local: Queue full")
        self.queued += 1
        self.sent.append(value)

    def poll(self, timeout=0):
        if timeout > 0:  # waiting lets deliveries free the queue; poll(0) only serves callbacks
            self.queued = 0

    def flush(self, _timeout=None):
        return self.undeliverable


def test_publish_waits_for_room_in_a_full_queue_instead_of_failing():
    from streaming.sinks import publish

    producer = QueueFullProducer(room=2)  # before: the third message raised BufferError out of the batch
    assert publish(producer, "deadletter", [(None, str(i)) for i in range(5)], deadline_s=5) == 5
    assert producer.sent == [str(i) for i in range(5)]


def test_publish_raises_when_messages_are_still_undelivered_at_the_deadline():
    """Before, what flush() left queued was ignored: the batch committed and the messages were lost."""
    from streaming.sinks import publish

    with pytest.raises(RuntimeError, match="2 of 3 messages to alerts were not delivered"):
        publish(QueueFullProducer(room=10, undeliverable=2), "alerts", [(None, "a"), (None, "b"), (None, "c")], deadline_s=1)


def test_messages_deleted_by_retention_before_a_batch_read_them_are_counted_as_lost():
    from streaming.sinks import lost_messages

    def read(start, end, rows):
        return SimpleNamespace(startOffset=json.dumps(start), endOffset=json.dumps(end), numInputRows=rows)

    topic = {"flights.states": {"0": 100, "1": 50}}
    ahead = {"flights.states": {"0": 400, "1": 90}}
    assert lost_messages([read(topic, ahead, 340)]) == {}  # read all 300 + 40
    assert lost_messages([read(topic, ahead, 40)]) == {"flights_states": 300}  # partition 0 was deleted
    first = SimpleNamespace(startOffset=None, endOffset=json.dumps(ahead), numInputRows=10)
    assert lost_messages([first]) == {}  # a first batch has no start to compare with
    compacted = read({"lufthansa.reference": {"0": 0}}, {"lufthansa.reference": {"0": 10}}, 2)
    assert lost_messages([compacted], frozenset({"lufthansa.reference"})) == {}  # compaction gaps are not loss


# --- flights_live expiry follows the source's poll interval ------------------------------------------
ANONYMOUS_POLL_S = 864.0  # anonymous OpenSky over Europe: 400 credits a day, 4 a poll


class FakeClock:
    def __init__(self, start: float) -> None:
        self.t = start

    def now(self) -> float:
        return self.t


def _poll(collection, expiry, clock, aircraft) -> None:
    """One poll of the source as the flights batch handles it: observe its snapshot time, then
    upsert each aircraft's newest state with the interval observed (what the live writer sends)."""
    from pymongo import UpdateOne

    from streaming.sinks import live_flight_documents

    expiry.observe([clock.now()] * len(aircraft))
    rows = [{"icao24": a, "event_time": clock.now() - 3, "latitude": 50.0, "longitude": 8.0} for a in aircraft]
    docs = list(live_flight_documents(rows, clock.now(), expiry.poll_interval_s))
    collection.bulk_write([UpdateOne({"_id": d["_id"]}, {"$set": d}, upsert=True) for d in docs])


def test_live_documents_carry_the_poll_interval_when_it_is_known():
    from streaming.sinks import live_flight_documents

    rows = [{"icao24": "3c6444", "event_time": 1.0, "date": "x", "hour": 1}]
    assert list(live_flight_documents(rows, 5.0, 864.0)) == [
        {"icao24": "3c6444", "event_time": 1.0, "_id": "3c6444", "last_seen": 5.0, "poll_interval_s": 864.0}]
    assert "poll_interval_s" not in next(iter(live_flight_documents(rows, 5.0)))


@pytest.fixture
def live_db(stack, mongo_client):
    """A database of its own with the real collections and indexes (the session's flights_live is seeded)."""
    from infra.stack import create_collections

    name = f"live_expiry_{time.time_ns()}"
    create_collections(stack.model_copy(update={"mongo_database": name}), echo=lambda _m: None)
    yield mongo_client[name]
    mongo_client.drop_database(name)


@pytest.mark.integration
def test_an_aircraft_polled_every_864_s_is_live_10_minutes_after_its_report_and_gone_after_two_intervals(live_db):
    """Before: every aircraft left flights_live 5 minutes after its report, so an anonymous map
    (a poll every ~864 s) was empty most of the time."""
    from streaming.sinks import LiveExpiry

    live = live_db["flights_live"]
    t0 = 1_800_000_000.0
    clock = FakeClock(t0)
    expiry = LiveExpiry(live_db, expiry_minutes=5, clock=clock.now)
    _poll(live, expiry, clock, ["3c6444", "4ca123"])
    clock.t = t0 + ANONYMOUS_POLL_S
    _poll(live, expiry, clock, ["4ca123"])  # 3c6444 has left the box
    assert expiry.poll_interval_s == ANONYMOUS_POLL_S

    clock.t = t0 + ANONYMOUS_POLL_S + 600  # 10 minutes after 4ca123's last report, 24 after 3c6444's
    assert expiry() == 0
    assert {d["_id"] for d in live.find({})} == {"3c6444", "4ca123"}
    clock.t = t0 + 2 * ANONYMOUS_POLL_S + 1  # two intervals after 3c6444's last report
    assert expiry() == 1
    assert {d["_id"] for d in live.find({})} == {"4ca123"}
    clock.t = t0 + 3 * ANONYMOUS_POLL_S + 1
    assert expiry() == 1 and live.count_documents({}) == 0


@pytest.mark.integration
def test_a_restarted_job_expires_by_the_interval_stored_with_the_aircraft(live_db):
    """A new job has seen no poll yet: its first round takes the interval the previous run stored,
    instead of deleting a slowly polled map by the 5-minute setting."""
    from streaming.sinks import LiveExpiry, stored_poll_interval

    live = live_db["flights_live"]
    t0 = 1_800_000_000.0
    clock = FakeClock(t0)
    before = LiveExpiry(live_db, expiry_minutes=5, clock=clock.now)
    _poll(live, before, clock, ["3c6444"])
    clock.t = t0 + ANONYMOUS_POLL_S
    _poll(live, before, clock, ["3c6444", "4ca123"])
    live.insert_one({"_id": "old000", "last_seen": t0 - 10_000, "poll_interval_s": 3.0})  # an older run's
    assert stored_poll_interval(live_db) == ANONYMOUS_POLL_S  # the most recently seen aircraft's

    clock.t = t0 + ANONYMOUS_POLL_S + 900
    restarted = LiveExpiry(live_db, expiry_minutes=5, clock=clock.now)
    assert restarted() == 1  # only old000, unseen for hours
    assert {d["_id"] for d in live.find({})} == {"3c6444", "4ca123"}
    clock.t = t0 + 3 * ANONYMOUS_POLL_S + 1
    assert restarted() == 2


@pytest.mark.integration
def test_a_source_polling_every_second_still_expires_after_the_setting(live_db):
    from streaming.sinks import LiveExpiry, expire_live_flights

    live = live_db["flights_live"]
    clock = FakeClock(1_800_000_000.0)
    expiry = LiveExpiry(live_db, expiry_minutes=5, clock=clock.now)
    for _ in range(3):
        _poll(live, expiry, clock, ["3c6444"])
        clock.t += 1.0
    live.insert_many([{"_id": "stale1", "last_seen": clock.t - 301}, {"_id": "fresh1", "last_seen": clock.t - 299}])
    assert expiry() == 1
    assert {d["_id"] for d in live.find({})} == {"3c6444", "fresh1"}
    assert expire_live_flights(live_db, clock.t + 300, 5) == 2  # the old call: the setting alone
