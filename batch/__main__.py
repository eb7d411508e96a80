"""Entry point: ``python -m batch consolidate|schedule|expire`` (also ``spark-submit batch/__main__.py ...``).

The nightly batch layer: consolidates the streaming job's enriched Parquet of a UTC day into
curated positions, flight summaries, daily_stats and a retrained traffic model, and expires the
enriched files of consolidated days.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):
    # Run as a plain script (spark-submit batch/__main__.py): make the repo root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EXIT_DONE, EXIT_FAILED, EXIT_BUSY = 0, 2, 3

CONSOLIDATE_DOC = """\
Consolidate one UTC day (default: yesterday) or an inclusive range of days: curated positions
and flight summaries in the lake (published atomically by one manifest), daily_stats and a
batch_runs record (trigger "manual") in MongoDB, and the retrained phase/anomaly model.
Rerunning a day replaces its outputs. Each day runs under a lease in MongoDB (batch_locks):
if another run (the scheduler, another shell) is consolidating the day, this command does not
wait for it; it prints one line naming that run and goes on with the next day."""

SCHEDULE_DOC = """\
Run until SIGINT/SIGTERM: consolidate yesterday at batch_time_utc, and on start and at every
tick every day of the last batch_catchup_days that has enriched history and either no
successful run or enriched files that reached the lake after its run (late rows); then delete
the enriched files of consolidated days older than batch_enriched_retention_days. A day another
run holds is tried again every minute. A first signal lets the running day finish."""

EXPIRE_DOC = """\
Apply the enriched-lake retention now (the scheduler does it nightly): delete the enriched
(streaming) Parquet files of every day that ended more than batch_enriched_retention_days ago,
is consolidated, and has no file its consolidation did not read. Days that are not
consolidated, or have late files, are kept and named."""

EXIT_CODES = """\
exit status: 0 done; 2 a service is down, a day has no enriched history, or a run failed
(one line each); 3 a day was being consolidated by another run (try again later)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="python -m batch", description=__doc__, formatter_class=raw,
                                     epilog=EXIT_CODES)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{consolidate,schedule,expire}")
    consolidate = commands.add_parser(
        "consolidate", help="consolidate one day or a range (default: yesterday, UTC)",
        description=CONSOLIDATE_DOC, epilog=EXIT_CODES, formatter_class=raw)
    consolidate.add_argument("--date", type=date.fromisoformat, help="YYYY-MM-DD")
    consolidate.add_argument("--from", dest="first", type=date.fromisoformat, help="first day, YYYY-MM-DD")
    consolidate.add_argument("--to", dest="last", type=date.fromisoformat, help="last day, YYYY-MM-DD (inclusive)")
    consolidate.add_argument("--no-model", action="store_true", help="skip retraining the phase/anomaly model")
    commands.add_parser("schedule", help="run nightly at batch_time_utc and catch up missed days, until stopped",
                        description=SCHEDULE_DOC, epilog="exit status: 0 stopped by a signal; 2 a service is down.",
                        formatter_class=raw)
    expire = commands.add_parser("expire", help="delete the enriched files of consolidated days past the retention",
                                 description=EXPIRE_DOC, epilog="exit status: 0 done; 2 a service is down.",
                                 formatter_class=raw)
    expire.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    args = parser.parse_args(argv)
    if args.command == "consolidate":
        if args.date and (args.first or args.last):
            parser.error("give --date or --from/--to, not both")
        if bool(args.first) != bool(args.last):
            parser.error("--from and --to go together")
        if args.first and args.last < args.first:
            parser.error(f"--from {args.first} is after --to {args.last}")
    return args


BATCH_SERVICES = ("MinIO (S3)", "MongoDB (FerretDB)")  # the lake and the run log; no broker


def requested_days(args: argparse.Namespace, today: date) -> list[str]:
    from batch.job import days_between

    if args.first:
        return days_between(args.first, args.last)
    return [(args.date or today - timedelta(days=1)).isoformat()]


def consolidate(args: argparse.Namespace) -> int:
    from batch.job import mongo_database
    from skyrisk.services import unreachable_service
    from skyrisk.settings import load_settings
    from skyrisk.spark import create_spark_session

    settings = load_settings()
    if down := unreachable_service(settings, BATCH_SERVICES):
        print(down, file=sys.stderr)
        return 2
    from batch.store import DayBusy, live_holder

    days = requested_days(args, datetime.now(timezone.utc).date())
    db = mongo_database(settings)
    held = {day: holder for day in days if (holder := live_holder(db, day))}
    if len(held) == len(days):  # every day is someone else's right now: say so before starting Spark
        for day, holder in held.items():
            print(f"[batch] {DayBusy(day, holder)}", file=sys.stderr, flush=True)
        return EXIT_BUSY
    spark = create_spark_session(settings, "skyrisk-batch")
    try:
        return run_consolidate(spark, settings, db, days, retrain_model=not args.no_model)
    finally:
        spark.stop()


