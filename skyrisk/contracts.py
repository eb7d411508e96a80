"""The one contract module: topics, collections, lake layout and message schemas.

Each message is a pydantic model; its Spark ``StructType`` is *derived* from the model
by :func:`spark_schema`, so the two can never drift apart (``tests/skyrisk/test_contracts.py``
proves that JSON written from a model parses back identically with the derived schema).
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from skyrisk.vocabulary import AlertType, Phase, RiskCategory

SCHEMA_VERSION = 1

Source = Literal["live", "replay", "sim"]


# --- topics ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    key: str
    value: str
    retention_ms: int | None = None  # None: compacted, kept forever
    compacted: bool = False

    @property
    def config(self) -> dict[str, str]:
        if self.compacted:
            return {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


HOUR_MS = 3_600_000

FLIGHT_STATES = TopicSpec("flights.states", 6, "icao24", "FlightState", retention_ms=24 * HOUR_MS)
WEATHER = TopicSpec("weather.current", 3, "cell_id", "WeatherObservation", retention_ms=48 * HOUR_MS)
LH_REFERENCE = TopicSpec("lufthansa.reference", 1, "type:code", "ReferenceRecord", compacted=True)
LH_SCHEDULES = TopicSpec("lufthansa.schedules", 3, "origin-destination-date:flight numbers", "ScheduleJourney", compacted=True)
ALERTS = TopicSpec("alerts", 3, "icao24", "Alert", retention_ms=7 * 24 * HOUR_MS)
DEAD_LETTER = TopicSpec("deadletter", 1, "source topic", "DeadLetter", retention_ms=7 * 24 * HOUR_MS)

TOPICS: tuple[TopicSpec, ...] = (FLIGHT_STATES, WEATHER, LH_REFERENCE, LH_SCHEDULES, ALERTS, DEAD_LETTER)


# --- MongoDB collections and their indexes ---------------------------------------------------
# Only index kinds FerretDB supports (no TTL, no 2dsphere): expiry is explicit in the jobs.
IndexSpec = tuple[tuple[tuple[str, int], ...], bool]  # (keys, unique)

COLLECTIONS: dict[str, tuple[IndexSpec, ...]] = {
    "flights_live": (
        ((("last_seen", 1),), False),
        ((("risk_category", 1),), False),
        ((("callsign", 1),), False),
        ((("latitude", 1), ("longitude", 1)), False),
    ),
    "alerts": (
        ((("icao24", 1), ("type", 1), ("started_at", 1)), True),
        ((("last_seen", -1),), False),
    ),
    "weather_latest": ((((("cell_id", 1),), True)),),
    "countries": (),
    "cities": (),
    "airports": ((((("city_code", 1),), False)),),
    "airlines": ((((("icao_code", 1),), False)),),
    "aircraft": (),
    "schedules": (
        ((("origin", 1), ("destination", 1), ("query_date", 1)), False),
        ((("flight_numbers", 1),), False),
    ),
    "tracks": (((("icao24", 1), ("t", 1)), False), ((("t", 1),), False)),
    "stream_progress": ((((("timestamp", -1),), False)),),
    "stream_offsets": (),  # per checkpointed query: where its last committed batch ended
    "daily_stats": (),
    "batch_runs": ((((("started_at", -1),), False)),),
}


# --- lake layout -----------------------------------------------------------------------------
LAKE_ENRICHED = "enriched/flights"  # streaming output, partitioned by date=, hour=
LAKE_RAW = "raw/flights"
LAKE_CURATED = "curated/positions"  # batch output, partitioned by date=
LAKE_SUMMARIES = "curated/flight_summaries"
LAKE_MODELS = "models/phase"


# --- what the stores refuse -----------------------------------------------------------------------
# MongoDB/FerretDB refuse, in document keys (our only free-form keys are map keys such as
# ReferenceRecord.names), a leading '$', a '.', a NUL or an empty key; FerretDB also refuses NaN and
# ±Infinity (by closing the connection). A message carrying one would be refused by the database
# after it passed validation, so both twins of the validation (pydantic here, Spark in
# streaming.transforms) reject it at the door with these rules. FerretDB stores a NUL inside a
# string value (checked 2026-12-04), but no field we receive carries one except as corruption, so
# text with a NUL is rejected too and keys and values share one rule.
REFUSED_TEXT_CHAR = "\x00"
REFUSED_KEY_PREFIX = "$"
REFUSED_KEY_CHARS = (".", "\x00")


def refused_text(value: str) -> bool:
    return REFUSED_TEXT_CHAR in value


def refused_key(key: str) -> bool:
    return key == "" or key.startswith(REFUSED_KEY_PREFIX) or any(c in key for c in REFUSED_KEY_CHARS)


def _refused_values(value: Any, path: str, top: bool = False) -> Iterator[str]:
    """The paths of strings, keys and numbers inside ``value`` that a store refuses (``top``: a dict of fields)."""
    if top:
        for name, item in value.items():
            yield from _refused_values(item, name)
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield path
    elif isinstance(value, str):
        if refused_text(value):
            yield path
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _refused_values(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _refused_values(item, f"{path}[]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (refused_key(key) or refused_text(key)):
                yield f"{path}{{}}"
            yield from _refused_values(item, f"{path}{{}}")


def unstorable(document: dict[str, Any]) -> str | None:
    """Where a document holds what the database refuses, else None. FerretDB answers NaN by
    closing the connection, which looks like an outage: such documents must never be sent."""
    return next(_refused_values(document, "", top=True), None)


class Contract(BaseModel):
    """Base of every message and of the models nested in one: strict, immutable, storable.

    No extra fields, no NaN/±Infinity, no string or key the database would refuse.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    # Fields that carry arbitrary text as it was received (a dead letter's raw payload).
    verbatim_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _storable(self) -> Contract:
        checked = {name: getattr(self, name) for name in type(self).model_fields if name not in self.verbatim_fields}
        refused = next(_refused_values(checked, "", top=True), None)
        if refused is not None:
            raise ValueError(f"{refused}: a value the database refuses (NUL character, or a key with '$', '.' or empty)")
        return self


