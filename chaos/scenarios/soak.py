"""A long run at the design load: 2,000 aircraft at 1 Hz for 30 minutes into the real broker, the
streaming job and the services, sampling once a minute what grows: the disk (broker log, lake,
FerretDB, checkpoints), the memory of every process and the logs.

Growth per hour is the slope of a least-squares line through the samples of the second half (the
first half is warm-up: JVM heap, Kafka segments, state store). The verdict holds the figures and
checks the bounds that must hold at any run length:

- memory: no process grows by more than ``MEMORY_GROWTH_LIMIT`` of its size per hour once warm;
- logs: rotation holds every log file at ``log_max_mb`` (plus one line);
- disk: the broker stays within its byte caps; the lake, FerretDB and the checkpoints are reported
  with their growth per hour (the lake is bounded by the enriched retention, the checkpoints by
  Spark's retained batches);
- the job keeps up and the lake holds every state once (the same count check as the outages).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from chaos.core import (
    PlatformProcess,
    Scenario,
    SupervisedStreaming,
    Verdict,
    committed_offsets,
    end_offsets,
    say,
    simulator,
)
from bench.e2e import ProcessMeter, named_processes
from chaos.scenarios import services as traffic
from infra import stack
from skyrisk import contracts
from skyrisk.settings import Settings

AIRCRAFT = 2_000
SOAK_S = 30 * 60.0
SAMPLE_EVERY_S = 60.0
MEMORY_GROWTH_LIMIT = 0.10  # of the process's size, per hour, once warm
MEMORY_NOISE_MB = 30.0  # growth below this per hour is not judged (GC and allocator noise)
# SQLite empties its write-ahead log only at a checkpoint no transaction overlaps; a WAL that keeps
# growing once warm never gets one, and would fill the disk in a long run.
WAL_GROWTH_LIMIT_MB = 64.0
MIB = 1024 * 1024
TOPIC = contracts.FLIGHT_STATES.name


def folder_bytes(path: Path, pattern: str = "**/*") -> int:
    """Bytes on disk (allocated blocks: Kafka's preallocated, sparse index files count as what they use)."""
    total = 0
    for item in path.glob(pattern):
        try:
            if item.is_file():
                total += item.stat().st_blocks * 512
        except OSError:
            continue  # deleted while walking (segments, checkpoint files)
    return total


@dataclass
class Samples:
    """One row per minute: seconds since the start, then bytes per measured thing."""

    times: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, at: float, measured: dict[str, float]) -> None:
        self.times.append(at)
        for name, value in measured.items():
            self.values.setdefault(name, []).append(value)

    def per_hour(self, name: str) -> float:
        """Least-squares slope over the second half of the samples, in bytes per hour."""
        half = len(self.times) // 2
        xs, ys = self.times[half:], self.values[name][half:]
        if len(xs) < 2:
            return 0.0
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mean_x) ** 2 for x in xs)
        return 0.0 if var == 0 else sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var * 3600

    def last(self, name: str) -> float:
        return self.values[name][-1]


def measure(settings: Settings, workdir: Path, job: SupervisedStreaming, producer: PlatformProcess,
            meter: ProcessMeter) -> dict[str, float]:
    data = settings.data_dir
    logs = [*workdir.glob("*.log*"), *data.glob("*/*.log*")]
    measured = {
        "disk.kafka": folder_bytes(data / "kafka" / "logs"),  # the broker's log.dirs: the topics
        "disk.lake": folder_bytes(data / "minio" / "data"),
        "disk.ferretdb": folder_bytes(data / "ferretdb", "**/*.sqlite"),
        "disk.ferretdb_wal": folder_bytes(data / "ferretdb", "**/*.sqlite-wal"),  # SQLite's write-ahead log
        "disk.checkpoints": folder_bytes(Path(settings.resolved_checkpoint_dir)),
        "logs.total": sum(p.stat().st_size for p in logs if p.is_file()),
        "logs.largest_file": max((p.stat().st_size for p in logs if p.is_file()), default=0),
    }
    # the benchmark's process table: the services, each child's Python side and its JVM apart
    _cpu, rss_mib = meter.measure(named_processes(settings, {"streaming": job.child, "producer": producer}))
    measured |= {f"memory.{name}": mib * MIB for name, mib in rss_mib.items()}
    return measured


def lag(settings: Settings, job: SupervisedStreaming) -> int:
    ends, done = end_offsets(settings, TOPIC), committed_offsets(job.checkpoint, TOPIC)
    return sum(max(0, end - done.get(p, 0)) for p, end in ends.items())


def _mb(value: float) -> str:
    return f"{value / MIB:,.1f} MB"


