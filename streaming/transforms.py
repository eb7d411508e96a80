"""Pure DataFrame functions of the streaming job (no I/O: the job in ``app.py`` wires them).

Pipeline of one flight micro-batch::

    parse_messages -> split valid/rejects -> with_event_timestamp -> deduplicate_flights (stateful,
    in the stream) -> [foreachBatch] join_latest_weather -> enrich -> sinks

The weather side is a *latest-weather table*: per grid cell, the few most recent observations
(within the maximum age) as one array, kept by the weather query with
:func:`merge_weather_table` and broadcast-joined to every flight micro-batch on the equal key
``cell_id``. Its size grows with the number of cells, never with the event rate, and a flight is
never held back waiting for weather (see README_SECTION.md for the measurements).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pyspark.sql import Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from skyrisk.alerts import alert_signals_column, emergency_column
from skyrisk.behaviour import assess_behaviour
from skyrisk.contracts import (
    REFUSED_KEY_CHARS,
    REFUSED_KEY_PREFIX,
    REFUSED_TEXT_CHAR,
    SCHEMA_VERSION,
    EnrichedState,
    Message,
    TrackPoint,
    WeatherAtPosition,
    spark_schema,
)
from skyrisk.geo import cell_id_column
from skyrisk.phase import PhaseModel, phase_columns
from skyrisk.risk import risk_columns

# OpenSky states can arrive up to a poll interval (5-65 s) plus producer delay late; replays
# and at-least-once redelivery are covered well inside this. The one number that sets the delay:
# the accepted future skew below is derived from it.
FLIGHT_WATERMARK_S = 120
FLIGHT_WATERMARK = f"{FLIGHT_WATERMARK_S} seconds"
CORRUPT = "_corrupt_record"

# Poison guards. The largest contract message (a multi-leg journey, a city named in many languages)
# is a few KB: anything far bigger is a bug upstream and must not reach MongoDB or the lake.
MAX_PAYLOAD_BYTES = 64 * 1024
# Epoch-second fields must be plausible: a state from the future would push the flights watermark
# ahead and make every real state "late"; 0 or a pre-2000 date is a lost clock or a unit bug.
# (Historical replays, e.g. 2022 CSVs, stay valid.)
EPOCH_FIELDS = ("event_time", "snapshot_time", "last_contact", "observation_time", "fetched_time")
EARLIEST_EPOCH_S = 946_684_800.0  # 2000-01-01 UTC
# Producer clocks may run a little ahead, but an accepted state at now + skew moves the watermark
# to now + skew - delay: the skew must stay below the delay or one state makes every real state
# late. Half the delay leaves real states FLIGHT_WATERMARK_S / 2 of lateness even then.
MAX_FUTURE_SKEW_S = FLIGHT_WATERMARK_S / 2

TRACK_BUCKET_SECONDS = 30


# --- parsing and validation -------------------------------------------------------------------
# A check is (condition over a value's column, reason); conditions of nested values are applied
# through F.exists over arrays and map keys/values, so one walk of the model covers every depth.
Check = tuple[Callable[[Any], Any], str]


def _refused_text_column(column: Any) -> Any:
    return column.contains(REFUSED_TEXT_CHAR)


def _refused_key_column(key: Any) -> Any:
    refused = (key == F.lit("")) | key.startswith(REFUSED_KEY_PREFIX)
    for char in REFUSED_KEY_CHARS:
        refused = refused | key.contains(char)
    return refused


def _not_finite_column(column: Any) -> Any:
    return F.isnan(column) | (F.abs(column) == F.lit(float("inf")))


# Spark's higher-order functions read a lambda's arity: the closures below take exactly one column.
def _in_any(elements: Callable[[Any], Any], check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda column: F.exists(elements(column), check)


def _of_field(name: str, check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda column: check(column[name])


def _compared(comparison: str, bound: Any) -> Callable[[Any], Any]:
    return lambda column: getattr(column, comparison)(F.lit(bound))


def _not_matching(pattern: str) -> Callable[[Any], Any]:
    return lambda column: ~column.rlike(pattern)


def _defaults_filler(model: type[BaseModel]) -> Callable[[Any], Any]:
    return lambda element: _nested_defaults(model, element)


def _optional_inner(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(annotation) if a is not type(None)), True
    return annotation, False


def _type_checks(annotation: Any, path: str) -> list[Check]:
    """What the store refuses inside a value of this type, at any depth (contracts' rules)."""
    annotation, _ = _optional_inner(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is str:
        return [(_refused_text_column, f"bad_text:{path}")]
    if annotation is float:
        return [(_not_finite_column, f"not_finite:{path}")]
    if origin is list:
        element = f"{path}[]"
        checks: list[Check] = [(lambda c: F.exists(c, lambda x: x.isNull()), f"missing:{element}")]
        checks += [(_in_any(lambda c: c, fn), why) for fn, why in _type_checks(args[0], element)]
        return checks
    if origin is dict:
        entry = f"{path}{{}}"
        checks = [(_in_any(F.map_keys, _refused_key_column), f"bad_key:{path}"),
                  (_in_any(F.map_values, lambda v: v.isNull()), f"missing:{entry}")]
        checks += [(_in_any(F.map_values, fn), why) for fn, why in _type_checks(args[1], entry)]
        return checks
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(_of_field(name, fn), why)
                for name, info in annotation.model_fields.items()
                for fn, why in _declared_checks(info, f"{path}.{name}")]
    return []


def _declared_checks(info: Any, path: str) -> list[Check]:
    """Checks of one model field: required, allowed values, bounds, pattern, then its type's."""
    checks: list[Check] = []
    annotation, optional = _optional_inner(info.annotation)
    if info.is_required() and not optional:
        checks.append((lambda c: c.isNull(), f"missing:{path}"))
    if typing.get_origin(annotation) is typing.Literal:
        allowed = [F.lit(v) for v in typing.get_args(annotation)]
        checks.append((lambda c: ~c.isin(*allowed), f"unknown_value:{path}"))
    outside = {"ge": "__lt__", "le": "__gt__", "gt": "__le__", "lt": "__ge__"}
    for meta in info.metadata:
        for attr, comparison in outside.items():
            bound = getattr(meta, attr, None)
            if bound is not None:
                checks.append((_compared(comparison, bound), f"out_of_range:{path}"))
        pattern = getattr(meta, "pattern", None)
        if pattern is not None:
            checks.append((_not_matching(pattern), f"bad_format:{path}"))
    typed = _type_checks(info.annotation, path)
    # NaN compares above every bound in Spark: judged first, so NaN is "not_finite", not "out_of_range".
    finite = [c for c in typed if c[1].startswith("not_finite")]
    return finite + checks + [c for c in typed if c not in finite]


def _field_checks(model: type[BaseModel]) -> list[tuple[Any, str]]:
    """(failing condition, reason) per constraint of the pydantic model, nested ones included, in field order."""
    checks: list[tuple[Any, str]] = [
        (F.col("schema_version") != F.lit(SCHEMA_VERSION), "unknown_schema_version")
    ]
    for name, info in model.model_fields.items():
        column = F.col(name)
        checks.extend((fn(column), why) for fn, why in _declared_checks(info, name))
        if name in EPOCH_FIELDS:
            now = F.unix_micros(F.current_timestamp()) / 1e6  # one value per micro-batch
            implausible = (column < F.lit(EARLIEST_EPOCH_S)) | (column > now + F.lit(MAX_FUTURE_SKEW_S)) | F.isnan(column)
            checks.append((implausible, f"out_of_range:{name}"))
    return checks


def weather_cell_checks(grid_deg: float, bbox: tuple[float, float, float, float]) -> list[tuple[Any, str]]:
    """An observation's cell must be the cell of its centre in the job's grid: a producer on
    another grid (or a made-up id) would otherwise join the wrong weather to flights. And it must
    be one of the region's cells (``skyrisk.geo.grid_cells``: the cells overlapping the box), so
    the weather table and ``weather_latest`` never hold more than the grid's cells."""
    expected = cell_id_column(F.col("cell_latitude"), F.col("cell_longitude"), grid_deg)
    lamin, lomin, lamax, lomax = bbox
    half = grid_deg / 2
    # exactly skyrisk.geo.grid_cells: a cell is the region's when it overlaps the box (strictly)
    lat, lon = F.col("cell_latitude"), F.col("cell_longitude")
    inside = (lat > lamin - half) & (lat < lamax + half) & (lon > lomin - half) & (lon < lomax + half)
    outside = ~inside
    return [(F.col("cell_id") != expected, "wrong_grid:cell_id"), (outside, "outside_region:cell_id")]


def _default_literal(default: Any, data_type: Any) -> Any:
    if isinstance(default, list):
        return F.array().cast(data_type)
    if isinstance(default, dict):
        return F.create_map().cast(data_type)
    return F.lit(default).cast(data_type)


def _nested_defaults(model: type[BaseModel], element: Any) -> Any:
    """A struct of ``model`` with its omitted defaults filled in (a null element stays null)."""
    schema = spark_schema(model)
    fields = []
    for f in schema.fields:
        info = model.model_fields[f.name]
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        value = element[f.name]
        fields.append((value if default is None else F.coalesce(value, _default_literal(default, f.dataType))).alias(f.name))
    return F.when(element.isNull(), F.lit(None).cast(schema)).otherwise(F.struct(*fields))


def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    """Columns that take the model's default when the JSON omits them (as pydantic would),
    inside the models of lists too."""
    schema = {f.name: f.dataType for f in spark_schema(model).fields}
    filled = {}
    for name, info in model.model_fields.items():
        annotation, _ = _optional_inner(info.annotation)
        inner = typing.get_args(annotation)[0] if typing.get_origin(annotation) is list else None
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            filled[name] = F.transform(F.col(name), _defaults_filler(inner))
        if info.is_required():
            continue
        default = info.get_default(call_default_factory=True)
        if default is None:
            continue
        filled[name] = F.coalesce(filled.get(name, F.col(name)), _default_literal(default, schema[name]))
    return filled


def parse_messages(raw: Any, model: type[Message], extra_checks: list[tuple[Any, str]] | None = None) -> Any:
    """Kafka-shaped rows (``value`` bytes or string; ``key``/``topic``/... if present) to model columns.

    Adds ``raw`` (the payload text), ``kafka_key`` and ``reject_reason`` (null when valid; else the
    first failing check: ``too_large``, ``malformed_json``, ``wrong_type``, ``unknown_schema_version``,
    ``missing:<field>``, ``out_of_range:<field>``, ``bad_format:<field>``, ``unknown_value:<field>``).
    An empty or null value is ``malformed_json``; an epoch-time field in the future or before 2000
    is ``out_of_range:<field>``.
    """
    schema = spark_schema(model)
    with_corrupt = T.StructType(schema.fields + [T.StructField(CORRUPT, T.StringType())])
    columns = set(raw.columns)
    text = F.col("value").cast("string")
    # inline(array(from_json(...))) parses each payload once: with a plain select("m.*") Spark's
    # optimizer inlines from_json into every field reference and the checks below (~100 parses
    # per row; bench/streaming/bench_streaming.py transforms), a Generate is a barrier it keeps.
    parsed = raw.select(
        text.alias("raw"),
        (F.col("key").cast("string") if "key" in columns else F.lit(None).cast("string")).alias("kafka_key"),
        F.inline(F.array(F.from_json(text, with_corrupt, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}))),
    )
    # One array test instead of a 20-way AND: long AND chains blow up Spark's constraint propagation.
    all_fields_null = ~F.array_contains(F.array(*[F.col(n).isNull() for n in schema.fieldNames()]), False)
    # Judged before defaults are filled in: unparseable JSON leaves every field null.
    blank = F.coalesce(F.trim(F.col("raw")) == F.lit(""), F.lit(True))  # from_json reads "" as null, not corrupt
    parsed = parsed.withColumn("_unparseable", (F.col(CORRUPT).isNotNull() & all_fields_null) | blank)
    parsed = parsed.withColumns(_defaults(model))
    corrupt = F.col(CORRUPT).isNotNull()
    reason = (
        F.when(F.octet_length(F.col("raw")) > F.lit(MAX_PAYLOAD_BYTES), F.lit("too_large"))
        .when(F.col("_unparseable"), F.lit("malformed_json"))
        .when(corrupt, F.lit("wrong_type"))
    )
    for failing, why in _field_checks(model) + list(extra_checks or []):
        reason = reason.when(failing, F.lit(why))
    return parsed.withColumn("reject_reason", reason).drop(CORRUPT, "_unparseable")


