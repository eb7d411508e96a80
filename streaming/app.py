"""The streaming job: Kafka -> transforms -> MongoDB, Kafka and the Parquet lake.

Four queries in one Spark application (thin wiring; the logic is in ``transforms.py``):

- ``weather``: weather topic -> latest-weather table (driver-held, broadcast to flights) and
  ``weather_latest``. It keeps no checkpoint: at every start it re-reads the last
  maximum weather age (``skyrisk.weather.max_age_minutes``, + one poll interval) from Kafka, which rebuilds the table
  exactly, so the table survives restarts without state of its own.
- ``flights``: flight topic -> parse -> watermark + dedupe (stateful) -> foreachBatch: weather
  join, risk, phase, anomaly -> Parquet, flights_live, tracks, alerts (+ alerts topic).
- ``reference``: Lufthansa reference and schedule topics -> their collections.
- ``deadletter``: every input topic -> rejected records -> deadletter topic, counted by reason.

Parquet is exactly-once per micro-batch: each batch writes its own ``batch_id=<n>`` partition
under ``date=/hour=`` with dynamic partition overwrite, so a batch replayed after a crash
replaces exactly what its first attempt wrote, and the checkpoint makes Kafka offsets exact.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from skyrisk import contracts
from skyrisk.contracts import FlightState, ReferenceRecord, ScheduleJourney, WeatherObservation
from skyrisk.model_store import latest_model_stamp, load_latest_phase_model, load_or_bootstrap_phase_model
from skyrisk.behaviour import empty_context_table, merge_context_table
from skyrisk.phase import PhaseModel
from skyrisk.settings import Settings
from skyrisk.weather import max_age_minutes
from streaming import sinks
from streaming import transforms as tf
from streaming.episodes import EPISODE_GAP_SECONDS, newest_by_aircraft_and_type, plan_alerts

log = logging.getLogger("streaming")

PROGRESS_DRAIN_SECONDS = 10.0
MAX_FLIGHT_OFFSETS_PER_TRIGGER = 200_000  # bounds a catch-up batch so freshness recovers gradually
WEATHER_POLL_SECONDS = 900  # Open-Meteo refreshes current weather every 15 minutes
MODEL_POLL_SECONDS = 60.0
DEAD_LETTER_TRIGGER_SECONDS = 30.0
TRACK_HISTORY_SECONDS = 2 * 3600
PROGRESS_HISTORY_SECONDS = 24 * 3600
CHECKPOINTED_QUERIES = ("flights", "reference", "deadletter")
COMPACTED_TOPICS = frozenset(t.name for t in contracts.TOPICS if t.compacted)
INPUT_TOPICS = {
    contracts.FLIGHT_STATES.name: FlightState,
    contracts.WEATHER.name: WeatherObservation,
    contracts.LH_REFERENCE.name: ReferenceRecord,
    contracts.LH_SCHEDULES.name: ScheduleJourney,
}


EPHEMERAL_PREFIX = "skyrisk-"


def ephemeral_checkpoint(name: str) -> str:
    """A fresh temporary checkpoint folder, named after this process; the folders of processes
    that are gone (kill -9 leaves them) are removed first, so they never pile up."""
    import psutil

    pattern = f"{EPHEMERAL_PREFIX}{name}-"
    root = tempfile.gettempdir()
    for entry in os.listdir(root):
        if entry.startswith(pattern):
            pid = entry[len(pattern):].split("-", 1)[0]
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{pattern}{os.getpid()}-")


def _snapshot_times(flights: Any) -> list[float]:
    """The distinct ``snapshot_time`` values of a batch of flight states (a handful: one per poll
    of the source), from which the live expiry observes the source's poll interval."""
    from pyspark.sql import functions as F

    return list(flights.agg(F.collect_set("snapshot_time")).first()[0] or [])


class StepTimer:
    """Milliseconds per step of a micro-batch, reported in stream_progress (``step_ms``)."""

    def __init__(self) -> None:
        self.ms: dict[str, int] = {}

    def run(self, name: str, action: Any) -> Any:
        start = time.perf_counter()
        try:
            return action()
        finally:
            self.ms[name] = int((time.perf_counter() - start) * 1000)


