"""Alert episodes: one alert per aircraft and condition while it lasts (pure, no I/O).

A micro-batch yields *signals* (``transforms.alert_signals``: per aircraft and type, first and
last event time and the newest details). A signal continues the aircraft's open episode of that
type when it starts no later than :data:`EPISODE_GAP_SECONDS` after the episode was last seen;
otherwise it opens a new episode whose id is ``icao24:type:started_at``. A replayed batch finds
the episode it created itself and rewrites the same document, so replays never duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from skyrisk.contracts import Alert
from skyrisk.vocabulary import EPISODE_GAP_SECONDS


def episode_id(icao24: str, alert_type: str, started_at: float) -> str:
    return f"{icao24}:{alert_type}:{int(started_at)}"


def plan_alerts(
    signals: Iterable[Mapping[str, Any]],
    open_episodes: Mapping[tuple[str, str], Mapping[str, Any]],
    *,
    source: str = "live",
    gap_seconds: float = EPISODE_GAP_SECONDS,
) -> list[Alert]:
    """The alert documents to upsert: continued episodes keep their id and start, new ones get one.

    ``open_episodes`` maps (icao24, type) to the newest stored alert of that aircraft and type.
    """
    alerts = []
    for s in signals:
        key = (s["icao24"], s["type"])
        stored = open_episodes.get(key)
        continues = stored is not None and s["first_seen"] - stored["last_seen"] <= gap_seconds
        started_at = stored["started_at"] if continues else s["first_seen"]
        last_seen = max(stored["last_seen"], s["last_seen"]) if continues else s["last_seen"]
        alerts.append(
            Alert(
                source=source,
                icao24=s["icao24"],
                type=s["type"],
                episode_id=stored["episode_id"] if continues else episode_id(*key, started_at),
                started_at=started_at,
                last_seen=last_seen,
                callsign=s.get("callsign"),
                latitude=s.get("latitude"),
                longitude=s.get("longitude"),
                risk_score=s.get("risk_score"),
                risk_category=s.get("risk_category"),
                reasons=list(s.get("reasons") or []),
            )
        )
    return alerts


def newest_by_aircraft_and_type(stored: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    newest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for doc in stored:
        key = (doc["icao24"], doc["type"])
        if key not in newest or doc["started_at"] > newest[key]["started_at"]:
            newest[key] = doc
    return newest
