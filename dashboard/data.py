"""Every query the dashboard makes: MongoDB, Kafka and the Parquet lake, in one place.

Callbacks call these methods with values already validated by :mod:`dashboard.inputs`; every
filter document below is built from those plain values, never from raw browser input.

Documents read (shapes from :mod:`skyrisk.contracts`): ``flights_live`` (EnrichedState with
``_id = icao24``), ``tracks`` (TrackPoint), ``weather_latest`` (WeatherObservation),
``alerts`` (Alert), ``schedules`` (ScheduleJourney), ``airports``/``cities``/``airlines``
(ReferenceRecord, ``_id = code``), ``stream_progress`` (StreamProgress), ``batch_runs``
(BatchRun) and ``daily_stats`` (DailyStats: date, positions, aircraft, flights,
risk_distribution {LOW, MEDIUM, HIGH}, alerts_by_type {type: n}, busiest_cells
[{cell_id, count}], hourly_traffic [24 ints]).

The live map never queries per refresh: FerretDB scans a collection for any filter, so one
shared :class:`LiveSnapshot` of ``flights_live`` is reloaded in the background every few
seconds and every user's viewport and filters are cut from it in memory.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from batch.lake import MANIFESTS
from dashboard.health import KAFKA, MINIO, MONGO, ServiceHealth
from dashboard.live import WEATHER_LAYER_INPUTS, LiveSnapshot
from dashboard.routes import city_airports
from skyrisk.contracts import LAKE_CURATED, LAKE_SUMMARIES, TOPICS, DailyStats
from skyrisk.settings import Settings

LIVE_FIELDS = ("icao24", "callsign", "airline_icao", "latitude", "longitude", "baro_altitude", "true_track",
               "risk_category", "phase", "anomaly", "emergency", "on_ground",
               "velocity", "event_time")  # the map dead-reckons each aircraft from its report
LIVE_MAX_AGE_S = 3.0
WEATHER_MAX_AGE_S = 60.0
REFERENCE_MAX_AGE_S = 300.0
MONGO_SOCKET_TIMEOUT_MS = 30_000  # a read still unanswered then fails (and is shown) instead of hanging


class _Cached:
    """A value reloaded when older than ``max_age_s``; reloads run in the background once a
    value exists, so a slow database never blocks a page refresh. A value that took long to
    load is kept at least twice its load time, so reloading never occupies the database."""

    def __init__(self, load: Callable[[], Any], max_age_s: float) -> None:
        self._load, self._max_age_s = load, max_age_s
        self._value: Any = None
        self._loaded_at = 0.0
        self._load_s = 0.0
        self._lock = threading.Lock()
        self._loading = False

    def get(self) -> Any:
        if self._value is None:
            return self.reload()
        stale_after = max(self._max_age_s, 2 * self._load_s)
        if time.monotonic() - self._loaded_at > stale_after and not self._loading:
            self._loading = True
            threading.Thread(target=self._reload_quietly, daemon=True).start()
        return self._value

    def reload(self) -> Any:
        with self._lock:
            started = time.monotonic()
            value = self._load()
            self._value, self._loaded_at, self._load_s = value, time.monotonic(), time.monotonic() - started
            return value

    def _reload_quietly(self) -> None:
        try:
            self.reload()
        except Exception:  # noqa: BLE001 - keep serving the previous value; the next refresh retries
            pass
        finally:
            self._loading = False


@dataclass(frozen=True)
class TopicStatus:
    name: str
    partitions: int
    end_offsets: tuple[int, ...]
    messages: int  # end - start summed over partitions (what retention still holds)
    messages_per_s: float | None


@dataclass(frozen=True)
class KafkaRecord:
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value: str  # pretty-printed JSON when the payload is JSON (see shown_payload)
    note: str | None = None  # why the value is cut or not formatted, for the reader


class DashboardData:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.health = ServiceHealth(settings)  # a down service fails fast (ServiceDown), and is shown
        self._mongo: Any = None
        self._live = _Cached(self._load_live, LIVE_MAX_AGE_S)
        self._weather = _Cached(self._load_weather, WEATHER_MAX_AGE_S)
        self._reference = _Cached(self._load_reference, REFERENCE_MAX_AGE_S)
        self._offset_samples: dict[str, tuple[float, int]] = {}

    # --- MongoDB --------------------------------------------------------------------------------
    @property
    def db(self) -> Any:
        self.health.require(MONGO)
        if self._mongo is None:
            from pymongo import MongoClient

            # The dashboard only reads: in production its URI names a user with the `read` role only.
            uri = self.settings.dashboard_mongo_uri or self.settings.mongo_uri
            # A bounded socket wait: a wedged server turns into an error banner, never a frozen page
            # (or a frozen shutdown: close() ends the sessions over the same socket).
            self._mongo = MongoClient(uri.get_secret_value(), serverSelectionTimeoutMS=5_000,
                                      connectTimeoutMS=5_000, socketTimeoutMS=MONGO_SOCKET_TIMEOUT_MS,
                                      appname="skyrisk-dashboard")
        return self._mongo[self.settings.mongo_database]

    def close(self) -> None:
        if self._mongo is not None:
            self._mongo.close()

    # live map
    def live_snapshot(self) -> LiveSnapshot:
        return self._live.get()

    def live_snapshot_or_empty(self) -> LiveSnapshot:
        """The snapshot, or no aircraft at all while MongoDB is down (the page still renders)."""
        from pymongo.errors import PyMongoError

        try:
            return self._live.get()
        except (OSError, PyMongoError):
            return LiveSnapshot.from_documents([], loaded_at=0.0)

    def reload_live(self) -> LiveSnapshot:
        return self._live.reload()

    def _load_live(self) -> LiveSnapshot:
        projection = {f: 1 for f in LIVE_FIELDS}
        return LiveSnapshot.from_documents(self.db.flights_live.find({}, projection), loaded_at=time.time())

    def flight(self, icao24: str) -> dict[str, Any] | None:
        if not _is_text(icao24):
            return None
        return self.db.flights_live.find_one({"_id": icao24})

    def track(self, icao24: str, minutes: int) -> list[dict[str, Any]]:
        if not (_is_text(icao24) and _is_number(minutes)):
            return []
        since = time.time() - minutes * 60
        cursor = self.db.tracks.find({"icao24": icao24, "t": {"$gte": since}}, {"_id": 0}).sort("t", 1)
        return list(cursor)

    def weather_observations(self) -> list[dict[str, Any]]:
        return self._weather.get()

    def _load_weather(self) -> list[dict[str, Any]]:
        fields = ("cell_id", *WEATHER_LAYER_INPUTS)
        return list(self.db.weather_latest.find({}, {f: 1 for f in fields}))

    def weather_cell(self, cell_id: str) -> dict[str, Any] | None:
        if not _is_text(cell_id):
            return None
        return self.db.weather_latest.find_one({"_id": cell_id})

    # reference data and schedules
    def _load_reference(self) -> dict[str, Any]:
        airports = {d["_id"]: d for d in self.db.airports.find({}, {"name": 1, "city_code": 1, "country_code": 1})}
        cities = {d["_id"]: d for d in self.db.cities.find({}, {"name": 1, "country_code": 1, "airports": 1})}
        airlines = list(self.db.airlines.find({}, {"name": 1, "icao_code": 1}))
        routes: dict[str, set[str]] = {}
        for doc in self.db.schedules.find({}, {"origin": 1, "destination": 1}):
            routes.setdefault(doc["origin"], set()).add(doc["destination"])
        return {
            "airports": airports,
            "cities": cities,
            "city_airports": city_airports(airports, cities),  # LON -> LCY, LGW, LHR, ... (route search)
            "icao_of_airline": {a["_id"]: a["icao_code"] for a in airlines if a.get("icao_code")},
            "airline_names": {a["_id"]: a.get("name") or a["_id"] for a in airlines},
            "routes": {origin: sorted(destinations) for origin, destinations in routes.items()},
        }

    def reference(self) -> dict[str, Any]:
        return self._reference.get()

    def reload_reference(self) -> dict[str, Any]:
        return self._reference.reload()

    def schedules(self, origin: str, destination: str, day: date) -> list[dict[str, Any]]:
        if not (_is_text(origin) and _is_text(destination) and isinstance(day, date)):
            return []
        query = {"origin": origin, "destination": destination, "query_date": day.isoformat()}
        return list(self.db.schedules.find(query))

    def schedules_of_flight(self, flight_number: str, day: date) -> list[dict[str, Any]]:
        """Journeys containing ``flight_number`` (``LH400``) queried for ``day``, else any day."""
        if not (_is_text(flight_number) and isinstance(day, date)):
            return []
        found = list(self.db.schedules.find({"flight_numbers": flight_number}).limit(50))
        of_day = [d for d in found if d.get("query_date") == day.isoformat()]
        return of_day or found[:1]

    # alerts, pipeline, history
    def alerts(self, types: list[str], categories: list[str], since: float, limit: int) -> list[dict[str, Any]]:
        if not (_are_texts(types) and _are_texts(categories) and _is_number(since) and _is_number(limit)):
            return []
        query: dict[str, Any] = {"last_seen": {"$gte": since}, "type": {"$in": types}}
        if categories:
            query["risk_category"] = {"$in": categories}
        return list(self.db.alerts.find(query).sort("last_seen", -1).limit(limit))

    def stream_progress(self, limit: int) -> list[dict[str, Any]]:
        return list(self.db.stream_progress.find({}, {"_id": 0}).sort("timestamp", -1).limit(limit))[::-1]

    def batch_runs(self, limit: int) -> list[dict[str, Any]]:
        return list(self.db.batch_runs.find({}, {"_id": 0}).sort("started_at", -1).limit(limit))

    def daily_stats(self) -> list[DailyStats]:
        return sorted((DailyStats.model_validate(d) for d in self.db.daily_stats.find({})), key=lambda s: s.date)

    # --- Kafka ------------------------------------------------------------------------------
    def _kafka_config(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.settings.kafka_bootstrap_servers, "socket.timeout.ms": 5000}

    def _consumer(self) -> Any:
        from confluent_kafka import Consumer

        return Consumer({**self._kafka_config(), "group.id": f"skyrisk-dashboard-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True, "auto.offset.reset": "earliest"})

    def topics(self) -> list[TopicStatus]:
        """Every topic of the contract with partitions, end offsets and a rate from the last visit."""
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import AdminClient

        self.health.require(KAFKA)
        metadata = AdminClient(self._kafka_config()).list_topics(timeout=5)
        consumer = self._consumer()
        try:
            statuses = []
            for spec in TOPICS:
                topic = metadata.topics.get(spec.name)
                if topic is None or topic.error is not None:
                    continue
                marks = [consumer.get_watermark_offsets(TopicPartition(spec.name, p), timeout=5)
                         for p in sorted(topic.partitions)]
                ends = tuple(high for _, high in marks)
                statuses.append(TopicStatus(spec.name, len(marks), ends, sum(h - lo for lo, h in marks),
                                            self._rate(spec.name, sum(ends))))
            return statuses
        finally:
            consumer.close()

    def _rate(self, topic: str, end_offset_sum: int) -> float | None:
        now = time.monotonic()
        previous = self._offset_samples.get(topic)
        self._offset_samples[topic] = (now, end_offset_sum)
        if previous is None or now - previous[0] < 0.5:
            return None
        return max(0.0, (end_offset_sum - previous[1]) / (now - previous[0]))

    def last_messages(self, topic: str, count: int, timeout_s: float = 5.0) -> list[KafkaRecord]:
        """The newest ``count`` records of a topic across partitions, newest first."""
        from confluent_kafka import KafkaError, TopicPartition

        self.health.require(KAFKA)
        consumer = self._consumer()
        try:
            partitions = consumer.list_topics(topic, timeout=5).topics[topic].partitions
            assignment, ends = [], {}
            for p in partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
                if high > low:
                    assignment.append(TopicPartition(topic, p, max(low, high - count)))
                    ends[p] = high
            if not assignment:
                return []
            consumer.assign(assignment)
            records: list[KafkaRecord] = []
            deadline = time.monotonic() + timeout_s
            while ends and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None:
                    continue
                if message.error() is not None:
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        ends.pop(message.partition(), None)
                    continue
                value, note = shown_payload(message.value())
                records.append(KafkaRecord(message.partition(), message.offset(), message.timestamp()[1],
                                           shown_key(message.key()), value, note))
                if message.offset() >= ends.get(message.partition(), 0) - 1:
                    ends.pop(message.partition(), None)
            records.sort(key=lambda r: (r.timestamp_ms, r.offset), reverse=True)
            return records[:count]
        finally:
            consumer.close()

    # --- the lake (curated Parquet on MinIO/S3) -------------------------------------------------------
    def _s3(self) -> Any:
        from pyarrow import fs

        self.health.require(MINIO)  # a ServiceDown is an OSError, like the lake's own errors
        host, port = self.settings.s3_host_port
        # The dashboard only reads the lake: its own MinIO user, whose only policy is read-only.
        return fs.S3FileSystem(
            access_key=self.settings.dashboard_s3_access_key,
            secret_key=self.settings.dashboard_s3_secret_key.get_secret_value(),
            endpoint_override=f"{host}:{port}",
            scheme=self.settings.s3_endpoint.split("://")[0] if "://" in self.settings.s3_endpoint else "http",
            region=self.settings.s3_region,
        )

    def published_days(self) -> list[str]:
        from pyarrow import fs

        selector = fs.FileSelector(f"{self.settings.lake_bucket}/{MANIFESTS}", allow_not_found=True)
        names = [info.base_name for info in self._s3().get_file_info(selector)]
        return sorted(n[len("date="):-len(".json")] for n in names if n.startswith("date=") and n.endswith(".json"))

    def _published_table(self, day: date, table_root: str) -> str | None:
        """The bucket path of ``table_root`` in the day's published run (via its manifest)."""
        s3 = self._s3()
        try:
            with s3.open_input_stream(f"{self.settings.lake_bucket}/{MANIFESTS}/date={day.isoformat()}.json") as f:
                manifest = json.loads(f.read())
        except (FileNotFoundError, OSError):
            return None
        for url in manifest.get("tables", {}).values():
            path = url.split("://", 1)[-1]
            if f"/{table_root}/" in f"/{path.split('/', 1)[-1]}":
                return path
        return None

    def flights_of_day(self, day: date) -> list[dict[str, Any]]:
        """The day's flights (flight summaries): flight_id, icao24, callsign, first/last seen."""
        import pyarrow.dataset as ds

        path = self._published_table(day, LAKE_SUMMARIES)
        if path is None:
            return []
        table = ds.dataset(path, filesystem=self._s3(), format="parquet").to_table(
            columns=["flight_id", "icao24", "callsign", "first_seen", "last_seen"])
        return sorted(table.to_pylist(), key=lambda r: r["first_seen"])

    def replay_track(self, day: date, flight_id: str) -> list[dict[str, Any]]:
        """The curated positions of one flight, in time order."""
        import pyarrow.dataset as ds

        path = self._published_table(day, LAKE_CURATED)
        if path is None:
            return []
        dataset = ds.dataset(path, filesystem=self._s3(), format="parquet")
        wanted = ["event_time", "latitude", "longitude", "baro_altitude", "risk_category", "callsign"]
        columns = [c for c in wanted if c in dataset.schema.names]
        table = dataset.to_table(columns=columns, filter=ds.field("flight_id") == flight_id)
        return sorted(table.to_pylist(), key=lambda r: r["event_time"])


