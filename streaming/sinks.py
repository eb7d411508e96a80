"""Writers of the streaming job: MongoDB upserts, Kafka publishing, stream progress documents.

Every MongoDB write is an upsert keyed so that a replayed micro-batch rewrites the same
documents (FerretDB 1.24 subset: ``$set``/``$setOnInsert`` upserts, ``delete_many``, ``find``).
"""

from __future__ import annotations

import json
import logging
import time
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pymongo import UpdateOne

from skyrisk import liveness
from skyrisk.contracts import Alert, DeadLetter, ReferenceRecord, ScheduleJourney, Source, StreamProgress, unstorable

log = logging.getLogger("streaming.sinks")

REFERENCE_COLLECTIONS = {
    "country": "countries",
    "city": "cities",
    "airport": "airports",
    "airline": "airlines",
    "aircraft": "aircraft",
}
# Operations per write request. Unpatched FerretDB 1.24 held one pooled connection per operation of
# a request until the request ended and never answered a request of 100; the FerretDB we build
# closes each query before its write (infra/ferretdb/patches). Larger requests are safe now but not
# faster: 994 upserts/s in requests of 10, 986 in 100, 1,050 in 2,000 at 2,000 documents
# (bench/streaming/bench_mongo_writes.py --aircraft 2000, 2026-12-03), so requests stay small.
BULK_CHUNK = 10


# What "the database is not there" looks like; any other error of a write is the database refusing
# that document (NaN, a NUL, a '$' key, too large...), which no retry can fix.
def _transient_errors() -> tuple[type[BaseException], ...]:
    from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError

    return AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError


Refused = Callable[[int, BaseException], None]  # (index of the operation, the database's answer)


def bulk_upsert(collection: Any, operations: list[UpdateOne], on_refused: Refused | None = None) -> int:
    """Unordered bulk upserts in requests of ``BULK_CHUNK``; returns how many were written.

    With ``on_refused``, a request the database refuses is split: each of its operations is tried
    alone, the refused ones go to ``on_refused`` and the rest are written. Without it, or when the
    database is unreachable, the error is raised.
    """
    transient = _transient_errors()
    written = 0
    for start in range(0, len(operations), BULK_CHUNK):
        chunk = operations[start : start + BULK_CHUNK]
        try:
            collection.bulk_write(chunk, ordered=False)
            written += len(chunk)
            continue
        except transient:
            raise
        except Exception:
            if on_refused is None:
                raise
        for index, operation in enumerate(chunk, start):
            try:
                collection.bulk_write([operation], ordered=False)
                written += 1
            except transient:
                raise
            except Exception as refusal:
                on_refused(index, refusal)
    return written


MAX_DEAD_LETTER_RAW = 64 * 1024  # as streaming.transforms.MAX_PAYLOAD_BYTES: a letter must fit the broker
DATABASE_RETRY_SECONDS = 300.0  # how long a micro-batch waits for the database before it fails


def with_database_retries(action: Callable[[], Any], what: str, deadline_s: float = DATABASE_RETRY_SECONDS,
                          sleep: Callable[[float], None] = time.sleep) -> Any:
    """Run ``action``; while MongoDB is unreachable, retry with back-off until ``deadline_s``.

    The micro-batch waits instead of failing: a database outage must not kill the query (and cost a
    Spark restart). The writes are idempotent upserts, so repeating a half-done action is harmless.
    """
    waited = 0.0
    delay = 1.0
    while True:
        try:
            return action()
        except _transient_errors() as exc:
            if waited >= deadline_s:
                raise
            log.warning("%s: database unreachable (%s); retrying in %.0f s", what, type(exc).__name__, delay)
            sleep(delay)
            waited += delay
            delay = min(delay * 2, 30.0)