@dataclass
class BatchStats:
    """What each foreachBatch wrote, merged into the stream_progress document of that batch."""

    sink_rows: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    rejects: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    step_ms: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self,
        query: str,
        batch_id: int,
        sink_rows: dict[str, int],
        rejects: dict[str, int] | None = None,
        step_ms: dict[str, int] | None = None,
    ) -> None:
        with self.lock:
            self.sink_rows[(query, batch_id)] = sink_rows
            self.rejects[(query, batch_id)] = rejects or {}
            self.step_ms[(query, batch_id)] = step_ms or {}

    def pending(self) -> int:
        """Batches whose figures wait for their progress event."""
        with self.lock:
            return len(self.sink_rows)

    def take(self, query: str, batch_id: int) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        key = (query, batch_id)
        with self.lock:
            return self.sink_rows.pop(key, {}), self.rejects.pop(key, {}), self.step_ms.pop(key, {})


class StreamingJob:
    def __init__(self, spark: Any, settings: Settings) -> None:
        from confluent_kafka import Producer
        from pymongo import MongoClient

        self.spark = spark
        self.settings = settings
        # How old the weather joined to a flight may be: what the weather's source can keep up with.
        self.weather_max_age_minutes = max_age_minutes(settings)
        log.info("weather joined to flights when at most %d minutes old (%s weather)", self.weather_max_age_minutes,
                 settings.resolved_producer_mode)
        self.mongo = MongoClient(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=10_000)
        self.db = self.mongo[settings.mongo_database]
        self.producer = Producer(
            {
                "bootstrap.servers": settings.kafka_bootstrap_servers,
                "enable.idempotence": True,
                "acks": "all",
                "compression.type": "zstd",
                "linger.ms": 20,
            }
        )
        self.model: PhaseModel = load_or_bootstrap_phase_model(spark, settings)
        self.model_stamp = latest_model_stamp(settings)
        self.model_checked_at = time.monotonic()
        log.info("phase model %s (mode %s, bootstrap %s)", self.model.version, self.model.mode, self.model.bootstrap)
        flights_topic = contracts.FLIGHT_STATES.name
        # Aircraft leave flights_live after max(live_expiry_minutes, 2 poll intervals of the source),
        # the interval observed from the flights' snapshot_time (skyrisk.liveness).
        self.live_expiry = sinks.LiveExpiry(self.db, settings.live_expiry_minutes)
        self.live_writer = sinks.CoalescingWriter(
            self.db["flights_live"], keep="newest",
            housekeeping=self.live_expiry,
            on_refused=self._dead_letter_refused(flights_topic, "flights_live"),
        )
        self.newest_event_time = 0.0
        self.track_writer = sinks.CoalescingWriter(
            self.db["tracks"], keep="first",
            housekeeping=lambda: sinks.expire_track_points(self.db, self.newest_event_time - TRACK_HISTORY_SECONDS),
            housekeeping_interval_s=300.0,
            on_refused=self._dead_letter_refused(flights_topic, "tracks"),
        )
        self.weather_writer = sinks.CoalescingWriter(
            self.db["weather_latest"], keep="newest", order_field="observation_time",
            on_refused=self._dead_letter_refused(contracts.WEATHER.name, "weather_latest"))
        # An observation whose cell is not its centre's cell in this job's grid is dead-lettered.
        self.extra_checks = {WeatherObservation: tf.weather_cell_checks(settings.weather_grid_deg, settings.bbox)}
        self.weather_table = tf.empty_weather_table(spark).localCheckpoint(eager=True)
        self.weather_lock = threading.Lock()
        # Each aircraft's newest report and run outside the envelope (skyrisk.behaviour): touched
        # only by the flights query's batches, which run one after the other.
        self.aircraft_context = empty_context_table(spark).localCheckpoint(eager=True)
        self.stats = BatchStats()
        self.queries: list[Any] = []
        self.weather_checkpoint = ephemeral_checkpoint("weather")
        self.listener = None
        self.query_ids: dict[str, str] = {}
        self.query_started = threading.Event()

    # --- sources ------------------------------------------------------------------------------
    def _kafka(self, topics: list[str], **options: str) -> Any:
        reader = (
            self.spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", self.settings.kafka_bootstrap_servers)
            .option("subscribe", ",".join(topics))
            .option("failOnDataLoss", "false")  # retention may delete what a stopped job never read
        )
        for key, value in options.items():
            reader = reader.option(key, value)
        return reader.load()

    def _checkpoint(self, name: str) -> str:
        return f"{self.settings.resolved_checkpoint_dir.rstrip('/')}/streaming/{name}"

    def _parse(self, raw: Any, model: type[contracts.Message]) -> Any:
        return tf.parse_messages(raw, model, self.extra_checks.get(model))

    def _dead_letter_refused(self, source_topic: str, collection: str) -> Any:
        """What a writer does with a document the database refuses: one dead letter, the rest goes on."""
        def dead_letter(document: dict[str, Any], error: BaseException) -> None:
            sinks.publish(self.producer, contracts.DEAD_LETTER.name,
                          [sinks.refused_dead_letter(source_topic, collection, document, error)])
        return dead_letter

    def _start(self, frame: Any, name: str, handler: Any, checkpoint: str, available_now: bool,
               trigger_seconds: float | None = None) -> Any:
        writer = frame.writeStream.queryName(name).foreachBatch(handler).option("checkpointLocation", checkpoint)
        if available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{trigger_seconds or self.settings.trigger_seconds} seconds")
        query = writer.start()
        self.query_ids[name] = query.id
        self.queries.append(query)
        return query

    def _query_run(self, name: str, timeout_s: float = 60.0) -> str:
        """A short id of the query's checkpoint: stable across restarts, new when the checkpoint is
        reset. (A batch can start before ``writer.start()`` returns: wait for the id.)"""
        deadline = time.monotonic() + timeout_s
        while name not in self.query_ids:
            if time.monotonic() > deadline:
                raise RuntimeError(f"query {name} has no id after {timeout_s:.0f} s")
            time.sleep(0.05)
        return self.query_ids[name].split("-")[0]

    def _checkpoint_is_new(self, checkpoint: str) -> bool:
        """No offset log yet: a first start, or a checkpoint someone deleted (any Hadoop file system)."""
        jvm = self.spark._jvm
        offsets = jvm.org.apache.hadoop.fs.Path(f"{checkpoint.rstrip('/')}/offsets")
        fs = offsets.getFileSystem(self.spark._jsc.hadoopConfiguration())
        return not fs.exists(offsets) or len(fs.listStatus(offsets)) == 0

    def _starting_offsets(self, name: str) -> dict[str, str]:
        """Where a query with a new checkpoint starts: where the last run of that query stopped
        (``stream_offsets``), else the beginning of the topics. A reset checkpoint thus neither
        writes the retained day into the lake again nor skips anything."""
        if not self._checkpoint_is_new(self._checkpoint(name)):
            return {}  # the checkpoint decides
        stored = sinks.with_database_retries(lambda: sinks.stored_offsets(self.db, name), "stream_offsets")
        if stored is None:
            return {"startingOffsets": "earliest"}
        log.warning("%s: the checkpoint is new; resuming at the offsets its last run committed: %s", name, stored)
        return {"startingOffsets": stored}

    # --- weather --------------------------------------------------------------------------------
    def handle_weather(self, batch: Any, batch_id: int) -> None:
        observations = tf.valid_rows(self._parse(batch, WeatherObservation), WeatherObservation).cache()
        try:
            if observations.isEmpty():
                self.stats.record("weather", batch_id, {})
                return
            timer = StepTimer()
            with self.weather_lock:
                previous = self.weather_table
                merged = tf.merge_weather_table(previous, observations, self.weather_max_age_minutes)
                # localCheckpoint cuts the lineage and keeps the small table in executor memory
                self.weather_table = timer.run("merge", lambda: merged.localCheckpoint(eager=True))
                previous.unpersist()
            touched = [r.cell_id for r in observations.select("cell_id").distinct().collect()]
            newest = (
                self.weather_table.where(self.weather_table.cell_id.isin(touched))
                .selectExpr("observations[0] AS w")
                .select("w.*")
                .collect()
            )
            written = self.weather_writer.submit(sinks.weather_latest_documents(r.asDict() for r in newest))
            self.stats.record("weather", batch_id, {"weather_latest": written}, step_ms=timer.ms)
        finally:
            observations.unpersist()

    # --- flights --------------------------------------------------------------------------------
    def _maybe_reload_model(self) -> None:
        if time.monotonic() - self.model_checked_at < MODEL_POLL_SECONDS:
            return
        self.model_checked_at = time.monotonic()
        try:
            stamp = latest_model_stamp(self.settings)
            if stamp == self.model_stamp:
                return
            model = load_latest_phase_model(self.settings)
            self.model_stamp = stamp
            if model is not None and model.version != self.model.version:
                log.info("phase model %s replaces %s", model.version, self.model.version)
                self.model = model
        except Exception:  # the lake being briefly unreachable must not stop the flights
            log.exception("checking for a newer phase model failed; keeping %s", self.model.version)

    def handle_flights(self, batch: Any, batch_id: int) -> None:
        self._maybe_reload_model()
        with self.weather_lock:
            weather = self.weather_table
        # The batch is the micro-batch's RDD: every Spark job over it would run the dedup state
        # operator again (counting its late drops twice). Materialised once, it runs once.
        batch = batch.localCheckpoint(eager=True)
        joined = tf.join_latest_weather(batch, weather, self.settings.weather_grid_deg, self.weather_max_age_minutes)
        enriched = tf.enrich(joined.drop("event_ts"), self.model, self.aircraft_context).persist()
        timer = StepTimer()
        try:
            rows, airborne, with_weather = timer.run("enrich", lambda: tf.weather_coverage(enriched))
            if rows == 0:
                self.stats.record("flights", batch_id, {})
                return
            previous = self.aircraft_context
            self.aircraft_context = timer.run(
                "context", lambda: merge_context_table(previous, enriched).localCheckpoint(eager=True))
            previous.unpersist()
            timer.run("parquet", lambda: self._write_lake(enriched, batch_id))
            timer.run("poll_interval", lambda: self.live_expiry.observe(_snapshot_times(batch)))
            now = time.time()
            # collect(): one Spark job for the whole batch (toLocalIterator runs one per partition).
            # MongoDB is written by the coalescing writers' threads: a slow database delays the
            # live view, never the stream or the lake.
            newest = timer.run("newest", lambda: tf.newest_per_aircraft(enriched).collect())
            self.newest_event_time = max(self.newest_event_time, max(r["event_time"] for r in newest))
            live = timer.run("flights_live", lambda: self.live_writer.submit(
                sinks.live_flight_documents(newest, now, self.live_expiry.poll_interval_s)))
            tracks = timer.run("tracks", lambda: self.track_writer.submit(sinks.track_documents(tf.track_points(enriched).collect())))
            alerts = timer.run("alerts", lambda: self._write_alerts(enriched, source=newest[0]["source"]))
            self.stats.record(
                "flights",
                batch_id,
                {
                    "parquet": rows,
                    "airborne": airborne,
                    "airborne_with_weather": with_weather,
                    "flights_live": live,
                    "flights_live_backlog": self.live_writer.backlog(),
                    "flights_live_expired": self.live_writer.housekept,
                    "tracks": tracks,
                    "tracks_backlog": self.track_writer.backlog(),
                    "alerts": alerts,
                },
                step_ms=timer.ms,
            )
        finally:
            enriched.unpersist()

    def _write_lake(self, enriched: Any, batch_id: int) -> None:
        from pyspark.sql import functions as F

        # <checkpoint id>-<batch id>: a replayed batch replaces its own partition; a reset
        # checkpoint (batch ids from 0 again) writes new ones instead of overwriting history.
        partition = f"{self._query_run('flights')}-{batch_id}"
        (
            enriched.withColumn("batch_id", F.lit(partition))
            .write.mode("overwrite")
            .option("partitionOverwriteMode", "dynamic")
            .partitionBy("date", "hour", "batch_id")
            .parquet(f"{self.settings.lake_url}/{contracts.LAKE_ENRICHED}")
        )

    def _write_alerts(self, enriched: Any, source: str) -> int:
        signals = [r.asDict(recursive=True) for r in tf.alert_signals(enriched).collect()]
        if not signals:
            return 0
        since = min(s["first_seen"] for s in signals) - EPISODE_GAP_SECONDS

        def store() -> list[Any]:
            stored = sinks.open_alert_episodes(self.db, sorted({s["icao24"] for s in signals}), since)
            alerts = plan_alerts(signals, newest_by_aircraft_and_type(stored), source=source)
            refused = self._dead_letter_refused(contracts.FLIGHT_STATES.name, "alerts")
            sinks.upsert_alerts(self.db, alerts, lambda index, error: refused(
                {"_id": alerts[index].episode_id, **alerts[index].model_dump()}, error))
            return alerts

        alerts = sinks.with_database_retries(store, "alerts")
        sinks.publish(self.producer, contracts.ALERTS.name, ((a.icao24, a.model_dump_json()) for a in alerts))
        return len(alerts)

    # --- reference and schedules --------------------------------------------------------------------
    def handle_reference(self, batch: Any, batch_id: int) -> None:
        from pydantic import ValidationError
        from pyspark.sql import functions as F

        batch = batch.cache()
        try:
            written: dict[str, int] = {}
            letters: list[tuple[str, str]] = []
            for topic, model in ((contracts.LH_REFERENCE.name, ReferenceRecord), (contracts.LH_SCHEDULES.name, ScheduleJourney)):
                fields = contracts.spark_schema(model).fieldNames()
                valid = (self._parse(batch.where(F.col("topic") == topic), model)
                         .where(F.col("reject_reason").isNull()).select(*fields, "raw", "kafka_key"))
                records = []
                # The Spark checks mirror the model; a record they let through that the model still
                # refuses is dead-lettered, never allowed to fail the batch (the topic is compacted:
                # a failing record would fail every restart).
                for row in valid.toLocalIterator():
                    values = row.asDict(recursive=True)
                    try:
                        records.append(model.model_validate({f: values[f] for f in fields}))
                    except ValidationError as error:
                        letters.append(sinks.invalid_dead_letter(topic, row["raw"], row["kafka_key"], error))
                refused = self._refused_records(topic, letters)
                if model is ReferenceRecord:
                    written.update(sinks.with_database_retries(
                        lambda: sinks.upsert_reference(self.db, records, refused), "reference"))
                else:
                    written["schedules"] = sinks.with_database_retries(
                        lambda: sinks.upsert_schedules(self.db, records, refused), "schedules")
            if letters:
                sinks.publish(self.producer, contracts.DEAD_LETTER.name, letters)
            rejects = dict(Counter(json.loads(value)["reason"] for _key, value in letters))
            self.stats.record("reference", batch_id, written, rejects)
        finally:
            batch.unpersist()

    @staticmethod
    def _refused_records(topic: str, letters: list[tuple[str, str]]) -> sinks.RefusedDocument:
        def refused(collection: str, document: dict[str, Any], error: BaseException) -> None:
            letters.append(sinks.refused_dead_letter(topic, collection, document, error))
        return refused

    # --- dead letters ----------------------------------------------------------------------------
    def dead_letters(self, raw: Any) -> Any:
        from functools import reduce

        from pyspark.sql import functions as F

        parts = [tf.rejected_rows(self._parse(raw.where(F.col("topic") == t), m), t) for t, m in INPUT_TOPICS.items()]
        return reduce(lambda a, b: a.unionByName(b), parts)

    def handle_dead_letters(self, batch: Any, batch_id: int) -> None:
        batch = batch.cache()
        try:
            counts = tf.reject_counts(batch)
            if counts:
                log.warning("batch %d: rejected %s", batch_id, counts)
                # keyed by the source topic, as contracts.DEAD_LETTER says
                letters = (
                    (r["key"], r["json"]) for r in batch.selectExpr("source_topic AS key", "to_json(struct(*)) AS json").toLocalIterator()
                )
                sinks.publish(self.producer, contracts.DEAD_LETTER.name, letters)
            self.stats.record("deadletter", batch_id, {"deadletter": sum(counts.values())}, counts)
        finally:
            batch.unpersist()

    # --- progress ---------------------------------------------------------------------------------
    def on_progress(self, progress: Any) -> None:
        sink_rows, rejects, step_ms = self.stats.take(progress.name, progress.batchId)
        document = sinks.progress_document(progress, sink_rows, rejects, step_ms, COMPACTED_TOPICS)
        if document.data_lost:
            log.error("%s batch %d: %s messages were deleted by Kafka retention before this job read them "
                      "(the job was stopped or fell behind longer than the topic keeps data)",
                      document.query, document.batch_id, document.data_lost)
        log.info(
            "%s batch %d: %d rows, %.0f rows/s processed, %d ms (%s), watermark %s, %d late rows dropped, sinks %s, "
            "rejects %s, lag %s",
            document.query, document.batch_id, document.num_input_rows, document.processed_rows_per_second,
            document.batch_duration_ms, step_ms, document.watermark, document.late_rows_dropped, document.sink_rows,
            document.rejects, document.kafka_lag,
        )
        try:
            if progress.name in CHECKPOINTED_QUERIES and progress.sources:
                self.db["stream_offsets"].replace_one(
                    {"_id": progress.name},
                    sinks.offsets_document(progress.name, str(progress.id), progress.batchId, progress.sources[0].endOffset),
                    upsert=True)
            self.db["stream_progress"].insert_one(document.model_dump())
            if progress.batchId % 100 == 0:
                self.db["stream_progress"].delete_many({"timestamp": {"$lt": time.time() - PROGRESS_HISTORY_SECONDS}})
        except Exception:
            log.exception("writing stream progress failed")

    def _add_listener(self) -> None:
        from pyspark.sql.streaming import StreamingQueryListener

        job = self

        class ProgressListener(StreamingQueryListener):
            def onQueryStarted(self, event):  # noqa: N802 - pyspark's names
                pass

            def onQueryProgress(self, event):  # noqa: N802
                job.on_progress(event.progress)

            def onQueryIdle(self, event):  # noqa: N802
                pass

            def onQueryTerminated(self, event):  # noqa: N802
                if event.exception:
                    log.error("query %s terminated: %s", event.id, event.exception)

        self.listener = ProgressListener()
        self.spark.streams.addListener(self.listener)

    # --- lifecycle -----------------------------------------------------------------------------------
    def start(self, available_now: bool = False) -> None:
        """Start every query; with ``available_now`` each stops once it has read what is there."""
        self._add_listener()
        known = sinks.with_database_retries(lambda: sinks.live_context_rows(self.db), "flights_live context")
        if known:
            self.aircraft_context.unpersist()
            self.aircraft_context = (
                self.spark.createDataFrame(known, empty_context_table(self.spark).schema).localCheckpoint(eager=True))
        since_ms = int((time.time() - self.weather_max_age_minutes * 60 - WEATHER_POLL_SECONDS) * 1000)
        weather = self._start(
            self._kafka([contracts.WEATHER.name], startingTimestamp=str(since_ms), startingOffsetsByTimestampStrategy="latest"),
            "weather",
            self.handle_weather,
            self.weather_checkpoint,
            available_now,
        )
        # Flights start once the weather table holds what Kafka has, so a restart is not "weather missing".
        if available_now:
            weather.awaitTermination()
        else:
            weather.processAllAvailable()
        flights = tf.deduplicate_flights(
            tf.with_event_timestamp(
                tf.valid_rows(
                    tf.parse_messages(
                        self._kafka(
                            [contracts.FLIGHT_STATES.name],
                            maxOffsetsPerTrigger=str(MAX_FLIGHT_OFFSETS_PER_TRIGGER),
                            **self._starting_offsets("flights"),
                        ),
                        FlightState,
                    ),
                    FlightState,
                )
            )
        )
        self._start(flights, "flights", self.handle_flights, self._checkpoint("flights"), available_now)
        reference = self._kafka([contracts.LH_REFERENCE.name, contracts.LH_SCHEDULES.name], **self._starting_offsets("reference"))
        self._start(reference, "reference", self.handle_reference, self._checkpoint("reference"), available_now)
        raw_inputs = self._kafka(list(INPUT_TOPICS), **self._starting_offsets("deadletter"))
        # Dead letters read every input again, flights included: few, larger batches keep that
        # second pass from competing with every flights micro-batch for the cores.
        self._start(self.dead_letters(raw_inputs), "deadletter", self.handle_dead_letters, self._checkpoint("deadletter"),
                    available_now, trigger_seconds=max(self.settings.trigger_seconds, DEAD_LETTER_TRIGGER_SECONDS))

    def await_all(self, timeout_s: float | None = None) -> None:
        """Wait for every query (available_now runs) and surface the first failure."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for query in self.queries:
            remaining = None if deadline is None else max(1.0, deadline - time.monotonic())
            query.awaitTermination(remaining)
            if query.exception() is not None:
                raise RuntimeError(f"query {query.name} failed: {query.exception()}")

    def run_until_stopped(self, stop: threading.Event) -> int:
        """Supervise the queries until ``stop`` is set; non-zero when a query died."""
        while not stop.wait(2.0):
            for query in self.queries:
                if not query.isActive:
                    log.error("query %s stopped: %s", query.name, query.exception())
                    return 1
        return 0

    def close(self) -> None:
        for query in self.queries:
            try:
                query.stop()
            except Exception:
                log.exception("stopping %s", query.name)
        # Progress events reach the listener asynchronously: let the last batches' events (their
        # reject counts and sink figures) arrive before the listener goes.
        deadline = time.monotonic() + PROGRESS_DRAIN_SECONDS
        while self.stats.pending() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.listener is not None:
            self.spark.streams.removeListener(self.listener)
            self.listener = None
        for writer in (self.live_writer, self.track_writer, self.weather_writer):
            writer.close()
        undelivered = self.producer.flush(30)
        if undelivered:
            log.error("%d alerts/dead letters were not delivered before shutdown (broker unreachable)", undelivered)
        self.producer = None  # its librdkafka threads end with it
        self.mongo.close()
        shutil.rmtree(self.weather_checkpoint, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from skyrisk.services import unreachable_service
    from skyrisk.settings import load_settings
    from skyrisk.spark import create_spark_session

    parser = argparse.ArgumentParser(
        prog="python -m streaming",
        description="The streaming job: flight states, weather and reference data from Kafka to MongoDB and the "
                    "Parquet lake, until Ctrl-C or SIGTERM. Configured by SKYRISK_* settings (see README).",
    )
    parser.add_argument("--wait-for-services", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for a service that is down before giving up (a supervisor's restart "
                             "during an outage waits instead of exiting at once); default 0")
    args = parser.parse_args(argv)
    settings = load_settings()
    deadline = time.monotonic() + args.wait_for_services
    down = unreachable_service(settings)
    if down and args.wait_for_services > 0:
        print(f"{down}; waiting up to {args.wait_for_services:.0f} s", file=sys.stderr, flush=True)
        while down and time.monotonic() < deadline:
            time.sleep(2.0)
            down = unreachable_service(settings)
    if down:
        print(down, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one INFO line per callback otherwise
    spark = create_spark_session(settings, "skyrisk-streaming")
    stop = threading.Event()

    def request_stop(signum, _frame):
        log.info("signal %d: stopping after the current micro-batches", signum)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    job = StreamingJob(spark, settings)
    try:
        job.start()
        log.info("streaming: %d queries running; Ctrl-C or SIGTERM stops", len(job.queries))
        return job.run_until_stopped(stop)
    finally:
        job.close()
        spark.stop()