def valid_rows(parsed: Any, model: type[BaseModel]) -> Any:
    return parsed.where(F.col("reject_reason").isNull()).select(*spark_schema(model).fieldNames())


def rejected_rows(parsed: Any, source_topic: str) -> Any:
    """Rejects in the :class:`skyrisk.contracts.DeadLetter` shape (``source`` as sent, else ``live``).

    ``raw`` keeps at most the first ``MAX_PAYLOAD_BYTES`` characters: a dead letter carrying a whole
    oversized payload would itself exceed the broker's message size and fail the query.
    """
    source = F.when(F.col("source").isin("live", "replay", "sim"), F.col("source")).otherwise(F.lit("live"))
    return parsed.where(F.col("reject_reason").isNotNull()).select(
        F.lit(SCHEMA_VERSION).cast("long").alias("schema_version"),
        source.alias("source"),
        F.lit(source_topic).alias("source_topic"),
        F.col("reject_reason").alias("reason"),
        F.substring(F.coalesce(F.col("raw"), F.lit("")), 1, MAX_PAYLOAD_BYTES).alias("raw"),
        F.col("kafka_key").alias("key"),
        F.unix_timestamp(F.current_timestamp()).cast("double").alias("at"),
        F.lit(None).cast("string").alias("detail"),
    )


