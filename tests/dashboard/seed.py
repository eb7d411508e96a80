"""Known documents for the dashboard tests, written in the shapes of skyrisk.contracts.

Every expected value in the tests is read from here (SEEDED_*), never from the code under test.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

from skyrisk.contracts import (
    Alert,
    BatchRun,
    DailyStats,
    EnrichedState,
    ReferenceRecord,
    ScheduleJourney,
    StreamProgress,
    TrackPoint,
    WeatherObservation,
)

TODAY = datetime.now(timezone.utc).date()
NOW = time.time()

# icao24, callsign, lat, lon, altitude m, category, phase, anomaly, emergency, on_ground
AIRCRAFT = [
    ("3c6444", "DLH400", 50.9, 8.1, 11_000.0, "LOW", "Cruise", False, None, False),
    ("3c4b26", "DLH123", 48.5, 11.2, 3_000.0, "HIGH", "Climb/Descent", False, None, False),
    ("39856a", "AFR1234", 47.0, 2.5, 10_500.0, "MEDIUM", "Cruise", True, None, False),
    ("400abc", "BAW45", 51.47, -0.45, 0.0, "LOW", "Ground", False, None, True),
    ("4ca123", "EZY77", 45.6, 9.0, 800.0, "MEDIUM", "Takeoff/Landing", False, "7700 emergency", False),
    ("4d2222", "RYR9", 41.3, 2.1, 9_800.0, "LOW", "Cruise", False, None, False),
]
SEEDED_COUNT = len(AIRCRAFT)
SEEDED_HIGH = sum(1 for a in AIRCRAFT if a[5] == "HIGH")
SEEDED_EMERGENCIES = sum(1 for a in AIRCRAFT if a[8])
SEEDED_ANOMALIES = sum(1 for a in AIRCRAFT if a[7])
DETAIL_ICAO24, DETAIL_CALLSIGN = "3c6444", "DLH400"
DETAIL_RISK_FACTOR = "cloud cover > 50 %"

SEARCH_FROM, SEARCH_TO = "FRA", "JFK"
SEEDED_ROUTE_FLIGHTS = ("LH 400", "LH 402")  # FRA-JFK on TODAY
EMPTY_FROM, EMPTY_TO = "FRA", "MUC"  # a route that exists, but only on another day
MULTI_LEG_FROM, MULTI_LEG_TO = "MUC", "JFK"
RETURN_DAY = TODAY + timedelta(days=1)
SEEDED_RETURN_FLIGHTS = ("LH 401", "LH 403")  # JFK-FRA on RETURN_DAY
# A city code: LON stands for the airports of the London city record and every airport whose
# city_code is LON. From FRA, Lufthansa flies to two of them (LHR, LCY) on TODAY; LGW has none.
CITY_FROM, CITY_TO = "FRA", "LON"
CITY_AIRPORTS = ("LCY", "LGW", "LHR", "LTN", "STN")
SEEDED_CITY_FLIGHTS = ("LH 96 + LH 2470", "LH 900", "LH 920")  # FRA-LHR via MUC, FRA-LHR, FRA-LCY on TODAY
SEEDED_CITY_NONSTOP = ("LH 900", "LH 920")
SEEDED_CITY_RETURN = ("LH 901", "LH 921")  # LHR-FRA and LCY-FRA on RETURN_DAY
CITY_TERMINALS = {"LH 900": ("1", "2")}  # departure and arrival terminal of LH 900 (FRA T1 -> LHR T2)

TOPIC_ROWS = 3
DAILY_DATES = ((TODAY - timedelta(days=2)).isoformat(), (TODAY - timedelta(days=1)).isoformat())


def flights_live() -> list[dict[str, Any]]:
    docs = []
    for icao24, callsign, lat, lon, alt, category, phase, anomaly, emergency, on_ground in AIRCRAFT:
        weather = {"cell_id": f"{int(lat // 0.5)}:{int(lon // 0.5)}", "observation_time": NOW - 300,
                   "temperature_2m": -2.5, "wind_speed_10m": 20.0, "wind_gusts_10m": 35.0, "precipitation": 0.0,
                   "cloud_cover": 60.0, "weather_code": 3, "visibility": 9000.0}
        state = EnrichedState(
            icao24=icao24, callsign=callsign, airline_icao=callsign[:3], origin_country="Germany", source="sim",
            event_time=NOW - 5, latitude=lat, longitude=lon, baro_altitude=alt, velocity=230.0, true_track=90.0,
            vertical_rate=0.0, on_ground=on_ground, squawk="7700" if emergency else "1000", cell_id=weather["cell_id"],
            weather=weather, weather_missing=False, risk_score={"LOW": 5, "MEDIUM": 35, "HIGH": 70}[category],
            risk_category=category, risk_factors=[DETAIL_RISK_FACTOR] if icao24 == DETAIL_ICAO24 else ["thunderstorm"],
            phase=phase, anomaly=anomaly, anomaly_score=3.1 if anomaly else 0.2,
            anomaly_reasons=["vertical rate far from its phase"] if anomaly else [], emergency=emergency,
            model_version="bootstrap-test",
        )
        docs.append({"_id": icao24, **state.model_dump(), "last_seen": NOW - 5})
    return docs


def tracks() -> list[dict[str, Any]]:
    return [TrackPoint(icao24=DETAIL_ICAO24, t=NOW - 30 * (5 - i), latitude=50.9, longitude=8.1 - 0.2 * (5 - i),
                       baro_altitude=11_000.0).model_dump() for i in range(5)]


def weather_latest() -> list[dict[str, Any]]:
    storm = WeatherObservation(source="sim", cell_id="97:22", cell_latitude=48.75, cell_longitude=11.25,
                               observation_time=NOW - 600, fetched_time=NOW - 590, weather_code=95,
                               wind_gusts_10m=60.0, visibility=2500.0)
    calm = WeatherObservation(source="sim", cell_id="101:16", cell_latitude=50.75, cell_longitude=8.25,
                              observation_time=NOW - 600, fetched_time=NOW - 590, weather_code=1,
                              wind_gusts_10m=10.0, visibility=20000.0)
    return [{"_id": w.cell_id, **w.model_dump()} for w in (storm, calm)]


def reference() -> dict[str, list[dict[str, Any]]]:
    def record(kind: str, code: str, name: str, **extra: Any) -> dict[str, Any]:
        r = ReferenceRecord(source="sim", type=kind, code=code, name=name, fetched_time=NOW, **extra)
        return {"_id": code, **r.model_dump()}

    return {
        "airports": [record("airport", "FRA", "Frankfurt/Main International", city_code="FRA", country_code="DE"),
                     record("airport", "MUC", "Munich International", city_code="MUC", country_code="DE"),
                     record("airport", "JFK", "John F. Kennedy International", city_code="NYC", country_code="US"),
                     record("airport", "LHR", "London Heathrow", city_code="LON", country_code="GB"),
                     record("airport", "LCY", "London City", city_code="LON", country_code="GB"),
                     record("airport", "LGW", "London Gatwick", city_code="LON", country_code="GB")],
        # NYC lists no airports (JFK names it as its city); LON lists airports that are not in `airports`
        "cities": [record("city", "NYC", "New York", country_code="US"),
                   record("city", "LON", "London", country_code="GB", airports=["LCY", "LGW", "LHR", "LTN", "STN"])],
        "airlines": [record("airline", "LH", "Lufthansa", icao_code="DLH")],
    }


def _leg(dep: str, dep_local: str, arr: str, arr_local: str, number: int, aircraft: str,
         terminals: tuple[str | None, str | None] = (None, None)) -> dict[str, Any]:
    return {"departure_airport": dep, "departure_local": dep_local, "arrival_airport": arr, "arrival_local": arr_local,
            "marketing_airline": "LH", "flight_number": number, "aircraft_code": aircraft,
            "days_of_operation": "1234567", "departure_terminal": terminals[0], "arrival_terminal": terminals[1]}


def schedules() -> list[dict[str, Any]]:
    d, d1, d2 = (TODAY + timedelta(days=n) for n in range(3))
    d, d1, d2 = d.isoformat(), d1.isoformat(), d2.isoformat()
    journeys = [
        dict(origin="FRA", destination="JFK", query_date=d, duration_iso="PT8H50M", duration_minutes=530, stops=0,
             flight_numbers=["LH400"], legs=[_leg("FRA", f"{d}T10:05", "JFK", f"{d}T12:55", 400, "748")],
             days_of_operation="1234567"),
        dict(origin="FRA", destination="JFK", query_date=d, duration_iso="PT8H45M", duration_minutes=525, stops=0,
             flight_numbers=["LH402"], legs=[_leg("FRA", f"{d}T13:30", "JFK", f"{d}T16:15", 402, "359")],
             days_of_operation="135"),
        # multi-leg, arriving the next day, longer than a day in total
        dict(origin="MUC", destination="JFK", query_date=d, duration_iso="P1DT2H5M", duration_minutes=1565, stops=1,
             flight_numbers=["LH101", "LH400"],
             legs=[_leg("MUC", f"{d}T06:00", "FRA", f"{d}T07:05", 101, "32N"),
                   _leg("FRA", f"{d1}T10:05", "JFK", f"{d1}T12:55", 400, "748")],
             days_of_operation="1234567"),
        dict(origin="FRA", destination="MUC", query_date=d1, duration_iso="PT1H", duration_minutes=60, stops=0,
             flight_numbers=["LH102"], legs=[_leg("FRA", f"{d1}T08:00", "MUC", f"{d1}T09:00", 102, "32N")]),
        # the return direction JFK -> FRA on RETURN_DAY, arriving the day after
        dict(origin="JFK", destination="FRA", query_date=d1, duration_iso="PT7H55M", duration_minutes=475, stops=0,
             flight_numbers=["LH401"], legs=[_leg("JFK", f"{d1}T17:50", "FRA", f"{d2}T07:45", 401, "748", ("1", "1"))],
             days_of_operation="1234567"),
        dict(origin="JFK", destination="FRA", query_date=d1, duration_iso="PT7H55M", duration_minutes=475, stops=0,
             flight_numbers=["LH403"], legs=[_leg("JFK", f"{d1}T21:00", "FRA", f"{d2}T10:55", 403, "359", ("1", "1"))],
             days_of_operation="246"),
        # FRA -> London (LON): LHR non-stop, LCY non-stop, LHR with a connection in MUC; and back on RETURN_DAY
        dict(origin="FRA", destination="LHR", query_date=d, duration_iso="PT1H40M", duration_minutes=100, stops=0,
             flight_numbers=["LH900"], legs=[_leg("FRA", f"{d}T07:30", "LHR", f"{d}T08:10", 900, "32N", ("1", "2"))],
             days_of_operation="1234567"),
        dict(origin="FRA", destination="LCY", query_date=d, duration_iso="PT1H40M", duration_minutes=100, stops=0,
             flight_numbers=["LH920"], legs=[_leg("FRA", f"{d}T09:15", "LCY", f"{d}T09:55", 920, "E90", ("1", None))],
             days_of_operation="12345"),
        dict(origin="FRA", destination="LHR", query_date=d, duration_iso="PT4H", duration_minutes=240, stops=1,
             flight_numbers=["LH96", "LH2470"],
             legs=[_leg("FRA", f"{d}T06:30", "MUC", f"{d}T07:25", 96, "32N", ("1", "2")),
                   _leg("MUC", f"{d}T08:20", "LHR", f"{d}T09:30", 2470, "32N", ("2", "2"))],
             days_of_operation="1234567"),
        dict(origin="LHR", destination="FRA", query_date=d1, duration_iso="PT1H25M", duration_minutes=85, stops=0,
             flight_numbers=["LH901"], legs=[_leg("LHR", f"{d1}T10:05", "FRA", f"{d1}T12:30", 901, "32N", ("2", "1"))],
             days_of_operation="1234567"),
        dict(origin="LCY", destination="FRA", query_date=d1, duration_iso="PT1H30M", duration_minutes=90, stops=0,
             flight_numbers=["LH921"], legs=[_leg("LCY", f"{d1}T11:00", "FRA", f"{d1}T13:30", 921, "E90", (None, "1"))],
             days_of_operation="12345"),
    ]
    docs = []
    for j in journeys:
        journey = ScheduleJourney(source="sim", fetched_time=NOW, **j)
        docs.append({"_id": journey.key + "-" + "-".join(journey.flight_numbers), **journey.model_dump()})
    return docs


def alerts() -> list[dict[str, Any]]:
    items = [
        Alert(source="sim", icao24="3c4b26", type="HIGH_RISK", episode_id="3c4b26-HIGH_RISK-1", started_at=NOW - 900,
              last_seen=NOW - 10, callsign="DLH123", latitude=48.5, longitude=11.2, risk_score=70,
              risk_category="HIGH", reasons=["thunderstorm"]),
        Alert(source="sim", icao24="4ca123", type="EMERGENCY", episode_id="4ca123-EMERGENCY-1", started_at=NOW - 120,
              last_seen=NOW - 5, callsign="EZY77", latitude=45.6, longitude=9.0, risk_score=35,
              risk_category="MEDIUM", reasons=["7700 emergency"]),
    ]
    return [{"_id": a.episode_id, **a.model_dump()} for a in items]


LOST_TO_RETENTION = 1234  # messages Kafka deleted before batch 3 read them
AIRBORNE = (90, 91, 92, 93, 94)  # 460 airborne states in the five batches
WITH_WEATHER = (80, 81, 82, 83, 84)  # 410 of them joined with weather: 89.1 %


def stream_progress() -> list[dict[str, Any]]:
    docs = []
    for i in range(5):
        p = StreamProgress(query="enrich", batch_id=i, timestamp=NOW - 10 * (5 - i), num_input_rows=100 + i,
                           input_rows_per_second=50.0 + i, processed_rows_per_second=60.0 + i,
                           batch_duration_ms=800 + 10 * i,
                           watermark=datetime.fromtimestamp(NOW - 10 * (5 - i) - 120, timezone.utc).isoformat(),
                           rejects={"invalid": i}, kafka_lag={"0": 3 * i, "1": 2 * i},
                           sink_rows={"parquet": 100 + i, "airborne": AIRBORNE[i], "airborne_with_weather": WITH_WEATHER[i]},
                           data_lost={"flights_states": LOST_TO_RETENTION} if i == 3 else {})
        docs.append(p.model_dump())
    return docs


def batch_runs() -> list[dict[str, Any]]:
    run = BatchRun(day=DAILY_DATES[-1], status="succeeded", started_at=NOW - 3600, finished_at=NOW - 3000,
                   duration_s=600.0, rows={"positions": 12_345})
    return [run.model_dump()]


def daily_stats() -> list[dict[str, Any]]:
    docs = []
    for i, day in enumerate(DAILY_DATES):
        s = DailyStats(date=day, positions=10_000 + i, aircraft=500 + i, flights=700 + i,
                       risk_distribution={"LOW": 9000, "MEDIUM": 800, "HIGH": 200 + i},
                       alerts_by_type={"HIGH_RISK": 12, "EMERGENCY": 1}, busiest_cells=[{"cell_id": "101:16", "count": 400}],
                       hourly_traffic=[100 * h for h in range(24)])
        docs.append({"_id": day, **s.model_dump()})
    return docs


def seed_database(db: Any) -> None:
    """Replace the dashboard collections' contents with the seeded documents."""
    collections = {"flights_live": flights_live(), "tracks": tracks(), "weather_latest": weather_latest(),
                   "schedules": schedules(), "alerts": alerts(), "stream_progress": stream_progress(),
                   "batch_runs": batch_runs(), "daily_stats": daily_stats(), **reference()}
    for name, docs in collections.items():
        db[name].delete_many({})
        if docs:
            db[name].insert_many(docs)


def route_day() -> date:
    return TODAY
