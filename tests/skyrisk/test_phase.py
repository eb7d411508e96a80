"""Phase model: labelling by altitude, rule fallback, sigma = 0, anomaly threshold, JSON, store."""

from __future__ import annotations

import pytest

from pyspark.testing import assertDataFrameEqual
from skyrisk.phase import (
    LABELS_BY_ALTITUDE,
    MIN_DISTANCE_SIGMA,
    PhaseModel,
    bootstrap_phase_model,
    phase_columns,
    synthetic_traffic,
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
        labels=list(LABELS_BY_ALTITUDE),
        threshold=threshold if mode == "kmeans" else None,
    )


def test_json_round_trip():
    model = hand_model()
    assert PhaseModel.from_json(model.to_json()) == model


def test_phase_columns_label_by_nearest_centroid_ground_and_anomaly(spark):
    rows = [
        ("a", 0.0, 500.0, 0.0, False),  # scaled alt 0.5 -> centroid 0, distance 0.5
        ("b", 0.0, 5000.0, 0.0, False),  # exactly centroid 1
        ("c", 0.0, 9000.0, 0.0, False),  # centroid 2, distance 1.0 == threshold: not an anomaly
        ("d", 2.0, 10000.0, 0.0, False),  # centroid 2, distance 2.0 > 1.0: anomaly
        ("e", 0.0, 0.0, 0.0, True),  # on the ground
        ("f", 50.0, 100.0, None, False),  # missing feature: rule phase, no score
    ]
    got = phase_columns(spark.createDataFrame(rows, SCHEMA), hand_model()).select(
        "icao24", "phase", "anomaly_score", "model_anomaly"
    )
    expected = spark.createDataFrame(
        [
            ("a", "Takeoff/Landing", 0.5, False),
            ("b", "Climb/Descent", 0.0, False),
            ("c", "Cruise", 1.0, False),
            ("d", "Cruise", 2.0, True),
            ("e", "Ground", None, False),
            ("f", "Takeoff/Landing", None, False),
        ],
        "icao24 string, phase string, anomaly_score double, model_anomaly boolean",
    )
    assertDataFrameEqual(got, expected)


def test_rules_mode_uses_rules_and_never_centroids(spark):
    rows = [
        ("a", 50.0, 200.0, 3.0, False),  # low and slow
        ("b", 70.0, 200.0, 3.0, False),  # low but fast: climb/descent
        ("c", 230.0, 11000.0, 1.0, False),  # high and level
        ("d", 230.0, 11000.0, -3.0, False),  # high but descending
        ("e", 0.0, 0.0, 0.0, True),
    ]
    got = phase_columns(spark.createDataFrame(rows, SCHEMA), hand_model(mode="rules")).select(
        "icao24", "phase", "anomaly_score", "model_anomaly"
    )
    expected = spark.createDataFrame(
        [
            ("a", "Takeoff/Landing", None, False),
            ("b", "Climb/Descent", None, False),
            ("c", "Cruise", None, False),
            ("d", "Climb/Descent", None, False),
            ("e", "Ground", None, False),
        ],
        "icao24 string, phase string, anomaly_score double, model_anomaly boolean",
    )
    assertDataFrameEqual(got, expected)


def test_training_labels_clusters_by_altitude_and_ignores_ground(spark):
    model = train_phase_model(
        spark.createDataFrame([("x", *r) for r in synthetic_traffic(900)], SCHEMA), version="v-test"
    )
    assert model.mode == "kmeans"
    assert model.labels == list(LABELS_BY_ALTITUDE)
    altitudes = [c[1] * model.feature_stds[1] + model.feature_means[1] for c in model.centroids]
    assert altitudes == sorted(altitudes)
    # synthetic groups: 0-900 m, 1500-8000 m, 9500-12500 m
    assert altitudes[0] < 3000 and altitudes[2] > 9000
    assert model.metrics["rows"] == 810  # 90 of 900 synthetic states are on the ground
    assert model.threshold > model.metrics["distance_mean"]
    assert 0.0 < model.metrics["fraction_flagged"] < 0.1
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
