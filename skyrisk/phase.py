"""Flight phase (physical rules) and the learned traffic model behind ``anomaly_score``.

**Phase** is a rule over what the state reports, modelled on OpenAP's phase detection (the
open reference): on the ground -> ``Ground``; airborne below :data:`LOW_ALTITUDE_M` ->
``Takeoff/Landing``; level (|vertical rate| < :data:`LEVEL_VERTICAL_RATE_MS`) at or above
:data:`CRUISE_ALTITUDE_M` -> ``Cruise``; otherwise ``Climb/Descent``. One table, two
evaluators: :func:`phase_of` (plain Python) and :func:`phase_column` (Spark), tested to agree.
On real trajectories a K-Means clustering labelled by mean altitude (the earlier scheme) put
most level cruise into another cluster: its clusters follow the traffic mix (around an airport
most traffic climbs or descends), not the physics.

**The traffic model** (:class:`PhaseModel`, trained nightly by the batch job) is K-Means (k=3)
over velocity, baro_altitude and vertical_rate, standard-scaled (a constant feature is only
centred). ``anomaly_score`` is a state's distance to the nearest centroid in sigma units: how
unusual its kinematics are for the traffic the model was trained on. It is shown to users and
never raises an alert by itself -- anomalies are behaviour (see :mod:`skyrisk.behaviour`): a
fixed share of any distribution lies beyond a mean + 2 sigma threshold by construction.
"""

from __future__ import annotations

import json
import math
import time
import typing
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from skyrisk.vocabulary import CLIMB_DESCENT, CRUISE, GROUND, TAKEOFF_LANDING

# --- the phase rule (SI units) ----------------------------------------------------------------
LOW_ALTITUDE_M = 1000.0  # ~3,300 ft: initial climb and final approach
CRUISE_ALTITUDE_M = 3000.0  # ~FL100: level flight above it is cruise (turboprops cruise at FL170-250)
LEVEL_VERTICAL_RATE_MS = 2.5  # ~500 ft/min, OpenAP's level-flight band


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def phase_of(on_ground: bool | None, altitude: float | None, vertical_rate: float | None) -> str:
    """The phase of one state (plain Python; :func:`phase_column` is its Spark twin).

    ``altitude`` is the barometric altitude, else the GNSS one; NaN counts as unknown. An
    airborne state of unknown altitude is ``Climb/Descent``: neither altitude band can be claimed.
    """
    if on_ground:
        return GROUND
    altitude, vertical_rate = _finite(altitude), _finite(vertical_rate)
    if altitude is not None and altitude < LOW_ALTITUDE_M:
        return TAKEOFF_LANDING
    if altitude is not None and vertical_rate is not None and altitude >= CRUISE_ALTITUDE_M \
            and abs(vertical_rate) < LEVEL_VERTICAL_RATE_MS:
        return CRUISE
    return CLIMB_DESCENT


def phase_column(on_ground: Any, altitude: Any, vertical_rate: Any) -> Any:
    """:func:`phase_of` as a Spark column expression over three columns."""
    from pyspark.sql import functions as F

    def finite(c: Any) -> Any:  # Spark orders NaN above every number: treat it as null
        return F.when(~F.isnan(c), c)

    alt, vr = finite(altitude), finite(vertical_rate)
    return (
        F.when(on_ground == F.lit(True), F.lit(GROUND))
        .when(alt < F.lit(LOW_ALTITUDE_M), F.lit(TAKEOFF_LANDING))
        .when((alt >= F.lit(CRUISE_ALTITUDE_M)) & (F.abs(vr) < F.lit(LEVEL_VERTICAL_RATE_MS)), F.lit(CRUISE))
        .otherwise(F.lit(CLIMB_DESCENT))
    )


def state_phase_column(columns: Any) -> Any:
    """The phase of the contract's state columns: baro altitude, else GNSS altitude where the
    frame (with these ``columns``) has one."""
    from pyspark.sql import functions as F

    altitude = F.col("baro_altitude")
    if "geo_altitude" in columns:
        altitude = F.coalesce(altitude, F.col("geo_altitude"))
    return phase_column(F.col("on_ground"), altitude, F.col("vertical_rate"))


# --- the traffic model ------------------------------------------------------------------------
FEATURES: tuple[str, ...] = ("velocity", "baro_altitude", "vertical_rate")
ALTITUDE_INDEX = FEATURES.index("baro_altitude")
VERTICAL_RATE_INDEX = FEATURES.index("vertical_rate")
K = 3
SEED = 42
MIN_CENTROID_SEPARATION = 1.0
ANOMALY_SIGMAS = 2.0  # the model's "unusual" score (informational)
# Distances are in scaled (sigma) units; below this spread the threshold would sit on float noise.
MIN_DISTANCE_SIGMA = 0.05

PhaseMode = Literal["kmeans", "rules"]


