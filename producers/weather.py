"""Open-Meteo current weather over the grid: parser and the live / replay clients."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from producers.core import RECORD_ERRORS, Batch, Clock, SourceClient, Stopped, as_list
from producers.http import HttpClient, HttpError, RateLimiter, Recorder, parse_recording_name
from producers.replay import ReplayPacer, find_files, read_recording
from producers.weather_plan import WeatherPlanner, airport_cells, traffic_demand
from producers.airports import region_airports
from skyrisk.contracts import FLIGHT_STATES, WEATHER, WEATHER_VARIABLES, Source, WeatherObservation
from skyrisk.geo import cell_center, cell_id, grid_cells
from skyrisk.settings import Settings
from skyrisk.weather import max_age_minutes

log = logging.getLogger(__name__)

Cell = tuple[str, float, float]  # (cell id, centre latitude, centre longitude)

PLAN_TICK_S = 60.0  # the planner decides once a minute (the per-minute limit's window)
CHUNK_LOCATIONS = 100
# Free-tier limits, counted in locations: per minute, per hour (per day comes from the settings).
LOCATION_LIMITS = ((60.0, 600), (3600.0, 5000))


def observation_time(current: dict[str, Any], utc_offset_seconds: float) -> float:
    """``current.time`` ("2026-11-21T10:15", local to the response's timezone) as epoch seconds UTC."""
    local = datetime.fromisoformat(current["time"])
    if local.tzinfo is None:
        local = local.replace(tzinfo=UTC)
    return local.timestamp() - utc_offset_seconds


def error_reason(payload: Any) -> str | None:
    if isinstance(payload, dict) and payload.get("error"):
        return str(payload.get("reason") or "error without reason")
    return None


def parse_current_weather(
    payload: Any,
    cells: Sequence[Cell] | None,
    grid_deg: float,
    fetched_time: float,
    source: Source,
    shift_s: float = 0.0,
) -> Batch:
    """A forecast response (one object, or a list in request order) -> one message per cell.

    ``cells`` are the requested points in request order; without them (replay of recordings) each
    answer is placed in the grid cell holding the model point the API answered with.
    """
    batch = Batch(WEATHER)
    if (reason := error_reason(payload)) is not None:
        batch.reject(f"Open-Meteo error: {reason}", payload, source)
        return batch
    answers = as_list(payload)
    if cells is not None and len(answers) != len(cells):
        batch.reject(f"{len(answers)} answers for {len(cells)} requested points", payload, source)
        return batch
    for index, answer in enumerate(answers):
        try:
            model_lat, model_lon = answer.get("latitude"), answer.get("longitude")
            if cells is not None:
                cell, cell_lat, cell_lon = cells[index]
            else:
                cell = cell_id(model_lat, model_lon, grid_deg)
                cell_lat, cell_lon = cell_center(cell, grid_deg)
            current = answer["current"]
            observation = WeatherObservation(
                source=source,
                cell_id=cell,
                cell_latitude=cell_lat,
                cell_longitude=cell_lon,
                model_latitude=model_lat,
                model_longitude=model_lon,
                observation_time=observation_time(current, answer.get("utc_offset_seconds") or 0) + shift_s,
                fetched_time=fetched_time + shift_s,
                **{name: current.get(name) for name in WEATHER_VARIABLES},
            )
        except RECORD_ERRORS as exc:
            batch.reject(f"invalid weather answer: {exc}".splitlines()[0], answer, source)
            continue
        batch.add(observation.cell_id, observation)
    return batch


def forecast_params(cells: Sequence[Cell]) -> dict[str, str]:
    return {
        "latitude": ",".join(f"{lat:.4f}" for _, lat, _ in cells),
        "longitude": ",".join(f"{lon:.4f}" for _, _, lon in cells),
        "current": ",".join(WEATHER_VARIABLES),
    }


class TrafficSeen:
    """Where the aircraft are, from the flight-state batches the producers publish (any mode).

    The runner hands it every batch; it keeps the demand (producers.weather_plan.traffic_demand) of
    the newest snapshot, read at most every ``every_s`` so a 1 Hz simulator costs little. A demand
    older than ``ttl_s`` (OpenSky down) is no demand: the planner then keeps the grid fresh instead.
    """

    def __init__(self, grid_deg: float, clock: Clock, every_s: float = 30.0, ttl_s: float = 900.0) -> None:
        self.grid_deg = grid_deg
        self.clock = clock
        self.every_s = every_s
        self.ttl_s = ttl_s
        self._demand: dict[str, float] = {}
        self._at = -float("inf")
        self._lock = threading.Lock()

    def observe(self, batch: Batch) -> None:
        now = self.clock.now()
        if batch.topic is not FLIGHT_STATES or not batch.records or now - self._at < self.every_s:
            return
        states = [orjson.loads(value) for _, value in batch.records]
        demand = traffic_demand(
            np.array([s.get("latitude") for s in states], dtype=float),
            np.array([s.get("longitude") for s in states], dtype=float),
            np.array([s.get("baro_altitude") for s in states], dtype=float),
            np.array([bool(s.get("on_ground")) for s in states]),
            self.grid_deg,
        )
        with self._lock:
            self._demand, self._at = demand, now

    def demand(self) -> dict[str, float]:
        with self._lock:
            return self._demand if self.clock.now() - self._at <= self.ttl_s else {}


class WeatherLive(SourceClient):
    """Fetches, each tick, the cells the planner chooses (traffic first) in multi-location requests,
    within the per-minute/hour/day location limits."""

    name = "weather"

    def __init__(self, settings: Settings, clock: Clock, http: HttpClient | None = None,
                 recorder: Recorder | None = None, chunk_locations: int = CHUNK_LOCATIONS,
                 tick_s: float = PLAN_TICK_S) -> None:
        self.clock = clock
        self.http = http or HttpClient(clock)
        self.recorder = recorder
        self.url = settings.open_meteo_url
        self.grid_deg = settings.weather_grid_deg
        self.cells = {cell[0]: cell for cell in grid_cells(settings.bbox, settings.weather_grid_deg)}
        self.chunk_locations = chunk_locations
        self.traffic = TrafficSeen(self.grid_deg, clock)  # fed by observe(): the flight states of this process
        self.tick_s = tick_s
        # The hard guard: every attempt (retries too) is counted against the provider's windows.
        self.limiter = RateLimiter(clock, (*LOCATION_LIMITS, (86_400.0, settings.open_meteo_daily_locations)))
        self.max_age_minutes = max_age_minutes(settings, "live")
        self.planner = WeatherPlanner(
            list(self.cells), settings.open_meteo_daily_locations, self.max_age_minutes * 60.0, tick_s=tick_s,
            airports=airport_cells(((a.latitude, a.longitude) for a in region_airports(settings.bbox)), self.grid_deg),
            start=clock.now())
        self.calls = 0
        log.info("weather live: %d cells at %g°, %d locations a day; cells with traffic first, weather kept "
                 "within %d minutes", len(self.cells), self.grid_deg, settings.open_meteo_daily_locations,
                 self.max_age_minutes)

    def fetch_chunk(self, cells: Sequence[Cell]) -> Batch:
        try:
            response = self.http.request("GET", self.url, params=forecast_params(cells),
                                         before_attempt=lambda: self.limiter.acquire(len(cells)))
        except HttpError as exc:
            return Batch.rejected(WEATHER, str(exc), exc.body, "live")
        self.calls += 1
        fetched = self.clock.now()
        if self.recorder is not None:
            self.recorder.save("weather.current", response.content)
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return Batch.rejected(WEATHER, f"HTTP {response.status_code}, body is not JSON", response.text, "live")
        if response.status_code != 200 and error_reason(payload) is None:
            return Batch.rejected(WEATHER, f"HTTP {response.status_code}", payload, "live")
        return parse_current_weather(payload, cells, self.grid_deg, fetched, "live")

    def batches(self) -> Iterator[Batch]:
        while not self.clock.stopped:
            started = self.clock.now()
            chosen = self.planner.plan(started, self.traffic.demand())
            try:
                for i in range(0, len(chosen), self.chunk_locations):
                    chunk = chosen[i : i + self.chunk_locations]
                    batch = self.fetch_chunk([self.cells[c] for c in chunk])
                    if not batch.records:  # refused or failed: those cells are due again next tick
                        self.planner.failed(started, chunk)
                    yield batch
            except Stopped:
                return
            self.clock.sleep(started + self.tick_s - self.clock.now())

    def observe(self, batch: Batch) -> None:
        self.traffic.observe(batch)

    def status(self) -> str:
        left = self.limiter.left()
        totals = self.planner.totals
        return (f"calls={self.calls} traffic_cells={len(self.traffic.demand())} to_traffic={totals.demand} rest={totals.rest} "
                f"locations_left_hour={left[3600.0]} day={left[86_400.0]}")


class WeatherReplay(SourceClient):
    """Recorded forecast responses, in recording order, placed by the model point's grid cell."""

    name = "weather"

    def __init__(self, path: Path, settings: Settings, clock: Clock, *, speed: float = 1.0, loop: bool = False,
                 shift_to_now: bool = False) -> None:
        self.files = find_files(path, (".json", ".json.gz"))
        self.grid_deg = settings.weather_grid_deg
        self.clock = clock
        self.pacer = ReplayPacer(clock, speed)
        self.loop = loop
        self.shift_to_now = shift_to_now
        self.responses = 0
        self.bad_files = 0  # unreadable or truncated recordings, skipped

    def batches(self) -> Iterator[Batch]:
        while True:
            self.pacer.restart()
            for path in self.files:
                if self.clock.stopped:
                    return
                recorded = parse_recording_name(path)
                fetched = recorded[1] if recorded else path.stat().st_mtime
                self.pacer.wait_for(fetched)
                shift_s = self.clock.now() - fetched if self.shift_to_now else 0.0  # as in the OpenSky replay
                raw = read_recording(path)  # None: truncated or not gzip, logged
                if raw is None:
                    self.bad_files += 1
                    continue
                self.responses += 1
                try:
                    payload = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    yield Batch.rejected(WEATHER, f"{path.name} is not JSON: {exc}", raw.decode(errors="replace"),
                                         "replay")
                    continue
                yield parse_current_weather(payload, None, self.grid_deg, fetched, "replay", shift_s)
            if not self.loop or self.clock.stopped:
                return

    def status(self) -> str:
        return f"responses={self.responses} bad_files={self.bad_files}"
