"""Which weather cells to fetch, and when, within Open-Meteo's free quota (pure: the time is passed in).

The free quota is 10,000 locations a day (5,000 an hour, 600 a minute). The Europe box at 0.5° is
4,752 cells, so a sweep of the whole grid fits about twice a day: demand decides instead. Each
planning tick the planner is given the traffic of the moment (:func:`traffic_demand`: the weight
of each cell that holds airborne aircraft, low-level traffic counted triple) and

1. fetches the cells with traffic whose weather is missing or would be older than the stated
   maximum age before the next tick, heaviest first (take-off, approach and busy airways);
2. never fetches a cell twice within the 15 minutes its values stay the same;
3. spends what is left, and only that, on the rest of the grid: airports first, then oldest first.

Spending is paced by a token bucket refilled at the day's quota (less a margin) so that any 24 hours
spend at most the daily quota, with one hour's refill as its depth; the minute and hour limits are
checked on top. The maximum age the streaming join accepts is :func:`skyrisk.weather.max_age_minutes`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from skyrisk.geo import cell_index

UPDATE_INTERVAL_S = 900.0  # Open-Meteo's current values change every 15 minutes (`current.interval`)
MINUTE_LIMIT = 600  # locations per minute (free tier)
HOUR_LIMIT = 5000  # locations per hour (free tier)
DAY_S = 86_400.0
# The bucket's depth is one hour of refill; with the refill at (1 - margin) of the quota, a full
# bucket plus a day of refill is (1 - 1/25) * (1 + 1/24) = 1.0 quota: no 24 hours ever overspend.
BUCKET_HOURS = 1.0
QUOTA_MARGIN = 1 / 25
LOW_LEVEL_M = 3_000.0  # below this (take-off, climb-out, approach) weather matters most
LOW_LEVEL_WEIGHT = 3.0
# The share of the bucket the rest of the grid may never take: a burst of new traffic finds room.
DEMAND_RESERVE = 0.5


def traffic_demand(latitude: np.ndarray, longitude: np.ndarray, altitude: np.ndarray, on_ground: np.ndarray,
                   grid_deg: float) -> dict[str, float]:
    """Weight of each cell holding airborne aircraft: 1 per aircraft, LOW_LEVEL_WEIGHT below LOW_LEVEL_M.

    The same cell ids as :func:`skyrisk.geo.cell_id` (floor of coordinate / size, in doubles).
    Aircraft without a position are left out; an unknown altitude counts as low level.
    """
    latitude, longitude = np.asarray(latitude, dtype=float), np.asarray(longitude, dtype=float)
    altitude = np.asarray(altitude, dtype=float)
    airborne = ~np.asarray(on_ground, dtype=bool) & np.isfinite(latitude) & np.isfinite(longitude)
    if not airborne.any():
        return {}
    rows = np.floor(latitude[airborne] / grid_deg).astype(np.int64)
    cols = np.floor(longitude[airborne] / grid_deg).astype(np.int64)
    height = altitude[airborne]
    weight = np.where(np.isfinite(height) & (height >= LOW_LEVEL_M), 1.0, LOW_LEVEL_WEIGHT)
    demand: dict[str, float] = {}
    for row, col, w in zip(rows.tolist(), cols.tolist(), weight.tolist()):
        key = f"{row}:{col}"
        demand[key] = demand.get(key, 0.0) + w
    return demand


def observation_slot(fetched: float) -> float:
    """Start of the 15-minute slot whose values a fetch at ``fetched`` answers with."""
    return fetched - fetched % UPDATE_INTERVAL_S


def airport_cells(airports: Iterable[tuple[float, float]], grid_deg: float) -> set[str]:
    """Cells holding an airport (lat, lon)."""
    return {"{}:{}".format(*cell_index(lat, lon, grid_deg)) for lat, lon in airports}


@dataclass
class PlanTotals:
    """What the planner has done, for the status line and the benchmark."""

    demand: int = 0  # locations fetched because aircraft were there
    rest: int = 0  # locations of the rest of the grid, from what was left
    ticks: int = 0


class WeatherPlanner:
    """Decides, each tick, the cells to fetch; :meth:`plan` also books their cost."""

    def __init__(self, cells: Sequence[str], daily_locations: int, max_age_s: float, *, tick_s: float = 60.0,
                 airports: Iterable[str] = (), start: float = 0.0) -> None:
        if daily_locations < 1:
            raise ValueError("daily_locations must be at least 1")
        self.cells = list(cells)
        self.known = set(self.cells)
        self.airports = set(airports) & self.known
        self.max_age_s = float(max_age_s)
        self.tick_s = float(tick_s)
        self.daily = int(daily_locations)
        self.rate = self.daily * (1.0 - QUOTA_MARGIN) / DAY_S  # locations per second
        self.depth = self.rate * BUCKET_HOURS * 3600.0
        self.tokens = self.depth
        self.at = float(start)
        self.fetched_at: dict[str, float] = {}
        self.spent: deque[tuple[float, int]] = deque()  # (time, locations) of the last hour
        self.totals = PlanTotals()

    def age(self, cell: str, now: float) -> float:
        """Age of the cell's newest weather as the join sees it: seconds since the 15-minute slot its
        last fetch answered with began (``current.time``); infinite when never fetched."""
        at = self.fetched_at.get(cell)
        return float("inf") if at is None else now - observation_slot(at)

    def _refill(self, now: float) -> None:
        self.tokens = min(self.depth, self.tokens + self.rate * max(0.0, now - self.at))
        self.at = max(self.at, now)
        while self.spent and self.spent[0][0] <= now - 3600.0:
            self.spent.popleft()

    def room(self, now: float) -> int:
        """Locations that may be fetched now: the bucket, and the minute and hour limits."""
        self._refill(now)
        hour = sum(n for _, n in self.spent)
        minute = sum(n for at, n in self.spent if at > now - 60.0)
        return max(0, min(int(self.tokens), HOUR_LIMIT - hour, MINUTE_LIMIT - minute))

    def plan(self, now: float, demand: dict[str, float]) -> list[str]:
        """The cells to fetch now, most needed first; their cost is booked (see :meth:`failed`)."""
        room = self.room(now)
        self.totals.ticks += 1
        if room <= 0:
            return []
        # Fresh enough to last until the next tick: left alone. Never twice in one 15-minute slot.
        stale_after = max(UPDATE_INTERVAL_S, self.max_age_s - self.tick_s)
        needed = [(cell, weight) for cell, weight in demand.items()
                  if cell in self.known and self.age(cell, now) >= stale_after]
        # Uncovered now (older than the maximum or never fetched) before merely ageing, heaviest first.
        needed.sort(key=lambda item: (self.age(item[0], now) < self.max_age_s, -item[1]))
        chosen = [cell for cell, _ in needed[:room]]
        self.totals.demand += len(chosen)
        # The rest of the grid only from what is left above the reserve kept for new traffic.
        spare = min(room - len(chosen), int(self.tokens) - len(chosen) - int(self.depth * DEMAND_RESERVE))
        if spare > 0:
            rest = [c for c in self.cells if c not in demand and self.age(c, now) >= UPDATE_INTERVAL_S]  # chosen ⊂ demand
            rest.sort(key=lambda c: (c not in self.airports, -self.age(c, now)))
            extra = rest[:spare]
            self.totals.rest += len(extra)
            chosen += extra
        self._book(now, chosen)
        return chosen

    def _book(self, now: float, cells: list[str]) -> None:
        if not cells:
            return
        self.tokens -= len(cells)
        self.spent.append((now, len(cells)))
        for cell in cells:
            self.fetched_at[cell] = now

    def failed(self, now: float, cells: Sequence[str]) -> None:
        """Cells planned at ``now`` whose request failed: due again at the next tick. A failed
        request still cost its locations upstream, so the bucket keeps them spent."""
        for cell in cells:
            if self.fetched_at.get(cell) == now:
                del self.fetched_at[cell]
