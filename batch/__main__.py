"""Entry point: ``python -m batch consolidate|schedule`` (also ``spark-submit batch/__main__.py ...``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):
    # Run as a plain script (spark-submit batch/__main__.py): make the repo root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m batch", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    consolidate = commands.add_parser("consolidate", help="consolidate one day or a range (default: yesterday, UTC)")
    consolidate.add_argument("--date", type=date.fromisoformat, help="YYYY-MM-DD")
    consolidate.add_argument("--from", dest="first", type=date.fromisoformat, help="first day, YYYY-MM-DD")
    consolidate.add_argument("--to", dest="last", type=date.fromisoformat, help="last day, YYYY-MM-DD (inclusive)")
    consolidate.add_argument("--no-model", action="store_true", help="skip retraining the phase/anomaly model")
    commands.add_parser("schedule", help="run nightly at batch_time_utc and catch up missed days, until stopped")
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
    days = requested_days(args, datetime.now(timezone.utc).date())
    spark = create_spark_session(settings, "skyrisk-batch")
    try:
        return run_consolidate(spark, settings, mongo_database(settings), days, retrain_model=not args.no_model)
    finally:
        spark.stop()


def run_consolidate(spark, settings, db, days: list[str], *, retrain_model: bool = True) -> int:
    """Consolidate ``days`` in order; a day without input is reported in one line (no stack
    trace) and the others still run. Exit status 2 when any day was missing."""
    from batch.job import Progress, consolidate_day
    from batch.lake import LakeError

    progress = Progress(total_days=len(days))
    failed = 0
    for day in days:
        progress.start_day(day)
        try:
            result = consolidate_day(spark, settings, db, day, progress, retrain_model=retrain_model)
        except LakeError as exc:
            print(f"[batch] error: {exc}", file=sys.stderr, flush=True)
            failed += 1
            continue
        print(f"[batch] day {progress.index}/{len(days)} {day}: done {result.rows} (run {result.run_id})", flush=True)
    return 2 if failed else 0


def schedule() -> int:
    from batch import job
    from batch.scheduler import Scheduler, SystemClock, parse_hhmm
    from batch.store import MongoRunLog
    from skyrisk.services import unreachable_service
    from skyrisk.settings import load_settings
    from skyrisk.spark import create_spark_session

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
    db = job.mongo_database(settings)

    def run_day(day: str) -> dict[str, int]:
        # A session per day, stopped afterwards: an idle scheduler holds no Spark driver
        # (memory, UI port) for the 23 hours it waits.
        spark = create_spark_session(settings, "skyrisk-batch")
        try:
            progress = job.Progress()
            progress.start_day(day)
            return job.consolidate_day(spark, settings, db, day, progress).rows
        finally:
            spark.stop()

    scheduler = Scheduler(
        batch_time=parse_hhmm(settings.batch_time_utc),
        lookback_days=settings.batch_catchup_days,
        clock=SystemClock(stop),
        run_log=MongoRunLog(db),
        available_days=lambda: job.available_days(settings),
        run_day=run_day,
        stop=stop,
        echo=lambda message: print(message, flush=True),
    )
    print(f"[batch] scheduler started: nightly at {settings.batch_time_utc} UTC", flush=True)
    scheduler.run_forever()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return consolidate(args) if args.command == "consolidate" else schedule()


if __name__ == "__main__":
    sys.exit(main())
