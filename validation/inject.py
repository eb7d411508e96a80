"""Anomalies injected into copies of real tracks: each copy is a real stretch of an ordinary
airliner's flight with one known fault, under an icao24 of its own (block ``f…``, which ICAO
leaves unassigned), so the original aircraft stay ordinary traffic.

Pure and seeded: the same tracks, kinds and seed give the same copies and manifest.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from skyrisk.vocabulary import ANOMALY, EMERGENCY, SQUAWK_EMERGENCY

INJECTION_S = 60.0  # how long a fault lasts (a jump is one instant)
BEFORE_S, AFTER_S = 300.0, 180.0  # the copy keeps this much of the real track around the fault
JUMP_KM = 50.0
KM_PER_DEG_LAT = 111.195
MIN_ALTITUDE_M = 3000.0  # every fault is injected at altitude, clear of airport manoeuvres

# kind -> (alert it must raise, icao24 prefix of its copies)
KINDS: dict[str, tuple[str, str]] = {
    "vertical_rate": (ANOMALY, "f1"),
    "ground_speed": (ANOMALY, "f2"),
    "position_jump": (ANOMALY, "f3"),
    "squawk_7700": (EMERGENCY, "f4"),
}
AIRLINER_CALLSIGN = re.compile(r"^[A-Z]{3}[0-9]")


@dataclass(frozen=True)
class Injection:
    icao24: str
    source_icao24: str
    kind: str
    start: float
    end: float
    expected_alert: str


def _airborne_window(rows: list[dict[str, Any]], start: float) -> bool:
    """Every report from the fault to its end is airborne at altitude (no gap over 10 s)."""
    inside = [r for r in rows if start <= r["time"] <= start + INJECTION_S]
    if len(inside) < INJECTION_S / 2:
        return False
    times = [r["time"] for r in inside]
    return all(not r["on_ground"] and (r["baro_altitude"] or 0.0) > MIN_ALTITUDE_M for r in inside) and max(
        b - a for a, b in zip(times, times[1:])) <= 10.0


def candidate_starts(rows: list[dict[str, Any]]) -> list[float]:
    """Fault start times in a track with the whole copy window recorded around them."""
    if len(rows) < 2 or not AIRLINER_CALLSIGN.match(rows[0].get("callsign") or ""):
        return []
    first, last = rows[0]["time"], rows[-1]["time"]
    starts = []
    t = first + BEFORE_S
    while t + INJECTION_S + AFTER_S <= last:
        if _airborne_window(rows, t):
            starts.append(t)
        t += 60.0
    return starts


def _fault(kind: str, row: dict[str, Any], start: float, climb: float) -> dict[str, Any]:
    row = dict(row)
    during = start <= row["time"] < start + INJECTION_S
    if kind == "vertical_rate":
        elapsed = min(max(row["time"] - start, 0.0), INJECTION_S)
        if row["baro_altitude"] is not None:
            row["baro_altitude"] += climb * elapsed  # the altitude follows the vertical rate
        if during:
            row["vertical_rate"] = climb
    elif kind == "ground_speed" and during:
        row["velocity"] = 400.0
    elif kind == "position_jump" and row["time"] >= start:
        row["latitude"] += JUMP_KM / KM_PER_DEG_LAT  # teleported north, and the track goes on from there
    elif kind == "squawk_7700" and during:
        row["squawk"] = SQUAWK_EMERGENCY
    return row


def inject(tracks: dict[str, list[dict[str, Any]]], per_kind: int, seed: int = 42) -> tuple[list[dict[str, Any]], list[Injection]]:
    """``per_kind`` faulty copies of each kind, from randomly chosen stretches of ``tracks``
    (icao24 -> state rows in time order). Returns the copies' rows and their manifest."""
    rng = random.Random(seed)
    stretches = [(icao24, start) for icao24, rows in sorted(tracks.items()) for start in candidate_starts(rows)]
    if not stretches:
        return [], []
    rows_out: list[dict[str, Any]] = []
    manifest: list[Injection] = []
    for kind, (alert, prefix) in KINDS.items():
        for n, (icao24, start) in enumerate(rng.sample(stretches, min(per_kind, len(stretches)))):
            copy_id = f"{prefix}{n:04x}"
            altitude = next(r["baro_altitude"] for r in tracks[icao24] if r["time"] >= start)
            climb = -60.0 if altitude > 6000.0 else 60.0
            for row in tracks[icao24]:
                if start - BEFORE_S <= row["time"] <= start + INJECTION_S + AFTER_S:
                    faulty = _fault(kind, row, start, climb)
                    faulty["icao24"] = copy_id
                    rows_out.append(faulty)
            end = start if kind == "position_jump" else start + INJECTION_S
            manifest.append(Injection(copy_id, icao24, kind, start, end, alert))
    rows_out.sort(key=lambda r: (r["time"], r["icao24"]))
    return rows_out, manifest


def by_aircraft(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    tracks: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        tracks.setdefault(row["icao24"], []).append(row)
    for track in tracks.values():
        track.sort(key=lambda r: r["time"])
    return tracks


def manifest_json(manifest: list[Injection]) -> list[dict[str, Any]]:
    return [asdict(m) for m in manifest]
