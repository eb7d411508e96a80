"""How long an aircraft stays live: expiry follows the poll interval of the source.

``flights_live`` holds one document per aircraft with ``last_seen`` (the time the streaming job
wrote its newest report). An aircraft leaves it when nothing reported it for

    max(live_expiry_minutes, POLL_INTERVALS_KEPT x the source's poll interval)

so a source that polls seldom (anonymous OpenSky: every ~864 s) does not empty the map between
two polls, and an aircraft is gone once it was missing from two polls in a row. The poll
interval is not configured but observed from the data: every mode (live, replay, simulator)
stamps each state with ``snapshot_time``, the time of the answer it came in, and the gaps
between consecutive distinct snapshot times are the source's interval
(:class:`PollIntervalObserver`). Pure: no I/O, times are passed in.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Iterable

POLL_INTERVALS_KEPT = 2  # an aircraft missing from this many polls in a row is gone
# The longest interval expiry follows (1 h: aircraft kept at most 2 h). A larger gap is an
# outage or a replay of sparse recordings, not a poll rhythm worth keeping aircraft for.
MAX_POLL_INTERVAL_S = 3600.0
RECENT_SNAPSHOTS = 5  # distinct snapshot times kept: the interval is the median of their 4 gaps


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def live_expiry_seconds(expiry_minutes: float, poll_interval_s: float | None) -> float:
    """Seconds an aircraft stays live after its last report: at least ``expiry_minutes``, and at
    least :data:`POLL_INTERVALS_KEPT` poll intervals (capped at :data:`MAX_POLL_INTERVAL_S`);
    an unknown interval (None) leaves ``expiry_minutes``."""
    floor = float(expiry_minutes) * 60.0
    if not _positive(poll_interval_s):
        return floor
    return max(floor, POLL_INTERVALS_KEPT * min(float(poll_interval_s), MAX_POLL_INTERVAL_S))  # type: ignore[arg-type]


def expiry_cutoff(now: float, expiry_minutes: float, poll_interval_s: float | None) -> float:
    """Aircraft with ``last_seen`` before this are expired at ``now``."""
    return now - live_expiry_seconds(expiry_minutes, poll_interval_s)


def is_expired(last_seen: float, now: float, expiry_minutes: float, poll_interval_s: float | None) -> bool:
    return last_seen < expiry_cutoff(now, expiry_minutes, poll_interval_s)


class PollIntervalObserver:
    """The source's poll interval, from the ``snapshot_time`` of the states it sends.

    Keeps the newest :data:`RECENT_SNAPSHOTS` distinct snapshot times (states of one snapshot
    arrive over several partitions and batches, in any order) and answers the median gap
    between consecutive ones, so one outage or one late poll does not change it. Before two
    snapshots were seen it answers ``prior_s`` (what a previous run observed), else None.
    Observed by the flights batches, read by the writer thread: guarded by a lock.
    """

    def __init__(self, prior_s: float | None = None, keep: int = RECENT_SNAPSHOTS) -> None:
        self._times: list[float] = []
        self._prior = float(prior_s) if _positive(prior_s) else None
        self._keep = max(2, keep)
        self._lock = threading.Lock()

    def seed(self, prior_s: float | None) -> None:
        """The interval to answer until this run has seen two snapshots (e.g. from flights_live)."""
        with self._lock:
            self._prior = float(prior_s) if _positive(prior_s) else self._prior

    def observe(self, snapshot_times: Iterable[float | None]) -> float | None:
        """Take the snapshot times of a batch; returns the interval now observed."""
        fresh = {float(t) for t in snapshot_times if t is not None and math.isfinite(t)}
        with self._lock:
            self._times = sorted(set(self._times) | fresh)[-self._keep:]
        return self.interval_s

    @property
    def interval_s(self) -> float | None:
        with self._lock:
            gaps = [b - a for a, b in zip(self._times, self._times[1:])]
            return statistics.median(gaps) if gaps else self._prior
