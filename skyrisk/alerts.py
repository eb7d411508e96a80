"""Which alerts one enriched state raises: one rule, a Spark and a plain-Python evaluator.

The streaming job opens alert episodes from :func:`alert_signals_column`; the nightly batch
counts episodes and daily alerts from :func:`alert_flag_columns`; tests and the dashboard use
:func:`alert_signals_of`. All three read :data:`ALERT_RULES`, so stream and batch agree on what
an alert is (``tests/skyrisk/test_alerts.py`` checks the evaluators against each other).

- ``HIGH_RISK``: risk category HIGH; reasons = the risk factors.
- ``EMERGENCY``: an emergency squawk (7500/7600/7700); reason = ``squawk <meaning>``.
- ``ANOMALY``: the state's behaviour is anomalous (``anomaly``, see :mod:`skyrisk.behaviour`);
  reasons = the anomaly reasons. An emergency alone is no anomaly.

A missing (null) input never raises an alert, and never hides another one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skyrisk.vocabulary import ALERT_TYPES, ANOMALY, EMERGENCY, EMERGENCY_SQUAWKS, HIGH, HIGH_RISK

EMERGENCY_REASON_PREFIX = "squawk "


@dataclass(frozen=True)
class AlertRule:
    type: str
    field: str  # the input column the condition reads
    description: str


ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule(HIGH_RISK, "risk_category", "weather risk category HIGH"),
    AlertRule(EMERGENCY, "emergency", "emergency squawk 7500/7600/7700"),
    AlertRule(ANOMALY, "anomaly", "anomalous behaviour that persists (or a position jump)"),
)
assert {r.type for r in ALERT_RULES} == set(ALERT_TYPES), "every AlertType needs its rule"


# --- emergencies ------------------------------------------------------------------------------------
def emergency_of(squawk: str | None) -> str | None:
    """The emergency a squawk declares (``"7700 emergency"``), else None."""
    return EMERGENCY_SQUAWKS.get(squawk) if isinstance(squawk, str) else None


def emergency_column(squawk: Any) -> Any:
    """:func:`emergency_of` as a Spark column (null when no emergency)."""
    from pyspark.sql import functions as F

    column = None
    for code, text in EMERGENCY_SQUAWKS.items():
        column = (F if column is None else column).when(squawk == F.lit(code), F.lit(text))
    return column


# --- plain Python ------------------------------------------------------------------------------------
def _raises(rule: AlertRule, state: Mapping[str, Any]) -> bool:
    value = state.get(rule.field)
    if rule.type == HIGH_RISK:
        return value == HIGH
    if rule.type == EMERGENCY:
        return value is not None
    return value is True


def _reasons(rule: AlertRule, state: Mapping[str, Any]) -> list[str]:
    if rule.type == HIGH_RISK:
        return list(state.get("risk_factors") or [])
    if rule.type == EMERGENCY:
        return [EMERGENCY_REASON_PREFIX + state["emergency"]]
    return list(state.get("anomaly_reasons") or [])


def alert_signals_of(state: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """``[(alert type, reasons), ...]`` that one enriched state raises, in :data:`ALERT_RULES` order."""
    return [(rule.type, _reasons(rule, state)) for rule in ALERT_RULES if _raises(rule, state)]


# --- Spark ----------------------------------------------------------------------------------------
def alert_flag_columns() -> dict[str, Any]:
    """``{alert type: boolean column}`` over the EnrichedState columns; never null."""
    from pyspark.sql import functions as F

    conditions = {
        HIGH_RISK: F.col("risk_category") == F.lit(HIGH),
        EMERGENCY: F.col("emergency").isNotNull(),
        ANOMALY: F.col("anomaly") == F.lit(True),
    }
    return {rule.type: F.coalesce(conditions[rule.type], F.lit(False)) for rule in ALERT_RULES}


def alert_signals_column() -> Any:
    """``array<struct<type: string, reasons: array<string>>>`` of the alerts a state raises."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    no_reasons = F.array().cast(T.ArrayType(T.StringType()))
    reasons = {
        HIGH_RISK: F.coalesce(F.col("risk_factors"), no_reasons),
        EMERGENCY: F.array(F.concat(F.lit(EMERGENCY_REASON_PREFIX), F.col("emergency"))),
        ANOMALY: F.coalesce(F.col("anomaly_reasons"), no_reasons),
    }
    flags = alert_flag_columns()
    signals = F.array(
        *[F.when(flags[r.type], F.struct(F.lit(r.type).alias("type"), reasons[r.type].alias("reasons"))) for r in ALERT_RULES]
    )
    return F.filter(signals, lambda s: s.isNotNull())
