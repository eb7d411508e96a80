"""A live session anyone can replay: real OpenSky trajectories, and the Open-Meteo and Lufthansa
answers a live run over them would have fetched, in the recorder's layout.

    .venv/bin/python -m validation.session DIR                  # 60 minutes of the real set
    python -m producers all replay DIR --shift-to-now           # replays it (what `make run` does in
                                                                # producer mode replay)

- ``DIR/opensky/``: ``/states/all`` answers every ``--poll-s`` (90 s, a standard account's pace over
  Europe), each aircraft's newest state in the poll's window, from the real-traffic validation set
  (real OpenSky state vectors of 2021-10-07 12:00-15:00 UTC around Paris, the pinned ``traffic``
  wheel, fetched into the cache as ``make validate`` does).
- ``DIR/weather/``: each minute, the cells the live planner (producers.weather_plan) chooses for that
  traffic within the free quota, as one multi-location forecast answer in the documented shape. The
  planner runs ``--warmup-minutes`` ahead of the first poll, as a producer that was already running
  would have. No machine of ours reaches Open-Meteo, so the *values* are the simulator's storm field;
  the shapes, the cells and the times are what a live run would have recorded.
- ``DIR/lufthansa/``: the reference pages and the schedules of every configured route in both
  directions for the horizon from ``--today``, in the API's shapes (the simulator's answers).
"""

from __future__ import annotations

import argparse
import gzip
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from producers.http import recording_name
from skyrisk.geo import grid_cells
from skyrisk.settings import Settings, load_settings
from skyrisk.weather import max_age_minutes

COLLECTION = "collections/quickstart"
PLAN_TICK_S = 60.0


@dataclass(frozen=True)
class SessionSummary:
    polls: int
    weather_answers: int
    weather_locations: int
    lufthansa_answers: int
    first_poll: float
    last_poll: float


def _write(directory: Path, stem: str, at: float, payload: Any) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / recording_name(stem, at)).write_bytes(gzip.compress(json.dumps(payload).encode()))


def build_session(rows: list[dict[str, Any]], directory: Path, settings: Settings, *, minutes: float = 60.0,
                  poll_s: int = 90, warmup_minutes: float = 30.0, today: date | None = None,
                  seed: int = 7) -> SessionSummary:
    """Write a replayable session of ``minutes`` from ``rows`` (validation.dataset.state_rows) into
    ``directory``: opensky/, weather/ and lufthansa/ as ``--record DIR`` writes them."""
    from producers.airports import airport, region_airports
    from producers.lufthansa import parse_routes
    from producers.simulator import StormField, lufthansa_reference_pages, lufthansa_schedule_answer, lufthansa_timetable
    from producers.weather_plan import WeatherPlanner, airport_cells, traffic_demand
    from validation.dataset import snapshots

    first = rows[0]["time"]
    start = first + warmup_minutes * 60.0  # the session's first poll; the planner ran before it
    end = start + minutes * 60.0
    every_poll = list(snapshots((r for r in rows if r["time"] < end), poll_s))  # the warm-up's polls too
    polls = [s for s in every_poll if s["time"] >= start]
    for answer in polls:
        _write(directory / "opensky", "opensky.states", answer["time"], answer)

    # weather: the planner, each minute, fed the newest poll (states of the warm-up are polled too)
    grid = settings.weather_grid_deg
    cells = grid_cells(settings.bbox, grid)
    index = {cell: i for i, (cell, _, _) in enumerate(cells)}
    airports = region_airports(settings.bbox)
    planner = WeatherPlanner([c for c, _, _ in cells], settings.open_meteo_daily_locations,
                             max_age_minutes(settings, "live") * 60.0, tick_s=PLAN_TICK_S,
                             airports=airport_cells(((a.latitude, a.longitude) for a in airports), grid), start=first)
    storms = StormField(settings.bbox, cells, settings.sim_storms, np.random.default_rng(seed))
    demand: dict[str, float] = {}
    next_poll = 0
    answers = locations = 0
    t = first
    while t < end:
        while next_poll < len(every_poll) and every_poll[next_poll]["time"] <= t:
            states = every_poll[next_poll]["states"]  # /states/all rows: 5 lon, 6 lat, 7 baro, 8 on ground
            demand = traffic_demand(np.array([s[6] for s in states], dtype=float), np.array([s[5] for s in states], dtype=float),
                                    np.array([np.nan if s[7] is None else s[7] for s in states], dtype=float),
                                    np.array([bool(s[8]) for s in states]), grid)
            next_poll += 1
        chosen = planner.plan(t, demand)
        storms.advance(PLAN_TICK_S)
        if chosen:
            slot = t - t % 900
            field = storms.open_meteo_answer(slot, 900)
            for i in range(0, len(chosen), 100):  # the live client's requests of up to 100 locations
                part = [field[index[c]] for c in chosen[i : i + 100]]
                _write(directory / "weather", "weather.current", t + i / 1000, part[0] if len(part) == 1 else part)
                answers += 1
            locations += len(chosen)
        t += PLAN_TICK_S

    # lufthansa: what a nightly refresh at the session's start fetches
    day0 = today or datetime.now(UTC).date()
    timetable = lufthansa_timetable(parse_routes(settings.lufthansa_routes))
    codes = sorted({c for f in timetable for c in (f.origin, f.destination)})
    known = list({a.iata: a for a in airports + [airport(c) for c in codes]}.values())
    fetched = start - 60.0
    pages = lufthansa_reference_pages(known, fetched)
    lufthansa = 0
    for n, (endpoint, page) in enumerate(pages.items()):
        _write(directory / "lufthansa", f"lufthansa.{endpoint}.0", fetched + n / 1000, page)
        lufthansa += 1
    for n, flight in enumerate(timetable):
        for offset in range(settings.lufthansa_horizon_days):
            day = day0 + timedelta(days=offset)
            stem = f"lufthansa.schedules.{flight.origin}.{flight.destination}.{day.isoformat()}"
            _write(directory / "lufthansa", stem, fetched + 1 + n + offset / 1000, lufthansa_schedule_answer(flight, day))
            lufthansa += 1
    return SessionSummary(len(polls), answers, locations, lufthansa, polls[0]["time"], polls[-1]["time"])


def main(argv: list[str] | None = None) -> int:
    from validation.dataset import fetch_wheel, read_sample, state_rows

    parser = argparse.ArgumentParser(prog="python -m validation.session", description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the session (polls)")
    parser.add_argument("--poll-s", type=int, default=90, help="OpenSky poll interval")
    parser.add_argument("--warmup-minutes", type=float, default=30.0, help="weather planned before the first poll")
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="first day of the schedules")
    args = parser.parse_args(argv)
    settings = load_settings()
    print(f"reading the real-traffic set ({COLLECTION}) ...", flush=True)
    rows = state_rows(read_sample(fetch_wheel(settings.cache_dir), COLLECTION))
    summary = build_session(rows, args.directory, settings, minutes=args.minutes, poll_s=args.poll_s,
                            warmup_minutes=args.warmup_minutes, today=args.today)
    span = datetime.fromtimestamp(summary.first_poll, UTC), datetime.fromtimestamp(summary.last_poll, UTC)
    print(f"{args.directory}: {summary.polls} OpenSky polls ({span[0]:%Y-%m-%d %H:%M:%S} to {span[1]:%H:%M:%S} UTC), "
          f"{summary.weather_answers} Open-Meteo answers ({summary.weather_locations} locations), "
          f"{summary.lufthansa_answers} Lufthansa answers; replay: python -m producers all replay "
          f"{args.directory} --shift-to-now")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
