"""Pure DataFrame logic of the nightly batch: no reads, no writes, no settings object.

The pipeline per day is

    enriched rows --curate_positions--> curated positions (deduplicated, one flight_id per row)
    curated positions --flight_summaries--> one row per flight (FlightSummary)
    curated positions --daily_counts--> small table -> daily_stats_document (DailyStats)

Every function takes DataFrames (and plain values) and returns a DataFrame or a plain value,
so the job module only wires lake/Mongo I/O around them and tests can feed them rows in memory.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from skyrisk.alerts import alert_flag_columns
from skyrisk.contracts import CuratedPosition, DailyStats, EnrichedState, FlightSummary, spark_schema
from skyrisk.geo import haversine_km_column
from skyrisk.vocabulary import ALERT_TYPES, EPISODE_GAP_SECONDS, RISK_CATEGORIES

# A track point at or below this (or on the ground) is near an airport: origin/destination.
LOW_ALTITUDE_M = 1000.0
# An endpoint farther than this from every airport has no origin/destination (over-flight,
# coverage edge). It must stay below AIRPORT_BAND_DEG in km so a +-1 band search is exhaustive.
MAX_AIRPORT_DISTANCE_KM = 30.0
AIRPORT_BAND_DEG = 0.5  # ~55.6 km of latitude per band, at every longitude
BUSIEST_CELLS = 10

# Callsign of a scheduled airline flight: ICAO designator + flight number (DLH400, DLH0400).
SCHEDULED_CALLSIGN = r"^[A-Z]{3}0*([0-9]{1,4})$"


def altitude_column() -> Column:
    """Barometric altitude, else GNSS altitude (metres)."""
    return F.coalesce(F.col("baro_altitude"), F.col("geo_altitude"))


def _orderable(data_type: T.DataType) -> bool:
    if isinstance(data_type, T.MapType):
        return False
    if isinstance(data_type, T.ArrayType):
        return _orderable(data_type.elementType)
    if isinstance(data_type, T.StructType):
        return all(_orderable(f.dataType) for f in data_type.fields)
    return True


# --- stage 1: curated positions ---------------------------------------------------------------
def deduplicate_positions(enriched: DataFrame, partitions: int) -> DataFrame:
    """One row per (icao24, event_time), partitioned by icao24 and sorted by icao24 and time.

    Duplicates come from re-delivered Kafka records and from OpenSky repeating a stale
    position under the same time_position; their enrichment may differ (weather arrived
    later), so the survivor is chosen deterministically: enriched with weather first, then by
    every other column. That makes reruns identical.

    The copies of a report are neighbours in the (icao24, event_time, tie-break) order, so a
    lag finds them; a window *partitioned* by the double event_time would need its own sort.
    With the partitioning on icao24 this sort also serves every per-aircraft window
    of :func:`segment_flights`: the whole stage costs one shuffle and one sort.
    """
    columns = [f.name for f in spark_schema(EnrichedState).fields]
    rows = enriched.select(*columns)
    tiebreak = [F.col("weather_missing").asc()] + [
        F.col(f.name).asc()
        for f in rows.schema.fields
        if f.name not in ("icao24", "event_time", "weather_missing") and _orderable(f.dataType)
    ]
    best_first = Window.partitionBy("icao24").orderBy(F.col("event_time").asc(), *tiebreak)
    previous_time = F.lag("event_time").over(best_first)
    return (
        # Hash, not range, partitioning: a range needs an extra sampling pass over the input.
        rows.repartition(partitions, "icao24")
        .sortWithinPartitions(F.col("icao24").asc(), F.col("event_time").asc(), *tiebreak)
        .withColumn("_copy", previous_time.isNotNull() & (previous_time == F.col("event_time")))
        .where(~F.col("_copy"))
        .drop("_copy")
    )


def segment_flights(positions: DataFrame, gap_minutes: float) -> DataFrame:
    """Add the CuratedPosition columns: ``flight_id``, ``step_km`` and ``alert_starts``.

    A new flight starts after a silence of more than ``gap_minutes`` or right after a
    touchdown: the touchdown (first on-ground report after being airborne) is the last point
    of the flight that landed; the ground roll, taxi and next take-off belong to the next one.
    The id is ``<icao24>-<first seen yyyyMMddTHHmmss>``, stable across reruns. An alert
    episode is what the streaming job opens: flagged positions of one type (the shared rule of
    :mod:`skyrisk.alerts`) no more than ``EPISODE_GAP_SECONDS`` apart; ``alert_starts`` marks
    its first position (an episode open when a flight starts is not counted again).
    """
    track = Window.partitionBy("icao24").orderBy("event_time")
    so_far = track.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    flags = alert_flag_columns()  # the streaming job's alert rule (skyrisk.alerts)
    # Every lag reads an input column (lag 2 included), so Spark evaluates them all in one
    # Window operator; only the running flight start needs a second one.
    lagged = positions.withColumns({f"_flag_{t}": flag for t, flag in flags.items()}).withColumns(
        {
            "_t1": F.lag("event_time", 1).over(track),
            "_t2": F.lag("event_time", 2).over(track),
            "_ground1": F.lag("on_ground", 1).over(track),
            "_ground2": F.lag("on_ground", 2).over(track),
            "_lat1": F.lag("latitude", 1).over(track),
            "_lon1": F.lag("longitude", 1).over(track),
            # the newest flagged position before this one, for the episode gap
            **{
                f"_last_flag_{t}": F.last(F.when(F.col(f"_flag_{t}"), F.col("event_time")), ignorenulls=True).over(
                    track.rowsBetween(Window.unboundedPreceding, -1)
                )
                for t in ALERT_TYPES
            },
        }
    )
    gap_s = F.lit(gap_minutes * 60.0)

    def silence_before(time_now: Column, time_before: Column) -> Column:
        return time_before.isNull() | (time_now - time_before > gap_s)

    # the previous report was a touchdown: on the ground after being airborne, without a silence
    previous_was_touchdown = (
        F.col("_ground1")
        & ~F.coalesce(F.col("_ground2"), F.lit(True))
        & ~silence_before(F.col("_t1"), F.col("_t2"))
    )
    new_flight = silence_before(F.col("event_time"), F.col("_t1")) | F.coalesce(previous_was_touchdown, F.lit(False))
    segmented = lagged.withColumn("_new_flight", new_flight)
    # The id is formatted on the first point of each flight only and carried forward: formatting
    # a date on every one of ~35 M rows cost more than the window that carries it.
    id_at_start = F.when(
        F.col("_new_flight"),
        F.concat_ws("-", F.col("icao24"), F.date_format(F.timestamp_seconds("event_time"), "yyyyMMdd'T'HHmmss")),
    )
    continues = ~F.col("_new_flight")
    step_km = haversine_km_column(F.col("_lat1"), F.col("_lon1"), F.col("latitude"), F.col("longitude"))
    episode_gap = F.lit(EPISODE_GAP_SECONDS)
    starts = {
        t: F.col(f"_flag_{t}")
        & ~(continues & F.coalesce(F.col("event_time") - F.col(f"_last_flag_{t}") <= episode_gap, F.lit(False)))
        for t in ALERT_TYPES
    }
    any_start = functools.reduce(lambda a, b: a | b, starts.values())
    return segmented.withColumns(
        {
            "flight_id": F.last(id_at_start, ignorenulls=True).over(so_far),
            # The first point of a flight has no step (no previous position in the flight).
            "step_km": F.when(continues, F.coalesce(step_km, F.lit(0.0))).otherwise(F.lit(0.0)),
            # Few positions start an episode: the (interpreted) array filter runs only on those.
            "alert_starts": F.when(
                any_start, F.filter(F.array(*[F.when(c, F.lit(t)) for t, c in starts.items()]), lambda t: t.isNotNull())
            ).otherwise(F.array().cast(T.ArrayType(T.StringType()))),
        }
    ).drop(*[c for c in segmented.columns if c.startswith("_")])


def curate_positions(enriched: DataFrame, *, partitions: int, gap_minutes: float) -> DataFrame:
    """Stage 1: CuratedPosition rows (deduplicated, in flights), sorted by icao24 and time."""
    curated = segment_flights(deduplicate_positions(enriched, partitions), gap_minutes)
    return conform(curated, spark_schema(CuratedPosition))


# --- stage 2: flight summaries ------------------------------------------------------------------
def flight_tracks(positions: DataFrame) -> DataFrame:
    """One row per flight with the track aggregates (no reference data yet).

    Ground-only tracks (a parked or taxiing aircraft) are not flights and are left out.

    Every aggregate over the full day is numeric, so Spark hash-aggregates with partial
    aggregation (a min/max of a struct or string would force a sort of all positions); the
    values *at* the first and last point and at the first callsign are then picked from the
    few rows at those times, found by a broadcast join.
    """
    rank_of = F.create_map(*[x for i, c in enumerate(RISK_CATEGORIES) for x in (F.lit(c), F.lit(i))])
    category_of = F.create_map(*[x for i, c in enumerate(RISK_CATEGORIES) for x in (F.lit(i), F.lit(c))])
    per_flight = (
        positions.groupBy("flight_id")
        .agg(
            F.count(F.lit(1)).alias("positions"),
            F.min("event_time").alias("first_seen"),
            F.max("event_time").alias("last_seen"),
            F.min(F.when(F.col("callsign").isNotNull(), F.col("event_time"))).alias("_callsign_time"),
            F.max(altitude_column()).alias("max_altitude_m"),
            F.sum("step_km").alias("distance_km"),
            F.max("risk_score").alias("max_risk_score"),
            F.max(rank_of[F.col("risk_category")]).alias("_max_risk_rank"),
            F.sum(F.col("anomaly").cast("long")).alias("anomaly_count"),
            F.count("emergency").alias("emergency_count"),
            F.max((~F.col("on_ground")).cast("int")).alias("_airborne"),
            # coalesce makes the map's values non-null, as the contract's dict[str, int] says
            *[
                F.coalesce(F.sum(F.array_contains("alert_starts", t).cast("long")), F.lit(0).cast("long")).alias(
                    f"_episodes_{t}"
                )
                for t in ALERT_TYPES
            ],
        )
        .where(F.col("_airborne") == 1)
    )
    times = per_flight.select("flight_id", "first_seen", "last_seen", "_callsign_time")
    t = F.col("event_time")
    low = F.col("on_ground") | (F.coalesce(altitude_column(), F.lit(float("inf"))) <= LOW_ALTITUDE_M)
    at_first, at_last, at_callsign = t == F.col("first_seen"), t == F.col("last_seen"), t == F.col("_callsign_time")
    key_points = (
        positions.join(F.broadcast(times), "flight_id")
        .where(at_first | at_last | at_callsign)
        .groupBy("flight_id")
        .agg(
            F.max(F.when(at_first, F.col("latitude"))).alias("lat0"),
            F.max(F.when(at_first, F.col("longitude"))).alias("lon0"),
            F.max(F.when(at_first, low)).alias("low_first"),
            F.max(F.when(at_last, F.col("latitude"))).alias("lat1"),
            F.max(F.when(at_last, F.col("longitude"))).alias("lon1"),
            F.max(F.when(at_last, low)).alias("low_last"),
            F.max(F.when(at_callsign, F.col("callsign"))).alias("callsign"),
            F.max(F.when(at_callsign, F.col("airline_icao"))).alias("airline_icao"),
            F.first("icao24").alias("icao24"),
        )
    )
    return per_flight.join(key_points, "flight_id").select(
        "flight_id",
        "icao24",
        "callsign",
        "airline_icao",
        "first_seen",
        "last_seen",
        (F.col("last_seen") - F.col("first_seen")).alias("duration_s"),
        "positions",
        "lat0", "lon0", "low_first", "lat1", "lon1", "low_last",
        "max_altitude_m",
        "distance_km",
        "max_risk_score",
        category_of[F.col("_max_risk_rank")].alias("max_risk_category"),
        "anomaly_count",
        "emergency_count",
        F.create_map(*[x for t in ALERT_TYPES for x in (F.lit(t), F.col(f"_episodes_{t}"))]).alias("alert_episodes"),
    )


def nearest_airports(points: DataFrame, airports: DataFrame) -> DataFrame:
    """``points`` (key, latitude, longitude) -> (key, airport): the nearest airport within
    MAX_AIRPORT_DISTANCE_KM, ties broken by code; points with none are absent.

    Airports are copied into the latitude bands next to their own, so an equi-join on the
    band finds every candidate without comparing each point with every airport.
    """
    band = lambda lat: F.floor(lat / F.lit(AIRPORT_BAND_DEG)).cast("long")  # noqa: E731
    candidates = airports.select(
        F.col("code").alias("airport"),
        F.col("latitude").alias("a_lat"),
        F.col("longitude").alias("a_lon"),
        F.explode(F.array(*[band(F.col("latitude")) + F.lit(d) for d in (-1, 0, 1)])).alias("band"),
    )
    distance = haversine_km_column(F.col("latitude"), F.col("longitude"), F.col("a_lat"), F.col("a_lon"))
    return (
        points.withColumn("band", band(F.col("latitude")))
        .join(F.broadcast(candidates), "band")
        .withColumn("km", distance)
        .where(F.col("km") <= MAX_AIRPORT_DISTANCE_KM)
        .groupBy("key")
        .agg(F.min(F.struct("km", "airport")).alias("best"))
        .select("key", F.col("best.airport").alias("airport"))
    )


def scheduled_legs(journeys: DataFrame, day: str) -> DataFrame:
    """Distinct legs departing on ``day`` (local date) flown by their marketing carrier.

    A leg appears in many journeys (direct and every connection through it), hence distinct;
    code-share legs (operated by another airline) cannot match the operator's callsign.
    """
    leg = F.explode("legs").alias("leg")
    return (
        journeys.select(leg)
        .select("leg.*")
        .where(F.substring("departure_local", 1, 10) == F.lit(day))
        .where(F.col("operating_airline").isNull() | (F.col("operating_airline") == F.col("marketing_airline")))
        .select(
            "marketing_airline",
            "flight_number",
            "departure_airport",
            "arrival_airport",
            "departure_local",
            "arrival_local",
        )
        .distinct()
    )


def flight_summaries(
    positions: DataFrame, *, day: str, airlines: DataFrame, airports: DataFrame, legs: DataFrame
) -> DataFrame:
    """Stage 2: one FlightSummary row per flight of the day.

    ``airlines``/``airports`` are ReferenceRecord rows, ``legs`` comes from :func:`scheduled_legs`.
    """
    tracks = flight_tracks(positions)
    usable_airports = airports.where(
        F.col("latitude").isNotNull()
        & F.col("longitude").isNotNull()
        & (F.col("location_type").isNull() | (F.col("location_type") == F.lit("Airport")))
    )
    endpoints = tracks.select("flight_id", "low_first", "low_last", "lat0", "lon0", "lat1", "lon1")
    # Origin only when the track begins low (took off in coverage), destination when it ends low.
    first_points = endpoints.where("low_first").select(
        F.col("flight_id").alias("key"), F.col("lat0").alias("latitude"), F.col("lon0").alias("longitude")
    )
    last_points = endpoints.where("low_last").select(
        F.col("flight_id").alias("key"), F.col("lat1").alias("latitude"), F.col("lon1").alias("longitude")
    )
    origins = nearest_airports(first_points, usable_airports).select(
        F.col("key").alias("flight_id"), F.col("airport").alias("origin")
    )
    destinations = nearest_airports(last_points, usable_airports).select(
        F.col("key").alias("flight_id"), F.col("airport").alias("destination")
    )
    airline_names = (
        airlines.where(F.col("icao_code").isNotNull())
        .groupBy("icao_code")
        .agg(F.min(F.struct("code", "name")).alias("a"))
        .select(
            F.col("icao_code").alias("airline_icao"),
            F.col("a.code").alias("airline_iata"),
            F.col("a.name").alias("airline_name"),
        )
    )
    flights = (
        tracks.join(origins, "flight_id", "left")
        .join(destinations, "flight_id", "left")
        .join(F.broadcast(airline_names), "airline_icao", "left")
        .withColumn(
            "_flight_number",
            F.when(
                F.col("airline_iata").isNotNull() & F.col("callsign").rlike(SCHEDULED_CALLSIGN),
                F.regexp_extract("callsign", SCHEDULED_CALLSIGN, 1).cast("long"),
            ),
        )
    )
    matched = _match_schedule(flights, legs)
    return conform(flights.join(matched, "flight_id", "left"), spark_schema(FlightSummary))


def _match_schedule(flights: DataFrame, legs: DataFrame) -> DataFrame:
    """flight_id -> the scheduled leg with the same airline and number on the day; when a
    number has several legs that day, the one leaving from the flight's origin, else the
    earliest."""
    candidates = flights.where(F.col("_flight_number").isNotNull()).join(
        F.broadcast(legs),
        (F.col("airline_iata") == F.col("marketing_airline")) & (F.col("_flight_number") == F.col("flight_number")),
    )
    preference = Window.partitionBy("flight_id").orderBy(
        (F.col("departure_airport") == F.coalesce(F.col("origin"), F.lit(""))).desc(),
        "departure_local",
        "arrival_airport",
    )
    return (
        candidates.withColumn("_rank", F.row_number().over(preference))
        .where(F.col("_rank") == 1)
        .select(
            "flight_id",
            F.concat_ws(" ", "marketing_airline", F.col("flight_number").cast("string")).alias("scheduled_flight"),
            F.col("departure_airport").alias("scheduled_origin"),
            F.col("arrival_airport").alias("scheduled_destination"),
            F.col("departure_local").alias("scheduled_departure_local"),
            F.col("arrival_local").alias("scheduled_arrival_local"),
        )
    )


def conform(df: DataFrame, schema: T.StructType) -> DataFrame:
    """Exactly the contract's columns, in its order and types (a type that differs only in
    nullability is left alone: Spark cannot cast a nullable map value to a non-null one)."""
    current = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    return df.select(
        *[
            F.col(f.name) if current[f.name] == f.dataType.simpleString() else F.col(f.name).cast(f.dataType).alias(f.name)
            for f in schema.fields
        ]
    )


# --- stage 3: daily statistics ------------------------------------------------------------------
def daily_counts(positions: DataFrame) -> DataFrame:
    """Positions per (cell_id, UTC hour, risk_category): everything DailyStats needs except
    distinct aircraft, in one pass and small enough to collect."""
    hour = F.hour(F.timestamp_seconds(F.col("event_time")))
    return positions.groupBy("cell_id", hour.alias("hour"), "risk_category").agg(F.count(F.lit(1)).alias("n"))


def daily_stats_document(
    day: str,
    counts: Iterable[Mapping[str, Any]],
    *,
    aircraft: int,
    flights: int,
    alert_episodes: Mapping[str, int],
) -> dict[str, Any]:
    """The ``daily_stats`` document (DailyStats with ``_id = date``) from collected counts."""
    risk = dict.fromkeys(RISK_CATEGORIES, 0)
    hourly = [0] * 24
    cells: dict[str, int] = {}
    positions = 0
    for row in counts:
        n = int(row["n"])
        positions += n
        risk[row["risk_category"]] += n
        hourly[int(row["hour"])] += n
        cells[row["cell_id"]] = cells.get(row["cell_id"], 0) + n
    busiest = sorted(cells.items(), key=lambda item: (-item[1], item[0]))[:BUSIEST_CELLS]
    stats = DailyStats(
        date=day,
        positions=positions,
        aircraft=aircraft,
        flights=flights,
        risk_distribution=risk,
        alerts_by_type={t: int(alert_episodes.get(t, 0)) for t in ALERT_TYPES},
        busiest_cells=[{"cell_id": cell, "count": n} for cell, n in busiest],
        hourly_traffic=hourly,
    )
    return {"_id": day, **stats.model_dump()}


def total_alert_episodes(summaries: DataFrame) -> DataFrame:
    """Alert episodes of the day by type (one row), summed over the flights."""
    return summaries.select(*[F.sum(F.col("alert_episodes")[t]).alias(t) for t in ALERT_TYPES])


# --- stage 4: model training input --------------------------------------------------------------
def airborne_states(positions: DataFrame) -> DataFrame:
    """What the phase/anomaly model learns from: airborne positions only (ground traffic would
    make its own cluster and hide real anomalies)."""
    return positions.where(~F.col("on_ground"))