# --- messages ---------------------------------------------------------------------------------
MAX_ALTITUDE_M = 50_000.0
MAX_SPEED_MS = 1_500.0
MAX_VERTICAL_RATE_MS = 500.0


class Message(Contract):
    schema_version: int = SCHEMA_VERSION
    source: Source


class FlightState(Message):
    """One OpenSky state vector, named fields in SI units (one message per aircraft per poll)."""

    icao24: str = Field(pattern=r"^[0-9a-f]{6}$")
    callsign: str | None = None
    origin_country: str
    event_time: float  # epoch s: time_position, else last_contact
    snapshot_time: float  # epoch s: the response's `time`
    last_contact: float
    longitude: float = Field(ge=-180, le=180)
    latitude: float = Field(ge=-90, le=90)
    # Physical bounds, far outside anything that flies (a stratospheric balloon, Mach 4, a dive):
    # beyond them a value is a unit bug or garbage, not an aircraft to judge.
    baro_altitude: float | None = Field(None, ge=-MAX_ALTITUDE_M / 10, le=MAX_ALTITUDE_M)  # m
    geo_altitude: float | None = Field(None, ge=-MAX_ALTITUDE_M / 10, le=MAX_ALTITUDE_M)  # m
    on_ground: bool
    velocity: float | None = Field(None, ge=0, le=MAX_SPEED_MS)  # m/s over ground
    true_track: float | None = Field(None, ge=0, le=360)  # degrees from north
    vertical_rate: float | None = Field(None, ge=-MAX_VERTICAL_RATE_MS, le=MAX_VERTICAL_RATE_MS)  # m/s, + climbing
    squawk: str | None = None
    spi: bool = False
    position_source: int = Field(0, ge=0, le=3)  # 0 ADS-B, 1 ASTERIX, 2 MLAT, 3 FLARM
    category: int | None = Field(None, ge=0, le=20)  # 0-20, extended=1 only