def run_consolidate(spark, settings, db, days: list[str], *, retrain_model: bool = True) -> int:
    """Consolidate ``days`` in order, each under its lease and recorded in ``batch_runs``
    (trigger ``manual``). A day without input, or held by another run, is reported in one line
    (no stack trace) and the others still run. Exit status 2 when a day was missing or failed,
    else 3 when a day was busy."""
    from batch.job import Progress, consolidate_day, day_lease, require_input
    from batch.lake import LakeError
    from batch.store import DayBusy, MongoRunLog

    progress = Progress(total_days=len(days))
    run_log = MongoRunLog(db, trigger="manual")
    failed = busy = 0
    for day in days:
        progress.start_day(day)
        try:
            with day_lease(db, settings, day, "manual") as lease:
                require_input(spark, settings, day)
                result = recorded(run_log, day, lambda: consolidate_day(
                    spark, settings, db, day, progress, retrain_model=retrain_model, lease=lease))
        except DayBusy as exc:
            print(f"[batch] {exc}", file=sys.stderr, flush=True)
            busy += 1
            continue
        except LakeError as exc:
            print(f"[batch] error: {exc}", file=sys.stderr, flush=True)
            failed += 1
            continue
        print(f"[batch] day {progress.index}/{len(days)} {day}: done {result.rows} (run {result.run_id})", flush=True)
    return EXIT_FAILED if failed else EXIT_BUSY if busy else EXIT_DONE


def recorded(run_log, day: str, action):
    """Run ``action`` (-> DayResult) with a ``batch_runs`` record: running, then succeeded or failed."""
    from skyrisk.contracts import BatchRun

    started = time.time()
    run_id = run_log.start(day, started)
    try:
        result = action()
    except BaseException as exc:
        finished = time.time()
        run_log.finish(run_id, BatchRun(day=day, status="failed", started_at=started, finished_at=finished,
                                        duration_s=finished - started, error=f"{type(exc).__name__}: {exc}"))
        raise
    finished = time.time()
    run_log.finish(run_id, BatchRun(day=day, status="succeeded", started_at=started, finished_at=finished,
                                    duration_s=finished - started, rows=result.rows))
    return result


def build_scheduler(settings, db, *, clock, stop: threading.Event, echo, spark_session=None):
    """The scheduler as `python -m batch schedule` runs it: leases, late-row detection and the
    retention wired in. ``spark_session()`` is a context manager giving a session for one day
    (default: a new one, stopped afterwards, so the idle scheduler holds no Spark driver)."""
    from batch import job, retention
    from batch.scheduler import Scheduler, parse_hhmm
    from batch.store import MongoRunLog

    @contextlib.contextmanager
    def new_session():
        from skyrisk.spark import create_spark_session

        spark = create_spark_session(settings, "skyrisk-batch")
        try:
            yield spark
        finally:
            spark.stop()

    sessions = spark_session or new_session

    def run_day(day: str, lease) -> dict[str, int]:
        with sessions() as spark:
            progress = job.Progress(echo=echo)
            progress.start_day(day)
            return job.consolidate_day(spark, settings, db, day, progress, lease=lease).rows

    return Scheduler(
        batch_time=parse_hhmm(settings.batch_time_utc),
        lookback_days=settings.batch_catchup_days,
        clock=clock,
        run_log=MongoRunLog(db, trigger="scheduled"),
        available_days=lambda: job.available_days(settings),
        run_day=run_day,
        stop=stop,
        echo=echo,
        lock_day=lambda day: job.day_lease(db, settings, day, "scheduled", echo),
        late_days=lambda days: job.late_days(settings, days, echo),
        expire=lambda now: retention.expire_enriched(settings, db, now.date(), echo=echo),
    )


def schedule() -> int:
    from batch import job
    from batch.scheduler import SystemClock
    from skyrisk.services import unreachable_service
    from skyrisk.settings import load_settings

    settings = load_settings()
    if down := unreachable_service(settings, BATCH_SERVICES):
        print(down, file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():  # second signal: do not wait for the running day
            raise SystemExit(130)
        print(f"[batch] {signal.Signals(signum).name}: stopping after the current step", flush=True)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    scheduler = build_scheduler(settings, job.mongo_database(settings), clock=SystemClock(stop), stop=stop,
                                echo=lambda message: print(message, flush=True))
    print(f"[batch] scheduler started: nightly at {settings.batch_time_utc} UTC", flush=True)
    scheduler.run_forever()
    return 0


def expire(args: argparse.Namespace) -> int:
    from batch import job, retention
    from skyrisk.services import unreachable_service
    from skyrisk.settings import load_settings

    settings = load_settings()
    if down := unreachable_service(settings, BATCH_SERVICES):
        print(down, file=sys.stderr)
        return 2
    if settings.batch_enriched_retention_days <= 0:
        print("[batch] retention is off (SKYRISK_BATCH_ENRICHED_RETENTION_DAYS=0): nothing deleted", flush=True)
        return 0
    results = retention.expire_enriched(settings, job.mongo_database(settings), datetime.now(timezone.utc).date(),
                                        dry_run=args.dry_run)
    acted = [r for r in results if r.action in ("deleted", "would delete")]
    print(f"[batch] retention: {'would delete' if args.dry_run else 'deleted'} {sum(r.files for r in acted):,} "
          f"file(s) of {len(acted)} day(s); kept {sum(r.action in ('kept', 'busy') for r in results)} day(s)", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "consolidate":
        return consolidate(args)
    return schedule() if args.command == "schedule" else expire(args)


if __name__ == "__main__":
    sys.exit(main())
