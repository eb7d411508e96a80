"""A generated day with known truth for the batch tests.

Every expected value below is worked out by hand from the tracks (distances in closed form:
along a meridian d = R * dlat in radians; along a parallel d = 2R asin(cos(lat) sin(dlon/2))),
never by the code under test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from skyrisk.contracts import EnrichedState, ReferenceRecord, ScheduleJourney, ScheduleLeg
from skyrisk.geo import EARTH_RADIUS_KM

DAY = "2026-11-20"
NEXT_DAY = "2026-11-21"


def at(day: str, hhmm: str) -> float:
    """Epoch seconds of ``day`` at ``HH:MM`` UTC."""
    return datetime.fromisoformat(f"{day}T{hhmm}:00+00:00").timestamp()


@dataclass(frozen=True)
class Point:
    hhmm: str
    lat: float
    lon: float
    alt: float
    on_ground: bool
    risk: tuple[int, str] = (10, "LOW")
    anomaly: bool = False
    emergency: str | None = None


def state(icao24: str, callsign: str | None, p: Point, day: str = DAY, **changes: Any) -> dict[str, Any]:
    row = EnrichedState(
        icao24=icao24,
        callsign=callsign,
        airline_icao=callsign[:3] if callsign and callsign[:3].isalpha() else None,
        origin_country="Germany",
        source="sim",
        event_time=at(day, p.hhmm),
        latitude=p.lat,
        longitude=p.lon,
        baro_altitude=p.alt,
        geo_altitude=p.alt + 50,
        velocity=0.0 if p.on_ground else 200.0,
        true_track=0.0,
        vertical_rate=0.0,
        on_ground=p.on_ground,
        squawk="7700" if p.emergency else "1000",
        cell_id=f"{math.floor(p.lat)}:{math.floor(p.lon)}",
        weather=None,
        weather_missing=False,
        risk_score=p.risk[0],
        risk_category=p.risk[1],
        risk_factors=["wind"] if p.risk[1] != "LOW" else [],
        phase="Ground" if p.on_ground else "Cruise",
        anomaly=p.anomaly,
        anomaly_score=3.5 if p.anomaly else 0.5,
        anomaly_reasons=["speed"] if p.anomaly else [],
        emergency=p.emergency,
        model_version="bootstrap-1",
    ).model_dump()
    row.update(changes)
    return row


# Aircraft A (3c6444): DLH400 AAA -> BBB, lands, re-departs as DLH402 BBB -> CCC, then parks.
A1 = [
    Point("06:00", 50.0, 8.0, 100, True),
    Point("06:01", 50.0, 8.0, 100, True),
    Point("06:02", 50.1, 8.0, 800, False),
    Point("06:03", 50.3, 8.0, 3000, False),
    Point("06:04", 50.5, 8.0, 11000, False, risk=(80, "HIGH")),
    Point("06:05", 50.7, 8.0, 9000, False, risk=(45, "MEDIUM")),
    Point("06:06", 50.9, 8.0, 2000, False, anomaly=True),
    Point("06:07", 51.0, 8.0, 120, True),  # touchdown: last point of the first flight
]
A2 = [
    Point("06:08", 51.0, 8.0, 120, True),  # taxi-out of the second flight
    Point("06:15", 51.0, 8.0, 120, True),
    Point("06:20", 51.0, 8.0, 120, True),
    Point("06:21", 51.2, 8.0, 1500, False),
    Point("06:22", 51.5, 8.0, 6000, False, risk=(50, "MEDIUM")),
    Point("06:23", 51.8, 8.0, 1500, False),
    Point("06:24", 52.0, 8.0, 150, True),  # touchdown at CCC
]
A_PARKED = [Point("06:25", 52.0, 8.0, 150, True)]  # ground only: not a flight
# Aircraft B (4ca123): RYR12AB over-flight at cruise level, a 20-minute silence splits it;
# the later exactly-15-minute silence does not (the rule is "more than 15 minutes").
B1 = [
    Point("10:00", 45.0, 9.0, 11000, False, risk=(30, "MEDIUM")),
    Point("10:01", 45.1, 9.0, 11000, False, risk=(40, "MEDIUM")),
    Point("10:02", 45.2, 9.0, 11000, False, risk=(35, "MEDIUM")),
]
B2 = [
    Point("10:22", 46.0, 9.0, 11000, False, anomaly=True),
    Point("10:23", 46.1, 9.0, 11000, False, emergency="7700 emergency"),
    Point("10:24", 46.2, 9.0, 11000, False, emergency="7700 emergency"),
    Point("10:39", 46.3, 9.0, 11000, False, anomaly=True),
]
# Aircraft C (a0b1c2): no callsign, low along the 40th parallel, leaving DDD's area.
C1 = [
    Point("14:00", 40.0, 8.1, 500, False),
    Point("14:01", 40.0, 8.35, 700, False),
    Point("14:02", 40.0, 8.6, 900, False),
]


def rows(day: str = DAY) -> list[dict[str, Any]]:
    """The day's enriched rows including injected duplicates."""
    out = [state("3c6444", "DLH400", p, day) for p in A1]
    out += [state("3c6444", "DLH402", p, day) for p in A2 + A_PARKED]
    out += [state("4ca123", "RYR12AB", p, day) for p in B1 + B2]
    out += [state("a0b1c2", None, p, day) for p in C1]
    # Duplicates: two exact copies, and a re-enriched copy of A1's 06:01 report without
    # weather and with another risk score (the copy with weather must win).
    out.append(state("3c6444", "DLH400", A1[3], day))
    out.append(state("4ca123", "RYR12AB", B1[1], day))
    out.append(state("3c6444", "DLH400", A1[1], day, weather_missing=True, risk_score=5))
    return out