WEATHER_VARIABLES = (
    "temperature_2m",
    "relative_humidity_2m",
    "wind_speed_10m",
    "wind_direction_10m",
    "wind_gusts_10m",
    "precipitation",
    "rain",
    "cloud_cover",
    "weather_code",
    "visibility",
)


class WeatherObservation(Message):
    """Current weather of one grid cell, in Open-Meteo's units."""

    cell_id: str
    cell_latitude: float = Field(ge=-90, le=90)  # centre of our grid cell
    cell_longitude: float = Field(ge=-180, le=180)
    model_latitude: float | None = Field(None, ge=-90, le=90)  # the weather model's grid point (Open-Meteo answer)
    model_longitude: float | None = Field(None, ge=-180, le=180)
    observation_time: float  # epoch s, UTC (current.time)
    fetched_time: float
    # Bounds beyond any value measured on Earth: outside them a value is a unit bug or garbage.
    temperature_2m: float | None = Field(None, ge=-100, le=70)  # °C
    relative_humidity_2m: float | None = Field(None, ge=0, le=100)  # %
    wind_speed_10m: float | None = Field(None, ge=0, le=500)  # km/h
    wind_direction_10m: float | None = Field(None, ge=0, le=360)  # °
    wind_gusts_10m: float | None = Field(None, ge=0, le=600)  # km/h
    precipitation: float | None = Field(None, ge=0, le=1000)  # mm
    rain: float | None = Field(None, ge=0, le=1000)  # mm
    cloud_cover: float | None = Field(None, ge=0, le=100)  # %
    weather_code: int | None = Field(None, ge=0, le=99)  # WMO
    visibility: float | None = Field(None, ge=0, le=1_000_000)  # m


ReferenceType = Literal["country", "city", "airport", "airline", "aircraft"]


class ReferenceRecord(Message):
    """One Lufthansa reference item; key ``type:code`` on a compacted topic."""

    type: ReferenceType
    code: str
    name: str | None = None
    names: dict[str, str] = Field(default_factory=dict)  # language code -> name
    country_code: str | None = None
    city_code: str | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    location_type: str | None = None
    utc_offset: str | None = None
    timezone_id: str | None = None
    airports: list[str] = Field(default_factory=list)  # a city's airports
    icao_code: str | None = None  # airline ICAO designator (DLH) or aircraft ICAO type
    fetched_time: float

    @property
    def key(self) -> str:
        return f"{self.type}:{self.code}"


class ScheduleLeg(Contract):
    departure_airport: str
    departure_local: str  # yyyy-MM-ddTHH:mm, local to the airport
    departure_terminal: str | None = None
    arrival_airport: str
    arrival_local: str
    arrival_terminal: str | None = None
    marketing_airline: str
    flight_number: int = Field(ge=0)
    operating_airline: str | None = None
    aircraft_code: str | None = None
    stops: int = Field(0, ge=0)
    days_of_operation: str | None = None
    effective: str | None = None
    expiration: str | None = None


class ScheduleJourney(Message):
    """One scheduled journey (one or more legs); key ``origin-destination-date``."""

    origin: str
    destination: str
    query_date: str  # yyyy-MM-dd local to the origin
    duration_iso: str  # as sent: PT9H54M or P1DT2H5M
    duration_minutes: int = Field(ge=0)
    stops: int = Field(ge=0)  # connections + technical stops
    flight_numbers: list[str]  # "LH400", one per leg
    legs: list[ScheduleLeg]
    days_of_operation: str | None = None
    effective: str | None = None
    expiration: str | None = None
    fetched_time: float

    @property
    def key(self) -> str:
        # Route and date first (what consumers group by), then the journey's flight numbers:
        # the topic is compacted and one route has several journeys a day, each must survive.
        return f"{self.origin}-{self.destination}-{self.query_date}:{'+'.join(self.flight_numbers)}"


