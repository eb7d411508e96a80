"""The weather planner on a fake clock: traffic first, never above the quota, the rest from what is left."""

from __future__ import annotations

import numpy as np
import pytest

from producers.weather_plan import (
    HOUR_LIMIT,
    LOW_LEVEL_WEIGHT,
    MINUTE_LIMIT,
    UPDATE_INTERVAL_S,
    WeatherPlanner,
    airport_cells,
    observation_slot,
    traffic_demand,
)
from skyrisk.geo import cell_id

START = 1_780_000_200.0  # on a 15-minute boundary
GRID = [f"{r}:{c}" for r in range(100) for c in range(50)]  # 5,000 cells


def test_demand_counts_airborne_aircraft_per_cell_and_low_level_traffic_triple():
    lat = np.array([50.1, 50.2, 50.3, 48.9, 48.8, np.nan])
    lon = np.array([8.6, 8.7, 8.8, 2.3, 2.4, 1.0])
    alt = np.array([11_000.0, 2_000.0, np.nan, 10_000.0, 300.0, 5_000.0])
    ground = np.array([False, False, False, False, True, False])
    demand = traffic_demand(lat, lon, alt, ground, 1.0)
    # 50.x/8.x: one at cruise (1) + one below 3,000 m (3) + one of unknown altitude (3); 48.9/2.3 cruise;
    # the aircraft on the ground and the one without a position are not counted.
    assert demand == {cell_id(50.1, 8.6, 1.0): 1 + 2 * LOW_LEVEL_WEIGHT, cell_id(48.9, 2.3, 1.0): 1.0}
    assert traffic_demand(lat, lon, alt, np.ones(6, dtype=bool), 1.0) == {}


def test_cells_with_traffic_come_first_and_the_heaviest_first():
    planner = WeatherPlanner(GRID, 10_000, 7200, start=START)
    room = planner.room(START)
    demand = {GRID[i]: float(i + 1) for i in range(room + 50)}  # more demand than room
    chosen = planner.plan(START, demand)
    assert len(chosen) == room
    assert chosen == [GRID[i] for i in range(room + 49, 49, -1)]  # heaviest first, the 50 lightest wait
    assert planner.totals.demand == room and planner.totals.rest == 0


def test_a_cell_is_not_fetched_again_within_its_15_minute_slot_nor_while_fresh():
    planner = WeatherPlanner(GRID, 10_000, 7200, start=START)
    assert planner.plan(START, {"5:5": 1.0})[0] == "5:5"
    for minute in range(1, 119):
        t = START + 60 * minute
        assert "5:5" not in planner.plan(t, {"5:5": 1.0}), minute  # fresh for the 2 hours, less one tick
    t = START + 7200 - 60
    assert "5:5" in planner.plan(t, {"5:5": 1.0})  # refreshed before it ages out
    assert planner.age("5:5", t + 60) == 900  # the join sees the time of the slot the fetch answered: 6,300 s
    assert observation_slot(START + 899) == START and observation_slot(START + 900) == START + UPDATE_INTERVAL_S


def test_an_uncovered_cell_goes_before_one_that_is_only_ageing():
    planner = WeatherPlanner(GRID, 10_000, 3600, start=START)
    planner.plan(START, {"7:7": 1.0})
    t = START + 3600 - 60  # 7:7 is due (it would age out before the next tick) but still covered
    planner.room(t)
    planner.tokens = 1  # room for one cell only
    assert planner.plan(t, {"7:7": 100.0, "8:8": 1.0}) == ["8:8"]  # 8:8 has no weather at all


def spend_a_day_and_a_half(planner: WeatherPlanner, demand_of) -> list[tuple[float, int]]:
    booked = []
    for minute in range(36 * 60):
        t = START + 60.0 * minute
        chosen = planner.plan(t, demand_of(t))
        assert len(set(chosen)) == len(chosen)
        booked.append((t, len(chosen)))
    return booked


def window_max(booked: list[tuple[float, int]], seconds: float) -> int:
    times = np.array([t for t, _ in booked])
    counts = np.concatenate([[0], np.cumsum([n for _, n in booked])])
    ends = np.searchsorted(times, times + seconds, side="left")
    return int(max(counts[e] - counts[i] for i, e in enumerate(ends)))


@pytest.mark.parametrize("daily", [10_000, 1_000, 200_000])
def test_never_above_the_daily_hourly_or_minute_limit_whatever_the_demand(daily):
    planner = WeatherPlanner(GRID, daily, 1800, start=START)
    rng = np.random.default_rng(3)

    def heavy(_t: float) -> dict[str, float]:  # 3,000 busy cells, new ones every minute
        return {GRID[i]: 1.0 for i in rng.choice(len(GRID), 3000, replace=False)}

    booked = spend_a_day_and_a_half(planner, heavy)
    assert window_max(booked, 86_400) <= daily
    assert window_max(booked, 3600) <= HOUR_LIMIT and window_max(booked, 60) <= MINUTE_LIMIT
    assert window_max(booked, 86_400) >= 0.9 * min(daily, 24 * HOUR_LIMIT)  # and the quota is used


def test_the_rest_of_the_grid_gets_only_what_traffic_leaves_airports_first():
    airports = airport_cells([(10.5, 20.5), (60.5, 5.5)], 1.0)
    planner = WeatherPlanner(GRID, 10_000, 7200, airports=airports, start=START)
    quiet = planner.plan(START, {})  # no traffic: the grid, airports first, within the reserve
    assert quiet[:2] == ["10:20", "60:5"]
    assert 0 < len(quiet) <= planner.depth / 2
    busy = WeatherPlanner(GRID, 10_000, 7200, airports=airports, start=START)
    everywhere = {cell: 1.0 for cell in GRID}
    spend_a_day_and_a_half(busy, lambda _t: everywhere)
    assert busy.totals.rest == 0 and busy.totals.demand > 0


def test_a_failed_fetch_makes_its_cells_due_again():
    planner = WeatherPlanner(GRID, 10_000, 7200, start=START)
    chosen = planner.plan(START, {"3:3": 1.0})
    planner.failed(START, chosen)
    assert "3:3" in planner.plan(START + 60, {"3:3": 1.0})
