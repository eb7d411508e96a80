"""The weather-risk score of one flight state: one rule table, two evaluators.

:data:`RISK_RULES` is the only place the thresholds live. :func:`assess_risk` evaluates it on
plain values (dashboard, batch, tests) and :func:`risk_columns` turns the same table into Spark
column expressions (streaming, batch), so the two can never disagree
(``tests/skyrisk/test_risk.py`` checks them against each other on many rows).

Inputs are named like the contract fields: the weather variables of
:class:`skyrisk.contracts.WeatherAtPosition` plus ``on_ground`` and ``baro_altitude`` of the
state. A missing (null) input never contributes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from skyrisk.vocabulary import HIGH, LOW, MEDIUM, RiskCategory


MAX_SCORE = 100
HIGH_AT = 60
MEDIUM_AT = 30

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt}


@dataclass(frozen=True)
class Tier:
    op: Literal[">", ">=", "<"]
    threshold: float
    points: int
    factor: str  # short human text shown to the user


@dataclass(frozen=True)
class RiskRule:
    """One input; its tiers are tried most severe first and only the first match counts."""

    field: str
    tiers: tuple[Tier, ...]
    airborne_only: bool = False


RISK_RULES: tuple[RiskRule, ...] = (
    RiskRule("weather_code", (Tier(">=", 95, 40, "thunderstorm"),)),
    RiskRule(
        "wind_gusts_10m",
        (Tier(">", 80, 25, "gusts > 80 km/h"), Tier(">", 50, 10, "gusts > 50 km/h")),
    ),
    RiskRule(
        "precipitation",
        (Tier(">", 5, 20, "precipitation > 5 mm"), Tier(">", 0, 10, "precipitation")),
    ),
    RiskRule(
        "visibility",
        (Tier("<", 1000, 20, "visibility < 1000 m"), Tier("<", 3000, 10, "visibility < 3000 m")),
    ),
    RiskRule(
        "cloud_cover",
        (Tier(">", 80, 10, "cloud cover > 80 %"), Tier(">", 50, 5, "cloud cover > 50 %")),
    ),
    RiskRule(
        "baro_altitude",
        (Tier("<", 300, 15, "airborne below 300 m"),),
        airborne_only=True,
    ),
)

RISK_INPUTS: tuple[str, ...] = tuple(rule.field for rule in RISK_RULES) + ("on_ground",)


@dataclass(frozen=True)
class RiskAssessment:
    score: int
    category: RiskCategory
    factors: tuple[str, ...]


def risk_category(score: int) -> RiskCategory:
    if score >= HIGH_AT:
        return HIGH
    if score >= MEDIUM_AT:
        return MEDIUM
    return LOW


def _matching_tier(rule: RiskRule, values: Mapping[str, Any]) -> Tier | None:
    value = values.get(rule.field)
    if value is None:
        return None
    # on_ground unknown counts as airborne only when it is explicitly False.
    if rule.airborne_only and values.get("on_ground") is not False:
        return None
    for tier in rule.tiers:
        if _COMPARE[tier.op](value, tier.threshold):
            return tier
    return None


def assess_risk(values: Mapping[str, Any]) -> RiskAssessment:
    """Score plain values keyed by :data:`RISK_INPUTS` (missing keys count as null)."""
    tiers = [t for t in (_matching_tier(rule, values) for rule in RISK_RULES) if t is not None]
    score = max(0, min(MAX_SCORE, sum(t.points for t in tiers)))
    return RiskAssessment(score, risk_category(score), tuple(t.factor for t in tiers))


def risk_columns(column_of: Callable[[str], Any]) -> tuple[Any, Any, Any]:
    """``(score, category, factors)`` Spark columns from the same table.

    ``column_of(name)`` returns the Spark column of an input in :data:`RISK_INPUTS`, so callers
    decide where the weather lives (a nested struct, flat columns, ...).
    """
    from pyspark.sql import functions as F

    spark_compare = {">": lambda c, t: c > t, ">=": lambda c, t: c >= t, "<": lambda c, t: c < t}

    points, factors = [], []
    for rule in RISK_RULES:
        value = column_of(rule.field)
        guard = value.isNotNull()
        if rule.airborne_only:
            guard = guard & (column_of("on_ground") == F.lit(False))
        tier_points = tier_factor = None
        for tier in rule.tiers:
            hit = guard & spark_compare[tier.op](value, F.lit(tier.threshold))
            tier_points = (tier_points if tier_points is not None else F).when(hit, F.lit(tier.points))
            tier_factor = (tier_factor if tier_factor is not None else F).when(hit, F.lit(tier.factor))
        points.append(F.coalesce(tier_points, F.lit(0)))
        factors.append(tier_factor)

    raw_score = points[0]
    for p in points[1:]:
        raw_score = raw_score + p
    score = F.greatest(F.lit(0), F.least(F.lit(MAX_SCORE), raw_score)).cast("int")
    category = (
        F.when(score >= HIGH_AT, F.lit(HIGH)).when(score >= MEDIUM_AT, F.lit(MEDIUM)).otherwise(F.lit(LOW))
    )
    factor_list = F.filter(F.array(*factors), lambda f: f.isNotNull())
    return score, category, factor_list
