"""Phase: the rule and its Spark twin; the traffic model: scores, training, sigma = 0, JSON, bootstrap."""

from __future__ import annotations

import pytest

from pyspark.testing import assertDataFrameEqual
from skyrisk.phase import (
    CRUISE_ALTITUDE_M,
    LEVEL_VERTICAL_RATE_MS,
    LOW_ALTITUDE_M,
    MIN_DISTANCE_SIGMA,
    PhaseModel,
    bootstrap_phase_model,
    envelope_traffic,
    phase_column,
    phase_columns,
    phase_of,
    train_phase_model,
)

pytestmark = pytest.mark.integration

SCHEMA = "icao24 string, velocity double, baro_altitude double, vertical_rate double, on_ground boolean"


def hand_model(mode="kmeans", threshold=1.0) -> PhaseModel:
    """Identity scaling, three centroids on the altitude axis: distances are easy to compute by hand."""
    return PhaseModel(
        version="t1",
        mode=mode,
        feature_means=[0.0, 0.0, 0.0],
        feature_stds=[1.0, 1000.0, 1.0],
        centroids=[[0.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 10.0, 0.0]],
        labels=["Takeoff/Landing", "Climb/Descent", "Cruise"],
        threshold=threshold if mode == "kmeans" else None,
    )


def test_json_round_trip():
    model = hand_model()
    assert PhaseModel.from_json(model.to_json()) == model


# (on_ground, altitude, vertical_rate) -> phase, written from the rule's definition by hand
PHASE_CASES = [
    ((True, None, None), "Ground"),
    ((True, 11000.0, 0.0), "Ground"),  # on_ground wins over a stale altitude
    ((False, 200.0, 3.0), "Takeoff/Landing"),
    ((False, 999.9, 0.0), "Takeoff/Landing"),
    ((False, 1000.0, 0.0), "Climb/Descent"),  # level below the cruise band
    ((False, 2999.0, 1.0), "Climb/Descent"),
    ((False, 3000.0, 2.4), "Cruise"),
    ((False, 11000.0, -2.4), "Cruise"),
    ((False, 11000.0, -2.5), "Climb/Descent"),  # the level band is open
    ((False, 8000.0, 12.0), "Climb/Descent"),
    ((False, None, 0.0), "Climb/Descent"),  # unknown altitude: neither band can be claimed
    ((False, 11000.0, None), "Climb/Descent"),  # unknown vertical rate: not known to be level
    ((False, float("nan"), 0.0), "Climb/Descent"),  # NaN counts as unknown (Spark orders it above all)
    ((False, 11000.0, float("nan")), "Climb/Descent"),
    ((False, float("nan"), float("nan")), "Climb/Descent"),
]


@pytest.mark.parametrize(("inputs", "expected"), PHASE_CASES)
def test_phase_of_follows_the_rule(inputs, expected):
    assert phase_of(*inputs) == expected


def test_the_spark_phase_agrees_with_the_python_rule(spark):
    import random

    rng = random.Random(7)
    specials = [None, float("nan"), 0.0, LOW_ALTITUDE_M, CRUISE_ALTITUDE_M, LEVEL_VERTICAL_RATE_MS, -LEVEL_VERTICAL_RATE_MS]
    rows = [(i, *inputs) for i, (inputs, _) in enumerate(PHASE_CASES)]
    for i in range(len(rows), 2000):
        pick = lambda low, high: rng.choice(specials) if rng.random() < 0.2 else rng.uniform(low, high)  # noqa: E731
        rows.append((i, rng.random() < 0.1, pick(-100, 13000), pick(-30, 30)))
    frame = spark.createDataFrame(rows, "i long, on_ground boolean, altitude double, vertical_rate double")
    got = {r.i: r.phase for r in frame.select("i", phase_column(frame.on_ground, frame.altitude, frame.vertical_rate).alias("phase")).collect()}
    assert got == {i: phase_of(g, a, v) for i, g, a, v in rows}


