"""Pure geography: the weather grid cell, great-circle distances and dead reckoning.

The weather producer keys each observation by :func:`cell_id`; the streaming job computes
the same id from a flight's position with :func:`cell_id_column`, so the flight-weather join
is an equi-join on that key. Both use ``floor(coordinate / size)`` in IEEE doubles, so they
agree to the bit (tested in ``tests/skyrisk/test_geo.py``).
"""

from __future__ import annotations

import math
from typing import Any

EARTH_RADIUS_KM = 6371.0088


def cell_index(latitude: float, longitude: float, size_deg: float) -> tuple[int, int]:
    return math.floor(latitude / size_deg), math.floor(longitude / size_deg)


def cell_id(latitude: float, longitude: float, size_deg: float) -> str:
    """Id of the grid cell holding a point: ``"<row>:<col>"`` in units of ``size_deg``."""
    row, col = cell_index(latitude, longitude, size_deg)
    return f"{row}:{col}"


def cell_center(cell: str, size_deg: float) -> tuple[float, float]:
    """Centre (lat, lon) of a cell id."""
    row, col = (int(part) for part in cell.split(":"))
    return (row + 0.5) * size_deg, (col + 0.5) * size_deg


def cell_id_column(latitude: Any, longitude: Any, size_deg: float) -> Any:
    """The same id as :func:`cell_id`, as a Spark column expression."""
    from pyspark.sql import functions as F

    row = F.floor(latitude / F.lit(size_deg)).cast("long")
    col = F.floor(longitude / F.lit(size_deg)).cast("long")
    return F.concat_ws(":", row.cast("string"), col.cast("string"))


def grid_cells(bbox: tuple[float, float, float, float], size_deg: float) -> list[tuple[str, float, float]]:
    """Every cell (id, centre lat, centre lon) covering a bounding box, row by row."""
    lamin, lomin, lamax, lomax = bbox
    row0, col0 = cell_index(lamin, lomin, size_deg)
    # A box edge on a cell boundary does not start a new cell.
    row1 = math.ceil(lamax / size_deg) - 1
    col1 = math.ceil(lomax / size_deg) - 1
    cells = []
    for row in range(row0, row1 + 1):
        for col in range(col0, col1 + 1):
            cells.append((f"{row}:{col}", (row + 0.5) * size_deg, (col + 0.5) * size_deg))
    return cells


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi = p2 - p1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def haversine_km_column(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """:func:`haversine_km` as a Spark column expression."""
    from pyspark.sql import functions as F

    p1, p2 = F.radians(lat1), F.radians(lat2)
    dphi = p2 - p1
    dlmb = F.radians(lon2) - F.radians(lon1)
    a = F.pow(F.sin(dphi / 2), 2) + F.cos(p1) * F.cos(p2) * F.pow(F.sin(dlmb / 2), 2)
    root = F.sqrt(a)
    # Clamp rounding error above 1 without least(): least() skips nulls, which turned a missing
    # position into half the globe (20,015 km). when() keeps null in, null out.
    return F.lit(2 * EARTH_RADIUS_KM) * F.asin(F.when(root > 1.0, F.lit(1.0)).otherwise(root))


# --- dead reckoning -----------------------------------------------------------------------------
# How far ahead of its last report an aircraft is extrapolated at most: beyond this a straight
# line at constant speed says little about where it really is (it turns, climbs, lands).
DEAD_RECKONING_CAP_S = 120.0


def wrap_longitude(lon: float) -> float:
    """A longitude in [-180, 180)."""
    return (lon + 180.0) % 360.0 - 180.0


def destination_point(latitude: float, longitude: float, bearing_deg: float, distance_km: float) -> tuple[float, float]:
    """Where a great circle from a point along an initial bearing (degrees from north) ends after
    ``distance_km``, on the sphere of :data:`EARTH_RADIUS_KM` (the one :func:`haversine_km` uses)."""
    delta = distance_km / EARTH_RADIUS_KM
    phi1, lmb1, theta = math.radians(latitude), math.radians(longitude), math.radians(bearing_deg)
    sin_phi2 = math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    sin_phi2 = max(-1.0, min(1.0, sin_phi2))
    phi2 = math.asin(sin_phi2)
    lmb2 = lmb1 + math.atan2(math.sin(theta) * math.sin(delta) * math.cos(phi1),
                             math.cos(delta) - math.sin(phi1) * sin_phi2)
    return math.degrees(phi2), wrap_longitude(math.degrees(lmb2))


def _usable(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def dead_reckon(
    latitude: float,
    longitude: float,
    velocity_ms: float | None,
    track_deg: float | None,
    elapsed_s: float | None,
    cap_s: float = DEAD_RECKONING_CAP_S,
) -> tuple[float, float]:
    """The position ``elapsed_s`` after a report, flying on at its ground speed (m/s) along its
    true track (degrees from north), on a great circle; the elapsed time is clipped to
    ``[0, cap_s]``. A missing (None/NaN) speed, track or elapsed time, or no speed at all,
    leaves the reported position unchanged."""
    if not (_usable(velocity_ms) and _usable(track_deg) and _usable(elapsed_s)):
        return latitude, longitude
    speed, track, seconds = float(velocity_ms), float(track_deg), min(max(float(elapsed_s), 0.0), cap_s)  # type: ignore[arg-type]
    if speed <= 0.0 or seconds == 0.0:
        return latitude, longitude
    return destination_point(latitude, longitude, track, speed * seconds / 1000.0)


def dead_reckon_arrays(latitude: Any, longitude: Any, velocity_ms: Any, track_deg: Any, elapsed_s: Any,
                       cap_s: float = DEAD_RECKONING_CAP_S) -> tuple[Any, Any]:
    """:func:`dead_reckon` over numpy arrays (broadcast); NaN speed, track or elapsed time leaves a
    position unchanged. Returns new float64 arrays (latitude, longitude)."""
    import numpy as np

    lat = np.asarray(latitude, dtype=np.float64)
    lon = np.asarray(longitude, dtype=np.float64)
    speed = np.asarray(velocity_ms, dtype=np.float64)
    track = np.asarray(track_deg, dtype=np.float64)
    elapsed = np.asarray(elapsed_s, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        seconds = np.clip(elapsed, 0.0, cap_s)
        moving = np.isfinite(speed) & np.isfinite(track) & np.isfinite(seconds) & (speed > 0) & (seconds > 0)
    delta = np.where(moving, speed * seconds, 0.0) / 1000.0 / EARTH_RADIUS_KM
    phi1, lmb1, theta = np.radians(lat), np.radians(lon), np.radians(np.where(moving, track, 0.0))
    sin_phi2 = np.clip(np.sin(phi1) * np.cos(delta) + np.cos(phi1) * np.sin(delta) * np.cos(theta), -1.0, 1.0)
    phi2 = np.arcsin(sin_phi2)
    lmb2 = lmb1 + np.arctan2(np.sin(theta) * np.sin(delta) * np.cos(phi1), np.cos(delta) - np.sin(phi1) * sin_phi2)
    new_lon = (np.degrees(lmb2) + 180.0) % 360.0 - 180.0
    return np.where(moving, np.degrees(phi2), lat), np.where(moving, new_lon, lon)