class Alert(Message):
    """One alert episode of one aircraft; updated while it lasts."""

    icao24: str
    type: AlertType
    episode_id: str
    started_at: float
    last_seen: float
    callsign: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    risk_score: int | None = None
    risk_category: str | None = None
    reasons: list[str] = Field(default_factory=list)


class DeadLetter(Message):
    """A record that could not be parsed or validated, with why and the raw payload."""

    verbatim_fields: ClassVar[tuple[str, ...]] = ("raw",)

    source_topic: str
    reason: str
    raw: str
    key: str | None = None
    at: float
    detail: str | None = None  # the database's answer, for a document it refused


MESSAGE_BY_TOPIC: dict[str, type[Message]] = {
    FLIGHT_STATES.name: FlightState,
    WEATHER.name: WeatherObservation,
    LH_REFERENCE.name: ReferenceRecord,
    LH_SCHEDULES.name: ScheduleJourney,
    ALERTS.name: Alert,
    DEAD_LETTER.name: DeadLetter,
}


# --- Spark schema derived from the models -------------------------------------------------------
def spark_schema(model: type[BaseModel]) -> Any:
    """The Spark ``StructType`` of a message model (pyspark imported only when asked)."""
    from pyspark.sql import types as T

    def spark_type(annotation: Any) -> tuple[Any, bool]:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin in (Union, types.UnionType):
            inner = [a for a in args if a is not type(None)]
            if len(inner) != 1:
                raise TypeError(f"unsupported union {annotation}")
            return spark_type(inner[0])[0], True
        if origin is Literal:
            return T.StringType(), False
        if origin is list:
            return T.ArrayType(spark_type(args[0])[0], containsNull=False), False
        if origin is dict:
            return T.MapType(spark_type(args[0])[0], spark_type(args[1])[0], valueContainsNull=False), False
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return spark_schema(annotation), False
        simple = {str: T.StringType(), int: T.LongType(), float: T.DoubleType(), bool: T.BooleanType()}
        if annotation in simple:
            return simple[annotation], False
        raise TypeError(f"no Spark type for {annotation!r}")

    fields = []
    for name, info in model.model_fields.items():
        data_type, optional = spark_type(info.annotation)
        fields.append(T.StructField(name, data_type, nullable=optional or not info.is_required()))
    return T.StructType(fields)


# --- stored documents and rows (written by streaming/batch, read by dashboard/batch) -------------
class WeatherAtPosition(BaseModel):
    """The weather joined to a flight (a subset of :class:`WeatherObservation`)."""

    model_config = ConfigDict(extra="ignore")

    cell_id: str
    observation_time: float
    temperature_2m: float | None = None
    wind_speed_10m: float | None = None
    wind_gusts_10m: float | None = None
    precipitation: float | None = None
    cloud_cover: float | None = None
    weather_code: int | None = None
    visibility: float | None = None


class EnrichedState(BaseModel):
    """One valid state with its weather, risk, phase and anomaly verdict.

    The row of the Parquet history (``LAKE_ENRICHED``, partitioned by ``date``/``hour``) and,
    with ``_id = icao24``, the document of ``flights_live``.
    """

    model_config = ConfigDict(extra="ignore")

    icao24: str
    callsign: str | None = None
    airline_icao: str | None = None  # first three letters of an airline callsign (DLH)
    origin_country: str
    source: Source
    event_time: float  # epoch s
    latitude: float
    longitude: float
    baro_altitude: float | None = None
    geo_altitude: float | None = None
    velocity: float | None = None
    true_track: float | None = None
    vertical_rate: float | None = None
    on_ground: bool
    squawk: str | None = None
    cell_id: str
    weather: WeatherAtPosition | None = None
    weather_missing: bool
    risk_score: int
    risk_category: RiskCategory
    risk_factors: list[str]
    phase: Phase
    anomaly: bool
    anomaly_score: float | None = None
    anomaly_reasons: list[str]
    # the run of consecutive reports outside the airliner envelope this one is part of (0: inside)
    envelope_streak: int = 0
    envelope_since: float | None = None  # event time of the run's first report
    emergency: str | None = None  # a value of vocabulary.EMERGENCY_SQUAWKS ("7700 emergency")
    model_version: str  # "bootstrap-..." until the batch job trained one


