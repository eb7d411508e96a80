"""The simulator: air traffic between real airports, moving storm cells, a Lufthansa timetable.

Traffic is vectorised with numpy: every aircraft's state lives in arrays and one :meth:`step`
advances all of them, so 20,000 aircraft at 1 Hz fit in one Python process. Per message only a
dict and one ``orjson.dumps`` remain. Weather and Lufthansa data are generated in the upstream
APIs' JSON shapes and go through the same parsers as live responses.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from producers.airports import FEET, Airport, airport, airport_table, region_airports
from producers.core import Batch, Clock, SourceClient
from producers.lufthansa import (
    REFERENCE_KINDS,
    parse_reference_page,
    parse_routes,
    parse_schedules,
    seconds_to_next_refresh,
)
from producers.opensky import ICAO24_BLOCKS
from producers.weather import parse_current_weather
from skyrisk.contracts import FLIGHT_STATES, SCHEMA_VERSION, WEATHER_VARIABLES
from skyrisk.geo import EARTH_RADIUS_KM, grid_cells
from skyrisk import vocabulary
from skyrisk.settings import Settings

log = logging.getLogger(__name__)

EARTH_RADIUS_M = EARTH_RADIUS_KM * 1000
CLIMB_GRADIENT = 0.055  # metres gained per metre flown (~3.1 degrees): ~9 m/s at 160 m/s
DESCENT_GRADIENT = 0.05  # ~2.9 degrees, a normal approach path
TAKEOFF_SPEED = 75.0  # m/s, rotation / final approach
TAXI_SPEED = 8.0
CRUISE_LEVELS_FT = np.arange(300, 401, 10) * 100  # FL300-FL400
MIN_ROUTE_KM, MAX_ROUTE_KM = 300.0, 3500.0
# The codes of the shared vocabulary, most frequent first (7700 is by far the most common).
EMERGENCY_SQUAWKS = tuple(sorted(vocabulary.EMERGENCY_SQUAWKS, reverse=True))  # 7700, 7600, 7500
EMERGENCY_WEIGHTS = (0.75, 0.2, 0.05)

# (ICAO designator, IATA code, name, country of registration, traffic weight)
AIRLINES = (
    ("DLH", "LH", "Lufthansa", "Germany", 0),  # flies the timetable only
    ("RYR", "FR", "Ryanair", "Ireland", 30), ("EZY", "U2", "easyJet", "United Kingdom", 18),
    ("THY", "TK", "Turkish Airlines", "Turkey", 14), ("BAW", "BA", "British Airways", "United Kingdom", 12),
    ("AFR", "AF", "Air France", "France", 12), ("KLM", "KL", "KLM", "Kingdom of the Netherlands", 10),
    ("WZZ", "W6", "Wizz Air", "Hungary", 10), ("IBE", "IB", "Iberia", "Spain", 7), ("VLG", "VY", "Vueling", "Spain", 7),
    ("EWG", "EW", "Eurowings", "Germany", 7), ("SAS", "SK", "Scandinavian Airlines", "Sweden", 6),
    ("SWR", "LX", "Swiss", "Switzerland", 5), ("AUA", "OS", "Austrian", "Austria", 4),
    ("TAP", "TP", "TAP Air Portugal", "Portugal", 5), ("ITY", "AZ", "ITA Airways", "Italy", 4),
    ("LOT", "LO", "LOT Polish Airlines", "Poland", 4), ("FIN", "AY", "Finnair", "Finland", 3),
    ("NAX", "DY", "Norwegian", "Norway", 4), ("AEE", "A3", "Aegean", "Greece", 3),
    ("EIN", "EI", "Aer Lingus", "Ireland", 3), ("BEL", "SN", "Brussels Airlines", "Belgium", 2),
    ("UAE", "EK", "Emirates", "United Arab Emirates", 2), ("UAL", "UA", "United", "United States", 2),
)
AIRCRAFT_TYPES = {"320": "Airbus A320", "32N": "Airbus A320neo", "321": "Airbus A321", "333": "Airbus A330-300",
                  "359": "Airbus A350-900", "744": "Boeing 747-400"}
COUNTRY_NAMES = {
    "DE": "Germany", "FR": "France", "GB": "United Kingdom", "ES": "Spain", "IT": "Italy", "NL": "Netherlands",
    "BE": "Belgium", "CH": "Switzerland", "AT": "Austria", "PT": "Portugal", "IE": "Ireland", "DK": "Denmark",
    "SE": "Sweden", "NO": "Norway", "FI": "Finland", "PL": "Poland", "CZ": "Czechia", "HU": "Hungary",
    "GR": "Greece", "TR": "Türkiye", "RO": "Romania", "US": "United States",
}


# --- the Lufthansa timetable the simulated DLH flights fly -------------------------------------
@dataclass(frozen=True)
class ScheduledFlight:
    origin: str
    destination: str
    flight_number: int
    departure_local: str  # HH:MM at the origin
    duration_minutes: int
    aircraft_code: str

    @property
    def callsign(self) -> str:
        return f"DLH{self.flight_number}"


def great_circle_km(a: Airport, b: Airport) -> float:
    p1, p2 = math.radians(a.latitude), math.radians(b.latitude)
    dl = math.radians(b.longitude - a.longitude)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def lufthansa_timetable(routes: list[tuple[str, str]]) -> list[ScheduledFlight]:
    """One daily flight each way per route: LH400+2i out, LH401+2i back (FRA-JFK is LH400)."""
    flights = []
    for index, (origin, destination) in enumerate(routes):
        if origin not in airport_table() or destination not in airport_table():
            log.warning("route %s-%s: unknown airport, not simulated", origin, destination)
            continue
        km = great_circle_km(airport(origin), airport(destination))
        minutes = int(round(km / (235 * 0.06) + 25))  # cruise ~235 m/s plus taxi/climb allowance
        code = "359" if km > 4000 else ("321" if km > 1200 else "32N")
        for leg, (a, b) in enumerate(((origin, destination), (destination, origin))):
            start = 6 * 60 + (index * 97 + leg * 7 * 60) % (15 * 60)
            flights.append(ScheduledFlight(a, b, 400 + 2 * index + leg, f"{start // 60:02d}:{start % 60:02d}",
                                           minutes, code))
    return flights


def local_arrival(flight: ScheduledFlight, day: date) -> tuple[str, str]:
    """(departure, arrival) local date-times yyyy-MM-ddTHH:mm, across the two airports' time zones."""
    departure = datetime.combine(day, datetime.strptime(flight.departure_local, "%H:%M").time(),
                                 ZoneInfo(airport(flight.origin).timezone))
    arrival = (departure + timedelta(minutes=flight.duration_minutes)).astimezone(
        ZoneInfo(airport(flight.destination).timezone))
    return departure.strftime("%Y-%m-%dT%H:%M"), arrival.strftime("%Y-%m-%dT%H:%M")


