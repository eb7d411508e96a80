"""Retention of the enriched (streaming) lake: the many small per-micro-batch files of a day are
deleted once the day is consolidated and ``batch_enriched_retention_days`` have passed since it
ended. The nightly scheduler runs it after each catch-up; ``python -m batch expire`` runs it by
hand (``--dry-run`` only reports).

A day's files are deleted only when all of this holds, checked under the day's lease (so no
consolidation of the day runs meanwhile):

- the day ended more than ``batch_enriched_retention_days`` days ago (0 turns retention off);
- it has a published consolidation whose input list (``_inputs.json.gz``) names the files it
  read: a day consolidated before the lists existed is kept until it is consolidated again;
- every data file of the day now in the lake is in that list: a day with late rows is kept
  until a rerun has consolidated them.

The manifest is marked ``enriched_retired_at`` first, then exactly the listed files are deleted
(a file arriving meanwhile is not in the list and stays, as a late file). A later rerun of the
day reads its published positions as input (``batch.job.read_input``), so late rows are added
to the day, never put in its place. Needs MinIO and MongoDB, no Spark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from batch import lake, store
from skyrisk.settings import Settings

if TYPE_CHECKING:
    from pymongo.database import Database

Echo = Callable[[str], None]
DELETE_BATCH = 1000  # keys per DeleteObjects request (the S3 limit)


@dataclass
class DayRetention:
    day: str
    action: str  # "deleted", "would delete", "kept", "busy", "retired" (nothing left to delete)
    files: int = 0
    bytes: int = 0
    reason: str = ""


def _print(message: str) -> None:
    print(message, flush=True)


def expirable_before(today: date, keep_days: int) -> date:
    """Days before this date have ended more than ``keep_days`` days ago."""
    return today - timedelta(days=keep_days)


def expire_enriched(
    settings: Settings, db: "Database", today: date, *, echo: Echo = _print, dry_run: bool = False
) -> list[DayRetention]:
    """Apply the retention to every enriched day old enough; one line per day acted on or kept
    for a reason the user can act on."""
    from batch.job import available_days

    keep = settings.batch_enriched_retention_days
    if keep <= 0:
        return []
    before = expirable_before(today, keep)
    results = []
    for day in available_days(settings):
        if date.fromisoformat(day) >= before:
            continue
        result = _expire_day(settings, db, day, echo=echo, dry_run=dry_run)
        results.append(result)
        if result.action == "retired":
            continue
        size = f"{result.files} file(s), {result.bytes / 1e6:,.1f} MB"
        if result.action in ("deleted", "would delete"):
            echo(f"[batch] retention: {day}: {result.action} {size} of enriched Parquet ({result.reason})")
        else:
            echo(f"[batch] retention: {day}: {result.action}, {result.reason}")
    return results


def _expire_day(settings: Settings, db: "Database", day: str, *, echo: Echo, dry_run: bool) -> DayRetention:
    verdict = _judge(settings, day)
    if isinstance(verdict, DayRetention) or dry_run:
        if isinstance(verdict, DayRetention):
            return verdict
        manifest, files = verdict
        return DayRetention(day, "would delete", len(files), sum(files.values()), f"consolidated in run {manifest['run_id']}")
    lease = store.DayLease(db, day, owner=store.lease_owner("retention"), ttl_s=settings.batch_lock_ttl_s, echo=echo)
    try:
        lease.acquire()
    except store.DayBusy as busy:
        return DayRetention(day, "busy", reason=f"{busy}; retried at the next tick")
    try:
        verdict = _judge(settings, day)  # again, now that no run of the day can start
        if isinstance(verdict, DayRetention):
            return verdict
        manifest, files = verdict
        lease.check()
        manifest = {**manifest, "enriched_retired_at": datetime.now(timezone.utc).isoformat()}
        lake.put_manifest(settings, manifest)  # first: a rerun from now on reads the published positions too
        _delete(settings, [lake.enriched_prefix(day) + name for name in files])
        _delete(settings, _markers(settings, day))  # so that the day's folder is gone from listings
        return DayRetention(day, "deleted", len(files), sum(files.values()), f"consolidated in run {manifest['run_id']}")
    finally:
        lease.release()


def _judge(settings: Settings, day: str) -> DayRetention | tuple[dict, dict[str, int]]:
    """The files that may go (with the manifest), or why the day is kept."""
    manifest = lake.manifest_of(settings, day)
    if manifest is None:
        return DayRetention(day, "kept", reason="not consolidated yet (its enriched files are its only copy)")
    read = lake.read_inputs(settings, manifest)
    if read is None:
        return DayRetention(day, "kept", reason="its consolidation predates input lists; "
                            f"`python -m batch consolidate --date {day}` makes it expirable")
    files = lake.enriched_files(settings, day)
    late = sorted(name for name in files if name not in read)
    if late:
        return DayRetention(day, "kept", len(late), reason=f"{len(late)} file(s) reached the lake after its consolidation; "
                            f"`python -m batch consolidate --date {day}` consolidates them")
    if not files:
        return DayRetention(day, "retired", reason="no enriched data files left")
    return manifest, {name: size for name, (_modified, size) in files.items()}


def _markers(settings: Settings, day: str) -> list[str]:
    """Folder markers (``.../``, empty) and ``_SUCCESS`` files under the day: no data, but they
    keep ``date=D`` in listings. In-flight output (``_temporary``, ``.spark-staging``) is left."""
    from skyrisk.s3 import s3_client

    keys = []
    for item in s3_client(settings).list_objects(settings.lake_bucket, prefix=lake.enriched_prefix(day), recursive=True):
        name = item.object_name
        if (name.endswith("/") and not item.size) or name.rsplit("/", 1)[-1] == "_SUCCESS":
            keys.append(name)
    return keys


def _delete(settings: Settings, keys: list[str]) -> None:
    from minio.deleteobjects import DeleteObject

    from skyrisk.s3 import s3_client

    client = s3_client(settings)
    for start in range(0, len(keys), DELETE_BATCH):
        chunk = [DeleteObject(key) for key in keys[start : start + DELETE_BATCH]]
        errors = list(client.remove_objects(settings.lake_bucket, chunk))
        if errors:
            raise lake.LakeError(f"could not delete {len(errors)} enriched file(s), e.g. {errors[0]}")
