"""Writers of the streaming job: MongoDB upserts, Kafka publishing, stream progress documents.

Every MongoDB write is an upsert keyed so that a replayed micro-batch rewrites the same
documents (FerretDB 1.24 subset: ``$set``/``$setOnInsert`` upserts, ``delete_many``, ``find``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pymongo import UpdateOne

from skyrisk.contracts import Alert, ReferenceRecord, ScheduleJourney, StreamProgress

log = logging.getLogger("streaming.sinks")

REFERENCE_COLLECTIONS = {
    "country": "countries",
    "city": "cities",
    "airport": "airports",
    "airline": "airlines",
    "aircraft": "aircraft",
}
# FerretDB 1.24 keeps one SQLite cursor, and so one of its 100 pooled connections, open per
# operation of an update request until the request ends. When the requests in flight together
# need more than 100, they wait for each other forever and the server stops answering everyone
# (one request of 100 does it; so do two of 50 from two writer threads). The job has at most five
# writers at once (flights_live, tracks, weather_latest, alerts, reference): 5 x 10 stays far below.
BULK_CHUNK = 10


def bulk_upsert(collection: Any, operations: list[UpdateOne]) -> int:
    """Unordered bulk upserts in requests of ``BULK_CHUNK``; returns how many were sent."""
    for start in range(0, len(operations), BULK_CHUNK):
        collection.bulk_write(operations[start : start + BULK_CHUNK], ordered=False)
    return len(operations)


DATABASE_RETRY_SECONDS = 300.0  # how long a micro-batch waits for the database before it fails


def with_database_retries(action: Callable[[], Any], what: str, deadline_s: float = DATABASE_RETRY_SECONDS,
                          sleep: Callable[[float], None] = time.sleep) -> Any:
    """Run ``action``; while MongoDB is unreachable, retry with back-off until ``deadline_s``.

    The micro-batch waits instead of failing: a database outage must not kill the query (and cost a
    Spark restart). The writes are idempotent upserts, so repeating a half-done action is harmless.
    """
    from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError

    waited = 0.0
    delay = 1.0
    while True:
        try:
            return action()
        except (AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError) as exc:
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


def live_flight_documents(rows: Iterable[Any], seen_at: float) -> Iterable[dict[str, Any]]:
    """flights_live: one document per aircraft (``_id`` icao24), ``last_seen`` = processing time."""
    for row in rows:
        doc = _plain(row)
        doc.pop("date", None), doc.pop("hour", None)
        doc["_id"] = doc["icao24"]
        doc["last_seen"] = seen_at
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


def expire_live_flights(db: Any, now: float, expiry_minutes: int) -> int:
    """FerretDB has no TTL index: remove aircraft unseen for ``expiry_minutes`` explicitly."""
    return db["flights_live"].delete_many({"last_seen": {"$lt": now - expiry_minutes * 60}}).deleted_count


def track_documents(rows: Iterable[Any]) -> Iterable[dict[str, Any]]:
    """tracks: ``_id`` icao24:bucket; written with ``$setOnInsert`` so the first point of 30 s wins."""
    return (_plain(row) for row in rows)


def expire_track_points(db: Any, oldest_t: float) -> int:
    return db["tracks"].delete_many({"t": {"$lt": oldest_t}}).deleted_count


def open_alert_episodes(db: Any, icao24s: list[str], since: float) -> list[Mapping[str, Any]]:
    if not icao24s:
        return []
    return list(db["alerts"].find({"icao24": {"$in": icao24s}, "last_seen": {"$gte": since}}))


def upsert_alerts(db: Any, alerts: list[Alert]) -> int:
    operations = [UpdateOne({"_id": a.episode_id}, {"$set": a.model_dump()}, upsert=True) for a in alerts]
    return bulk_upsert(db["alerts"], operations)


def weather_latest_documents(rows: Iterable[Mapping[str, Any]]) -> Iterable[dict[str, Any]]:
    """weather_latest: ``_id`` = cell_id, the cell's newest observation."""
    return ({**_plain(r), "_id": r["cell_id"]} for r in rows)


def upsert_reference(db: Any, records: Iterable[ReferenceRecord]) -> dict[str, int]:
    """countries/cities/airports/airlines/aircraft: ``_id`` = the code."""
    by_collection: dict[str, list[UpdateOne]] = {}
    for record in records:
        doc = record.model_dump()
        by_collection.setdefault(REFERENCE_COLLECTIONS[record.type], []).append(
            UpdateOne({"_id": record.code}, {"$set": doc}, upsert=True)
        )
    return {name: bulk_upsert(db[name], ops) for name, ops in by_collection.items()}


def upsert_schedules(db: Any, journeys: Iterable[ScheduleJourney]) -> int:
    """schedules: one document per journey, ``_id`` = its topic key (route, date, flight numbers)."""
    operations = [UpdateOne({"_id": j.key}, {"$set": j.model_dump()}, upsert=True) for j in journeys]
    return bulk_upsert(db["schedules"], operations)


def publish(producer: Any, topic: str, keyed_values: Iterable[tuple[str | None, str]]) -> int:
    """Produce and wait for delivery (small volumes: alerts, dead letters)."""
    failures: list[str] = []

    def on_delivery(error, _message):
        if error is not None:
            failures.append(str(error))

    count = 0
    for key, value in keyed_values:
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
        producer.poll(0)
        count += 1
    producer.flush(30)
    if failures:
        raise RuntimeError(f"{len(failures)} of {count} messages to {topic} failed: {failures[0]}")
    return count


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


def progress_document(
    progress: Any, sink_rows: dict[str, int], rejects: dict[str, int], step_ms: dict[str, int] | None = None
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
    ) -> None:
        import threading

        self.collection = collection
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

    def _run(self) -> None:
        while True:
            self.wake.wait(1.0)
            self.wake.clear()
            self._housekeep()
            with self.lock:
                batch, self.pending = list(self.pending.values()), {}
            if batch:
                try:
                    self.written += bulk_upsert(self.collection, self._operations(batch))
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