def iso_duration(minutes: int) -> str:
    days, rest = divmod(minutes, 1440)
    return ("P%dD" % days if days else "P") + "T%dH%dM" % divmod(rest, 60)


# --- traffic -------------------------------------------------------------------------------------
def _unit_vectors(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


class TrafficSimulator:
    """N aircraft on great-circle routes with take-off, climb, cruise, descent and landing."""

    def __init__(self, settings: Settings, start_time: float, *, aircraft: int | None = None,
                 seed: int | None = None) -> None:
        self.n = settings.sim_aircraft if aircraft is None else aircraft
        self.rng = np.random.default_rng(settings.sim_seed if seed is None else seed)
        self.bbox = settings.bbox
        self.emergency_rate = settings.sim_emergency_rate
        self.erratic_rate = settings.sim_erratic_rate
        self.time = float(start_time)

        self.timetable = lufthansa_timetable(parse_routes(settings.lufthansa_routes))
        region = region_airports(settings.bbox)
        codes = {a.iata for a in region}
        extra = sorted({c for f in self.timetable for c in (f.origin, f.destination)} - codes)
        self.airports = region + [airport(code) for code in extra]
        self.airport_index = {a.iata: i for i, a in enumerate(self.airports)}
        lat = np.array([a.latitude for a in self.airports])
        lon = np.array([a.longitude for a in self.airports])
        self.airport_vectors = _unit_vectors(lat, lon)
        self.airport_elevation = np.array([a.elevation_m for a in self.airports])
        weights = np.array([a.weight for a in self.airports], dtype=float)
        self.airport_weights = weights / weights.sum()
        # Great-circle distances between all airports, for picking destinations in range.
        cos = np.clip(self.airport_vectors @ self.airport_vectors.T, -1.0, 1.0)
        self.airport_km = np.arccos(cos) * EARTH_RADIUS_KM

        airline_weights = np.array([a[4] for a in AIRLINES], dtype=float)
        self.airline_weights = airline_weights / airline_weights.sum()
        self.flights_started = 0

        n = self.n
        # One aircraft per Lufthansa route flies it out and back, so a DLH callsign is never airborne twice.
        self.lufthansa_route = np.full(n, -1)
        pairs = min(n, len(self.timetable) // 2)
        self.lufthansa_route[self.rng.choice(n, pairs, replace=False)] = np.arange(pairs)
        self.is_lufthansa = self.lufthansa_route >= 0
        self.airline = np.where(self.is_lufthansa, 0, self.rng.choice(len(AIRLINES), n, p=self.airline_weights))
        self.icao24 = self._addresses()
        self.country = [AIRLINES[a][3] for a in self.airline]
        self.category = np.where(self.rng.random(n) < 0.15, 6, 4)  # heavy / large
        self.geo_offset = self.rng.normal(60.0, 40.0, n)  # geometric minus barometric altitude, m

        self.origin = np.zeros(n, dtype=np.int64)
        self.destination = np.zeros(n, dtype=np.int64)
        self.total_m = np.ones(n)
        self.flown_m = np.zeros(n)
        self.ground_wait_s = np.zeros(n)
        self.cruise_alt_m = np.zeros(n)
        self.cruise_speed = np.zeros(n)
        self.erratic = np.zeros(n, dtype=bool)
        self.callsign: list[str] = [""] * n
        self.squawk: list[str] = [""] * n
        self.p1 = np.zeros((n, 3))
        self.p2 = np.zeros((n, 3))
        self.delta = np.ones(n)

        first_origins = self.rng.choice(len(self.airports), n, p=self.airport_weights)
        for i in range(n):
            self._start_flight(i, int(first_origins[i]))
        # Steady state from the first second: most aircraft already somewhere along their route.
        airborne = self.rng.random(n) < 0.88
        self.flown_m = np.where(airborne, self.rng.random(n) * self.total_m, 0.0)
        self.ground_wait_s = np.where(airborne, 0.0, self.rng.uniform(0, 900, n))

    def _addresses(self) -> list[str]:
        blocks = {country: (low, high) for low, high, country in ICAO24_BLOCKS}
        seen: set[int] = set()
        addresses = []
        for airline in self.airline:
            low, high = blocks[AIRLINES[airline][3]]
            address = int(self.rng.integers(low, high + 1))
            while address in seen:
                address = int(self.rng.integers(low, high + 1))
            seen.add(address)
            addresses.append(f"{address:06x}")
        return addresses

    def _start_flight(self, i: int, origin: int) -> None:
        """A new flight of aircraft ``i`` from ``origin``: route, callsign, profile, rare events."""
        rng = self.rng
        if self.is_lufthansa[i]:
            out, back = self.timetable[2 * self.lufthansa_route[i] : 2 * self.lufthansa_route[i] + 2]
            if self.airport_index[back.origin] == origin:
                flight = back
            elif self.airport_index[out.origin] == origin:
                flight = out
            else:  # first flight of the run
                flight = out if rng.random() < 0.5 else back
            origin = self.airport_index[flight.origin]
            destination = self.airport_index[flight.destination]
            self.callsign[i] = flight.callsign
        else:
            km = self.airport_km[origin]
            mask = (km >= MIN_ROUTE_KM) & (km <= MAX_ROUTE_KM) & (self.airport_weights > 0)
            if not mask.any():
                mask = self.airport_weights > 0
                mask[origin] = False
            p = np.where(mask, self.airport_weights, 0.0)
            destination = int(rng.choice(len(self.airports), p=p / p.sum()))
            self.callsign[i] = f"{AIRLINES[self.airline[i]][0]}{int(rng.integers(1, 9999))}"
        self.origin[i], self.destination[i] = origin, destination
        self.p1[i], self.p2[i] = self.airport_vectors[origin], self.airport_vectors[destination]
        self.delta[i] = max(1e-6, math.acos(min(1.0, float(self.p1[i] @ self.p2[i]))))
        self.total_m[i] = self.delta[i] * EARTH_RADIUS_M
        self.flown_m[i] = 0.0
        self.ground_wait_s[i] = rng.uniform(120, 900)
        self.cruise_alt_m[i] = float(rng.choice(CRUISE_LEVELS_FT)) * FEET
        self.cruise_speed[i] = rng.uniform(215, 255)
        self.erratic[i] = rng.random() < self.erratic_rate
        if rng.random() < self.emergency_rate:
            self.squawk[i] = str(rng.choice(EMERGENCY_SQUAWKS, p=EMERGENCY_WEIGHTS))
        else:
            code = EMERGENCY_SQUAWKS[0]
            while code in EMERGENCY_SQUAWKS:
                code = "".join(str(d) for d in rng.integers(0, 8, 4))
            self.squawk[i] = code
        self.flights_started += 1

    def _profile(self, flown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Height above the field and its gradient (m per m flown) along the route."""
        climb = flown * CLIMB_GRADIENT
        descent = (self.total_m - flown) * DESCENT_GRADIENT
        height = np.clip(np.minimum(self.cruise_alt_m, np.minimum(climb, descent)), 0.0, None)
        gradient = np.where(height >= self.cruise_alt_m, 0.0, np.where(climb <= descent, CLIMB_GRADIENT,
                                                                          -DESCENT_GRADIENT))
        return height, gradient

    def _speed(self, height: np.ndarray) -> np.ndarray:
        share = np.clip(height / self.cruise_alt_m, 0.0, 1.0)
        return TAKEOFF_SPEED + (self.cruise_speed - TAKEOFF_SPEED) * share**0.6

    def step(self, dt: float = 1.0) -> None:
        self.time += dt
        waiting = self.ground_wait_s > 0
        self.ground_wait_s = np.where(waiting, self.ground_wait_s - dt, 0.0)
        height, _ = self._profile(self.flown_m)
        self.flown_m = np.where(waiting, 0.0, self.flown_m + self._speed(height) * dt)
        # New flights depart as others land: a landed aircraft turns round at its destination.
        for i in np.flatnonzero(self.flown_m >= self.total_m):
            self._start_flight(int(i), int(self.destination[i]))

    def positions(self) -> dict[str, np.ndarray]:
        """The current state of every aircraft inside the box, as arrays (SI units, degrees);
        ``index`` is each row's aircraft number."""
        f = self.flown_m / self.total_m
        sin_delta = np.sin(self.delta)
        a = np.sin((1 - f) * self.delta) / sin_delta
        b = np.sin(f * self.delta) / sin_delta
        p = a[:, None] * self.p1 + b[:, None] * self.p2
        lat = np.arctan2(p[:, 2], np.hypot(p[:, 0], p[:, 1]))
        lon = np.arctan2(p[:, 1], p[:, 0])
        lat2 = np.arcsin(np.clip(self.p2[:, 2], -1, 1))
        lon2 = np.arctan2(self.p2[:, 1], self.p2[:, 0])
        dlon = lon2 - lon
        track = np.degrees(np.arctan2(np.sin(dlon) * np.cos(lat2),
                                      np.cos(lat) * np.sin(lat2) - np.sin(lat) * np.cos(lat2) * np.cos(dlon))) % 360

        height, gradient = self._profile(self.flown_m)
        waiting = self.ground_wait_s > 0
        velocity = np.where(waiting, np.where(self.ground_wait_s < 90, TAXI_SPEED, 0.0), self._speed(height))
        on_ground = height < 5.0
        vertical = np.where(on_ground, 0.0, gradient * velocity)
        # Erratic flights report an extreme climb/descent and speed (what the anomaly detector must catch).
        swing = np.sin(self.time / 15.0 + np.arange(self.n))
        vertical = np.where(self.erratic & ~on_ground, np.sign(swing) * (35 + 35 * np.abs(swing)), vertical)
        velocity = np.where(self.erratic & ~on_ground, velocity * 1.6, velocity)
        field = np.where(f < 0.5, self.airport_elevation[self.origin], self.airport_elevation[self.destination])
        # Near the ground the altimeter reads field elevation + height; at cruise it reads the flight level.
        baro = height + field * (1.0 - np.clip(height / self.cruise_alt_m, 0.0, 1.0))

        lat_deg, lon_deg = np.degrees(lat), np.degrees(lon)
        lamin, lomin, lamax, lomax = self.bbox
        inside = np.flatnonzero((lat_deg >= lamin) & (lat_deg <= lamax) & (lon_deg >= lomin) & (lon_deg <= lomax))
        return {
            "index": inside, "latitude": lat_deg[inside], "longitude": lon_deg[inside], "baro_altitude": baro[inside],
            "on_ground": on_ground[inside], "velocity": velocity[inside], "true_track": track[inside],
            "vertical_rate": vertical[inside],
        }

    def records(self) -> list[tuple[str, bytes]]:
        """The current state vector of every aircraft inside the box, as FlightState JSON."""
        state = self.positions()
        inside = state["index"]
        lag = self.rng.uniform(0.0, 1.0, inside.size)

        snapshot = self.time
        columns = zip(
            inside.tolist(),
            np.round(snapshot - lag, 2).tolist(),
            np.round(state["latitude"], 5).tolist(),
            np.round(state["longitude"], 5).tolist(),
            np.round(state["baro_altitude"], 1).tolist(),
            np.round(state["baro_altitude"] + self.geo_offset[inside], 1).tolist(),
            state["on_ground"].tolist(),
            np.round(state["velocity"], 2).tolist(),
            np.round(state["true_track"], 2).tolist(),
            np.round(state["vertical_rate"], 2).tolist(),
            self.category[inside].tolist(),
        )
        icao24, callsign, squawk, country = self.icao24, self.callsign, self.squawk, self.country
        dumps = orjson.dumps
        out = []
        for i, event, la, lo, alt, geo, ground, vel, trk, vr, cat in columns:
            out.append((icao24[i], dumps({
                "schema_version": SCHEMA_VERSION, "source": "sim", "icao24": icao24[i], "callsign": callsign[i],
                "origin_country": country[i], "event_time": event, "snapshot_time": snapshot,
                "last_contact": event, "longitude": lo, "latitude": la, "baro_altitude": alt,
                "geo_altitude": geo, "on_ground": ground, "velocity": vel, "true_track": trk,
                "vertical_rate": vr, "squawk": squawk[i], "spi": False, "position_source": 0, "category": cat,
            })))
        return out

    def tick(self, dt: float = 1.0) -> Batch:
        self.step(dt)
        return Batch(FLIGHT_STATES, self.records())


# --- weather ---------------------------------------------------------------------------------------
class StormField:
    """Moving storm cells over a calm background, rendered as an Open-Meteo multi-location answer."""

    def __init__(self, bbox: tuple[float, float, float, float], cells: list[tuple[str, float, float]], storms: int,
                 rng: np.random.Generator) -> None:
        self.bbox = bbox
        self.cells = cells
        self.rng = rng
        self.lat = np.array([c[1] for c in cells])
        self.lon = np.array([c[2] for c in cells])
        self.background = rng.random(len(cells))
        count = max(0, storms)
        self.storm_lat = np.zeros(count)
        self.storm_lon = np.zeros(count)
        self.storm_vlat = np.zeros(count)  # degrees per second
        self.storm_vlon = np.zeros(count)
        self.radius_km = np.zeros(count)
        self.intensity = np.zeros(count)
        self.life_s = np.zeros(count)
        for k in range(count):
            self._spawn(k)

    def _spawn(self, k: int) -> None:
        lamin, lomin, lamax, lomax = self.bbox
        rng = self.rng
        self.storm_lat[k] = rng.uniform(lamin, lamax)
        self.storm_lon[k] = rng.uniform(lomin, lomax)
        speed_kmh, heading = rng.uniform(20, 60), math.radians(rng.normal(70, 30))  # mostly west to east
        self.storm_vlat[k] = speed_kmh * math.cos(heading) / 111.0 / 3600
        self.storm_vlon[k] = speed_kmh * math.sin(heading) / (111.0 * math.cos(math.radians(self.storm_lat[k]))) / 3600
        self.radius_km[k] = rng.uniform(40, 180)
        self.intensity[k] = rng.uniform(0.5, 1.0)
        self.life_s[k] = rng.uniform(2, 8) * 3600

    def advance(self, dt: float) -> None:
        self.storm_lat += self.storm_vlat * dt
        self.storm_lon += self.storm_vlon * dt
        self.life_s -= dt
        lamin, lomin, lamax, lomax = self.bbox
        gone = (self.life_s <= 0) | (self.storm_lat < lamin) | (self.storm_lat > lamax) | (
            self.storm_lon < lomin) | (self.storm_lon > lomax)
        for k in np.flatnonzero(gone):
            self._spawn(int(k))

    def strength(self) -> np.ndarray:
        """0 (calm) .. 1 (storm core) per cell."""
        if self.storm_lat.size == 0:
            return np.zeros(len(self.cells))
        dlat = (self.lat[:, None] - self.storm_lat[None, :]) * 111.0
        dlon = (self.lon[:, None] - self.storm_lon[None, :]) * 111.0 * np.cos(np.radians(self.lat[:, None]))
        d2 = (dlat**2 + dlon**2) / self.radius_km[None, :] ** 2
        return (self.intensity[None, :] * np.exp(-d2)).max(axis=1)

    def open_meteo_answer(self, now: float, interval_s: int) -> list[dict[str, Any]]:
        s = self.strength()
        moment = datetime.fromtimestamp(now, UTC)
        hour = moment.hour + moment.minute / 60
        diurnal = 4.0 * math.sin((hour - 9) / 24 * 2 * math.pi)
        temperature = 19.0 - 0.55 * (self.lat - 35.0) + diurnal - 6.0 * s + self.background * 2
        wind = 8.0 + 15.0 * self.background + 40.0 * s
        gusts = wind * 1.4 + 70.0 * s
        precipitation = np.round(25.0 * s**2, 1)
        cloud = np.clip(10 + 40 * self.background + 120 * s, 0, 100)
        visibility = np.round(24_140 * (1 - s) ** 3 + 600, -1)
        code = np.select(
            [s > 0.8, s > 0.7, s > 0.6, s > 0.5, s > 0.35, s > 0.2, self.background > 0.6],
            [99, 97, 96, 95, 81, 61, 3],
            default=np.where(self.background > 0.3, 1, 0),
        )
        stamp = moment.strftime("%Y-%m-%dT%H:%M")
        values = {
            "temperature_2m": np.round(temperature, 1),
            "relative_humidity_2m": np.round(np.clip(55 + 30 * self.background + 40 * s, 0, 100)),
            "wind_speed_10m": np.round(wind, 1), "wind_direction_10m": np.round((250 + 60 * self.background) % 360),
            "wind_gusts_10m": np.round(gusts, 1), "precipitation": precipitation, "rain": precipitation,
            "cloud_cover": np.round(cloud), "weather_code": code, "visibility": visibility,
        }
        columns = {name: values[name].tolist() for name in WEATHER_VARIABLES}
        answers = []
        for j, (_, lat, lon) in enumerate(self.cells):
            current = {"time": stamp, "interval": interval_s}
            current.update({name: columns[name][j] for name in WEATHER_VARIABLES})
            answers.append({
                "latitude": round(lat, 4), "longitude": round(lon, 4), "generationtime_ms": 0.1,
                "utc_offset_seconds": 0, "timezone": "GMT", "timezone_abbreviation": "GMT", "elevation": 0.0,
                "current_units": {"time": "iso8601", "interval": "seconds"}, "current": current,
            })
        return answers


# --- Lufthansa reference data and schedules in the API's JSON shape ---------------------------
# Metropolitan-area (IATA city) codes and some of their airports; the simulated reference data
# maps each listed airport present in the simulation to its area, like the live cities/airports do.
METRO_CITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "LON": ("London", ("LHR", "LGW", "STN", "LTN", "LCY", "SEN")),
    "PAR": ("Paris", ("CDG", "ORY")),
    "NYC": ("New York", ("JFK", "EWR", "LGA")),
    "MIL": ("Milan", ("MXP", "LIN", "BGY")),
    "ROM": ("Rome", ("FCO", "CIA")),
    "STO": ("Stockholm", ("ARN", "BMA")),
}

def _names(text: str) -> dict[str, Any]:
    return {"Name": {"@LanguageCode": "EN", "$": text}}  # one language: a bare object, as the API sends


def _page(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    spec = REFERENCE_KINDS[kind]
    return {spec.resource: {spec.collection: {spec.item: items[0] if len(items) == 1 else items},
                            "Meta": {"@Version": "1.0.0", "TotalCount": len(items)}}}


def city_of_airport(code: str) -> str:
    """The simulated city code of an airport: its metropolitan area (LHR -> LON), else its own code."""
    return next((city for city, (_, members) in METRO_CITIES.items() if code in members), code)


def _cities(airports: list[Airport]) -> list[dict[str, Any]]:
    """One city per airport outside the METRO_CITIES, one per metropolitan area holding any of the
    airports (its ``Airports.AirportCode`` a bare string when it holds one, as the API sends it)."""
    position = lambda lat, lon: {"Coordinate": {"Latitude": lat, "Longitude": lon}}  # noqa: E731
    members: dict[str, list[Airport]] = {}
    for a in airports:
        members.setdefault(city_of_airport(a.iata), []).append(a)
    cities = []
    for code, held in members.items():
        codes = [a.iata for a in held]
        name = METRO_CITIES[code][0] if code in METRO_CITIES else held[0].city
        cities.append({"CityCode": code, "CountryCode": held[0].country,
                       "Position": position(round(sum(a.latitude for a in held) / len(held), 4),
                                            round(sum(a.longitude for a in held) / len(held), 4)),
                       "Names": _names(name), "Airports": {"AirportCode": codes[0] if len(codes) == 1 else codes}})
    return cities


def lufthansa_reference_pages(airports: list[Airport], now: float) -> dict[str, dict[str, Any]]:
    countries = sorted({a.country for a in airports})
    moment = datetime.fromtimestamp(now, UTC)
    now_offsets = {a.iata: moment.astimezone(ZoneInfo(a.timezone)).utcoffset() for a in airports}
    position = lambda a: {"Coordinate": {"Latitude": a.latitude, "Longitude": a.longitude}}  # noqa: E731
    return {
        "countries": _page("countries", [{"CountryCode": c, "Names": _names(COUNTRY_NAMES.get(c, c))}
                                         for c in countries]),
        # A few metropolitan-area codes (LON, PAR, ...) as in the live reference data, so a city
        # search works in the demo; every other airport is its own city.
        "cities": _page("cities", _cities(airports)),
        "airports": _page("airports", [{
            "AirportCode": a.iata, "CityCode": city_of_airport(a.iata), "CountryCode": a.country,
            "LocationType": "Airport",
            "Position": position(a), "Names": _names(a.name),
            "UtcOffset": (now_offsets[a.iata] or timedelta(0)).total_seconds() / 3600, "TimeZoneId": a.timezone,
        } for a in airports]),
        "airlines": _page("airlines", [{"AirlineID": iata, "AirlineID_ICAO": icao, "Names": _names(name)}
                                       for icao, iata, name, _, _ in AIRLINES]),
        "aircraft": _page("aircraft", [{"AircraftCode": code, "Names": _names(name), "AirlineEquipCode": code}
                                       for code, name in AIRCRAFT_TYPES.items()]),
    }


def lufthansa_schedule_answer(flight: ScheduledFlight, day: date) -> dict[str, Any]:
    departure, arrival = local_arrival(flight, day)
    leg = {
        "Departure": {"AirportCode": flight.origin, "ScheduledTimeLocal": {"DateTime": departure},
                      "Terminal": {"Name": 1}},
        "Arrival": {"AirportCode": flight.destination, "ScheduledTimeLocal": {"DateTime": arrival}},
        "MarketingCarrier": {"AirlineID": "LH", "FlightNumber": flight.flight_number},
        "OperatingCarrier": {"AirlineID": "LH"},
        "Equipment": {"AircraftCode": flight.aircraft_code},
        "Details": {"Stops": {"StopQuantity": 0}, "DaysOfOperation": 1234567,
                    "DatePeriod": {"Effective": day.isoformat(),
                                   "Expiration": (day + timedelta(days=180)).isoformat()}},
    }
    return {"ScheduleResource": {"Schedule": {"TotalJourney": {"Duration": iso_duration(flight.duration_minutes)},
                                              "Flight": leg}}}


# --- the simulator clients ---------------------------------------------------------------------------
class OpenSkySim(SourceClient):
    """Simulated state vectors, one per aircraft in the box per tick (1 Hz)."""

    name = "opensky"

    def __init__(self, settings: Settings, clock: Clock, *, aircraft: int | None = None, seed: int | None = None,
                 tick_s: float = 1.0) -> None:
        self.clock = clock
        self.tick_s = tick_s
        self.sim = TrafficSimulator(settings, math.floor(clock.now()), aircraft=aircraft, seed=seed)
        self.ticks = 0
        self.lag_s = 0.0

    def batches(self) -> Iterator[Batch]:
        next_tick = self.sim.time + self.tick_s
        while not self.clock.stopped:
            self.clock.sleep(next_tick - self.clock.now())
            if self.clock.stopped:
                return
            self.lag_s = max(0.0, self.clock.now() - next_tick)
            self.ticks += 1
            yield self.sim.tick(self.tick_s)
            next_tick += self.tick_s

    def status(self) -> str:
        return (f"aircraft={self.sim.n} flights={self.sim.flights_started} ticks={self.ticks}"
                f" lag={self.lag_s:.2f}s")


class WeatherSim(SourceClient):
    name = "weather"

    def __init__(self, settings: Settings, clock: Clock, *, seed: int | None = None) -> None:
        self.clock = clock
        self.grid_deg = settings.weather_grid_deg
        self.interval = settings.sim_weather_interval_s
        self.cells = grid_cells(settings.bbox, settings.weather_grid_deg)
        rng = np.random.default_rng((settings.sim_seed if seed is None else seed) + 1)
        self.storms = StormField(settings.bbox, self.cells, settings.sim_storms, rng)
        self.updates = 0

    def batches(self) -> Iterator[Batch]:
        while not self.clock.stopped:
            started = self.clock.now()
            answer = self.storms.open_meteo_answer(started, int(self.interval))
            self.updates += 1
            yield parse_current_weather(answer, self.cells, self.grid_deg, started, "sim")
            self.clock.sleep(started + self.interval - self.clock.now())
            self.storms.advance(self.interval)

    def status(self) -> str:
        return f"updates={self.updates} cells={len(self.cells)}"


class LufthansaSim(SourceClient):
    """References of the simulated airports/airlines and the timetable the DLH flights fly: every
    configured route in both directions (out and back, like the live client fetches them), every
    day of the horizon."""

    name = "lufthansa"

    def __init__(self, settings: Settings, clock: Clock, today: date | None = None) -> None:
        self.clock = clock
        self.horizon_days = settings.lufthansa_horizon_days
        self.timetable = lufthansa_timetable(parse_routes(settings.lufthansa_routes))
        codes = {c for f in self.timetable for c in (f.origin, f.destination)}
        self.airports = region_airports(settings.bbox) + [airport(c) for c in sorted(codes)]
        self.airports = list({a.iata: a for a in self.airports}.values())
        self.today = today
        self.refreshes = 0

    def batches(self) -> Iterator[Batch]:
        while not self.clock.stopped:
            now = self.clock.now()
            for kind, page in lufthansa_reference_pages(self.airports, now).items():
                yield parse_reference_page(REFERENCE_KINDS[kind], page, now, "sim")
            first = self.today or datetime.fromtimestamp(now, UTC).date()
            for flight in self.timetable:
                for offset in range(self.horizon_days):
                    day = first + timedelta(days=offset)
                    yield parse_schedules(lufthansa_schedule_answer(flight, day), flight.origin, flight.destination,
                                          day.isoformat(), now, "sim")
            self.refreshes += 1
            self.clock.sleep(seconds_to_next_refresh(self.clock.now()))

    def status(self) -> str:
        return f"refreshes={self.refreshes} flights={len(self.timetable)}"