POSITIONS = 8 + 7 + 1 + 3 + 4 + 3  # A1, A2, A parked, B1, B2, C1
INPUT_ROWS = POSITIONS + 3


def meridian_km(dlat_deg: float) -> float:
    return EARTH_RADIUS_KM * math.radians(dlat_deg)


def parallel_km(lat_deg: float, dlon_deg: float) -> float:
    return 2 * EARTH_RADIUS_KM * math.asin(math.cos(math.radians(lat_deg)) * math.sin(math.radians(dlon_deg) / 2))


def reference_airports() -> list[ReferenceRecord]:
    def airport(code: str, lat: float, lon: float, location_type: str = "Airport") -> ReferenceRecord:
        return ReferenceRecord(
            source="sim", type="airport", code=code, latitude=lat, longitude=lon,
            location_type=location_type, fetched_time=0.0,
        )

    return [
        airport("AAA", 50.0, 8.0),
        airport("BBB", 51.01, 8.0),  # 1.1 km from the touchdown point
        airport("XRB", 51.0, 8.0, "RailwayStation"),  # right at it, but not an airport
        airport("CCC", 52.0, 8.0),
        airport("DDD", 40.0, 8.0),  # 8.5 km from C's first point, 51 km from its last
    ]


def reference_airlines() -> list[ReferenceRecord]:
    return [
        ReferenceRecord(source="sim", type="airline", code="LH", icao_code="DLH", name="Lufthansa", fetched_time=0.0),
        ReferenceRecord(source="sim", type="airline", code="EW", icao_code="EWG", name="Eurowings", fetched_time=0.0),
    ]


def _leg(number: int, dep: str, arr: str, dep_local: str, arr_local: str, operator: str = "LH") -> ScheduleLeg:
    return ScheduleLeg(
        departure_airport=dep, departure_local=dep_local, arrival_airport=arr, arrival_local=arr_local,
        marketing_airline="LH", flight_number=number, operating_airline=operator,
    )


def schedules() -> list[ScheduleJourney]:
    lh400 = _leg(400, "AAA", "BBB", "2026-11-20T07:00", "2026-11-20T08:00")
    lh402 = _leg(402, "BBB", "CCC", "2026-11-20T10:00", "2026-11-20T11:00")

    def journey(origin: str, destination: str, day: str, legs: list[ScheduleLeg]) -> ScheduleJourney:
        return ScheduleJourney(
            source="sim", origin=origin, destination=destination, query_date=day, duration_iso="PT1H",
            duration_minutes=60, stops=len(legs) - 1, flight_numbers=[f"LH{leg.flight_number}" for leg in legs],
            legs=legs, fetched_time=0.0,
        )

    return [
        journey("AAA", "BBB", DAY, [lh400]),
        journey("AAA", "CCC", DAY, [lh400, lh402]),  # the same legs inside a connection
        journey("AAA", "BBB", NEXT_DAY, [_leg(400, "AAA", "BBB", "2026-11-21T07:00", "2026-11-21T08:00")]),
        # a code-share: marketed as LH 12, operated by another airline; no DLH callsign may match it
        journey("AAA", "DDD", DAY, [_leg(12, "AAA", "DDD", "2026-11-20T09:00", "2026-11-20T10:00", "UA")]),
    ]


def _summary(**values: Any) -> dict[str, Any]:
    base = {
        "airline_icao": None, "airline_iata": None, "airline_name": None, "origin": None, "destination": None,
        "anomaly_count": 0, "emergency_count": 0, "scheduled_flight": None, "scheduled_origin": None,
        "scheduled_destination": None, "scheduled_departure_local": None, "scheduled_arrival_local": None,
    }
    base.update(values)
    return base


