"""Flight phase and model-based anomaly: train once, apply as pure column expressions.

The batch job trains a :class:`PhaseModel` on history with :func:`train_phase_model`; the
streaming job applies it with :func:`phase_columns`. The scheme (see the reference notes on
prior art) with its known flaws fixed:

- only airborne states train and get a model phase; on-ground states are ``Ground``;
- features velocity, baro_altitude, vertical_rate standard-scaled; a constant feature
  (sigma = 0) is only centred, never divided by zero;
- K-Means k=3, clusters labelled by mean altitude (Takeoff/Landing < Climb/Descent < Cruise);
- homogeneous traffic (largest centroid distance < 1.0) uses the rule fallback *and* no
  centroid-based anomalies (the rejected centroids are kept in the file only for inspection);
- anomaly when the distance to the own centroid exceeds mean + 2 sigma of the training
  distances, with a floor on sigma so identical training points don't flag float noise;
- the model is trained once and versioned, so labels don't jump between micro-batches.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FEATURES: tuple[str, ...] = ("velocity", "baro_altitude", "vertical_rate")
ALTITUDE_INDEX = FEATURES.index("baro_altitude")
K = 3
SEED = 42
LABELS_BY_ALTITUDE: tuple[str, ...] = ("Takeoff/Landing", "Climb/Descent", "Cruise")
GROUND = "Ground"
MIN_CENTROID_SEPARATION = 1.0
ANOMALY_SIGMAS = 2.0
# Distances are in scaled (sigma) units; below this spread the threshold would sit on float noise.
MIN_DISTANCE_SIGMA = 0.05

# Rule fallback (SI units), also used for airborne states with a missing feature.
RULE_LOW_ALTITUDE_M = 300.0
RULE_LOW_VELOCITY_MS = 60.0
RULE_CRUISE_ALTITUDE_M = 3000.0
RULE_LEVEL_VERTICAL_RATE_MS = 2.5

PhaseMode = Literal["kmeans", "rules"]


@dataclass
class PhaseModel:
    version: str
    mode: PhaseMode
    feature_means: list[float]
    feature_stds: list[float]  # never 0: a constant feature gets 1.0
    centroids: list[list[float]]  # scaled space, in the order of ``labels``
    labels: list[str]
    threshold: float | None  # None in rules mode: no centroid anomalies
    metrics: dict[str, float] = field(default_factory=dict)
    trained_at: float = 0.0
    bootstrap: bool = False
    features: list[str] = field(default_factory=lambda: list(FEATURES))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "PhaseModel":
        return cls(**json.loads(text))


def _distance(a: list[float], b: list[float]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def max_centroid_separation(centroids: list[list[float]]) -> float:
    pairs = [(a, b) for i, a in enumerate(centroids) for b in centroids[i + 1 :]]
    return max((_distance(a, b) for a, b in pairs), default=0.0)


def _usable_std(std: float | None, mean: float) -> float:
    """Sigma for scaling; a constant feature (sigma 0 up to float noise) is only centred."""
    std = float(std or 0.0)
    return std if std > 1e-9 * max(1.0, abs(mean)) else 1.0


def _airborne_with_features(df: Any) -> Any:
    from pyspark.sql import functions as F

    usable = F.col("on_ground") == F.lit(False)
    for name in FEATURES:
        usable = usable & F.col(name).isNotNull() & ~F.isnan(F.col(name))
    return df.where(usable).select(*[F.col(n).cast("double").alias(n) for n in FEATURES])


def _scaled_columns(means: list[float], stds: list[float]) -> list[Any]:
    from pyspark.sql import functions as F

    return [(F.col(n) - F.lit(m)) / F.lit(s) for n, m, s in zip(FEATURES, means, stds)]


def _distance_column(scaled: list[Any], centroid: list[float]) -> Any:
    from pyspark.sql import functions as F

    total = None
    for column, c in zip(scaled, centroid):
        term = F.pow(column - F.lit(c), 2)
        total = term if total is None else total + term
    return F.sqrt(total)


def _nearest(scaled: list[Any], centroids: list[list[float]], labels: list[str]) -> tuple[Any, Any]:
    """(label, distance) of the nearest centroid as columns."""
    from pyspark.sql import functions as F

    distances = [_distance_column(scaled, c) for c in centroids]
    nearest = F.least(*distances) if len(distances) > 1 else distances[0]
    label = None
    for d, name in zip(distances, labels):
        label = (F if label is None else label).when(d == nearest, F.lit(name))
    return label, nearest


def train_phase_model(df: Any, *, version: str, bootstrap: bool = False) -> PhaseModel:
    """Fit the model on the airborne rows of a DataFrame with the :data:`FEATURES` columns."""
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import functions as F

    airborne = _airborne_with_features(df).cache()
    try:
        stats = airborne.agg(
            F.count(F.lit(1)).alias("rows"),
            *[F.mean(n).alias(f"mean_{n}") for n in FEATURES],
            *[F.stddev_pop(n).alias(f"std_{n}") for n in FEATURES],
        ).first()
        rows = int(stats["rows"])
        if rows == 0:
            raise ValueError("no airborne rows with velocity, baro_altitude and vertical_rate to train on")
        means = [float(stats[f"mean_{n}"]) for n in FEATURES]
        stds = [_usable_std(stats[f"std_{n}"], mean) for n, mean in zip(FEATURES, means)]

        scaled = _scaled_columns(means, stds)
        scaled_df = airborne.select(*[c.alias(f"s_{n}") for c, n in zip(scaled, FEATURES)])
        vectors = VectorAssembler(inputCols=[f"s_{n}" for n in FEATURES], outputCol="features").transform(scaled_df)
        fitted = KMeans(k=K, seed=SEED, featuresCol="features").fit(vectors)
        centers = [[float(x) for x in c] for c in fitted.clusterCenters()]
        # Fewer distinct points than k gives duplicate centres: treat like homogeneous traffic.
        centers.sort(key=lambda c: c[ALTITUDE_INDEX])
        labels = list(LABELS_BY_ALTITUDE[: len(centers)]) if len(centers) == K else []
        separation = max_centroid_separation(centers)
        mode: PhaseMode = "kmeans" if len(centers) == K and separation >= MIN_CENTROID_SEPARATION else "rules"

        metrics: dict[str, float] = {"rows": float(rows), "centroid_separation": separation}
        threshold = None
        if mode == "kmeans":
            scaled_cols = [F.col(f"s_{n}") for n in FEATURES]
            _, distance = _nearest(scaled_cols, centers, labels)
            dist = scaled_df.select(distance.alias("d")).agg(
                F.mean("d").alias("mean"), F.stddev_pop("d").alias("std")
            ).first()
            sigma = max(float(dist["std"] or 0.0), MIN_DISTANCE_SIGMA)
            threshold = float(dist["mean"]) + ANOMALY_SIGMAS * sigma
            flagged = scaled_df.where(distance > F.lit(threshold)).count()
            metrics.update(distance_mean=float(dist["mean"]), distance_std=sigma, fraction_flagged=flagged / rows)
        else:
            metrics["fraction_flagged"] = 0.0
        return PhaseModel(
            version=version,
            mode=mode,
            feature_means=means,
            feature_stds=stds,
            centroids=centers,
            labels=labels,
            threshold=threshold,
            metrics=metrics,
            trained_at=time.time(),
            bootstrap=bootstrap,
        )
    finally:
        airborne.unpersist()


def _rule_phase() -> Any:
    from pyspark.sql import functions as F

    alt, vel, vr = F.col("baro_altitude"), F.col("velocity"), F.col("vertical_rate")
    return (
        F.when((alt < RULE_LOW_ALTITUDE_M) & (vel < RULE_LOW_VELOCITY_MS), F.lit("Takeoff/Landing"))
        .when((alt > RULE_CRUISE_ALTITUDE_M) & (F.abs(vr) < RULE_LEVEL_VERTICAL_RATE_MS), F.lit("Cruise"))
        .otherwise(F.lit("Climb/Descent"))
    )


def phase_columns(df: Any, model: PhaseModel) -> Any:
    """Add ``phase`` (str), ``anomaly_score`` (double or null) and ``model_anomaly`` (bool).

    Needs the columns ``on_ground`` and :data:`FEATURES`. Airborne states with a missing feature
    get the rule phase and no score.
    """
    from pyspark.sql import functions as F

    on_ground = F.col("on_ground") == F.lit(True)
    complete = None
    for n in FEATURES:
        ok = F.col(n).isNotNull() & ~F.isnan(F.col(n))
        complete = ok if complete is None else complete & ok

    if model.mode == "kmeans":
        scaled = _scaled_columns(model.feature_means, model.feature_stds)
        label, distance = _nearest(scaled, model.centroids, model.labels)
        phase = F.when(on_ground, F.lit(GROUND)).when(complete, label).otherwise(_rule_phase())
        score = F.when(~on_ground & complete, distance)
        anomaly = F.coalesce(score > F.lit(model.threshold), F.lit(False))
    else:
        phase = F.when(on_ground, F.lit(GROUND)).otherwise(_rule_phase())
        score = F.lit(None).cast("double")
        anomaly = F.lit(False)
    return df.withColumns({"phase": phase, "anomaly_score": score, "model_anomaly": anomaly})


def synthetic_traffic(count: int = 3000, seed: int = SEED) -> list[tuple[float, float, float, bool]]:
    """Simulator-like states (velocity, baro_altitude, vertical_rate, on_ground) for a bootstrap model.

    A third each of low/slow takeoffs and landings, climbs and descents, and level cruise, plus
    a few on the ground (which training must ignore).
    """
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(count):
        kind = i % 10
        if kind == 9:
            rows.append((rng.uniform(0, 15), 0.0, 0.0, True))
        elif kind < 3:
            rows.append((rng.uniform(65, 95), rng.uniform(0, 900), rng.choice([-1, 1]) * rng.uniform(2, 8), False))
        elif kind < 6:
            rows.append((rng.uniform(120, 220), rng.uniform(1500, 8000), rng.choice([-1, 1]) * rng.uniform(4, 15), False))
        else:
            rows.append((rng.uniform(210, 260), rng.uniform(9500, 12500), rng.uniform(-0.5, 0.5), False))
    return rows


def bootstrap_phase_model(spark: Any, *, version: str | None = None) -> PhaseModel:
    """A model trained on :func:`synthetic_traffic`, marked ``bootstrap`` until batch trains one."""
    frame = spark.createDataFrame(synthetic_traffic(), "velocity double, baro_altitude double, vertical_rate double, on_ground boolean")
    return train_phase_model(frame, version=version or f"bootstrap-{int(time.time())}", bootstrap=True)
