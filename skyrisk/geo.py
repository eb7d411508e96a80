"""Pure geography: the weather grid cell and great-circle distances.

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