def expected_summaries(day: str = DAY) -> dict[str, dict[str, Any]]:
    """flight_id -> every FlightSummary value, by hand."""
    stamp = day.replace("-", "")
    return {
        f"3c6444-{stamp}T060000": _summary(
            icao24="3c6444", callsign="DLH400", airline_icao="DLH", airline_iata="LH", airline_name="Lufthansa",
            first_seen=at(day, "06:00"), last_seen=at(day, "06:07"), duration_s=420.0, positions=8,
            origin="AAA", destination="BBB", max_altitude_m=11000.0, distance_km=meridian_km(1.0),
            max_risk_score=80, max_risk_category="HIGH", anomaly_count=1,
            alert_episodes={"HIGH_RISK": 1, "ANOMALY": 1, "EMERGENCY": 0},
            # LH 400 is scheduled on both days (the 21st only in a journey of its own)
            scheduled_flight="LH 400", scheduled_origin="AAA", scheduled_destination="BBB",
            scheduled_departure_local=f"{day}T07:00", scheduled_arrival_local=f"{day}T08:00",
        ),
        f"3c6444-{stamp}T060800": _summary(
            icao24="3c6444", callsign="DLH402", airline_icao="DLH", airline_iata="LH", airline_name="Lufthansa",
            first_seen=at(day, "06:08"), last_seen=at(day, "06:24"), duration_s=960.0, positions=7,
            origin="BBB", destination="CCC", max_altitude_m=6000.0, distance_km=meridian_km(1.0),
            max_risk_score=50, max_risk_category="MEDIUM",
            alert_episodes={"HIGH_RISK": 0, "ANOMALY": 0, "EMERGENCY": 0},
            **(
                dict(scheduled_flight="LH 402", scheduled_origin="BBB", scheduled_destination="CCC",
                     scheduled_departure_local="2026-11-20T10:00", scheduled_arrival_local="2026-11-20T11:00")
                if day == DAY else {}
            ),
        ),
        f"4ca123-{stamp}T100000": _summary(
            icao24="4ca123", callsign="RYR12AB", airline_icao="RYR",
            first_seen=at(day, "10:00"), last_seen=at(day, "10:02"), duration_s=120.0, positions=3,
            max_altitude_m=11000.0, distance_km=meridian_km(0.2), max_risk_score=40, max_risk_category="MEDIUM",
            alert_episodes={"HIGH_RISK": 0, "ANOMALY": 0, "EMERGENCY": 0},
        ),
        f"4ca123-{stamp}T102200": _summary(
            icao24="4ca123", callsign="RYR12AB", airline_icao="RYR",
            first_seen=at(day, "10:22"), last_seen=at(day, "10:39"), duration_s=1020.0, positions=4,
            max_altitude_m=11000.0, distance_km=meridian_km(0.3), max_risk_score=10, max_risk_category="LOW",
            anomaly_count=2, emergency_count=2,
            alert_episodes={"HIGH_RISK": 0, "ANOMALY": 2, "EMERGENCY": 1},
        ),
        f"a0b1c2-{stamp}T140000": _summary(
            icao24="a0b1c2", callsign=None,
            first_seen=at(day, "14:00"), last_seen=at(day, "14:02"), duration_s=120.0, positions=3,
            origin="DDD", max_altitude_m=900.0, distance_km=2 * parallel_km(40.0, 0.25),
            max_risk_score=10, max_risk_category="LOW",
            alert_episodes={"HIGH_RISK": 0, "ANOMALY": 0, "EMERGENCY": 0},
        ),
    }


def expected_daily_stats(day: str = DAY) -> dict[str, Any]:
    """The daily_stats document, by hand: risk counts per category over the 26 positions,
    positions per hour and per 1-degree cell as set in :func:`state` (busiest first, ties by id)."""
    return {
        "_id": day,
        "date": day,
        "positions": POSITIONS,
        "aircraft": 3,
        "flights": 5,
        # HIGH: A1 06:04. MEDIUM: A1 06:05, A2 06:22, B1 x3. LOW: the other 20.
        "risk_distribution": {"LOW": 20, "MEDIUM": 5, "HIGH": 1},
        "alerts_by_type": {"HIGH_RISK": 1, "ANOMALY": 3, "EMERGENCY": 1},
        # 50:8 = A1's first 7 points; 51:8 = A1 touchdown + A2's first 6; 52:8 = A2 touchdown +
        # parked; 45:9 = B1; 46:9 = B2; 40:8 = C1.
        "busiest_cells": [
            {"cell_id": "50:8", "count": 7},
            {"cell_id": "51:8", "count": 7},
            {"cell_id": "46:9", "count": 4},
            {"cell_id": "40:8", "count": 3},
            {"cell_id": "45:9", "count": 3},
            {"cell_id": "52:8", "count": 2},
        ],
        "hourly_traffic": [16 if h == 6 else 7 if h == 10 else 3 if h == 14 else 0 for h in range(24)],
    }