def reject_counts(rejects: Any) -> dict[str, int]:
    """``{reason: count}`` of a (static) DataFrame of dead letters."""
    return {row["reason"]: int(row["count"]) for row in rejects.groupBy("reason").count().collect()}


# --- event time and duplicates ------------------------------------------------------------------
def with_event_timestamp(flights: Any) -> Any:
    return flights.withColumn("event_ts", F.timestamp_seconds(F.col("event_time")))


def deduplicate_flights(flights: Any, watermark: str = FLIGHT_WATERMARK) -> Any:
    """Drop repeats of (icao24, event_time) and states older than the watermark (stateful)."""
    return flights.withWatermark("event_ts", watermark).dropDuplicatesWithinWatermark(["icao24", "event_time"])


# --- the latest-weather table ---------------------------------------------------------------------
def _weather_struct() -> Any:
    schema = spark_schema(WeatherAtPosition)
    return F.struct(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def empty_weather_table(spark: Any) -> Any:
    schema = T.StructType(
        [
            T.StructField("cell_id", T.StringType(), False),
            T.StructField("observations", T.ArrayType(spark_schema(WeatherAtPosition), False), False),
        ]
    )
    return spark.createDataFrame([], schema)


def merge_weather_table(table: Any, observations: Any, max_age_minutes: int) -> Any:
    """Fold new observations (WeatherObservation columns) into the per-cell table.

    Per cell it keeps one observation per observation_time (a new arrival replaces a stored one:
    a re-fetch may carry corrected values) and only those within ``max_age_minutes`` of the
    cell's newest, newest first. A few rows per cell, whatever the event rate.
    """
    old = table.select("cell_id", F.explode("observations").alias("w"), F.lit(0).alias("arrival"), F.lit(0.0).alias("fetched_time"))
    new = observations.select(
        "cell_id", _weather_struct().alias("w"), F.lit(1).alias("arrival"), F.col("fetched_time").cast("double")
    )
    rows = old.unionByName(new)
    by_time = Window.partitionBy("cell_id", F.col("w.observation_time")).orderBy(F.col("arrival").desc(), F.col("fetched_time").desc())
    newest = Window.partitionBy("cell_id")
    kept = (
        rows.withColumn("rank", F.row_number().over(by_time))
        .where(F.col("rank") == 1)
        .withColumn("cell_newest", F.max("w.observation_time").over(newest))
        .where(F.col("w.observation_time") >= F.col("cell_newest") - F.lit(max_age_minutes * 60.0))
    )
    return kept.groupBy("cell_id").agg(
        F.transform(
            F.sort_array(F.collect_list(F.struct(F.col("w.observation_time").alias("t"), F.col("w"))), asc=False),
            lambda item: item["w"],
        ).alias("observations")
    )


def join_latest_weather(flights: Any, weather_table: Any, grid_deg: float, max_age_minutes: int) -> Any:
    """Add ``cell_id``, ``weather`` (newest usable observation of the cell) and ``weather_missing``.

    Usable: observation_time <= event_time and not older than ``max_age_minutes``. An equi-join
    on ``cell_id`` against the broadcast table (one row per cell), then a pick inside the cell's
    short array: no shuffle of the flights, no state per flight.
    """
    with_cell = flights.withColumn("cell_id", cell_id_column(F.col("latitude"), F.col("longitude"), grid_deg))
    joined = with_cell.join(F.broadcast(weather_table), on="cell_id", how="left")
    max_age = F.lit(max_age_minutes * 60.0)
    usable = F.filter(
        F.coalesce(F.col("observations"), F.array().cast(weather_table.schema["observations"].dataType)),
        lambda w: (w["observation_time"] <= F.col("event_time")) & (w["observation_time"] >= F.col("event_time") - max_age),
    )
    weather = F.get(usable, 0)  # newest first, so the first usable is the latest
    return joined.withColumns({"weather": weather, "weather_missing": weather.isNull()}).drop("observations")


def weather_coverage(joined: Any) -> tuple[int, int, int]:
    """Rows, airborne rows and airborne rows that got weather (after :func:`join_latest_weather`), in
    one Spark job: the share the Pipeline page shows."""
    airborne = ~F.coalesce(F.col("on_ground"), F.lit(False))
    row = joined.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(airborne, 1)).alias("airborne"),
        F.count(F.when(airborne & ~F.col("weather_missing"), 1)).alias("with_weather"),
    ).first()
    return row["rows"], row["airborne"], row["with_weather"]


