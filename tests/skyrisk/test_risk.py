"""The risk table at every threshold, the clamp, and Python/Spark agreement."""

from __future__ import annotations

import random

import pytest

from skyrisk.risk import RISK_INPUTS, assess_risk, risk_category, risk_columns

AIRBORNE_HIGH = {"on_ground": False, "baro_altitude": 10_000.0}


def score(**values):
    return assess_risk({**AIRBORNE_HIGH, **values})


@pytest.mark.parametrize(
    ("values", "points", "factors"),
    [
        ({"weather_code": 94}, 0, ()),
        ({"weather_code": 95}, 40, ("thunderstorm",)),
        ({"weather_code": 99}, 40, ("thunderstorm",)),
        ({"wind_gusts_10m": 50.0}, 0, ()),
        ({"wind_gusts_10m": 50.1}, 10, ("gusts > 50 km/h",)),
        ({"wind_gusts_10m": 80.0}, 10, ("gusts > 50 km/h",)),
        ({"wind_gusts_10m": 80.1}, 25, ("gusts > 80 km/h",)),
        ({"precipitation": 0.0}, 0, ()),
        ({"precipitation": 0.1}, 10, ("precipitation",)),
        ({"precipitation": 5.0}, 10, ("precipitation",)),
        ({"precipitation": 5.1}, 20, ("precipitation > 5 mm",)),
        ({"visibility": 3000.0}, 0, ()),
        ({"visibility": 2999.0}, 10, ("visibility < 3000 m",)),
        ({"visibility": 1000.0}, 10, ("visibility < 3000 m",)),
        ({"visibility": 999.0}, 20, ("visibility < 1000 m",)),
        ({"cloud_cover": 50.0}, 0, ()),
        ({"cloud_cover": 51.0}, 5, ("cloud cover > 50 %",)),
        ({"cloud_cover": 80.0}, 5, ("cloud cover > 50 %",)),
        ({"cloud_cover": 81.0}, 10, ("cloud cover > 80 %",)),
        ({"baro_altitude": 300.0}, 0, ()),
        ({"baro_altitude": 299.0}, 15, ("airborne below 300 m",)),
        ({"baro_altitude": 100.0, "on_ground": True}, 0, ()),
        ({"baro_altitude": 100.0, "on_ground": None}, 0, ()),
        ({"baro_altitude": None}, 0, ()),
        ({"weather_code": None, "visibility": None}, 0, ()),
    ],
)
def test_each_threshold(values, points, factors):
    result = score(**values)
    assert result.score == points
    assert result.factors == factors


@pytest.mark.parametrize(("points", "category"), [(0, "LOW"), (29, "LOW"), (30, "MEDIUM"), (59, "MEDIUM"), (60, "HIGH"), (100, "HIGH")])
def test_category_boundaries(points, category):
    assert risk_category(points) == category


def test_factors_add_up_and_clamp_at_100():
    worst = score(
        weather_code=99, wind_gusts_10m=120.0, precipitation=12.0, visibility=200.0, cloud_cover=100.0, baro_altitude=50.0
    )
    # 40 + 25 + 20 + 20 + 10 + 15 = 130, clamped
    assert worst.score == 100
    assert worst.category == "HIGH"
    assert len(worst.factors) == 6
    medium = score(weather_code=95)
    assert (medium.score, medium.category) == (40, "MEDIUM")
    high = score(weather_code=95, precipitation=1.0, visibility=2000.0)
    assert (high.score, high.category) == (60, "HIGH")


def random_inputs(rng: random.Random) -> dict:
    def maybe(value):
        return None if rng.random() < 0.15 else value

    return {
        "weather_code": maybe(rng.choice([0, 3, 45, 61, 80, 94, 95, 96, 99])),
        "wind_gusts_10m": maybe(rng.choice([0.0, 49.9, 50.0, 50.5, 80.0, 81.0, 130.0])),
        "precipitation": maybe(rng.choice([0.0, 0.2, 5.0, 5.01, 30.0])),
        "visibility": maybe(rng.choice([100.0, 999.9, 1000.0, 2500.0, 3000.0, 24000.0])),
        "cloud_cover": maybe(rng.choice([0.0, 50.0, 50.5, 80.0, 80.5, 100.0])),
        "baro_altitude": maybe(rng.choice([0.0, 150.0, 299.9, 300.0, 11000.0])),
        "on_ground": maybe(rng.choice([True, False])),
    }


@pytest.mark.integration
def test_spark_columns_agree_with_python_on_many_rows(spark):
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    rng = random.Random(7)
    rows = [random_inputs(rng) for _ in range(2000)]
    schema = T.StructType(
        [T.StructField(name, T.BooleanType() if name == "on_ground" else
                       (T.LongType() if name == "weather_code" else T.DoubleType())) for name in RISK_INPUTS]
    )
    frame = spark.createDataFrame([tuple(r[name] for name in RISK_INPUTS) for r in rows], schema)
    score_col, category_col, factors_col = risk_columns(F.col)
    got = frame.select(score_col.alias("s"), category_col.alias("c"), factors_col.alias("f")).collect()

    expected = [assess_risk(r) for r in rows]
    assert [(g.s, g.c, tuple(g.f)) for g in got] == [(e.score, e.category, e.factors) for e in expected]
    # the sample exercises every category, so agreement is not vacuous
    assert {e.category for e in expected} == {"LOW", "MEDIUM", "HIGH"}
