"""Contract messages for the streaming tests, built through the pydantic models (valid by construction)."""

from __future__ import annotations

from skyrisk.contracts import FlightState, WeatherObservation
from skyrisk.geo import cell_center, cell_id

GRID = 0.5
EUROPE = (35.0, -12.0, 62.0, 32.0)  # the default region (Settings.bbox)
T0 = 1_763_726_400.0  # 2025-11-21 12:00:00 UTC
FRANKFURT = (50.03, 8.57)
FRANKFURT_CELL = cell_id(*FRANKFURT, GRID)  # "100:17"


def flight(icao24: str = "3c6444", t: float = T0, lat: float = FRANKFURT[0], lon: float = FRANKFURT[1], **fields) -> FlightState:
    values = dict(
        source="sim",
        icao24=icao24,
        callsign="DLH400  ",
        origin_country="Germany",
        event_time=t,
        snapshot_time=t,
        last_contact=t,
        latitude=lat,
        longitude=lon,
        baro_altitude=11_000.0,
        geo_altitude=11_100.0,
        on_ground=False,
        velocity=240.0,
        true_track=90.0,
        vertical_rate=0.0,
        squawk="1000",
    )
    values.update(fields)
    return FlightState(**values)


def weather(cell: str = FRANKFURT_CELL, observed: float = T0 - 600, **fields) -> WeatherObservation:
    lat, lon = cell_center(cell, GRID)
    values = dict(
        source="sim",
        cell_id=cell,
        cell_latitude=lat,
        cell_longitude=lon,
        observation_time=observed,
        fetched_time=observed + 30,
        temperature_2m=5.0,
        wind_speed_10m=10.0,
        wind_gusts_10m=20.0,
        precipitation=0.0,
        cloud_cover=10.0,
        weather_code=1,
        visibility=20_000.0,
    )
    values.update(fields)
    return WeatherObservation(**values)


def as_kafka_rows(messages, key_field: str | None = None) -> list[tuple[str | None, str]]:
    """``(key, value)`` pairs as they sit in Kafka."""
    return [(getattr(m, key_field) if key_field else None, m.model_dump_json()) for m in messages]