def _plain(value: Any) -> Any:
    """Spark Row/dict values to BSON-friendly ones (Rows inside become dicts)."""
    if hasattr(value, "asDict"):
        return {k: _plain(v) for k, v in value.asDict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def live_flight_documents(rows: Iterable[Any], seen_at: float,
                          poll_interval_s: float | None = None) -> Iterable[dict[str, Any]]:
    """flights_live: one document per aircraft (``_id`` icao24), ``last_seen`` = processing time,
    and the source's poll interval observed when it was written (``poll_interval_s``, when known:
    a restarted job expires by it until it has observed the interval again)."""
    for row in rows:
        doc = _plain(row)
        doc.pop("date", None), doc.pop("hour", None)
        doc["_id"] = doc["icao24"]
        doc["last_seen"] = seen_at
        if poll_interval_s is not None:
            doc["poll_interval_s"] = poll_interval_s
        yield doc


def live_context_rows(db: Any) -> list[tuple[Any, ...]]:
    """Each live aircraft's newest report as a behaviour-context row (``behaviour.CONTEXT_COLUMNS``):
    a restarted job judges the first report of each aircraft against the one before it."""
    fields = {"event_time": 1, "latitude": 1, "longitude": 1, "envelope_streak": 1, "envelope_since": 1}
    rows = []
    for doc in db["flights_live"].find({}, fields):
        if all(isinstance(doc.get(k), (int, float)) for k in ("event_time", "latitude", "longitude")):
            rows.append((str(doc["_id"]), float(doc["event_time"]), float(doc["latitude"]), float(doc["longitude"]),
                         int(doc.get("envelope_streak") or 0),
                         None if doc.get("envelope_since") is None else float(doc["envelope_since"])))
    return rows


def expire_live_flights(db: Any, now: float, expiry_minutes: int, poll_interval_s: float | None = None) -> int:
    """FerretDB has no TTL index: remove aircraft unseen for longer than
    :func:`skyrisk.liveness.live_expiry_seconds` allows (``expiry_minutes``, or two poll intervals
    of the source when that is longer) explicitly."""
    cutoff = liveness.expiry_cutoff(now, expiry_minutes, poll_interval_s)
    return db["flights_live"].delete_many({"last_seen": {"$lt": cutoff}}).deleted_count


def stored_poll_interval(db: Any) -> float | None:
    """The poll interval stored with the most recently seen aircraft (what the previous run observed)."""
    doc = db["flights_live"].find_one({"poll_interval_s": {"$gt": 0}}, {"poll_interval_s": 1},
                                      sort=[("last_seen", -1)])
    value = doc.get("poll_interval_s") if doc else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class LiveExpiry:
    """The housekeeping of ``flights_live`` (run by its writer's thread): deletes the aircraft unseen
    for longer than :mod:`skyrisk.liveness` allows at the poll interval observed from the flights'
    ``snapshot_time`` (:meth:`observe`, called by each flights batch). Its first round first takes
    the interval stored with the live aircraft, so a restarted job does not expire a slowly polled
    map by ``expiry_minutes`` before it has seen two polls again."""

    def __init__(self, db: Any, expiry_minutes: int, clock: Callable[[], float] = time.time) -> None:
        self.db, self.expiry_minutes, self.clock = db, expiry_minutes, clock
        self.intervals = liveness.PollIntervalObserver()
        self.seeded = False
        self.logged_expiry_s: float | None = None

    @property
    def poll_interval_s(self) -> float | None:
        return self.intervals.interval_s

    def expiry_seconds(self) -> float:
        return liveness.live_expiry_seconds(self.expiry_minutes, self.poll_interval_s)

    def observe(self, snapshot_times: Iterable[float | None]) -> float | None:
        interval = self.intervals.observe(snapshot_times)
        expiry = self.expiry_seconds()
        if self.logged_expiry_s is None or abs(expiry - self.logged_expiry_s) > 0.1 * self.logged_expiry_s:
            self.logged_expiry_s = expiry
            log.info("flights_live: the source polls every %s; aircraft unseen for %.0f s expire",
                     "?" if interval is None else f"{interval:.1f} s", expiry)
        return interval

    def __call__(self) -> int:
        if not self.seeded:
            self.intervals.seed(stored_poll_interval(self.db))  # raises while MongoDB is down: no round then
            self.seeded = True
        return expire_live_flights(self.db, self.clock(), self.expiry_minutes, self.poll_interval_s)


def track_documents(rows: Iterable[Any]) -> Iterable[dict[str, Any]]:
    """tracks: ``_id`` icao24:bucket; written with ``$setOnInsert`` so the first point of 30 s wins."""
    return (_plain(row) for row in rows)


def expire_track_points(db: Any, oldest_t: float) -> int:
    return db["tracks"].delete_many({"t": {"$lt": oldest_t}}).deleted_count


def open_alert_episodes(db: Any, icao24s: list[str], since: float) -> list[Mapping[str, Any]]:
    if not icao24s:
        return []
    return list(db["alerts"].find({"icao24": {"$in": icao24s}, "last_seen": {"$gte": since}}))


def upsert_alerts(db: Any, alerts: list[Alert], on_refused: Refused | None = None) -> int:
    operations = [UpdateOne({"_id": a.episode_id}, {"$set": a.model_dump()}, upsert=True) for a in alerts]
    return bulk_upsert(db["alerts"], operations, on_refused)


def weather_latest_documents(rows: Iterable[Mapping[str, Any]]) -> Iterable[dict[str, Any]]:
    """weather_latest: ``_id`` = cell_id, the cell's newest observation."""
    return ({**_plain(r), "_id": r["cell_id"]} for r in rows)


# A refused upsert: (collection, the document as it was sent, the database's error).
RefusedDocument = Callable[[str, dict[str, Any], BaseException], None]


def upsert_reference(db: Any, records: Iterable[ReferenceRecord],
                     on_refused: RefusedDocument | None = None) -> dict[str, int]:
    """countries/cities/airports/airlines/aircraft: ``_id`` = the code."""
    by_collection: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_collection.setdefault(REFERENCE_COLLECTIONS[record.type], []).append({"_id": record.code, **record.model_dump()})
    return {name: _upsert_documents(db, name, documents, on_refused) for name, documents in by_collection.items()}


def upsert_schedules(db: Any, journeys: list[ScheduleJourney], on_refused: RefusedDocument | None = None) -> int:
    """schedules: one document per journey, ``_id`` = its topic key (route, date, flight numbers)."""
    return _upsert_documents(db, "schedules", [{"_id": j.key, **j.model_dump()} for j in journeys], on_refused)


def _upsert_documents(db: Any, name: str, documents: list[dict[str, Any]], on_refused: RefusedDocument | None) -> int:
    operations = [UpdateOne({"_id": d["_id"]}, {"$set": {k: v for k, v in d.items() if k != "_id"}}, upsert=True)
                  for d in documents]
    refused = None if on_refused is None else (lambda index, error: on_refused(name, documents[index], error))
    return bulk_upsert(db[name], operations, refused)


PUBLISH_DEADLINE_SECONDS = 300.0  # how long a micro-batch waits for the broker before it fails


def publish(producer: Any, topic: str, keyed_values: Iterable[tuple[str | None, str]],
            deadline_s: float = PUBLISH_DEADLINE_SECONDS) -> int:
    """Produce and wait for delivery (small volumes: alerts, dead letters).

    A full local queue (BufferError) is drained by polling, not dropped. Raises when a message
    failed or is still undelivered after ``deadline_s``: the micro-batch then fails and is
    replayed from its checkpoint, so nothing is lost silently.
    """
    failures: list[str] = []

    def on_delivery(error, _message):
        if error is not None:
            failures.append(str(error))

    count = 0
    deadline = time.monotonic() + deadline_s
    for key, value in keyed_values:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the producer queue to {topic} stayed full for {deadline_s:.0f} s") from None
                producer.poll(0.5)  # deliveries free room in the queue
        producer.poll(0)
        count += 1
    undelivered = producer.flush(max(1.0, deadline - time.monotonic()))
    if undelivered or failures:
        why = failures[0] if failures else "not acknowledged in time"
        raise RuntimeError(f"{len(failures) + undelivered} of {count} messages to {topic} were not delivered: {why}")
    return count


def refused_dead_letter(source_topic: str, collection: str, document: Mapping[str, Any], error: BaseException) -> tuple[str, str]:
    """A document the database refused, as a (key, JSON) dead letter of ``source_topic``."""
    source = document.get("source")
    letter = DeadLetter(
        source=source if source in typing.get_args(Source) else "live",
        source_topic=source_topic,
        reason=f"refused:{collection}",
        raw=json.dumps(_plain(dict(document)), default=str)[:MAX_DEAD_LETTER_RAW],
        key=str(document.get("_id")),
        at=time.time(),
        detail=str(error)[:500],
    )
    return source_topic, letter.model_dump_json()


def invalid_dead_letter(source_topic: str, raw: str | None, key: str | None, error: Any) -> tuple[str, str]:
    """A record the pydantic model refused after the Spark checks let it through, as a dead letter."""
    first = error.errors()[0] if hasattr(error, "errors") and error.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ())) or "record"
    letter = DeadLetter(source="live", source_topic=source_topic, reason=f"invalid:{where}",
                        raw=(raw or "")[:MAX_DEAD_LETTER_RAW], key=key, at=time.time(), detail=str(error)[:500])
    return source_topic, letter.model_dump_json()


