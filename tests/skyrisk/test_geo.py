"""Grid cells agree between Python (producers) and Spark (streaming); distances are right."""

from __future__ import annotations

import math
import random

import pytest

from skyrisk import geo


def test_cell_id_examples():
    assert geo.cell_id(50.03, 8.57, 0.5) == "100:17"
    assert geo.cell_id(-0.01, -0.01, 0.5) == "-1:-1"  # floor, not truncation, below zero
    assert geo.cell_id(0.5, 1.0, 0.5) == "1:2"  # a boundary belongs to the cell above/right


def test_cell_center_is_inside_its_cell():
    for lat, lon in [(50.03, 8.57), (-33.9, 151.2), (0.0, -0.2)]:
        centre = geo.cell_center(geo.cell_id(lat, lon, 0.5), 0.5)
        assert geo.cell_id(*centre, 0.5) == geo.cell_id(lat, lon, 0.5)
        assert abs(centre[0] - lat) <= 0.25 and abs(centre[1] - lon) <= 0.25


def test_grid_cells_cover_the_box_once():
    cells = geo.grid_cells((35.0, -12.0, 62.0, 32.0), 0.5)
    assert len(cells) == 54 * 88
    assert len({cell for cell, _, _ in cells}) == len(cells)
    rng = random.Random(1)
    ids = {cell for cell, _, _ in cells}
    for _ in range(500):
        assert geo.cell_id(rng.uniform(35, 62 - 1e-9), rng.uniform(-12, 32 - 1e-9), 0.5) in ids


def test_spark_cell_ids_equal_python_cell_ids(spark):
    from pyspark.sql import functions as F

    rng = random.Random(7)
    points = [(rng.uniform(-90, 90), rng.uniform(-180, 180)) for _ in range(2000)]
    points += [(0.5, 1.0), (-0.0, 0.0), (-0.5, -180.0), (89.999, 179.999), (50.0, 8.5)]
    for size in (0.25, 0.5, 1.0):
        df = spark.createDataFrame(points, "lat double, lon double")
        rows = df.select("lat", "lon", geo.cell_id_column(F.col("lat"), F.col("lon"), size).alias("c")).collect()
        mismatches = [(r.lat, r.lon) for r in rows if r.c != geo.cell_id(r.lat, r.lon, size)]
        assert mismatches == []


def test_haversine_known_distances():
    # London Heathrow -> Paris CDG is about 348 km; a quarter meridian is pi/2 * R.
    assert geo.haversine_km(51.4700, -0.4543, 49.0097, 2.5479) == pytest.approx(348, abs=3)
    assert geo.haversine_km(0, 0, 90, 0) == pytest.approx(math.pi / 2 * geo.EARTH_RADIUS_KM)


def test_spark_haversine_equals_python(spark):
    from pyspark.sql import functions as F

    pairs = [(51.47, -0.4543, 49.0097, 2.5479), (50.03, 8.57, 40.64, -73.78), (0.0, 0.0, 0.0, 0.0)]
    df = spark.createDataFrame(pairs, "a double, b double, c double, d double")
    got = [r.km for r in df.select(geo.haversine_km_column(F.col("a"), F.col("b"), F.col("c"), F.col("d")).alias("km")).collect()]
    assert got == [pytest.approx(geo.haversine_km(*p), rel=1e-12) for p in pairs]


def test_spark_haversine_of_a_missing_position_is_null(spark):
    from pyspark.sql import functions as F

    df = spark.createDataFrame([(50.0, 8.0, None, 9.0), (None, None, 50.0, 9.0)], "a double, b double, c double, d double")
    got = [r.km for r in df.select(geo.haversine_km_column(F.col("a"), F.col("b"), F.col("c"), F.col("d")).alias("km")).collect()]
    assert got == [None, None]
