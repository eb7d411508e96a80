"""Service faults under load: the streaming job killed with -9, and Kafka, MongoDB (FerretDB) or
MinIO stopped for a while.

Every scenario runs the real simulator into the real broker and the real streaming job (restarted
as `make run` restarts it), breaks one thing, lets traffic go on, stops the producer and then
checks, polling against deadlines:

- the producer lost nothing: delivered = produced, no delivery errors, the topic holds exactly
  what it delivered;
- the streaming job caught up (its checkpoint committed the topic's end offsets);
- the Parquet history holds every (icao24, event_time) of the topic once: missing = 0,
  duplicates = 0;
- ``flights_live`` converged: every aircraft heard in the last minute has its newest state;
- the job crashed no more often than the fault allows, and stopped cleanly at the end.

Two operator faults follow the same pattern: a checkpoint reset (the job stopped, its checkpoint
folder deleted, started again) must neither double nor overwrite the lake; a job stopped longer
than a (shortened) topic retention must report exactly what Kafka deleted before it could read it.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chaos.core import (
    PlatformProcess,
    Scenario,
    SupervisedStreaming,
    Verdict,
    batch_in_flight,
    caught_up,
    committed_offsets,
    compare_counts,
    end_offsets,
    flights_live_event_times,
    lake_flight_keys,
    live_lagging,
    max_undelivered,
    newest_per_aircraft,
    producer_totals,
    say,
    simulator,
    start_named_service,
    start_offsets,
    stop_service,
    topic_flight_keys,
    wait_until,
)
from skyrisk import contracts
from skyrisk.s3 import s3_client
from skyrisk.settings import Settings

# Enough traffic for every micro-batch to write Parquet and flights_live, small enough that each
# scenario stays within a few minutes on two cores (the load itself is bench.e2e's business).
AIRCRAFT = 500
OUTAGE_S = 30.0
# Longer than librdkafka's default message.timeout.ms (300 s), after which an undelivered message
# used to fail; at 500 aircraft the producer holds ~180,000 states, below its 200,000-message queue.
LONG_OUTAGE_S = 360.0
LIBRDKAFKA_DEFAULT_TIMEOUT_S = 300.0
WARMUP_BATCHES = 2  # micro-batches the job has committed before anything is broken
TRAFFIC_AFTER_S = 20.0  # traffic that goes on after the service is back, before the producer stops
STARTUP_DEADLINE_S = 420.0  # Spark start + first batches on a busy machine
CATCH_UP_DEADLINE_S = 600.0
LIVE_DEADLINE_S = 300.0  # FerretDB writes flights_live at ~60-200 upserts/s
RECENT_S = 60.0  # aircraft heard this close to the end must be in flights_live with their newest state
KILL_DEADLINE_S = 240.0
# retention-loss: a retention short enough to delete what the stopped job has not read within a few
# minutes (the broker checks retention every 60 s; only closed segments go, hence short segments).
TEST_RETENTION_MS = 20_000
TEST_SEGMENT_MS = 5_000
EXPIRY_DEADLINE_S = 300.0

TOPIC = contracts.FLIGHT_STATES.name


@dataclass
class Run:
    """One scenario's running pipeline and what the fault wrote down about itself."""

    settings: Settings
    workdir: Path
    job: SupervisedStreaming
    producer: PlatformProcess
    counts: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    expected_live: dict[str, float] = field(default_factory=dict)  # icao24 -> newest event_time sent

    def committed(self) -> dict[int, int]:
        return committed_offsets(self.job.checkpoint, TOPIC)