def lag_key(topic: str) -> str:
    """FerretDB refuses '.' in document keys: ``flights.states`` is stored as ``flights_states``."""
    return topic.replace(".", "_")


def kafka_lag(source_progress: Any) -> dict[str, int]:
    """Messages between what a batch read and the newest offsets, per topic (key: :func:`lag_key`)."""
    lag: dict[str, int] = {}
    for source in source_progress:
        try:
            end = json.loads(source.endOffset or "{}")
            latest = json.loads(source.latestOffset or "{}")
        except (TypeError, ValueError):
            continue
        if not isinstance(end, dict) or not isinstance(latest, dict):
            continue
        for topic, partitions in latest.items():
            done = end.get(topic, {})
            lag[lag_key(topic)] = lag.get(lag_key(topic), 0) + sum(max(0, int(o) - int(done.get(p, o))) for p, o in partitions.items())
    return lag


def lost_messages(source_progress: Any, compacted: frozenset[str] = frozenset()) -> dict[str, int]:
    """Messages a batch should have read but Kafka had already deleted (retention), per topic.

    With ``failOnDataLoss=false`` Spark skips deleted offsets without a word; the batch's offset
    range then holds more messages than it read. Compacted topics have gaps by design: skipped.
    """
    lost: dict[str, int] = {}
    for source in source_progress:
        try:
            start = json.loads(source.startOffset)
            end = json.loads(source.endOffset)
        except (TypeError, ValueError):
            continue  # a first batch has no start
        if not isinstance(start, dict) or not isinstance(end, dict) or compacted.intersection(end):
            continue
        expected = sum(max(0, int(o) - int(start.get(topic, {}).get(p, o))) for topic, parts in end.items() for p, o in parts.items())
        missing = expected - int(source.numInputRows or 0)
        if missing > 0:
            key = lag_key("+".join(sorted(end)))
            lost[key] = lost.get(key, 0) + missing
    return lost


