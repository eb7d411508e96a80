"""Anomalous behaviour of an aircraft: envelope rules per report, judged in the aircraft's context.

A report is *outside the envelope* when airborne with |vertical rate| above
:data:`~skyrisk.vocabulary.MAX_AIRLINER_VERTICAL_RATE_MS`, or with a ground speed above
:data:`~skyrisk.vocabulary.MAX_AIRLINER_GROUND_SPEED_MS`. That alone is no anomaly: a single
outlier is a decoding glitch. A state is ``anomaly`` when

- it is outside the envelope and so were the reports before it, for at least
  :data:`~skyrisk.vocabulary.ANOMALY_MIN_STATES` consecutive reports or
  :data:`~skyrisk.vocabulary.ANOMALY_MIN_SECONDS` seconds (``envelope_streak``/``envelope_since``
  count the run), or
- its position is farther from the aircraft's previous report than the envelope speed allows
  in the time between them, plus :data:`~skyrisk.vocabulary.JUMP_TOLERANCE_M` (an implausible
  jump: a single discontinuity is already a comparison of two reports).

The context is the aircraft's previous report: within a micro-batch the row before; across
batches the *context table* (one row per aircraft: its newest report and run), which the
streaming job keeps like the latest-weather table. :func:`assess_behaviour` (Spark) and
:func:`assess_track` (plain Python) are twins, tested to agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from skyrisk.geo import haversine_km
from skyrisk.vocabulary import (
    ANOMALY_MIN_SECONDS,
    ANOMALY_MIN_STATES,
    JUMP_TOLERANCE_M,
    MAX_AIRLINER_GROUND_SPEED_MS,
    MAX_AIRLINER_VERTICAL_RATE_MS,
    REASON_GROUND_SPEED,
    REASON_POSITION_JUMP,
    REASON_VERTICAL_RATE,
)

# A context row unseen this long (event time) is dropped: the aircraft has left.
CONTEXT_KEEP_SECONDS = 1800.0
CONTEXT_COLUMNS = ("icao24", "last_time", "last_latitude", "last_longitude", "envelope_streak", "envelope_since")


@dataclass(frozen=True)
class Context:
    """An aircraft's newest report and its current run outside the envelope."""

    last_time: float
    last_latitude: float
    last_longitude: float
    envelope_streak: int = 0
    envelope_since: float | None = None