def traffic_scenario(
    name: str, settings: Settings, workdir: Path, fault: Callable[[Run], None], *, crashes_allowed: int
) -> Verdict:
    """Producer + streaming job, ``fault`` in the middle, then the count check and convergence."""
    run = Run(settings, workdir, SupervisedStreaming(settings, workdir), simulator(settings, workdir, AIRCRAFT))
    try:
        if not _warm_up(run):
            return Verdict(name, False, detail=f"the streaming job committed no data batch within "
                                               f"{STARTUP_DEADLINE_S:.0f}s; see {run.job.child.log_path}")

        fault(run)

        say(f"traffic goes on for {TRAFFIC_AFTER_S:.0f}s")
        time.sleep(TRAFFIC_AFTER_S)  # the length of the traffic, not a wait for a result
        _stop_producer(run)
        if _check_catch_up(run):  # counting before the job caught up would only show lag
            _count_check(run)
            _check_flights_live(run)
    finally:
        run.producer.stop()
        exit_code = run.job.stop()
    _check_job_health(run, exit_code, crashes_allowed)
    passed = not run.problems
    return Verdict(name, passed, run.counts, "; ".join(run.problems if not passed else run.notes))


def _warm_up(run: Run) -> bool:
    """Start the job and the simulator; True once the job has committed a few batches with data."""
    say(f"starting the streaming job and the simulator ({AIRCRAFT} aircraft at 1 Hz)")
    run.job.start()
    run.producer.start()
    if not wait_until(lambda: len(_commits(run)) >= WARMUP_BATCHES and sum(run.committed().values()) > 0,
                      STARTUP_DEADLINE_S):
        return False
    say(f"streaming job running: {len(_commits(run))} batches committed, {sum(run.committed().values())} states read")
    return True