# Second line of defence behind dashboard.inputs: a query value that is not plain text (a dict such as
# {"$ne": null} becomes an operator, a list an array match) matches nothing instead of everything.
def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _are_texts(values: Any) -> bool:
    return isinstance(values, list | tuple) and all(isinstance(v, str) for v in values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# The message browser shows any bytes someone put on a topic. Python's json recursion ends near
# 1,000 levels (RecursionError), so deeper JSON is shown as received, unformatted; and one pane
# shows at most MAX_SHOWN_CHARS of a value (a Kafka message may be 1 MB).
MAX_PRETTY_DEPTH = 100
MAX_SHOWN_CHARS = 64 * 1024
MAX_KEY_CHARS = 200


def nesting_depth(text: str, stop_above: int = MAX_PRETTY_DEPTH) -> int:
    """How deep the arrays/objects of a JSON text nest (brackets inside strings do not count);
    stops counting once the depth passes ``stop_above``."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def shown_payload(value: bytes | None) -> tuple[str, str | None]:
    """The text the message browser shows for a payload, and a note when it is not the whole
    pretty-printed value (nested too deep to format, or cut)."""
    if value is None:
        return "(null)", None
    text = value.decode("utf-8", "replace")
    notes = []
    if nesting_depth(text) > MAX_PRETTY_DEPTH:
        notes.append(f"nested deeper than {MAX_PRETTY_DEPTH} levels: shown as received, not formatted")
    else:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):  # not JSON: the text as it is
            pass
    if len(text) > MAX_SHOWN_CHARS:
        notes.append(f"cut to the first {MAX_SHOWN_CHARS:,} of {len(text):,} characters")
        text = text[:MAX_SHOWN_CHARS]
    return text, "; ".join(notes) or None


def pretty_payload(value: bytes | None) -> str:
    return shown_payload(value)[0]


def shown_key(key: bytes | None) -> str | None:
    if not key:
        return None
    text = key.decode("utf-8", "replace")
    return text if len(text) <= MAX_KEY_CHARS else text[:MAX_KEY_CHARS] + f"… ({len(text):,} characters)"
