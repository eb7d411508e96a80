"""Grid cells agree between Python (producers) and Spark (streaming); distances are right."""

from __future__ import annotations

import math
import random

import numpy as np
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


# --- dead reckoning -----------------------------------------------------------------------------
def test_east_at_the_equator_250_m_s_for_120_s_is_a_quarter_degree_of_longitude():
    lat, lon = geo.dead_reckon(0.0, 0.0, 250.0, 90.0, 120.0)
    # 30 km on the sphere of the mean radius; the WGS84 equator gives 0.2695 deg (111.32 km/deg).
    assert lon == pytest.approx(math.degrees(30.0 / geo.EARTH_RADIUS_KM), rel=1e-12)
    assert lon == pytest.approx(0.2695, abs=5e-4)
    assert lat == pytest.approx(0.0, abs=1e-12)


def test_destination_point_of_a_published_example():
    # 53°19'14"N 001°43'47"W, bearing 096°01'18", 124.8 km -> 53°11'18"N 000°08'00"E (a worked
    # example on a sphere of 6,371 km, rounded to seconds of arc).
    start = (53 + 19 / 60 + 14 / 3600, -(1 + 43 / 60 + 47 / 3600))
    lat, lon = geo.destination_point(*start, 96 + 1 / 60 + 18 / 3600, 124.8)
    assert lat == pytest.approx(53 + 11 / 60 + 18 / 3600, abs=1 / 3600)
    assert lon == pytest.approx(8 / 60, abs=1 / 3600)


def test_dead_reckoning_flies_a_great_circle_of_speed_times_time():
    rng = random.Random(3)
    for _ in range(300):
        lat, lon = rng.uniform(-80, 80), rng.uniform(-180, 180)
        speed, track, elapsed = rng.uniform(1, 300), rng.uniform(0, 360), rng.uniform(1, 120)
        lat2, lon2 = geo.dead_reckon(lat, lon, speed, track, elapsed)
        assert geo.haversine_km(lat, lon, lat2, lon2) == pytest.approx(speed * elapsed / 1000, rel=1e-6)
        assert -180 <= lon2 < 180


def test_dead_reckoning_is_capped():
    capped = geo.dead_reckon(50.0, 8.0, 250.0, 45.0, 600.0)
    assert capped == geo.dead_reckon(50.0, 8.0, 250.0, 45.0, geo.DEAD_RECKONING_CAP_S)
    assert geo.haversine_km(50.0, 8.0, *capped) == pytest.approx(250.0 * geo.DEAD_RECKONING_CAP_S / 1000, rel=1e-9)
    assert geo.dead_reckon(50.0, 8.0, 250.0, 45.0, 600.0, cap_s=10.0) == geo.dead_reckon(50.0, 8.0, 250.0, 45.0, 10.0)


@pytest.mark.parametrize("speed, track, elapsed", [
    (None, 90.0, 60.0), (250.0, None, 60.0), (float("nan"), 90.0, 60.0), (250.0, float("nan"), 60.0),
    (250.0, 90.0, None), (250.0, 90.0, float("nan")), (0.0, 90.0, 60.0), (250.0, 90.0, -30.0), (250.0, 90.0, 0.0)])
def test_missing_speed_track_or_time_leaves_the_position_unchanged(speed, track, elapsed):
    assert geo.dead_reckon(50.1, 8.6, speed, track, elapsed) == (50.1, 8.6)
    lat, lon = geo.dead_reckon_arrays([50.1], [8.6], [np.nan if speed is None else speed],
                                      [np.nan if track is None else track], [np.nan if elapsed is None else elapsed])
    assert (lat[0], lon[0]) == (50.1, 8.6)


def test_dead_reckoning_across_the_antimeridian_and_over_a_pole():
    lat, lon = geo.dead_reckon(0.0, 179.9, 250.0, 90.0, 120.0)
    assert lon == pytest.approx(179.9 + 0.269794 - 360, abs=1e-5)
    lat, lon = geo.dead_reckon(89.9, 10.0, 250.0, 0.0, 120.0)  # 30 km north: over the pole
    assert lat == pytest.approx(90 - (0.269794 - 0.1), abs=1e-5) and lon == pytest.approx(-170.0, abs=1e-6)


def test_the_numpy_form_equals_the_python_twin():
    rng = random.Random(11)
    rows = [(rng.uniform(-89, 89), rng.uniform(-180, 180), rng.choice([rng.uniform(0, 320), float("nan")]),
             rng.choice([rng.uniform(0, 360), float("nan")]), rng.uniform(-60, 400)) for _ in range(2000)]
    lat, lon = geo.dead_reckon_arrays(*(np.array(column) for column in zip(*rows)))
    for i, (a, b, speed, track, elapsed) in enumerate(rows):
        expected = geo.dead_reckon(a, b, None if math.isnan(speed) else speed, None if math.isnan(track) else track,
                                   elapsed)
        assert (lat[i], lon[i]) == (pytest.approx(expected[0], abs=1e-9), pytest.approx(expected[1], abs=1e-9))
