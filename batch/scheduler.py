"""The nightly scheduler: runs yesterday's consolidation at ``batch_time_utc`` and, on start and
at every tick, catches up days that have history but no successful run, or rows that reached
the lake after their successful run (late rows), within ``batch_catchup_days``; then runs the
enriched-lake retention. A day whose lease another run holds (a manual ``consolidate``) is
retried every ``busy_retry_s`` until it is free. Time comes from an injectable :class:`Clock`,
so tests drive it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, ContextManager, Protocol

from batch.store import DayBusy
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


def window_days(now: datetime, batch_time: time, *, available: Iterable[str], lookback_days: int) -> list[str]:
    """Days with history, due, within the look-back window, oldest first."""
    newest = last_due_day(now, batch_time)
    oldest = newest - timedelta(days=lookback_days - 1)
    return sorted(d for d in set(available) if oldest <= date.fromisoformat(d) <= newest)


def pending_days(
    now: datetime, batch_time: time, *, available: Iterable[str], succeeded: set[str], lookback_days: int,
    late: Iterable[str] = (),
) -> list[str]:
    """Days with history, due, within the look-back window and not yet consolidated, or
    consolidated before some of their rows arrived (``late``), oldest first."""
    late = set(late)
    return [
        d for d in window_days(now, batch_time, available=available, lookback_days=lookback_days)
        if d not in succeeded or d in late
    ]


# --- the loop ---------------------------------------------------------------------------------
def _no_lock(_day: str) -> ContextManager[None]:
    return contextlib.nullcontext()


class Scheduler:
    def __init__(
        self,
        *,
        batch_time: time,
        lookback_days: int,
        clock: Clock,
        run_log: RunLog,
        available_days: Callable[[], list[str]],
        run_day: Callable[[str, Any], dict[str, int]],
        stop: threading.Event,
        echo: Echo = print,
        max_sleep_s: float = 60.0,
        lock_day: Callable[[str], ContextManager[Any]] = _no_lock,
        late_days: Callable[[list[str]], dict[str, int]] | None = None,
        expire: Callable[[datetime], Any] | None = None,
        busy_retry_s: float = 60.0,
    ) -> None:
        self.batch_time = batch_time
        self.lookback_days = lookback_days
        self.clock = clock
        self.run_log = run_log
        self.available_days = available_days
        self.run_day = run_day  # (day, the lease lock_day gave) -> rows
        self.stop = stop
        self.echo = echo
        self.max_sleep_s = max_sleep_s  # wake up now and then: a changed clock (DST, NTP) is noticed
        self.lock_day = lock_day  # a context manager holding the day's lease; raises DayBusy
        self.late_days = late_days  # consolidated days -> files that arrived after their run
        self.expire = expire  # the retention, after each catch-up
        self.busy_retry_s = busy_retry_s
        self.retry: list[str] = []  # days another run held at the last catch-up

    def catch_up(self) -> list[BatchRun]:
        now = self.clock.now()
        available = self.available_days()
        succeeded = self.run_log.succeeded_days()
        late: dict[str, int] = {}
        if self.late_days is not None:
            done = [d for d in window_days(now, self.batch_time, available=available,
                                           lookback_days=self.lookback_days) if d in succeeded]
            late = self.late_days(done) if done else {}
            for day, files in sorted(late.items()):
                self.echo(f"[batch] {day}: {files} enriched file(s) reached the lake after its consolidation; "
                          "consolidating it again")
        days = pending_days(
            now, self.batch_time, available=available, succeeded=succeeded,
            lookback_days=self.lookback_days, late=late,
        )
        if days:
            self.echo(f"[batch] {len(days)} day(s) to consolidate: {', '.join(days)}")
        runs = []
        self.retry = []
        for day in days:
            if self.stop.is_set():
                break
            run = self.run_one(day)
            if run is None:
                self.retry.append(day)
            else:
                runs.append(run)
        return runs

    def run_one(self, day: str) -> BatchRun | None:
        """Run ``day`` under its lease and record the run; None (nothing recorded) when the
        lease could not be taken: another run holds the day, or the database did not answer."""
        try:
            lock = self.lock_day(day)
            lease = lock.__enter__()
        except DayBusy as busy:
            self.echo(f"[batch] {busy}; the scheduler tries again in {self.busy_retry_s:.0f} s")
            return None
        except Exception as exc:  # noqa: BLE001 - e.g. MongoDB down: nothing could be recorded either
            self.echo(f"[batch] {day}: could not take its lease ({type(exc).__name__}: {exc}); "
                      f"the scheduler tries again in {self.busy_retry_s:.0f} s")
            return None
        try:
            return self._run_leased(day, lease)
        finally:
            try:
                lock.__exit__(None, None, None)
            except Exception as exc:  # noqa: BLE001 - the lease then expires on its own
                self.echo(f"[batch] {day}: could not release its lease ({type(exc).__name__}: {exc}); "
                          "it expires on its own")

    def _run_leased(self, day: str, lease: Any) -> BatchRun:
        started = self.clock.now().timestamp()
        run_id = self.run_log.start(day, started)
        rows: dict[str, int] = {}
        error = None
        try:
            rows = self.run_day(day, lease)
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

    def tick(self) -> list[BatchRun]:
        """Catch up, then expire what the retention allows."""
        runs = self.catch_up()
        if self.expire is not None and not self.stop.is_set():
            try:
                self.expire(self.clock.now())
            except Exception as exc:  # noqa: BLE001 - the retention is retried at the next tick
                self.echo(f"[batch] retention failed: {type(exc).__name__}: {exc}")
        return runs

    def run_forever(self) -> None:
        """Catch up, then wait for each nightly time and run, until ``stop`` is set; days
        another run held are tried again every ``busy_retry_s``."""
        self.tick()
        while not self.stop.is_set():
            now = self.clock.now()
            wake = next_run_at(now, self.batch_time)
            if self.retry:
                wake = min(wake, now + timedelta(seconds=self.busy_retry_s))
                self.echo(f"[batch] trying {', '.join(self.retry)} again at {wake.isoformat()}")
            else:
                self.echo(f"[batch] next run at {wake.isoformat()}")
            while not self.stop.is_set() and self.clock.now() < wake:
                self.clock.sleep(min(self.max_sleep_s, (wake - self.clock.now()).total_seconds()))
            if not self.stop.is_set():
                self.tick()