# --- plain Python --------------------------------------------------------------------------------
def _finite(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def envelope_violations(on_ground: bool | None, velocity: float | None, vertical_rate: float | None) -> list[str]:
    """The envelope reasons one report breaks (NaN and null never break one)."""
    reasons = []
    vertical_rate, velocity = _finite(vertical_rate), _finite(velocity)
    if on_ground is False and vertical_rate is not None and abs(vertical_rate) > MAX_AIRLINER_VERTICAL_RATE_MS:
        reasons.append(REASON_VERTICAL_RATE)
    if velocity is not None and velocity > MAX_AIRLINER_GROUND_SPEED_MS:
        reasons.append(REASON_GROUND_SPEED)
    return reasons


def is_jump(previous: Context | None, event_time: float, latitude: float, longitude: float) -> bool:
    if previous is None or event_time <= previous.last_time:
        return False
    metres = 1000.0 * haversine_km(previous.last_latitude, previous.last_longitude, latitude, longitude)
    return metres > MAX_AIRLINER_GROUND_SPEED_MS * (event_time - previous.last_time) + JUMP_TOLERANCE_M


def persists(streak: int, since: float | None, event_time: float) -> bool:
    return streak >= ANOMALY_MIN_STATES or (since is not None and event_time - since >= ANOMALY_MIN_SECONDS)


def assess_track(states: Iterable[Mapping[str, Any]], context: Context | None = None) -> tuple[list[dict[str, Any]], Context | None]:
    """One aircraft's reports in event-time order -> per report ``anomaly``, ``anomaly_reasons``,
    ``envelope_streak``, ``envelope_since``; and the context after the last one."""
    out = []
    for s in states:
        violations = envelope_violations(s.get("on_ground"), s.get("velocity"), s.get("vertical_rate"))
        running = context is not None and context.envelope_streak > 0
        streak = (context.envelope_streak if running else 0) + 1 if violations else 0
        since = (context.envelope_since if running else s["event_time"]) if violations else None
        reasons = list(violations) if violations and persists(streak, since, s["event_time"]) else []
        if is_jump(context, s["event_time"], s["latitude"], s["longitude"]):
            reasons.append(REASON_POSITION_JUMP)
        out.append({"anomaly": bool(reasons), "anomaly_reasons": reasons, "envelope_streak": streak, "envelope_since": since})
        context = Context(s["event_time"], s["latitude"], s["longitude"], streak, since)
    return out, context


# --- Spark -----------------------------------------------------------------------------------------
def empty_context_table(spark: Any) -> Any:
    return spark.createDataFrame(
        [], "icao24 string, last_time double, last_latitude double, last_longitude double, "
            "envelope_streak long, envelope_since double"
    )


def assess_behaviour(states: Any, context: Any) -> Any:
    """Add ``anomaly``, ``anomaly_reasons``, ``envelope_streak`` and ``envelope_since``.

    ``states`` needs icao24, event_time, latitude, longitude, on_ground, velocity, vertical_rate
    (one row per report: duplicates are dropped upstream); ``context`` is the context table.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from skyrisk.geo import haversine_km_column

    def finite(name: str) -> Any:  # Spark orders NaN above every number: treat it as null
        return F.when(~F.isnan(F.col(name)), F.col(name))

    violations = F.filter(
        F.array(
            F.when((F.col("on_ground") == F.lit(False)) & (F.abs(finite("vertical_rate")) > MAX_AIRLINER_VERTICAL_RATE_MS),
                   F.lit(REASON_VERTICAL_RATE)),
            F.when(finite("velocity") > MAX_AIRLINER_GROUND_SPEED_MS, F.lit(REASON_GROUND_SPEED)),
        ),
        lambda r: r.isNotNull(),
    )
    track = Window.partitionBy("icao24").orderBy("event_time")
    so_far = track.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    first_in_batch = F.lag("event_time").over(track).isNull()
    with_context = (
        states.join(F.broadcast(context.withColumnRenamed("icao24", "_ctx_icao24")),
                    F.col("icao24") == F.col("_ctx_icao24"), "left")
        .withColumn("_violations", violations)
        .withColumns(
            {
                "_violating": F.size("_violations") > 0,
                "_prev_time": F.when(first_in_batch, F.col("last_time")).otherwise(F.lag("event_time").over(track)),
                "_prev_lat": F.when(first_in_batch, F.col("last_latitude")).otherwise(F.lag("latitude").over(track)),
                "_prev_lon": F.when(first_in_batch, F.col("last_longitude")).otherwise(F.lag("longitude").over(track)),
            }
        )
        # run groups: a new group starts at each report inside the envelope
        .withColumn("_group", F.sum(F.when(F.col("_violating"), 0).otherwise(1)).over(so_far))
    )
    run = Window.partitionBy("icao24", "_group").orderBy("event_time")
    # Group 0 has had no report inside the envelope in this batch: it continues the stored run.
    carried = F.when(F.col("_group") == 0, F.coalesce(F.col("envelope_streak"), F.lit(0))).otherwise(F.lit(-1))
    streak = F.when(F.col("_violating"), F.row_number().over(run) + carried).otherwise(F.lit(0))
    run_start = F.min(F.when(F.col("_violating"), F.col("event_time"))).over(run.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    stored_since = F.when((F.col("_group") == 0) & (F.col("envelope_streak") > 0), F.col("envelope_since"))
    since = F.when(F.col("_violating"), F.coalesce(stored_since, run_start))
    dt = F.col("event_time") - F.col("_prev_time")
    metres = F.lit(1000.0) * haversine_km_column(F.col("_prev_lat"), F.col("_prev_lon"), F.col("latitude"), F.col("longitude"))
    jump = F.coalesce((dt > 0) & (metres > F.lit(MAX_AIRLINER_GROUND_SPEED_MS) * dt + F.lit(JUMP_TOLERANCE_M)), F.lit(False))
    assessed = with_context.withColumns({"envelope_streak": streak.cast("long"), "envelope_since": since})
    persistent = (F.col("envelope_streak") >= ANOMALY_MIN_STATES) | (
        F.coalesce(F.col("event_time") - F.col("envelope_since") >= ANOMALY_MIN_SECONDS, F.lit(False))
    )
    reasons = F.concat(
        F.when(F.col("_violating") & persistent, F.col("_violations")).otherwise(F.array().cast("array<string>")),
        F.when(jump, F.array(F.lit(REASON_POSITION_JUMP))).otherwise(F.array().cast("array<string>")),
    )
    internal = [c for c in assessed.columns if c.startswith("_")] + ["last_time", "last_latitude", "last_longitude"]
    return (
        assessed.withColumn("anomaly_reasons", reasons)
        .withColumn("anomaly", F.size("anomaly_reasons") > 0)
        .drop(*internal)
    )


def merge_context_table(context: Any, assessed: Any, keep_seconds: float = CONTEXT_KEEP_SECONDS) -> Any:
    """The context table after a batch: per aircraft its newest report (stored or new), and only
    aircraft seen within ``keep_seconds`` of the newest report of all."""
    from pyspark.sql import functions as F

    new = assessed.select(
        "icao24",
        F.col("event_time").alias("last_time"),
        F.col("latitude").alias("last_latitude"),
        F.col("longitude").alias("last_longitude"),
        "envelope_streak",
        "envelope_since",
    )
    rows = context.select(*CONTEXT_COLUMNS).unionByName(new)
    newest = rows.groupBy("icao24").agg(F.max_by(F.struct(*CONTEXT_COLUMNS[1:]), "last_time").alias("c")).select("icao24", "c.*")
    horizon = newest.agg((F.max("last_time") - F.lit(keep_seconds)).alias("_horizon"))
    return newest.crossJoin(F.broadcast(horizon)).where(F.col("last_time") >= F.col("_horizon")).drop("_horizon")