def offsets_document(query: str, query_id: str, batch_id: int, end_offset: str | None) -> dict[str, Any]:
    """stream_offsets: where a query's last committed batch ended (Kafka's JSON, kept as text:
    topic names have dots, which FerretDB refuses in keys)."""
    return {"_id": query, "query_id": query_id, "batch_id": batch_id, "end_offset": end_offset, "at": time.time()}


def stored_offsets(db: Any, query: str) -> str | None:
    doc = db["stream_offsets"].find_one({"_id": query})
    return doc.get("end_offset") if doc else None


def progress_document(
    progress: Any, sink_rows: dict[str, int], rejects: dict[str, int], step_ms: dict[str, int] | None = None,
    compacted: frozenset[str] = frozenset(),
) -> StreamProgress:
    """One stream_progress document; ``step_ms`` (time per step of the batch) is an extra field."""
    return StreamProgress(
        query=progress.name or progress.id,
        batch_id=progress.batchId,
        timestamp=time.time(),
        num_input_rows=progress.numInputRows,
        input_rows_per_second=float(progress.inputRowsPerSecond or 0.0),
        processed_rows_per_second=float(progress.processedRowsPerSecond or 0.0),
        batch_duration_ms=int(progress.batchDuration or 0),
        watermark=(progress.eventTime or {}).get("watermark"),
        late_rows_dropped=sum(op.numRowsDroppedByWatermark for op in progress.stateOperators or []),
        sink_rows=sink_rows,
        rejects=rejects,
        kafka_lag=kafka_lag(progress.sources),
        step_ms=step_ms or {},
        data_lost=lost_messages(progress.sources, compacted),
    )