def test_phase_columns_take_the_rule_phase_and_score_by_the_nearest_centroid(spark):
    rows = [
        ("a", 0.0, 500.0, 0.0, False),  # scaled alt 0.5 -> centroid 0, distance 0.5
        ("b", 0.0, 5000.0, 0.0, False),  # exactly centroid 1
        ("d", 2.0, 10000.0, 0.0, False),  # centroid 2 at distance 2.0
        ("e", 0.0, 0.0, 0.0, True),  # on the ground: no score
        ("f", 50.0, 100.0, None, False),  # missing feature: no score
    ]
    got = phase_columns(spark.createDataFrame(rows, SCHEMA), hand_model()).select("icao24", "phase", "anomaly_score")
    expected = spark.createDataFrame(
        [
            ("a", "Takeoff/Landing", 0.5),
            ("b", "Cruise", 0.0),
            ("d", "Cruise", 2.0),
            ("e", "Ground", None),
            ("f", "Takeoff/Landing", None),
        ],
        "icao24 string, phase string, anomaly_score double",
    )
    assertDataFrameEqual(got, expected)


def test_rules_mode_has_no_score(spark):
    rows = [("c", 230.0, 11000.0, 1.0, False), ("e", 0.0, 0.0, 0.0, True)]
    got = phase_columns(spark.createDataFrame(rows, SCHEMA), hand_model(mode="rules")).select("icao24", "phase", "anomaly_score")
    expected = spark.createDataFrame([("c", "Cruise", None), ("e", "Ground", None)], "icao24 string, phase string, anomaly_score double")
    assertDataFrameEqual(got, expected)


def test_training_sorts_clusters_by_altitude_names_them_by_the_rule_and_ignores_ground(spark):
    model = train_phase_model(
        spark.createDataFrame([("x", *r) for r in envelope_traffic(1000)], SCHEMA), version="v-test"
    )
    assert model.mode == "kmeans"
    altitudes = [c[1] * model.feature_stds[1] + model.feature_means[1] for c in model.centroids]
    assert altitudes == sorted(altitudes)
    assert altitudes[0] < CRUISE_ALTITUDE_M < altitudes[2]
    assert len(model.labels) == 3 and "Ground" not in model.labels
    assert model.metrics["rows"] == 800  # 200 of 1000 envelope states are on the ground
    assert model.threshold > model.metrics["distance_mean"]
    assert model.bootstrap is False


def test_homogeneous_traffic_falls_back_to_rules(spark):
    # identical points: every feature has sigma 0 and there is one distinct point for k=3
    rows = [("x", 230.0, 11000.0, 0.0, False)] * 50
    model = train_phase_model(spark.createDataFrame(rows, SCHEMA), version="flat")
    assert model.mode == "rules"
    assert model.threshold is None
    assert model.feature_stds == [1.0, 1.0, 1.0]  # sigma = 0 replaced, no division by zero
    assert model.metrics["centroid_separation"] < 1.0


def test_sigma_zero_of_distances_gets_a_floor(spark):
    # Three exact clusters of identical points: every training distance is 0, so sigma is 0.
    rows = [("x", 80.0, 100.0, 5.0, False)] * 20 + [("y", 180.0, 5000.0, 10.0, False)] * 20 + [
        ("z", 240.0, 11000.0, 0.0, False)
    ] * 20
    model = train_phase_model(spark.createDataFrame(rows, SCHEMA), version="exact")
    assert model.mode == "kmeans"
    assert model.metrics["distance_mean"] == pytest.approx(0.0, abs=1e-9)
    assert model.threshold == pytest.approx(2 * MIN_DISTANCE_SIGMA)
    assert model.metrics["fraction_flagged"] == 0.0


def test_bootstrap_model_is_marked(spark):
    model = bootstrap_phase_model(spark, version="bootstrap-test")
    assert model.bootstrap is True
    assert model.mode == "kmeans"
    assert model.version == "bootstrap-test"
