"""Atomic, idempotent publication of one day's curated datasets on S3A (MinIO or S3).

Why not "write to staging, then rename": on S3A a directory rename is a copy and a delete of
every object, one by one, so during the rename a reader listing the day sees some files of
the new run, or none. Dynamic partition overwrite ends with the same per-file rename. The one
thing object stores do atomically is replacing a *single object*: a PUT becomes visible whole
or not at all, and MinIO (like S3 since 2020) is strongly read-after-write consistent.

So each run writes its files to a directory of its own, never touched again,

    <table>/date=YYYY-MM-DD/run=<run_id>/part-*.parquet     (positions and summaries)

and then publishes the whole day - positions *and* summaries together - by one PUT of a small
manifest, ``curated/_manifests/date=YYYY-MM-DD.json`` naming the run. Readers resolve the
manifest (:func:`read_published`), so they see the previous complete run up to the PUT and the
new complete run after it, never a half-written one. A rerun writes a new run directory and
replaces the manifest, hence no duplicates after any number of reruns; another day has its own
manifest and directories, so it is never touched. The run the manifest replaced is kept until
the next publication of that day, so a reader that resolved it a moment before the swap can
finish; older runs and abandoned (failed) ones are deleted. (Hive-style listing of a table
root would also see a retained run and hidden ``_temporary`` output: go through the manifest.)

Each run also records *which* enriched files it read: ``_inputs.json.gz`` in its positions
directory (hidden from Parquet readers by the leading ``_``) holds their names relative to
``enriched/flights/date=D/``, and the manifest points to it. A data file of the day that is not in
that list arrived after the run read its input (:func:`late_files`); the scheduler re-runs such a
day, and the retention (``batch.retention``) deletes only files that are in it. A day whose
enriched files were deleted carries ``enriched_retired_at`` in its manifest; a rerun of it reads
its published positions as input too, so late rows are added to the day instead of replacing it.
"""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from skyrisk.contracts import LAKE_CURATED, LAKE_ENRICHED, LAKE_SUMMARIES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from skyrisk.settings import Settings

TABLES = {"positions": LAKE_CURATED, "summaries": LAKE_SUMMARIES}
MANIFESTS = "curated/_manifests"
INPUTS = "_inputs.json.gz"  # in the run's positions directory
# Kept from one manifest of a day to the next: the day's enriched files are gone for good.
CARRIED = ("enriched_retired_at",)


class LakeError(RuntimeError):
    """A problem with the lake the user can act on (printed without a stack trace)."""


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: ``20261121T023000-1a2b3c4d``."""
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def table_url(lake_url: str, table: str) -> str:
    return f"{lake_url}/{TABLES[table]}"


def run_url(lake_url: str, table: str, day: str, run_id: str) -> str:
    return f"{table_url(lake_url, table)}/date={day}/run={run_id}"


def manifest_url(lake_url: str, day: str) -> str:
    return f"{lake_url}/{MANIFESTS}/date={day}.json"


def inputs_url(lake_url: str, day: str, run_id: str) -> str:
    return f"{run_url(lake_url, 'positions', day, run_id)}/{INPUTS}"


def enriched_prefix(day: str) -> str:
    return f"{LAKE_ENRICHED}/date={day}/"


# --- Hadoop FileSystem access (the same S3A client and credentials Spark uses) --------------------
def _path(spark: "SparkSession", url: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(url)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def exists(spark: "SparkSession", url: str) -> bool:
    fs, path = _path(spark, url)
    return bool(fs.exists(path))


def has_files(spark: "SparkSession", url: str) -> bool:
    """True when the directory holds at least one data file (not only markers)."""
    fs, path = _path(spark, url)
    if not fs.exists(path):
        return False
    files = fs.listFiles(path, True)
    while files.hasNext():
        name = files.next().getPath().getName()
        if not name.startswith(("_", ".")):
            return True
    return False


def child_names(spark: "SparkSession", url: str) -> list[str]:
    fs, path = _path(spark, url)
    if not fs.exists(path):
        return []
    return sorted(str(status.getPath().getName()) for status in fs.listStatus(path))


def delete(spark: "SparkSession", url: str) -> None:
    fs, path = _path(spark, url)
    fs.delete(path, True)


def read_text(spark: "SparkSession", url: str) -> str | None:
    fs, path = _path(spark, url)
    if not fs.exists(path):
        return None
    stream = fs.open(path)
    try:
        jvm = spark.sparkContext._jvm
        return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    finally:
        stream.close()


def put_text(spark: "SparkSession", url: str, text: str) -> None:
    """One object PUT: S3A uploads on close(), so the object appears whole or not at all."""
    fs, path = _path(spark, url)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


# --- publication ------------------------------------------------------------------------------
def read_manifest(spark: "SparkSession", lake_url: str, day: str) -> dict[str, Any] | None:
    text = read_text(spark, manifest_url(lake_url, day))
    return json.loads(text) if text else None


def publish_day(
    spark: "SparkSession", lake_url: str, day: str, run_id: str, rows: dict[str, int],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make ``run_id`` the day's visible run (one atomic PUT), then drop runs nobody can need.
    ``extra`` goes into the manifest (the run's input list); :data:`CARRIED` keys of the
    previous manifest are kept."""
    previous = read_manifest(spark, lake_url, day)
    manifest = {
        **{key: previous[key] for key in CARRIED if previous and key in previous},
        **(extra or {}),
        "date": day,
        "run_id": run_id,
        "tables": {table: run_url(lake_url, table, day, run_id) for table in TABLES},
        "rows": rows,
        "published_at": datetime.now(timezone.utc).isoformat(),
        "previous_run_id": previous["run_id"] if previous else None,
    }
    put_text(spark, manifest_url(lake_url, day), json.dumps(manifest, sort_keys=True))
    keep = {f"run={run_id}"} | ({f"run={previous['run_id']}"} if previous else set())
    for table in TABLES:
        day_url = f"{table_url(lake_url, table)}/date={day}"
        for name in child_names(spark, day_url):
            if name not in keep:
                delete(spark, f"{day_url}/{name}")
    return manifest