def judge(samples: Samples, settings: Settings) -> tuple[list[str], list[str]]:
    """(problems, report lines) of a finished soak."""
    problems, report = [], []
    for name in sorted(samples.values):
        if name == "lag":
            continue
        report.append(f"{name}: {_mb(samples.last(name))} now, {_mb(samples.per_hour(name))}/h")
    for name in (n for n in samples.values if n.startswith("memory.")):
        size, growth = samples.last(name), samples.per_hour(name)
        if growth > MEMORY_NOISE_MB * MIB and growth > MEMORY_GROWTH_LIMIT * size:
            problems.append(f"{name} grows {_mb(growth)}/h once warm ({growth / size:.0%} of its {_mb(size)} per hour)")
    cap = settings.log_max_mb * MIB + 64 * 1024  # rotation happens after the write that crosses the cap
    if samples.last("logs.largest_file") > cap:
        problems.append(f"a log file holds {_mb(samples.last('logs.largest_file'))}, beyond the "
                        f"{settings.log_max_mb:.0f} MB rotation")
    wal_growth = samples.per_hour("disk.ferretdb_wal")
    if wal_growth > WAL_GROWTH_LIMIT_MB * MIB:
        problems.append(f"FerretDB's SQLite write-ahead log grows {_mb(wal_growth)}/h once warm "
                        f"({_mb(samples.last('disk.ferretdb_wal'))} now): it is never emptied")
    broker_cap = sum(stack.RETENTION_BYTES.get(spec.name, stack.DEFAULT_RETENTION_BYTES) * spec.partitions
                     for spec in contracts.TOPICS if spec.retention_ms is not None)  # compacted topics: by their keys
    if samples.last("disk.kafka") > broker_cap:
        problems.append(f"the broker holds {_mb(samples.last('disk.kafka'))}, above its byte caps")
    lake_at_retention = samples.per_hour("disk.lake") * 24 * settings.batch_enriched_retention_days
    report.append(f"lake at the {settings.batch_enriched_retention_days}-day enriched retention: "
                  f"~{_mb(lake_at_retention)} (bounded by `python -m batch expire`)")
    kafka_day = samples.per_hour("disk.kafka") * 24
    report.append(f"broker after a day (its {contracts.FLIGHT_STATES.retention_ms / 3_600_000:.0f} h retention): "
                  f"~{_mb(kafka_day)}, caps {_mb(broker_cap)}")
    return problems, report


def soak(settings: Settings, workdir: Path, seconds: float = SOAK_S, aircraft: int = AIRCRAFT) -> Verdict:
    name = "soak"
    run = traffic.Run(settings, workdir, SupervisedStreaming(settings, workdir), simulator(settings, workdir, aircraft))
    samples = Samples()
    meter = ProcessMeter()
    try:
        say(f"soak: {aircraft} aircraft at 1 Hz for {seconds / 60:.0f} min, sampling every {SAMPLE_EVERY_S:.0f}s")
        run.job.start()
        run.producer.start()
        started = time.monotonic()
        next_sample = started
        while (elapsed := time.monotonic() - started) < seconds:
            if time.monotonic() >= next_sample:
                measured = measure(settings, workdir, run.job, run.producer, meter)
                measured["lag"] = lag(settings, run.job)
                samples.add(elapsed, measured)
                memory = ", ".join(f"{k.removeprefix('memory.')} {_mb(v)}" for k, v in measured.items()
                                   if k.startswith("memory."))
                say(f"{elapsed / 60:4.1f} min: memory {memory}; disk kafka "
                    f"{_mb(measured['disk.kafka'])}, lake {_mb(measured['disk.lake'])}; logs "
                    f"{_mb(measured['logs.total'])}; lag {measured['lag']:,.0f} states")
                next_sample += SAMPLE_EVERY_S
            time.sleep(1.0)  # the soak's own pace: one sample a minute
        traffic._stop_producer(run)
        if traffic._check_catch_up(run):
            traffic._count_check(run)
    finally:
        run.producer.stop()
        exit_code = run.job.stop()
    traffic._check_job_health(run, exit_code, crashes_allowed=0)
    problems, report = judge(samples, settings)
    for line in report:
        say(line)
    (workdir / "soak_samples.json").write_text(json.dumps({"times": samples.times, "values": samples.values}))
    run.problems.extend(problems)
    run.counts.update({f"{key}_mb_per_h": round(samples.per_hour(key) / MIB, 1) for key in samples.values if key != "lag"})
    run.counts["max_lag"] = max(samples.values.get("lag", [0]))
    passed = not run.problems
    return Verdict(name, passed, run.counts, "; ".join(run.problems if not passed else run.notes + report))


SCENARIOS = [
    Scenario("soak", soak,
             f"{AIRCRAFT:,} aircraft at 1 Hz for {SOAK_S / 60:.0f} minutes: disk, memory and log growth per hour "
             "(memory flat once warm, logs rotated, broker within its caps), and every state stored once"),
]