class CuratedPosition(EnrichedState):
    """One row of the batch's curated history (``LAKE_CURATED``, partitioned by ``date``):
    a deduplicated EnrichedState and where it sits in its flight."""

    flight_id: str  # FlightSummary.flight_id
    step_km: float  # great-circle km from the flight's previous position (0 at its first)
    alert_starts: list[str]  # AlertTypes whose episode starts here (flagged now, not just before)


class TrackPoint(BaseModel):
    """``tracks``: at most one point per aircraft per 30 s, for the map's trail."""

    icao24: str
    t: float
    latitude: float
    longitude: float
    baro_altitude: float | None = None


class StreamProgress(BaseModel):
    """``stream_progress``: one document per micro-batch of the streaming job."""

    model_config = ConfigDict(extra="allow")

    query: str
    batch_id: int
    timestamp: float
    num_input_rows: int
    input_rows_per_second: float
    processed_rows_per_second: float
    batch_duration_ms: int
    watermark: str | None = None
    # rows the query's stateful operators dropped as older than the watermark (late): they reach
    # no sink and no dead letter, so this is the only trace of them
    late_rows_dropped: int = 0
    sink_rows: dict[str, int] = Field(default_factory=dict)
    rejects: dict[str, int] = Field(default_factory=dict)
    kafka_lag: dict[str, int] = Field(default_factory=dict)
    data_lost: dict[str, int] = Field(default_factory=dict)  # deleted by retention before the job read them


class BatchRun(BaseModel):
    """``batch_runs``: one document per nightly run of one day."""

    model_config = ConfigDict(extra="allow")

    day: str
    status: Literal["running", "succeeded", "failed"]
    started_at: float
    finished_at: float | None = None
    duration_s: float | None = None
    rows: dict[str, int] = Field(default_factory=dict)
    error: str | None = None


class CellCount(BaseModel):
    """One weather-grid cell and how many positions fell in it."""

    cell_id: str
    count: int


class DailyStats(BaseModel):
    """``daily_stats``: one document per UTC day (``_id = date``), written by the batch job,
    read by the dashboard's History page."""

    model_config = ConfigDict(extra="ignore")

    date: str  # YYYY-MM-DD (UTC)
    positions: int
    aircraft: int
    flights: int
    risk_distribution: dict[RiskCategory, int]
    alerts_by_type: dict[str, int]
    busiest_cells: list[CellCount]
    hourly_traffic: list[int] = Field(min_length=24, max_length=24)  # positions per UTC hour 0..23


class FlightSummary(BaseModel):
    """One flight of one day (``LAKE_SUMMARIES``, partitioned by ``date``), written by the batch job.

    A flight is a continuous track of one icao24, split on a gap or a landing; origin and
    destination are the nearest reference airports to a low first / last point.
    """

    model_config = ConfigDict(extra="ignore")

    flight_id: str  # "<icao24>-<first seen as yyyyMMddTHHmmss>"
    icao24: str
    callsign: str | None = None
    airline_icao: str | None = None  # DLH
    airline_iata: str | None = None  # LH, from the Lufthansa airlines reference
    airline_name: str | None = None
    first_seen: float  # epoch s
    last_seen: float
    duration_s: float
    positions: int
    origin: str | None = None  # airport code
    destination: str | None = None
    max_altitude_m: float | None = None
    distance_km: float  # haversine along the track
    max_risk_score: int
    max_risk_category: RiskCategory
    anomaly_count: int  # anomalous positions
    emergency_count: int  # positions squawking an emergency code
    alert_episodes: dict[str, int] = Field(default_factory=dict)  # AlertType -> runs of flagged positions
    scheduled_flight: str | None = None  # "LH 400" when a Lufthansa schedule leg matches
    scheduled_origin: str | None = None
    scheduled_destination: str | None = None
    scheduled_departure_local: str | None = None
    scheduled_arrival_local: str | None = None