def published_days(spark: "SparkSession", lake_url: str) -> list[str]:
    names = child_names(spark, f"{lake_url}/{MANIFESTS}")
    return sorted(n[len("date=") : -len(".json")] for n in names if n.startswith("date=") and n.endswith(".json"))


def read_published(spark: "SparkSession", lake_url: str, table: str, days: list[str]) -> "DataFrame":
    """The published rows of ``table`` ("positions" or "summaries") for ``days``, with a
    ``date`` column; an unpublished day is an error, not an empty result."""
    from functools import reduce

    from pyspark.sql import functions as F

    frames = []
    for day in days:
        manifest = read_manifest(spark, lake_url, day)
        if manifest is None:
            raise LakeError(f"{day} has not been consolidated (no manifest at {manifest_url(lake_url, day)})")
        frames.append(spark.read.parquet(manifest["tables"][table]).withColumn("date", F.lit(day)))
    if not frames:
        raise LakeError("no days asked for")
    return reduce(lambda a, b: a.unionByName(b), frames)


# --- the same objects without Spark (the scheduler and the retention hold no Spark driver) -------
def object_key(settings: "Settings", url: str) -> str:
    """``s3a://bucket/a/b`` -> ``a/b``."""
    root = f"{settings.lake_url}/"
    if not url.startswith(root):
        raise ValueError(f"{url} is not in the lake {settings.lake_url}")
    return url[len(root) :]


def _get(settings: "Settings", key: str) -> bytes | None:
    from minio.error import S3Error

    from skyrisk.s3 import s3_client

    try:
        response = s3_client(settings).get_object(settings.lake_bucket, key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject"):
            return None
        raise
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def _put(settings: "Settings", key: str, data: bytes, content_type: str) -> None:
    import io

    from skyrisk.s3 import s3_client

    s3_client(settings).put_object(settings.lake_bucket, key, io.BytesIO(data), len(data), content_type=content_type)


def manifest_of(settings: "Settings", day: str) -> dict[str, Any] | None:
    data = _get(settings, object_key(settings, manifest_url(settings.lake_url, day)))
    return json.loads(data) if data else None


def put_manifest(settings: "Settings", manifest: dict[str, Any]) -> None:
    """Replace a day's manifest (one PUT; the retention marks a day retired with it)."""
    key = object_key(settings, manifest_url(settings.lake_url, manifest["date"]))
    _put(settings, key, json.dumps(manifest, sort_keys=True).encode("utf-8"), "application/json")


def write_inputs(settings: "Settings", url: str, names: list[str]) -> None:
    _put(settings, object_key(settings, url), gzip.compress(json.dumps(sorted(names)).encode("utf-8")), "application/gzip")


def read_inputs(settings: "Settings", manifest: dict[str, Any]) -> set[str] | None:
    """The enriched files the published run read, or None for a manifest without the list
    (written before the list existed) or whose list is gone."""
    url = manifest.get("inputs")
    data = _get(settings, object_key(settings, url)) if url else None
    return set(json.loads(gzip.decompress(data))) if data is not None else None


def _hidden(relative: str) -> bool:
    return any(part.startswith(("_", ".")) for part in relative.split("/"))


def enriched_files(settings: "Settings", day: str) -> dict[str, tuple[datetime, int]]:
    """The day's enriched data files: name relative to ``date=D/`` -> (last modified, bytes);
    markers and anything under a hidden (``_temporary``, ``.spark-staging``) folder left out."""
    from skyrisk.s3 import s3_client

    prefix = enriched_prefix(day)
    files = {}
    for item in s3_client(settings).list_objects(settings.lake_bucket, prefix=prefix, recursive=True):
        relative = item.object_name[len(prefix) :]
        if not item.is_dir and relative and not _hidden(relative):
            files[relative] = (item.last_modified, int(item.size or 0))
    return files


def late_files(settings: "Settings", day: str, manifest: dict[str, Any] | None = None) -> list[str] | None:
    """Enriched files of ``day`` that its published run did not read (rows that reached the lake
    after it); None when the day has not been published. A manifest without an input list
    counts every file newer than its publication."""
    manifest = manifest if manifest is not None else manifest_of(settings, day)
    if manifest is None:
        return None
    files = enriched_files(settings, day)
    read = read_inputs(settings, manifest)
    if read is None:
        published = datetime.fromisoformat(manifest["published_at"])
        return sorted(name for name, (modified, _size) in files.items() if modified > published)
    return sorted(name for name in files if name not in read)