class CoalescingWriter:
    """Upserts into one collection from a background thread, coalescing by ``_id``.

    Spark micro-batches hand documents over and go on; the thread writes what is pending as fast
    as the database allows. Per ``_id`` only one pending document is kept: the newest
    (``keep="newest"``, by ``order_field``) for flights_live, the first (``keep="first"``, written
    with ``$setOnInsert``) for tracks. So a slow database delays the live view instead of the
    stream, and its backlog is bounded by the number of aircraft, not by the event rate.
    Pending documents are lost on a crash; the next states of each aircraft (1 Hz) replace them.
    """

    def __init__(
        self,
        collection: Any,
        *,
        keep: str = "newest",
        order_field: str = "event_time",
        housekeeping: Callable[[], Any] | None = None,
        housekeeping_interval_s: float = 60.0,
        on_refused: Callable[[dict[str, Any], BaseException], None] | None = None,
    ) -> None:
        import threading

        self.collection = collection
        # A document the database refuses is handed to on_refused (the dead letters) and dropped:
        # resubmitting it would block every document queued behind it.
        self.on_refused = on_refused
        self.refused = 0
        # Deletes of stale documents scan the whole collection on FerretDB (no pushdown beyond
        # _id): run them here, seldom, between writes, never in a micro-batch.
        self.housekeeping = housekeeping
        self.housekeeping_interval_s = housekeeping_interval_s
        self.housekeeping_due = time.monotonic()  # first round at once: leftovers of a previous run
        self.housekept = 0
        self.keep = keep
        self.order_field = order_field
        self.pending: dict[Any, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self.stopping = False
        self.written = 0
        self.thread = threading.Thread(target=self._run, name=f"writer-{collection.name}", daemon=True)
        self.thread.start()

    def submit(self, docs: Iterable[dict[str, Any]]) -> int:
        count = 0
        with self.lock:
            for doc in docs:
                key = doc["_id"]
                held = self.pending.get(key)
                if held is None or (self.keep == "newest" and doc[self.order_field] >= held[self.order_field]):
                    self.pending[key] = doc
                count += 1
            if self.pending:
                self.idle.clear()
        self.wake.set()
        return count

    def backlog(self) -> int:
        with self.lock:
            return len(self.pending)

    def _operations(self, docs: list[dict[str, Any]]) -> list[UpdateOne]:
        operator = "$set" if self.keep == "newest" else "$setOnInsert"
        return [UpdateOne({"_id": d["_id"]}, {operator: {k: v for k, v in d.items() if k != "_id"}}, upsert=True) for d in docs]

    def _housekeep(self) -> None:
        if self.housekeeping is None or time.monotonic() < self.housekeeping_due:
            return
        self.housekeeping_due = time.monotonic() + self.housekeeping_interval_s
        try:
            self.housekept += int(self.housekeeping() or 0)
        except Exception:  # the next round tries again; writing goes on
            log.exception("housekeeping of %s failed", self.collection.name)

    def _refuse(self, document: dict[str, Any], error: BaseException) -> None:
        self.refused += 1
        log.error("%s refused document %s: %s", self.collection.name, document.get("_id"), error)
        if self.on_refused is not None:
            try:
                self.on_refused(document, error)
            except Exception:  # the refusal is logged and counted; the writer goes on
                log.exception("dead-lettering a refused %s document failed", self.collection.name)

    def _run(self) -> None:
        while True:
            self.wake.wait(1.0)
            self.wake.clear()
            self._housekeep()
            with self.lock:
                batch, self.pending = list(self.pending.values()), {}
            storable = []
            for document in batch:
                where = unstorable(document)
                if where is None:
                    storable.append(document)
                else:
                    self._refuse(document, ValueError(f"{where}: NaN/Infinity, a NUL or a '$'/'.' key"))
            batch = storable
            if batch:
                try:
                    self.written += bulk_upsert(self.collection, self._operations(batch),
                                                lambda index, error: self._refuse(batch[index], error))
                except Exception:
                    log.exception("writing %d documents to %s failed; retrying", len(batch), self.collection.name)
                    self.submit(batch)  # newer states that arrived meanwhile still win
                    time.sleep(1.0)
                    continue
            with self.lock:
                if not self.pending:
                    self.idle.set()
                    if self.stopping:
                        return

    def flush(self, timeout_s: float = 120.0) -> bool:
        """Wait until everything submitted so far is written."""
        self.wake.set()
        return self.idle.wait(timeout_s)

    def close(self, timeout_s: float = 120.0) -> None:
        with self.lock:
            self.stopping = True
        self.wake.set()
        self.thread.join(timeout_s)