# --- flags, risk, phase and the stored projection --------------------------------------------------
def _risk_input(name: str) -> Any:
    if name in WeatherAtPosition.model_fields:
        return F.col("weather").getField(name)
    return F.col(name)


def enrich(flights_with_weather: Any, model: PhaseModel, context: Any) -> Any:
    """Risk, phase, behaviour and emergency: the :class:`EnrichedState` columns plus ``date``/``hour``.

    ``context`` is the per-aircraft context table of :mod:`skyrisk.behaviour` (each aircraft's
    previous report), against which the batch's anomalies are judged.
    """
    score, category, factors = risk_columns(_risk_input)
    df = assess_behaviour(phase_columns(flights_with_weather, model), context)
    callsign = F.nullif(F.trim(F.col("callsign")), F.lit(""))
    df = df.withColumns(
        {
            "callsign": callsign,
            "airline_icao": F.when(callsign.rlike(r"^[A-Z]{3}[0-9]"), F.substring(callsign, 1, 3)),
            "risk_score": score,
            "risk_category": category,
            "risk_factors": factors,
            "emergency": emergency_column(F.col("squawk")),
            "model_version": F.lit(model.version),
        }
    )
    return project(df, EnrichedState).withColumns(
        {
            "date": F.date_format(F.timestamp_seconds(F.col("event_time")), "yyyy-MM-dd"),
            "hour": F.hour(F.timestamp_seconds(F.col("event_time"))),
        }
    )


