"""The alert rule: the plain-Python and Spark evaluators agree, null-safe, emergency apart from anomaly."""

from __future__ import annotations

import random

import pytest

from skyrisk.alerts import alert_flag_columns, alert_signals_column, alert_signals_of, emergency_column, emergency_of

SCHEMA = ("i long, risk_category string, risk_factors array<string>, emergency string, anomaly boolean, "
          "anomaly_reasons array<string>")


def test_emergency_of_each_squawk():
    assert emergency_of("7700") == "7700 emergency"
    assert emergency_of("7600") == "7600 radio failure"
    assert emergency_of("7500") == "7500 hijack"
    assert emergency_of("1000") is None and emergency_of(None) is None and emergency_of(7700) is None


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        # the bug on real traffic: an anomaly without an emergency raised nothing
        ({"risk_category": "LOW", "emergency": None, "anomaly": True, "anomaly_reasons": ["implausible position jump"]},
         [("ANOMALY", ["implausible position jump"])]),
        ({"risk_category": "LOW", "emergency": "7700 emergency", "anomaly": False, "anomaly_reasons": []},
         [("EMERGENCY", ["squawk 7700 emergency"])]),
        ({"risk_category": "HIGH", "risk_factors": ["thunderstorm"], "emergency": "7600 radio failure", "anomaly": True,
          "anomaly_reasons": ["vertical rate outside airliner envelope"]},
         [("HIGH_RISK", ["thunderstorm"]), ("EMERGENCY", ["squawk 7600 radio failure"]),
          ("ANOMALY", ["vertical rate outside airliner envelope"])]),
        ({"risk_category": None, "emergency": None, "anomaly": None, "anomaly_reasons": None}, []),
        ({"risk_category": "MEDIUM", "emergency": None, "anomaly": False, "anomaly_reasons": []}, []),
    ],
)
def test_alert_signals_of(state, expected):
    assert alert_signals_of(state) == expected


@pytest.mark.integration
def test_the_spark_rule_agrees_with_the_python_rule(spark):
    rng = random.Random(11)
    rows = []
    for i in range(1500):
        rows.append((
            i,
            rng.choice(["LOW", "MEDIUM", "HIGH", None]),
            rng.choice([None, [], ["thunderstorm"], ["gusts > 80 km/h", "precipitation"]]),
            rng.choice([None, None, None, "7700 emergency", "7500 hijack"]),
            rng.choice([True, False, None]),
            rng.choice([None, [], ["implausible position jump"]]),
        ))
    frame = spark.createDataFrame(rows, SCHEMA)
    flags = alert_flag_columns()
    got = frame.select("i", alert_signals_column().alias("signals"), *[c.alias(t) for t, c in flags.items()]).collect()
    names = ["i", "risk_category", "risk_factors", "emergency", "anomaly", "anomaly_reasons"]
    for row in got:
        state = dict(zip(names, rows[row.i]))
        expected = alert_signals_of(state)
        assert [(s.type, list(s.reasons)) for s in row.signals] == expected, state
        assert {t for t in flags if row[t]} == {t for t, _ in expected}, state


@pytest.mark.integration
def test_emergency_column_matches_emergency_of(spark):
    squawks = ["7700", "7600", "7500", "1000", "0770", None, ""]
    frame = spark.createDataFrame([(s,) for s in squawks], "squawk string")
    got = [r.e for r in frame.select(emergency_column(frame.squawk).alias("e")).collect()]
    assert got == [emergency_of(s) for s in squawks]
