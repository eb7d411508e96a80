"""The validation figures and their targets (issue: right on real traffic). Pure: pandas in, rows out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from skyrisk.vocabulary import ANOMALY, CRUISE, GROUND
from validation.inject import KINDS, Injection

CRUISE_LIKE_ALTITUDE_M = 7600.0
CRUISE_LIKE_VERTICAL_RATE_MS = 2.5
ALERT_GRACE_S = 60.0  # an alert for an injected fault may open up to this long after it ended


@dataclass(frozen=True)
class Figure:
    name: str
    value: float  # percent
    target: str  # ">= 95" / "<= 5"
    numerator: int
    denominator: int

    @property
    def met(self) -> bool:
        op, bound = self.target.split()
        return self.denominator > 0 and (self.value >= float(bound) if op == ">=" else self.value <= float(bound))

    def line(self) -> str:
        verdict = "PASS" if self.met else "FAIL"
        return f"{self.name:<58} {self.value:7.2f} %  target {self.target:>5} %  {verdict}  ({self.numerator:,} / {self.denominator:,})"


def _percent(numerator: int, denominator: int) -> float:
    return 100.0 * numerator / denominator if denominator else 0.0


def figures(rows: pd.DataFrame, alerts: Iterable[Mapping[str, Any]], manifest: list[Injection]) -> list[Figure]:
    """``rows``: the enriched states (icao24, event_time, on_ground, baro_altitude, vertical_rate,
    phase, anomaly); ``alerts``: the alert episode documents; ``manifest``: the injected copies."""
    alerts = list(alerts)
    injected = {m.icao24 for m in manifest}
    ordinary = rows[~rows["icao24"].isin(injected)]
    airborne = ordinary["on_ground"] == False  # noqa: E712 - a pandas mask
    cruise_like = ordinary[airborne & (ordinary["baro_altitude"] > CRUISE_LIKE_ALTITUDE_M)
                           & (ordinary["vertical_rate"].abs() < CRUISE_LIKE_VERTICAL_RATE_MS)]
    ground = ordinary[ordinary["on_ground"] == True]  # noqa: E712
    aircraft = set(ordinary["icao24"])
    with_anomaly = {a["icao24"] for a in alerts if a["type"] == ANOMALY} & aircraft
    result = [
        Figure("cruise-like rows labelled Cruise", _percent(int((cruise_like["phase"] == CRUISE).sum()), len(cruise_like)),
               ">= 95", int((cruise_like["phase"] == CRUISE).sum()), len(cruise_like)),
        Figure("on-ground rows labelled Ground", _percent(int((ground["phase"] == GROUND).sum()), len(ground)),
               ">= 99", int((ground["phase"] == GROUND).sum()), len(ground)),
        Figure("ordinary aircraft with an ANOMALY episode", _percent(len(with_anomaly), len(aircraft)),
               "<= 5", len(with_anomaly), len(aircraft)),
        Figure("ordinary rows flagged anomalous", _percent(int(ordinary["anomaly"].sum()), len(ordinary)),
               "<= 0.5", int(ordinary["anomaly"].sum()), len(ordinary)),
    ]
    episodes: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for a in alerts:
        episodes.setdefault((a["icao24"], a["type"]), []).append((a["started_at"], a["last_seen"]))
    kinds = list(KINDS) + sorted({m.kind for m in manifest} - set(KINDS))  # the real zero-g flight too
    for kind in kinds:
        of_kind = [m for m in manifest if m.kind == kind]
        if not of_kind:
            continue
        caught = sum(
            any(started <= m.end + ALERT_GRACE_S and last >= m.start for started, last in episodes.get((m.icao24, m.expected_alert), []))
            for m in of_kind
        )
        label = f"injected {kind}" if kind in KINDS else kind.replace("_", " ")
        result.append(Figure(f"{label} raising {of_kind[0].expected_alert}", _percent(caught, len(of_kind)), ">= 99",
                             caught, len(of_kind)))
    return result


def report(title: str, result: list[Figure], details: Iterable[str] = ()) -> str:
    lines = [title, *details, "", *[f.line() for f in result], ""]
    lines.append("all targets met" if all(f.met for f in result) else "TARGETS MISSED: " + ", ".join(f.name for f in result if not f.met))
    return "\n".join(lines)
