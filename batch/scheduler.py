"""The nightly scheduler: runs yesterday's consolidation at ``batch_time_utc`` and, on start and
at every tick, catches up days that have history but no successful run (within
``batch_catchup_days``). Time comes from an injectable :class:`Clock`, so tests drive it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Protocol

from skyrisk.contracts import BatchRun

Echo = Callable[[str], None]


class Clock(Protocol):
    def now(self) -> datetime: ...  # timezone-aware, UTC

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time; sleeping ends early when ``stop`` is set (a signal arrived)."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)


class RunLog(Protocol):
    def start(self, day: str, started_at: float) -> Any: ...

    def finish(self, run_id: Any, run: BatchRun) -> None: ...

    def succeeded_days(self) -> set[str]: ...


# --- pure calendar logic ----------------------------------------------------------------------
def parse_hhmm(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    return time(hours, minutes, tzinfo=timezone.utc)


def last_due_day(now: datetime, batch_time: time) -> date:
    """The newest day whose nightly run time has passed: yesterday after ``batch_time``,
    the day before yesterday until then."""
    today = now.astimezone(timezone.utc).date()
    passed = now.astimezone(timezone.utc).timetz() >= batch_time
    return today - timedelta(days=1 if passed else 2)


def next_run_at(now: datetime, batch_time: time) -> datetime:
    """The next time the clock shows ``batch_time`` (strictly after ``now``)."""
    now = now.astimezone(timezone.utc)
    today_run = datetime.combine(now.date(), batch_time)
    return today_run if now < today_run else today_run + timedelta(days=1)


def pending_days(
    now: datetime, batch_time: time, *, available: Iterable[str], succeeded: set[str], lookback_days: int
) -> list[str]:
    """Days with history, due, within the look-back window and not yet consolidated, oldest first."""
    newest = last_due_day(now, batch_time)
    oldest = newest - timedelta(days=lookback_days - 1)
    return sorted(d for d in set(available) if oldest <= date.fromisoformat(d) <= newest and d not in succeeded)


# --- the loop ---------------------------------------------------------------------------------
class Scheduler:
    def __init__(
        self,
        *,
        batch_time: time,
        lookback_days: int,
        clock: Clock,
        run_log: RunLog,
        available_days: Callable[[], list[str]],
        run_day: Callable[[str], dict[str, int]],
        stop: threading.Event,
        echo: Echo = print,
        max_sleep_s: float = 60.0,
    ) -> None:
        self.batch_time = batch_time
        self.lookback_days = lookback_days
        self.clock = clock
        self.run_log = run_log
        self.available_days = available_days
        self.run_day = run_day
        self.stop = stop
        self.echo = echo
        self.max_sleep_s = max_sleep_s  # wake up now and then: a changed clock (DST, NTP) is noticed

    def catch_up(self) -> list[BatchRun]:
        days = pending_days(
            self.clock.now(),
            self.batch_time,
            available=self.available_days(),
            succeeded=self.run_log.succeeded_days(),
            lookback_days=self.lookback_days,
        )
        if days:
            self.echo(f"[batch] {len(days)} day(s) to consolidate: {', '.join(days)}")
        runs = []
        for day in days:
            if self.stop.is_set():
                break
            runs.append(self.run_one(day))
        return runs

    def run_one(self, day: str) -> BatchRun:
        started = self.clock.now().timestamp()
        run_id = self.run_log.start(day, started)
        rows: dict[str, int] = {}
        error = None
        try:
            rows = self.run_day(day)
        except Exception as exc:  # noqa: BLE001 - a failed day is recorded, the scheduler goes on
            error = f"{type(exc).__name__}: {exc}"
            self.echo(f"[batch] {day} failed: {error}")
        finished = self.clock.now().timestamp()
        run = BatchRun(
            day=day,
            status="failed" if error else "succeeded",
            started_at=started,
            finished_at=finished,
            duration_s=finished - started,
            rows=rows,
            error=error,
        )
        self.run_log.finish(run_id, run)
        return run

    def run_forever(self) -> None:
        """Catch up, then wait for each nightly time and run, until ``stop`` is set."""
        self.catch_up()
        while not self.stop.is_set():
            wake = next_run_at(self.clock.now(), self.batch_time)
            self.echo(f"[batch] next run at {wake.isoformat()}")
            while not self.stop.is_set() and self.clock.now() < wake:
                self.clock.sleep(min(self.max_sleep_s, (wake - self.clock.now()).total_seconds()))
            if not self.stop.is_set():
                self.catch_up()
