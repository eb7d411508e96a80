"""The scheduler's calendar and loop with a fake clock (no services)."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pytest

from batch.scheduler import Scheduler, last_due_day, next_run_at, parse_hhmm, pending_days
from batch.store import DayBusy
from skyrisk.contracts import BatchRun

NIGHTLY = parse_hhmm("02:30")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


class FakeClock:
    """Time moves only when the scheduler sleeps (or a run takes time); sets ``stop`` at ``until``."""

    def __init__(self, start: datetime, stop: threading.Event, until: datetime, run_seconds: float = 0.0) -> None:
        self.current, self.stop, self.until, self.run_seconds = start, stop, until, run_seconds
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)
        if self.current >= self.until:
            self.stop.set()


class MemoryRunLog:
    def __init__(self, succeeded: set[str] = frozenset()) -> None:
        self.started: dict[int, tuple[str, float]] = {}
        self.finished: dict[int, BatchRun] = {}
        self._succeeded = set(succeeded)

    def start(self, day: str, started_at: float) -> int:
        run_id = len(self.started)
        self.started[run_id] = (day, started_at)
        return run_id

    def finish(self, run_id: int, run: BatchRun) -> None:
        self.finished[run_id] = run
        if run.status == "succeeded":
            self._succeeded.add(run.day)

    def succeeded_days(self) -> set[str]:
        return set(self._succeeded)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-22T02:29:59", date(2026, 11, 20)),  # yesterday's run time has not come yet
        ("2026-11-22T02:30:00", date(2026, 11, 21)),
        ("2026-11-22T23:59:00", date(2026, 11, 21)),
    ],
)
def test_last_due_day_turns_at_the_nightly_time(now, expected):
    assert last_due_day(utc(now), NIGHTLY) == expected


def test_next_run_is_today_before_the_time_and_tomorrow_after_it():
    assert next_run_at(utc("2026-11-22T01:00:00"), NIGHTLY) == utc("2026-11-22T02:30:00")
    assert next_run_at(utc("2026-11-22T02:30:00"), NIGHTLY) == utc("2026-11-23T02:30:00")


def test_pending_days_are_missing_due_days_with_history_inside_the_window():
    available = ["2026-11-10", "2026-11-15", "2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"]
    days = pending_days(
        utc("2026-11-22T01:00:00"), NIGHTLY, available=available, succeeded={"2026-11-18"}, lookback_days=7
    )
    # window 2026-11-14..2026-11-20: the 10th is too old, the 18th done, the 21st not due yet
    assert days == ["2026-11-15", "2026-11-19", "2026-11-20"]


def test_scheduler_catches_up_on_start_then_runs_nightly_and_records_every_run():
    stop = threading.Event()
    clock = FakeClock(utc("2026-11-22T01:00:00"), stop, until=utc("2026-11-23T03:00:00"))
    available = {"2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22"}
    log = MemoryRunLog(succeeded={"2026-11-19"})
    ran: list[tuple[str, datetime]] = []

    def run_day(day: str, _lease) -> dict[str, int]:
        ran.append((day, clock.now()))
        clock.current += timedelta(seconds=90)  # a run takes time
        if day == "2026-11-21":
            raise RuntimeError("MinIO unreachable")
        return {"positions": 10, "flights": 2}

    Scheduler(
        batch_time=NIGHTLY, lookback_days=7, clock=clock, run_log=log, available_days=lambda: sorted(available),
        run_day=run_day, stop=stop, echo=lambda _m: None,
    ).run_forever()

    assert ran == [
        ("2026-11-20", utc("2026-11-22T01:00:00")),  # missed day, caught up on start
        ("2026-11-21", utc("2026-11-22T02:30:00")),  # the nightly run; it fails
        ("2026-11-21", utc("2026-11-23T02:30:00")),  # retried at the next tick with the new day
        ("2026-11-22", utc("2026-11-23T02:31:30")),
    ]
    runs = [log.finished[i] for i in sorted(log.finished)]
    assert [(r.day, r.status) for r in runs] == [
        ("2026-11-20", "succeeded"),
        ("2026-11-21", "failed"),
        ("2026-11-21", "failed"),
        ("2026-11-22", "succeeded"),
    ]
    assert runs[0].rows == {"positions": 10, "flights": 2} and runs[0].duration_s == 90.0
    assert runs[1].error == "RuntimeError: MinIO unreachable" and runs[1].rows == {}
    assert all(r.finished_at - r.started_at == 90.0 for r in runs)
    assert max(clock.sleeps) <= 60.0


def test_scheduler_stops_between_days_when_asked():
    stop = threading.Event()
    clock = FakeClock(utc("2026-11-22T03:00:00"), stop, until=utc("2030-01-01T00:00:00"))
    log = MemoryRunLog()
    ran = []

    def run_day(day: str, _lease) -> dict[str, int]:
        ran.append(day)
        stop.set()  # SIGTERM while the first of three days runs
        return {}

    Scheduler(
        batch_time=NIGHTLY, lookback_days=7, clock=clock, run_log=log,
        available_days=lambda: ["2026-11-19", "2026-11-20", "2026-11-21"], run_day=run_day, stop=stop,
        echo=lambda _m: None,
    ).run_forever()
    assert ran == ["2026-11-19"]
    assert [r.status for r in log.finished.values()] == ["succeeded"]


def test_consolidated_days_with_late_rows_are_pending_again():
    days = pending_days(
        utc("2026-11-22T03:00:00"), NIGHTLY, available=["2026-11-10", "2026-11-19", "2026-11-20", "2026-11-21"],
        succeeded={"2026-11-10", "2026-11-19", "2026-11-20", "2026-11-21"}, lookback_days=7,
        late={"2026-11-10", "2026-11-20"},
    )
    assert days == ["2026-11-20"]  # the 10th is outside the look-back window


class Lock:
    """lock_day that refuses the first ``busy`` attempts at a day, as a lease held by a manual run."""

    def __init__(self, busy: int) -> None:
        self.busy, self.attempts = busy, []

    def __call__(self, day: str):
        import contextlib

        self.attempts.append(day)
        if len(self.attempts) <= self.busy:
            raise DayBusy(day, {"owner": "manual run on host pid 42", "acquired_at": utc("2026-11-22T02:29:00").timestamp()})
        return contextlib.nullcontext("lease")


def test_a_day_another_run_holds_is_not_recorded_and_is_tried_again_a_minute_later():
    stop = threading.Event()
    clock = FakeClock(utc("2026-11-22T02:30:00"), stop, until=utc("2026-11-22T02:40:00"))
    log = MemoryRunLog()
    lock = Lock(busy=2)
    lines, ran = [], []

    def run_day(day: str, lease) -> dict[str, int]:
        ran.append((day, clock.now(), lease))
        return {"positions": 1}

    Scheduler(
        batch_time=NIGHTLY, lookback_days=1, clock=clock, run_log=log, available_days=lambda: ["2026-11-21"],
        run_day=run_day, stop=stop, echo=lines.append, lock_day=lock,
    ).run_forever()
    assert ran == [("2026-11-21", utc("2026-11-22T02:32:00"), "lease")]  # third attempt, the lease passed in
    assert [r.status for r in log.finished.values()] == ["succeeded"] and len(log.started) == 1
    refused = ("[batch] consolidation of 2026-11-21 is already running (owner manual run on host pid 42, "
               "since 2026-11-22T02:29:00Z); try again later; the scheduler tries again in 60 s")
    assert lines.count(refused) == 2
    assert "[batch] trying 2026-11-21 again at 2026-11-22T02:31:00+00:00" in lines
    assert lines[-1] == "[batch] next run at 2026-11-23T02:30:00+00:00"


def test_the_database_down_when_taking_the_lease_is_retried_not_recorded():
    stop = threading.Event()
    clock = FakeClock(utc("2026-11-22T02:30:00"), stop, until=utc("2026-11-22T02:31:00"))
    log, lines = MemoryRunLog(), []

    def lock_day(_day: str):
        raise ConnectionError("FerretDB unreachable")

    Scheduler(
        batch_time=NIGHTLY, lookback_days=1, clock=clock, run_log=log, available_days=lambda: ["2026-11-21"],
        run_day=lambda day, lease: {}, stop=stop, echo=lines.append, lock_day=lock_day,
    ).run_forever()
    assert log.started == {} and log.finished == {}
    assert lines[1] == ("[batch] 2026-11-21: could not take its lease (ConnectionError: FerretDB unreachable); "
                        "the scheduler tries again in 60 s")


def test_each_tick_reruns_late_days_then_runs_the_retention():
    stop = threading.Event()
    clock = FakeClock(utc("2026-11-22T01:00:00"), stop, until=utc("2026-11-23T03:00:00"))
    log = MemoryRunLog(succeeded={"2026-11-19", "2026-11-20"})
    events, lines = [], []
    late = {"2026-11-20": 3}

    def late_days(days: list[str]) -> dict[str, int]:
        events.append(("late?", tuple(days)))
        return {d: n for d, n in late.items() if d in days}

    def run_day(day: str, _lease) -> dict[str, int]:
        events.append(("run", day))
        late.pop(day, None)  # consolidated now
        return {}

    Scheduler(
        batch_time=NIGHTLY, lookback_days=7, clock=clock, run_log=log,
        available_days=lambda: ["2026-11-19", "2026-11-20", "2026-11-21"], run_day=run_day, stop=stop,
        echo=lines.append, late_days=late_days, expire=lambda now: events.append(("expire", now)),
    ).run_forever()
    assert events == [
        ("late?", ("2026-11-19", "2026-11-20")), ("run", "2026-11-20"), ("expire", utc("2026-11-22T01:00:00")),
        ("late?", ("2026-11-19", "2026-11-20")), ("run", "2026-11-21"), ("expire", utc("2026-11-22T02:30:00")),
        ("late?", ("2026-11-19", "2026-11-20", "2026-11-21")), ("expire", utc("2026-11-23T02:30:00")),
    ]
    assert ("[batch] 2026-11-20: 3 enriched file(s) reached the lake after its consolidation; consolidating it again"
            in lines)