@dataclass
class PhaseModel:
    version: str
    mode: PhaseMode
    feature_means: list[float]
    feature_stds: list[float]  # never 0: a constant feature gets 1.0
    centroids: list[list[float]]  # scaled space, sorted by altitude
    labels: list[str]  # the rule phase at each centroid (for inspection)
    threshold: float | None  # score above which a state is unusual for this traffic; None in rules mode
    metrics: dict[str, float] = field(default_factory=dict)
    trained_at: float = 0.0
    bootstrap: bool = False
    features: list[str] = field(default_factory=lambda: list(FEATURES))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "PhaseModel":
        """A stored model; ValueError when it cannot score a state (it would fail every batch)."""
        try:
            model = cls(**json.loads(text))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a phase model: {exc}") from None
        model.check()
        return model

    def check(self) -> None:
        width = len(self.features)
        numbers = [*self.feature_means, *self.feature_stds, *(v for c in self.centroids for v in c)]
        if self.mode not in typing.get_args(PhaseMode):
            raise ValueError(f"unknown mode {self.mode!r}")
        if len(self.feature_means) != width or len(self.feature_stds) != width:
            raise ValueError(f"means/stds do not have one value per feature ({width})")
        if self.mode == "kmeans" and not self.centroids:
            raise ValueError("a kmeans model without centroids")
        if any(len(c) != width for c in self.centroids) or len(self.labels) != len(self.centroids):
            raise ValueError("centroids and labels do not match the features")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers) or any(v <= 0 for v in self.feature_stds):
            raise ValueError("a mean, std or centroid is not a finite number (or a std is not positive)")


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
        # Each cluster named by the phase rule at its centre (for inspection; phase is the rule's).
        labels = [_centre_phase(c, means, stds) for c in centers] if len(centers) == K else []
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


def _centre_phase(centre: list[float], means: list[float], stds: list[float]) -> str:
    original = [c * sd + m for c, sd, m in zip(centre, stds, means)]
    return phase_of(False, original[ALTITUDE_INDEX], original[VERTICAL_RATE_INDEX])


def phase_columns(df: Any, model: PhaseModel) -> Any:
    """Add ``phase`` (the rule, :func:`state_phase_column`) and ``anomaly_score`` (double or null).

    The score is the distance to the model's nearest centroid, for airborne states with every
    feature; none in rules mode (homogeneous training traffic has no meaningful clusters).
    """
    from pyspark.sql import functions as F

    score = F.lit(None).cast("double")
    if model.mode == "kmeans":
        complete = F.col("on_ground") == F.lit(False)
        for n in FEATURES:
            complete = complete & F.col(n).isNotNull() & ~F.isnan(F.col(n))
        _, distance = _nearest(_scaled_columns(model.feature_means, model.feature_stds), model.centroids, model.labels)
        score = F.when(complete, distance)
    return df.withColumns({"phase": state_phase_column(df.columns), "anomaly_score": score})


def envelope_traffic(count: int = 3000, seed: int = SEED) -> list[tuple[float, float, float, bool]]:
    """States (velocity, baro_altitude, vertical_rate, on_ground) drawn from airliner envelopes.

    The bootstrap model's training data until the batch job trains on real history. Shares and
    ranges follow real traffic (the validation set, 2021-10-07 around Paris): a fifth of the
    rows on the ground, ~20 % below 1,000 m at 40-140 m/s, ~60 % climbing or descending at
    2.5-20 m/s with speed rising with altitude (~80 m/s low, ~230 m/s near FL350), the rest
    level cruise at 3,000-12,000 m.
    """
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(count):
        kind = i % 20
        sign = rng.choice((-1.0, 1.0))
        if kind < 4:
            rows.append((rng.uniform(0, 15), 0.0, 0.0, True))
        elif kind < 8:
            rows.append((rng.uniform(40, 140), rng.uniform(0, LOW_ALTITUDE_M), sign * rng.uniform(0, 12), False))
        elif kind < 17:
            altitude = rng.uniform(LOW_ALTITUDE_M, 11_500)
            speed = 80 + 0.013 * altitude + rng.gauss(0, 15)
            rows.append((speed, altitude, sign * rng.uniform(LEVEL_VERTICAL_RATE_MS, 20), False))
        else:
            altitude = rng.uniform(CRUISE_ALTITUDE_M, 12_000)
            rows.append((90 + 0.013 * altitude + rng.gauss(0, 15), altitude, rng.uniform(-1.5, 1.5), False))
    return rows


def bootstrap_phase_model(spark: Any, *, version: str | None = None) -> PhaseModel:
    """A model trained on :func:`envelope_traffic`, marked ``bootstrap`` until batch trains one."""
    frame = spark.createDataFrame(envelope_traffic(), "velocity double, baro_altitude double, vertical_rate double, on_ground boolean")
    return train_phase_model(frame, version=version or f"bootstrap-{int(time.time())}", bootstrap=True)
