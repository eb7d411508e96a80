"""How old the weather joined to a flight may be, derived from where it comes from.

The simulator publishes every cell every minute, so an hour is plenty. Live weather is bounded by
Open-Meteo's free quota (10,000 locations a day): the planner (producers.weather_plan) refreshes the
cells with traffic first, and a cell can be refreshed once per ``cells x BUSY_SHARE / daily`` days.
BUSY_SHARE is the share of the grid that traffic visits often enough to need it: 0.7 reaches ≥ 95 %
of airborne states covered at every grid tried (bench/producers/bench_weather_plan.py, the
simulator's 2,000 aircraft over Europe, 24 h after 6 h of warm-up, 2026-12-04):

| grid | cells | maximum age | states covered |
|---|---|---|---|
| 2°   | 308   | 45 min  | 99.9 % |
| 1°   | 1,188 | 120 min | 97.3 % |
| 0.5° | 4,752 | 480 min | 98.5 % |
"""

from __future__ import annotations

import math

from skyrisk.geo import grid_cells
from skyrisk.settings import Settings

BUSY_SHARE = 0.7
SIMULATED_MAX_AGE_MINUTES = 60  # the simulator refreshes every cell each minute
SLOT_MINUTES = 15  # Open-Meteo's current values change every 15 minutes: ages are whole slots


def quota_max_age_minutes(cells: int, daily_locations: int) -> int:
    """The age a daily quota can keep the busy share of ``cells`` within, in whole 15-minute slots."""
    minutes = 24 * 60 * BUSY_SHARE * cells / max(1, daily_locations)
    return max(SLOT_MINUTES, SLOT_MINUTES * math.ceil(minutes / SLOT_MINUTES))


def max_age_minutes(settings: Settings, mode: str | None = None) -> int:
    """The oldest weather the streaming join accepts: as configured, else derived from the weather's
    source (``mode``, default the producers' mode): the simulator's hour, or what the quota allows."""
    if settings.weather_max_age_minutes is not None:
        return settings.weather_max_age_minutes
    if (mode or settings.resolved_producer_mode) == "sim":
        return SIMULATED_MAX_AGE_MINUTES
    cells = len(grid_cells(settings.bbox, settings.weather_grid_deg))
    return min(24 * 60, quota_max_age_minutes(cells, settings.open_meteo_daily_locations))