def _commits(run: Run) -> list[int]:
    folder = run.job.checkpoint / "commits"
    return [p for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []


def _stop_producer(run: Run) -> None:
    code = run.producer.stop()
    log_text = run.producer.log_path.read_text(errors="replace")
    totals = producer_totals(log_text) or {}
    run.counts.update({"produced": totals.get("produced", -1), "delivered": totals.get("delivered", -1),
                       "producer_errors": totals.get("errors", -1), "max_undelivered": max_undelivered(log_text)})
    say(f"producer stopped (exit {code}): {totals}")
    if code != 0:
        run.problems.append(f"producer exited with {code}")
    if not totals or totals["delivered"] != totals["produced"] or totals["errors"]:
        run.problems.append(f"producer lost messages: {totals or 'no final status line'}")


def _check_catch_up(run: Run) -> bool:
    ends = end_offsets(run.settings, TOPIC)
    started = time.monotonic()
    say(f"waiting for the streaming job to commit the topic's end ({sum(ends.values())} messages)")
    if wait_until(lambda: caught_up(run.committed(), ends), CATCH_UP_DEADLINE_S):
        run.counts["catch_up_s"] = round(time.monotonic() - started)
        say(f"streaming job caught up in {run.counts['catch_up_s']:.0f}s")
        return True
    run.problems.append(f"streaming job not caught up after {CATCH_UP_DEADLINE_S:.0f}s "
                        f"(committed {sum(run.committed().values())} of {sum(ends.values())})")
    return False


def _count_check(run: Run) -> None:
    sent = topic_flight_keys(run.settings, TOPIC)
    stored = lake_flight_keys(run.settings)
    check = compare_counts(sent, stored)
    run.counts.update(check.counts())
    run.counts["topic_messages"] = sum(sent.values())
    say(f"count check: {check}")
    if run.counts.get("delivered", -1) != run.counts["topic_messages"]:
        run.problems.append(f"topic holds {run.counts['topic_messages']} messages, producer delivered "
                            f"{run.counts.get('delivered')}")
    if not check.ok:
        run.problems.append(f"Parquet differs from the topic: missing {check.missing}, duplicates "
                            f"{check.duplicates}, unexpected {check.unexpected} (sent {check.sent})")
    else:
        run.notes.append(f"{check.sent} states in, {check.stored_rows} Parquet rows out, none missing or doubled")
    run.expected_live = _recent_newest(sent)


def _recent_newest(sent) -> dict[str, float]:
    newest = newest_per_aircraft(sent)
    end = max(newest.values(), default=0.0)
    return {icao24: t for icao24, t in newest.items() if t >= end - RECENT_S}


def _check_flights_live(run: Run) -> None:
    expected = run.expected_live
    started = time.monotonic()
    lagging = [len(expected)]

    def converged() -> bool:
        lagging[0] = live_lagging(expected, flights_live_event_times(run.settings))
        return lagging[0] == 0

    ok = wait_until(converged, LIVE_DEADLINE_S, interval_s=3.0)
    run.counts.update({"live_expected": len(expected), "live_lagging": lagging[0]})
    if ok and expected:
        run.counts["live_converge_s"] = round(time.monotonic() - started)
        run.notes.append(f"flights_live converged ({len(expected)} aircraft) in {run.counts['live_converge_s']:.0f}s")
        say(run.notes[-1])
    else:
        run.problems.append(f"flights_live not converged after {LIVE_DEADLINE_S:.0f}s: {lagging[0]} of "
                            f"{len(expected)} aircraft missing or stale")


def _check_job_health(run: Run, exit_code: int | None, crashes_allowed: int) -> None:
    crashes = run.job.crashes
    run.counts["streaming_crashes"] = len(crashes)
    if run.job.given_up:
        run.problems.append(f"streaming job crashed {len(crashes)} times: `make run` gives up on it")
    elif len(crashes) > crashes_allowed:
        first = crashes[0]
        run.problems.append(
            f"streaming job crashed {len(crashes)} times (allowed {crashes_allowed}); first at "
            f"{first.at:.0f}s, exit {first.code}: {first.cause}"
        )
    elif crashes:
        run.notes.append(f"streaming job crashed {len(crashes)}x and resumed from its checkpoint")
    if exit_code != 0:
        run.problems.append(f"streaming job did not stop cleanly (exit {exit_code})")


# --- the faults ---------------------------------------------------------------------------------------
_LAKE_BATCH = re.compile(r"^date=[^/]+/hour=[^/]+/batch_id=([^/]+)-(\d+)/[^/]+\.parquet$")


def _lake_batches(settings: Settings) -> set[tuple[str, int]]:
    """(checkpoint run, batch id) of every Parquet file in its final place (not in Spark's staging
    folder): the lake's ``batch_id=<checkpoint id>-<batch id>`` folders (streaming.app)."""
    prefix = f"{contracts.LAKE_ENRICHED}/"
    return {(m.group(1), int(m.group(2)))
            for item in s3_client(settings).list_objects(settings.lake_bucket, prefix=prefix, recursive=True)
            if (m := _LAKE_BATCH.match(item.object_name[len(prefix):]))}


def kill_streaming(run: Run) -> None:
    """kill -9 while a batch is between its Parquet write and its commit: the worst moment for the
    lake, since the restarted job must run that batch again over the files it already wrote."""
    target: list[int] = []

    def parquet_written_not_committed() -> bool:
        batch = batch_in_flight(run.job.checkpoint)
        if batch is None or batch not in {b for _run, b in _lake_batches(run.settings)}:
            return False
        target.append(batch)
        return True

    if not wait_until(parquet_written_not_committed, KILL_DEADLINE_S, interval_s=0.2):
        run.problems.append("never caught a batch between its Parquet write and its commit")
        return
    batch = target[-1]
    run.job.kill9()
    run.counts["killed_batch"] = batch
    say(f"kill -9 of the streaming job (Python driver and JVM) while batch {batch} was uncommitted")
    started = time.monotonic()
    if wait_until(lambda: (run.job.checkpoint / "commits" / str(batch)).exists(), STARTUP_DEADLINE_S):
        run.counts["recovery_s"] = round(time.monotonic() - started)
        say(f"restarted job committed batch {batch} after {run.counts['recovery_s']:.0f}s")
        run.notes.append(f"killed in batch {batch}, which the restarted job re-ran and committed")
    else:
        run.problems.append(f"restarted job did not commit batch {batch} within {STARTUP_DEADLINE_S:.0f}s")


def outage(service: str, seconds: float = OUTAGE_S) -> Callable[[Run], None]:
    """Stop ``service`` under load for ``seconds``, then start it again on the same ports and data."""

    def fault(run: Run) -> None:
        say(f"stopping {service} for {seconds:.0f}s")
        stop_service(run.settings, service)
        down_at = time.monotonic()
        before = len(run.job.crashes)
        while time.monotonic() - down_at < seconds:  # the outage itself lasts this long
            time.sleep(min(5.0, seconds - (time.monotonic() - down_at)))
        start_named_service(run.settings, service)
        run.counts["outage_s"] = round(time.monotonic() - down_at)
        crashed = len(run.job.crashes) - before
        say(f"{service} back after {run.counts['outage_s']:.0f}s; streaming job crashed {crashed}x meanwhile")
        run.notes.append(f"{service} down {run.counts['outage_s']:.0f}s")

    return fault


def kill9_streaming(settings: Settings, workdir: Path) -> Verdict:
    return traffic_scenario("kill9-streaming", settings, workdir, kill_streaming, crashes_allowed=0)


def kafka_outage(settings: Settings, workdir: Path) -> Verdict:
    # The issue's promise here is the producers'; a job restart while the broker is gone is tolerated.
    from infra.run import RESTART_LIMIT

    return traffic_scenario("kafka-outage", settings, workdir, outage("kafka"), crashes_allowed=RESTART_LIMIT)


def kafka_outage_6min(settings: Settings, workdir: Path) -> Verdict:
    """The broker away longer than librdkafka's default message timeout: the producer must hold every
    state until it is back (in = out), not fail the oldest ones after 300 s."""
    from infra.run import RESTART_LIMIT

    def fault(run: Run) -> None:
        outage("kafka", LONG_OUTAGE_S)(run)
        if run.counts["outage_s"] <= LIBRDKAFKA_DEFAULT_TIMEOUT_S:
            run.problems.append(f"the outage lasted {run.counts['outage_s']:.0f}s, not longer than "
                                f"{LIBRDKAFKA_DEFAULT_TIMEOUT_S:.0f}s")

    verdict = traffic_scenario("kafka-outage-6min", settings, workdir, fault, crashes_allowed=RESTART_LIMIT)
    counts = verdict.counts
    if "topic_messages" not in counts and counts.get("delivered", -1) >= 0:
        # the lake was not compared (the streaming job did not catch up): still say what the producer did
        sent = topic_flight_keys(settings, TOPIC)
        counts.update({"topic_messages": sum(sent.values()), "sent": len(sent),
                       "sent_duplicates": sum(sent.values()) - len(sent)})
        verdict.detail += (f"; producer side: produced {counts['produced']:.0f}, delivered {counts['delivered']:.0f}, "
                           f"errors {counts['producer_errors']:.0f}, the topic holds {counts['topic_messages']:.0f} "
                           f"({counts['sent']:.0f} distinct states)")
    verdict.detail += f"; the producer held up to {counts.get('max_undelivered', 0):.0f} states in memory"
    return verdict


def mongo_outage(settings: Settings, workdir: Path) -> Verdict:
    # "retries and converges, no crash loop": the job must ride out the outage without exiting.
    return traffic_scenario("mongo-outage", settings, workdir, outage("ferretdb"), crashes_allowed=0)


def minio_outage(settings: Settings, workdir: Path) -> Verdict:
    # The S3A settings fail fast on purpose, so the query may fail and restart from its checkpoint.
    from infra.run import RESTART_LIMIT

    return traffic_scenario("minio-outage", settings, workdir, outage("minio"), crashes_allowed=RESTART_LIMIT)


# --- operator faults ------------------------------------------------------------------------------------
def reset_checkpoint(run: Run) -> None:
    """Stop the job (SIGTERM), delete its whole checkpoint folder, start it again: the way out of a
    checkpoint that cannot go on. Its new batch ids start at 0 again."""
    folder = Path(run.settings.resolved_checkpoint_dir) / "streaming"
    old_end: dict[int, int] = {}

    def wipe() -> None:
        old_end.update(run.committed())  # the stopped job's last committed batch
        shutil.rmtree(folder)
        say(f"checkpoint folder {folder} deleted; the old checkpoint had committed up to offset total "
            f"{sum(old_end.values())}")

    code = run.job.restart_after(wipe)
    run.counts["old_checkpoint_end"] = sum(old_end.values())
    if code != 0:
        run.problems.append(f"the job did not stop cleanly before the reset (exit {code})")
    resumed: dict[int, int] = {}

    def resumed_line() -> bool:
        log_text = run.job.child.last_run_log()
        found = re.search(r"flights: the checkpoint is new; resuming at the offsets its last run committed: (\{.*\})",
                          log_text)
        if found:
            resumed.update({int(p): int(o) for p, o in json.loads(found.group(1)).get(TOPIC, {}).items()})
        return bool(found)

    if not wait_until(resumed_line, STARTUP_DEADLINE_S, alive=lambda: run.job.child.returncode() is None):
        run.problems.append("the job on a new checkpoint did not say where it resumes")
        return
    run.counts["resumed_at"] = sum(resumed.values())
    say(f"the job on the new checkpoint resumes at offset total {run.counts['resumed_at']} (from stream_offsets)")
    if resumed != old_end:
        run.problems.append(f"the new checkpoint resumes at {resumed}, the old one ended at {old_end}")
    else:
        run.notes.append(f"the new checkpoint resumed exactly where the old one ended ({sum(old_end.values())} states)")


def checkpoint_reset(settings: Settings, workdir: Path) -> Verdict:
    verdict = traffic_scenario("checkpoint-reset", settings, workdir, reset_checkpoint, crashes_allowed=0)
    runs = {run for run, _batch in _lake_batches(settings)}
    verdict.counts["lake_runs"] = len(runs)
    if len(runs) != 2:
        verdict.passed = False
        verdict.detail += f"; the lake holds batches of {len(runs)} checkpoint runs, not 2: {sorted(runs)}"
    else:
        verdict.detail += "; both checkpoint runs' batches are in the lake, in their own folders"
    return verdict


def _set_retention(settings: Settings, retention_ms: int | None, segment_ms: int | None) -> None:
    """Set the topic's retention.ms and segment.ms (None: back to the contract's / the broker's)."""
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

    def entry(name: str, value: int | None) -> ConfigEntry:
        if value is None:
            return ConfigEntry(name, "", incremental_operation=AlterConfigOpType.DELETE)
        return ConfigEntry(name, str(value), incremental_operation=AlterConfigOpType.SET)

    contract_ms = contracts.FLIGHT_STATES.retention_ms
    resource = ConfigResource(ConfigResource.Type.TOPIC, TOPIC, incremental_configs=[
        entry("retention.ms", retention_ms if retention_ms is not None else contract_ms),
        entry("segment.ms", segment_ms)])
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def reported_loss(settings: Settings, query: str = "flights") -> int:
    """What the job reported as deleted before it read it: data_lost summed over its progress documents."""
    from pymongo import MongoClient

    client = MongoClient(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=5_000)
    try:
        docs = client[settings.mongo_database]["stream_progress"].find({"query": query}, {"data_lost": 1})
        return sum(sum((doc.get("data_lost") or {}).values()) for doc in docs)
    finally:
        client.close()


def retention_loss(settings: Settings, workdir: Path) -> Verdict:
    """The job stopped longer than the topic keeps data: the loss is counted exactly and reported
    (an ERROR line and stream_progress.data_lost), the rest of the data is stored once."""
    name = "retention-loss"
    run = Run(settings, workdir, SupervisedStreaming(settings, workdir), simulator(settings, workdir, AIRCRAFT))
    stopped_at: dict[int, int] = {}
    lows: dict[int, int] = {}
    try:
        if not _warm_up(run):
            return Verdict(name, False, detail=f"the streaming job committed no data batch within "
                                               f"{STARTUP_DEADLINE_S:.0f}s; see {run.job.child.log_path}")

        def expire_unread() -> None:
            stopped_at.update(run.committed())
            _set_retention(settings, TEST_RETENTION_MS, TEST_SEGMENT_MS)
            say(f"job stopped at offset total {sum(stopped_at.values())}; {TOPIC} retention set to "
                f"{TEST_RETENTION_MS / 1000:.0f}s, traffic goes on until Kafka deleted unread states of every partition")
            expired = wait_until(lambda: all(low > stopped_at.get(p, 0) for p, low in start_offsets(settings, TOPIC).items()),
                                 EXPIRY_DEADLINE_S, interval_s=5.0)
            _stop_producer(run)
            _set_retention(settings, None, None)  # nothing more goes while the job catches up
            lows.update(start_offsets(settings, TOPIC))
            if not expired:
                run.problems.append(f"Kafka deleted no unread state of every partition within {EXPIRY_DEADLINE_S:.0f}s")

        code = run.job.restart_after(expire_unread)
        if code != 0:
            run.problems.append(f"the job did not stop cleanly (exit {code})")
        expected_lost = sum(max(0, low - stopped_at.get(p, 0)) for p, low in lows.items())
        run.counts["expected_lost"] = expected_lost
        say(f"Kafka deleted {expected_lost} states the job had not read; job restarted")
        if _check_catch_up(run):
            _check_reported_loss(run, expected_lost)
    finally:
        run.producer.stop()
        exit_code = run.job.stop()
    _check_job_health(run, exit_code, crashes_allowed=0)
    passed = not run.problems
    return Verdict(name, passed, run.counts, "; ".join(run.problems if not passed else run.notes))


def _check_reported_loss(run: Run, expected_lost: int) -> None:
    # progress documents reach the database after the commit: give the last ones a moment
    wait_until(lambda: reported_loss(run.settings) >= expected_lost, 60)
    reported = reported_loss(run.settings)
    run.counts["reported_lost"] = reported
    logged = "deleted by Kafka retention" in run.job.child.log_path.read_text(errors="replace")
    if reported != expected_lost or expected_lost == 0:
        run.problems.append(f"stream_progress reports {reported} lost states, Kafka deleted {expected_lost}")
    if not logged:
        run.problems.append("the job's log has no line about the states Kafka deleted")
    remaining = topic_flight_keys(run.settings, TOPIC)
    stored = lake_flight_keys(run.settings)
    check = compare_counts(remaining, stored)
    run.counts.update({"sent": run.counts.get("delivered", -1), "parquet_rows": check.stored_rows,
                       "missing": check.missing, "duplicates": check.duplicates})
    # every state is either in the lake once or counted as lost
    if check.missing or check.duplicates or check.stored_rows + expected_lost != run.counts.get("delivered", -1):
        run.problems.append(f"lake {check.stored_rows} rows + lost {expected_lost} != delivered "
                            f"{run.counts.get('delivered')} (missing {check.missing}, duplicates {check.duplicates})")
    else:
        run.notes.append(f"delivered {run.counts['delivered']:.0f} = {check.stored_rows} Parquet rows + "
                         f"{expected_lost} deleted by retention, reported as lost ({reported}) and logged")


SCENARIOS = [
    Scenario("kill9-streaming", kill9_streaming,
             "kill -9 the streaming job between a batch's Parquet write and its commit; restart: "
             "no gap, no duplicate, flights_live converges", quick=True),
    Scenario("kafka-outage", kafka_outage,
             f"stop the Kafka broker for {OUTAGE_S:.0f}s under load: producers buffer and retry, nothing lost",
             quick=True),
    Scenario("kafka-outage-6min", kafka_outage_6min,
             f"stop the Kafka broker for {LONG_OUTAGE_S / 60:.0f} minutes under load, longer than librdkafka's "
             f"default {LIBRDKAFKA_DEFAULT_TIMEOUT_S:.0f}s message timeout: the producer holds every state, "
             "nothing lost"),
    Scenario("checkpoint-reset", checkpoint_reset,
             "stop the streaming job, delete its checkpoint folder, start it again under load: it resumes where "
             "the old checkpoint ended; the lake holds every state once, no batch folder overwritten", quick=True),
    Scenario("retention-loss", retention_loss,
             f"stop the streaming job past a {TEST_RETENTION_MS / 1000:.0f}s test retention of {TOPIC}: what Kafka "
             "deleted unread is counted exactly, logged and reported in stream_progress; the rest is stored once"),
    Scenario("mongo-outage", mongo_outage,
             f"stop FerretDB for {OUTAGE_S:.0f}s: the streaming job retries and converges, no crash loop"),
    Scenario("minio-outage", minio_outage,
             f"stop MinIO for {OUTAGE_S:.0f}s: the query retries or restarts from its checkpoint, nothing lost"),
]
