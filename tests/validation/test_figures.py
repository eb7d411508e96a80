"""The validation figures on small hand-made tables."""

from __future__ import annotations

import pandas as pd

from validation.figures import Figure, figures
from validation.inject import Injection

COLUMNS = ["icao24", "event_time", "on_ground", "baro_altitude", "vertical_rate", "phase", "anomaly"]


def test_figures_count_what_the_targets_define():
    rows = pd.DataFrame([
        ("a", 1.0, False, 9000.0, 0.0, "Cruise", False),
        ("a", 2.0, False, 9000.0, 1.0, "Climb/Descent", True),  # cruise-like but not Cruise; anomalous
        ("a", 3.0, False, 9000.0, 5.0, "Climb/Descent", False),  # not level: not cruise-like
        ("b", 1.0, True, None, None, "Ground", False),
        ("c", 1.0, False, 500.0, 0.0, "Takeoff/Landing", False),
        ("f10000", 1.0, False, 9000.0, 60.0, "Climb/Descent", True),  # injected: not ordinary traffic
    ], columns=COLUMNS)
    alerts = [
        {"icao24": "a", "type": "ANOMALY", "started_at": 2.0, "last_seen": 2.0},
        {"icao24": "f10000", "type": "ANOMALY", "started_at": 130.0, "last_seen": 200.0},
        {"icao24": "f40000", "type": "ANOMALY", "started_at": 10.0, "last_seen": 20.0},  # the wrong type for 7700
    ]
    manifest = [Injection("f10000", "a", "vertical_rate", 10.0, 70.0, "ANOMALY"),
                Injection("f10001", "a", "vertical_rate", 10.0, 70.0, "ANOMALY"),
                Injection("f40000", "a", "squawk_7700", 10.0, 70.0, "EMERGENCY")]
    got = {f.name: (f.numerator, f.denominator) for f in figures(rows, alerts, manifest)}
    assert got == {
        "cruise-like rows labelled Cruise": (1, 2),
        "on-ground rows labelled Ground": (1, 1),
        "ordinary aircraft with an ANOMALY episode": (1, 3),
        "ordinary rows flagged anomalous": (1, 5),
        # f10000's episode opens 60 s after the fault ended (the grace): caught; f10001 has none
        "injected vertical_rate raising ANOMALY": (1, 2),
        "injected squawk_7700 raising EMERGENCY": (0, 1),
    }


def test_a_figure_meets_its_target_only_with_data():
    assert Figure("x", 95.0, ">= 95", 95, 100).met
    assert not Figure("x", 94.9, ">= 95", 949, 1000).met
    assert Figure("x", 0.5, "<= 0.5", 5, 1000).met and not Figure("x", 0.6, "<= 0.5", 6, 1000).met
    assert not Figure("x", 0.0, "<= 5", 0, 0).met  # nothing measured is no pass
