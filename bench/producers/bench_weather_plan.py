"""Weather coverage of live mode within Open-Meteo's free quota: 24 simulated hours, fake clock.

    .venv/bin/python -m bench.producers.bench_weather_plan                  # both fleets, the stated maximum age
    .venv/bin/python -m bench.producers.bench_weather_plan --fleet sim --max-age-minutes 60 120 180

The planner (producers.weather_plan) is run tick by tick as the live weather producer runs it: every
``--tick-s`` it is given the traffic of the last OpenSky poll (every ``--poll-s``, a standard
account's pace) and books the cells it fetches. Every minute each airborne state is checked as the
streaming join checks it: covered when its cell's newest weather (the 15-minute slot the fetch
answered with) is no older than the maximum age. Printed per fleet and maximum age: the share of
airborne states covered, the locations spent in the worst 24 hours / hour / minute against the
quota, and how many went to cells with traffic.

Fleets: ``sim`` is the simulator's 2,000-aircraft Europe traffic (producers.simulator); ``real`` is
the real-traffic validation set (real OpenSky state vectors of 2021-10-07 12:00-15:00 UTC around
Paris, the pinned ``traffic`` wheel, fetched into the cache like ``make validate``) replayed eight
times back to back to fill 24 hours.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from producers.weather_plan import DAY_S, HOUR_LIMIT, MINUTE_LIMIT, WeatherPlanner, airport_cells, traffic_demand
from skyrisk.geo import grid_cells
from skyrisk.settings import Settings
from skyrisk.weather import max_age_minutes

Traffic = Callable[[float], dict[str, np.ndarray]]  # time -> latitude, longitude, altitude, on_ground


def simulator_fleet(settings: Settings, start: float, aircraft: int) -> tuple[Traffic, list[tuple[float, float]]]:
    from producers.simulator import TrafficSimulator

    sim = TrafficSimulator(settings, start, aircraft=aircraft)

    def at(t: float) -> dict[str, np.ndarray]:
        while sim.time + 10.0 <= t:
            sim.step(10.0)
        state = sim.positions()
        return {"latitude": state["latitude"], "longitude": state["longitude"],
                "altitude": state["baro_altitude"], "on_ground": state["on_ground"]}

    return at, [(a.latitude, a.longitude) for a in sim.airports]


def real_fleet(settings: Settings, start: float) -> tuple[Traffic, list[tuple[float, float]]]:
    from producers.airports import region_airports
    from validation.dataset import fetch_wheel, read_sample, state_rows

    rows = state_rows(read_sample(fetch_wheel(settings.cache_dir), "collections/quickstart"))
    times = np.array([r["time"] for r in rows], dtype=float)
    order = np.argsort(times, kind="stable")
    times = times[order]
    columns = {
        "latitude": np.array([rows[i]["latitude"] for i in order], dtype=float),
        "longitude": np.array([rows[i]["longitude"] for i in order], dtype=float),
        "altitude": np.array([np.nan if rows[i]["baro_altitude"] is None else rows[i]["baro_altitude"] for i in order],
                             dtype=float),
        "on_ground": np.array([rows[i]["on_ground"] for i in order]),
    }
    first, span = times[0], times[-1] - times[0] + 1.0

    def at(t: float) -> dict[str, np.ndarray]:
        # The states of the second ``t`` falls on (the set is 1 Hz), looped over its 3 hours.
        second = first + math.floor((t - start) % span)
        lo, hi = np.searchsorted(times, [second, second + 1.0])
        return {name: values[lo:hi] for name, values in columns.items()}

    return at, [(a.latitude, a.longitude) for a in region_airports(settings.bbox)]


class SweepBefore(WeatherPlanner):
    """What the live weather did before the planner (commit 562ef1c): the whole grid in order, as fast
    as 600 locations a minute allow, one sweep every max(15 min, cells x 86,400 / daily) seconds."""

    def __init__(self, cells: list[str], daily_locations: int, max_age_s: float, *, start: float, **_: object) -> None:
        super().__init__(cells, daily_locations, max_age_s, start=start)
        self.interval = max(900.0, DAY_S * len(cells) / daily_locations)
        self.sweep_start, self.position = start, 0
        self.day: list[tuple[float, int]] = []  # what its limiter's day window held

    def plan(self, now: float, demand: dict[str, float]) -> list[str]:
        if self.position >= len(self.cells) and now >= self.sweep_start + self.interval:
            self.sweep_start, self.position = now, 0
        self.day = [(t, n) for t, n in self.day if t > now - DAY_S]
        room = min(MINUTE_LIMIT, self.daily - sum(n for _, n in self.day))
        chosen = self.cells[self.position : self.position + max(0, room)]
        self.day.append((now, len(chosen)))
        self.position += len(chosen)
        self.totals.rest += len(chosen)
        for cell in chosen:
            self.fetched_at[cell] = now
        return chosen


@dataclass
class Result:
    fleet: str
    max_age_min: int
    covered: int
    airborne: int
    worst_day: int
    worst_hour: int
    worst_minute: int
    demand: int
    rest: int
    seconds: float

    @property
    def share(self) -> float:
        return self.covered / self.airborne if self.airborne else float("nan")


def worst_window(spent: list[tuple[float, int]], window_s: float) -> int:
    times = np.array([t for t, _ in spent])
    counts = np.cumsum([0] + [n for _, n in spent])
    if times.size == 0:
        return 0
    ends = np.searchsorted(times, times + window_s, side="left")
    return int(max(counts[e] - counts[i] for i, e in enumerate(ends)))


def run(fleet: str, traffic: Traffic, airports: list[tuple[float, float]], settings: Settings, max_age_min: int,
        start: float, warmup_hours: float, hours: float, tick_s: float, poll_s: float,
        planner_type: type[WeatherPlanner] = WeatherPlanner) -> Result:
    """Plans from ``start``; counts states and spending only after the warm-up (the producer starts
    with no weather at all once, then runs for days)."""
    grid = settings.weather_grid_deg
    cells = [c for c, _, _ in grid_cells(settings.bbox, grid)]
    planner = planner_type(cells, settings.open_meteo_daily_locations, max_age_min * 60.0, tick_s=tick_s,
                           airports=airport_cells(airports, grid), start=start)
    booked: list[tuple[float, int]] = []
    covered = airborne = 0
    demand: dict[str, float] = {}
    next_poll = start
    began = time.perf_counter()
    t = start
    counted_from = start + warmup_hours * 3600.0
    end = counted_from + hours * 3600.0
    while t < end:
        if t >= next_poll:
            seen = traffic(t)
            demand = traffic_demand(seen["latitude"], seen["longitude"], seen["altitude"], seen["on_ground"], grid)
            next_poll += poll_s
        chosen = planner.plan(t, demand)
        if chosen:
            booked.append((t, len(chosen)))
        if t < counted_from:
            t += tick_s
            continue
        # Every minute the states of that moment meet the join's rule (the weather arrives within the tick).
        now = traffic(t + 59.0)
        flying = ~now["on_ground"] & np.isfinite(now["latitude"])
        lat, lon = now["latitude"][flying], now["longitude"][flying]
        ids = [f"{r}:{c}" for r, c in zip(np.floor(lat / grid).astype(int).tolist(), np.floor(lon / grid).astype(int).tolist())]
        airborne += len(ids)
        covered += sum(planner.age(cell, t + 59.0) <= max_age_min * 60.0 for cell in ids)
        t += tick_s
    return Result(fleet, max_age_min, covered, airborne, worst_window(booked, DAY_S), worst_window(booked, 3600.0),
                  worst_window(booked, 60.0), planner.totals.demand, planner.totals.rest, time.perf_counter() - began)


def fleet(name: str, settings: Settings, start: float, aircraft: int) -> tuple[str, Traffic, list]:
    """A fresh fleet from ``start`` (the simulator only moves forward)."""
    if name == "sim":
        return f"simulator, {aircraft} aircraft, Europe", *simulator_fleet(settings, start, aircraft)
    return "real OpenSky 2021-10-07 12-15 UTC, Paris, looped", *real_fleet(settings, start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.producers.bench_weather_plan",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", nargs="+", choices=("sim", "real"), default=["sim", "real"])
    parser.add_argument("--max-age-minutes", nargs="+", type=int, default=None,
                        help="maximum ages to try (default: the stated one for live weather, skyrisk.weather.max_age_minutes)")
    parser.add_argument("--hours", type=float, default=24.0, help="hours counted")
    parser.add_argument("--warmup-hours", type=float, default=6.0, help="hours planned before counting starts")
    parser.add_argument("--aircraft", type=int, default=2000)
    parser.add_argument("--tick-s", type=float, default=60.0, help="planning interval of the producer")
    parser.add_argument("--poll-s", type=float, default=90.0, help="OpenSky poll interval (standard account)")
    parser.add_argument("--no-before", action="store_true",
                        help="leave out the run of the sweep that came before the planner (0.5°, 60 min)")
    args = parser.parse_args(argv)
    settings = Settings()
    ages = args.max_age_minutes or [max_age_minutes(settings, "live")]
    start = 1_780_000_200.0  # a fixed day (2026-05-28 20:30 UTC), on a 15-minute boundary
    daily = settings.open_meteo_daily_locations
    print(f"grid {settings.weather_grid_deg}° over {settings.bbox}: {len(grid_cells(settings.bbox, settings.weather_grid_deg))} "
          f"cells; quota {daily}/day, {HOUR_LIMIT}/h, {MINUTE_LIMIT}/min; {args.hours:g} h counted after "
          f"{args.warmup_hours:g} h of warm-up, tick {args.tick_s:g} s, "
          f"poll {args.poll_s:g} s")
    print("| fleet | max age | airborne states covered | worst 24 h / 1 h / 1 min spent | fetched for traffic / rest (whole run) | run |")
    print("|---|---|---|---|---|---|")
    ok = True
    for kind in args.fleet:
        if not args.no_before:  # the old defaults: the 0.5° grid swept every ~11.4 h, weather joined up to 60 min old
            old = settings.model_copy(update={"weather_grid_deg": 0.5})
            name, traffic, airports = fleet(kind, old, start, args.aircraft)
            r = run(f"{name} — before: 0.5° sweep", traffic, airports, old, 60, start, args.warmup_hours, args.hours,
                    args.tick_s, args.poll_s, SweepBefore)
            print(f"| {r.fleet} | 60 min | {r.share:.1%} ({r.covered:,} / {r.airborne:,}) | "
                  f"{r.worst_day:,} / {r.worst_hour:,} / {r.worst_minute:,} | {r.demand:,} / {r.rest:,} | {r.seconds:.0f} s |",
                  flush=True)
        for age in ages:
            name, traffic, airports = fleet(kind, settings, start, args.aircraft)
            r = run(name, traffic, airports, settings, age, start, args.warmup_hours, args.hours, args.tick_s,
                    args.poll_s)
            within = r.worst_day <= daily and r.worst_hour <= HOUR_LIMIT and r.worst_minute <= MINUTE_LIMIT
            ok &= within
            print(f"| {r.fleet} | {r.max_age_min} min | {r.share:.1%} ({r.covered:,} / {r.airborne:,}) | "
                  f"{r.worst_day:,} / {r.worst_hour:,} / {r.worst_minute:,}{'' if within else ' OVER'} | "
                  f"{r.demand:,} / {r.rest:,} | {r.seconds:.0f} s |", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