def _relaxed(data_type: Any) -> Any:
    """The type with every nested field nullable (Spark refuses casts into NOT NULL fields)."""
    if isinstance(data_type, T.StructType):
        return T.StructType([T.StructField(f.name, _relaxed(f.dataType), True) for f in data_type.fields])
    if isinstance(data_type, T.ArrayType):
        return T.ArrayType(_relaxed(data_type.elementType), True)
    if isinstance(data_type, T.MapType):
        return T.MapType(data_type.keyType, _relaxed(data_type.valueType), True)
    return data_type


def project(df: Any, model: type[BaseModel]) -> Any:
    """Exactly the model's columns, in its order, cast to its derived Spark types."""
    return df.select(*[F.col(f.name).cast(_relaxed(f.dataType)).alias(f.name) for f in spark_schema(model).fields])


# --- per-sink shapes ----------------------------------------------------------------------------------
def newest_per_aircraft(enriched: Any) -> Any:
    """One row per icao24: its newest state (flights_live gets one upsert per aircraft per batch)."""
    columns = [c for c in enriched.columns if c != "icao24"]
    return enriched.groupBy("icao24").agg(F.max_by(F.struct(*columns), "event_time").alias("s")).select("icao24", "s.*")


def track_points(enriched: Any) -> Any:
    """The first state of each aircraft in each 30 s bucket, with ``_id`` ``icao24:bucket``."""
    bucket = F.floor(F.col("event_time") / TRACK_BUCKET_SECONDS).cast("long")
    fields = [c for c in spark_schema(TrackPoint).fieldNames() if c != "icao24"]
    point = F.struct(*[F.col("event_time").alias("t") if c == "t" else F.col(c) for c in fields])
    return (
        enriched.withColumn("bucket", bucket)
        .groupBy("icao24", "bucket")
        .agg(F.min_by(point, "event_time").alias("p"))
        .select(F.concat_ws(":", "icao24", F.col("bucket").cast("string")).alias("_id"), "icao24", "p.*")
    )


def alert_signals(enriched: Any) -> Any:
    """Per aircraft and alert type in the batch: first/last event time and the newest details.

    Which types a state raises is :mod:`skyrisk.alerts`' rule (shared with the nightly batch);
    episode bookkeeping against stored alerts happens in ``episodes.py``.
    """
    exploded = enriched.select("*", F.explode(alert_signals_column()).alias("signal"))
    details = F.struct("callsign", "latitude", "longitude", "risk_score", "risk_category", F.col("signal.reasons").alias("reasons"))
    return (
        exploded.groupBy("icao24", F.col("signal.type").alias("type"))
        .agg(
            F.min("event_time").alias("first_seen"),
            F.max("event_time").alias("last_seen"),
            F.max_by(details, "event_time").alias("d"),
        )
        .select("icao24", "type", "first_seen", "last_seen", "d.*")
    )
