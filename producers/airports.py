"""The airports of the region: real ones (the maintained ``airportsdata`` set), weighted by traffic.

The simulator flies between them; the live weather planner fetches their cells first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import airportsdata

FEET = 0.3048

# Traffic weight (≈ millions of passengers a year) of the region's busiest airports; every other
# "International" airport in the box gets weight 1.
HUB_WEIGHTS = {
    "LHR": 80, "IST": 76, "CDG": 70, "AMS": 68, "FRA": 60, "MAD": 60, "BCN": 50, "MUC": 40, "FCO": 40,
    "LGW": 40, "SAW": 40, "DUB": 33, "LIS": 33, "ORY": 32, "ZRH": 31, "PMI": 30, "VIE": 30, "CPH": 29,
    "OSL": 28, "MXP": 28, "ATH": 28, "MAN": 28, "STN": 28, "ARN": 25, "DUS": 25, "BER": 25, "BRU": 22,
    "AGP": 22, "WAW": 21, "HEL": 17, "GVA": 17, "BUD": 16, "ALC": 16, "LTN": 16, "PRG": 15, "HAM": 14,
    "EDI": 14, "NCE": 14, "OTP": 14, "NAP": 12, "VCE": 11, "CGN": 10, "STR": 10, "LYS": 10, "BLQ": 10,
}

@dataclass(frozen=True)
class Airport:
    iata: str
    icao: str
    name: str
    city: str
    country: str
    latitude: float
    longitude: float
    elevation_m: float
    timezone: str
    weight: float


@cache
def airport_table() -> dict[str, dict[str, Any]]:
    return airportsdata.load("IATA")


def airport(code: str, weight: float = 0.0) -> Airport:
    row = airport_table()[code]
    return Airport(code, row["icao"], row["name"], row["city"], row["country"], float(row["lat"]),
                   float(row["lon"]), float(row["elevation"] or 0.0) * FEET, row["tz"], weight)


def region_airports(bbox: tuple[float, float, float, float]) -> list[Airport]:
    """The box's hubs and international airports (from the maintained ``airportsdata`` set)."""
    lamin, lomin, lamax, lomax = bbox
    chosen = []
    for code, row in sorted(airport_table().items()):
        if not (lamin <= row["lat"] <= lamax and lomin <= row["lon"] <= lomax) or len(row["icao"]) != 4:
            continue
        if code in HUB_WEIGHTS or "International" in row["name"]:
            chosen.append(airport(code, HUB_WEIGHTS.get(code, 1)))
    return chosen
