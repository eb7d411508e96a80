"""End-to-end load benchmark (`make bench`): simulator -> Kafka -> streaming -> MongoDB/Parquet.

    .venv/bin/python -m bench.e2e                                  # 2,000 / 10,000 / 20,000 aircraft, 10 min each
    .venv/bin/python -m bench.e2e --aircraft 2000 --duration 60    # the short smoke run

For each fleet size a fresh throw-away stack (Kafka, MinIO, FerretDB on free ports) is started,
and the platform's own processes run as in `make run`: ``python -m producers all sim``,
``python -m streaming`` and ``python -m dashboard``. Every ``--interval`` seconds the bench samples:

- produced: the flight topic's end offsets (messages/s);
- processed: the streaming job's ``stream_progress`` documents (input rows per micro-batch,
  batch duration); lag = produced so far - processed so far;
- freshness, as the streaming issue defines it: for ~50 sampled aircraft, the event time of the
  newest state of that aircraft in Kafka (a consumer in this process follows the topic) minus the
  event time of the state ``flights_live`` shows for it;
- CPU and RSS of every process: broker, MinIO, FerretDB, producers, streaming (Python) and its
  Spark driver (JVM), dashboard.

Writes ``<out>/<date>.md`` (tables and the verdict: the highest rate held with bounded lag),
``<out>/<date>-*.png`` (plots over time) and ``<out>/<date>.json`` (every sample).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from infra.processes import PlatformProcess
from skyrisk.settings import Settings

FRESHNESS_SAMPLE = 50
WARMUP_S = 30.0  # first batches (code generation, JIT); excluded from the rates and the lag trend
STREAMING_READY = "queries running"  # logged by streaming.app.main once every query has started
STARTUP_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 60.0


@dataclass
class Sample:
    t: float  # seconds since the producers started
    produced: int  # messages on the flight topic so far
    processed: int  # rows the flights query has read so far
    freshness_s: list[float] = field(default_factory=list)
    missing: int = 0  # sampled aircraft not (yet) in flights_live
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core since the previous sample
    rss_mb: dict[str, float] = field(default_factory=dict)

    @property
    def lag(self) -> int:
        return self.produced - self.processed


@dataclass
class FleetRun:
    aircraft: int
    duration_s: float
    samples: list[Sample] = field(default_factory=list)
    batches: list[dict] = field(default_factory=list)  # flights stream_progress documents


# --- pure summaries (unit-tested) ---------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def rate(samples: list[Sample], attribute: str, since_s: float) -> float:
    """Messages per second of ``produced``/``processed`` between the first sample after ``since_s`` and the last."""
    window = [s for s in samples if s.t >= since_s]
    if len(window) < 2 or window[-1].t <= window[0].t:
        return 0.0
    return (getattr(window[-1], attribute) - getattr(window[0], attribute)) / (window[-1].t - window[0].t)


def lag_slope(samples: list[Sample], since_s: float) -> float:
    """Least-squares slope of the lag (messages per second) over the samples after ``since_s``."""
    window = [s for s in samples if s.t >= since_s]
    if len(window) < 3:
        return 0.0
    mean_t = statistics.fmean(s.t for s in window)
    mean_lag = statistics.fmean(s.lag for s in window)
    spread = sum((s.t - mean_t) ** 2 for s in window)
    return sum((s.t - mean_t) * (s.lag - mean_lag) for s in window) / spread if spread else 0.0


def verdict(run: FleetRun) -> dict:
    """Figures of one fleet size, and whether it held: lag bounded over the second half of the run
    (its trend grows by less than 2 % of the produced rate) and processed >= 95 % of produced."""
    samples = [s for s in run.samples if s.t >= WARMUP_S] or run.samples
    half = samples[0].t + (samples[-1].t - samples[0].t) / 2 if samples else 0.0
    produced = rate(run.samples, "produced", WARMUP_S)
    processed = rate(run.samples, "processed", WARMUP_S)
    slope = lag_slope(run.samples, half)
    freshness = [f for s in samples for f in s.freshness_s]
    durations = [b["batch_duration_ms"] / 1000 for b in run.batches]
    held = produced > 0 and processed >= 0.95 * produced and slope <= 0.02 * produced
    return {
        "aircraft": run.aircraft,
        "produced_per_s": produced,
        "processed_per_s": processed,
        "lag_start": samples[0].lag if samples else 0,
        "lag_mid": min(samples, key=lambda s: abs(s.t - half)).lag if samples else 0,
        "lag_end": samples[-1].lag if samples else 0,
        "lag_slope_per_s": slope,
        "freshness_p50_s": percentile(freshness, 0.50),
        "freshness_p95_s": percentile(freshness, 0.95),
        "freshness_p99_s": percentile(freshness, 0.99),
        "freshness_samples": len(freshness),
        "batch_p50_s": percentile(durations, 0.50),
        "batch_p95_s": percentile(durations, 0.95),
        "batches": len(durations),
        "held": held,
    }


def process_table(run: FleetRun) -> dict[str, tuple[float, float]]:
    """Mean CPU % and max RSS MB per process over the run (after the warm-up)."""
    samples = [s for s in run.samples if s.t >= WARMUP_S] or run.samples
    names = sorted({n for s in samples for n in s.cpu})
    return {
        n: (statistics.fmean([s.cpu[n] for s in samples if n in s.cpu]), max(s.rss_mb.get(n, 0.0) for s in samples))
        for n in names
    }


# --- measuring ---------------------------------------------------------------------------------------
class NewestInKafka:
    """Follows the flight topic and keeps the newest event time of the first ``size`` aircraft seen."""

    def __init__(self, settings: Settings, size: int = FRESHNESS_SAMPLE) -> None:
        from confluent_kafka import Consumer

        from skyrisk.contracts import FLIGHT_STATES

        self.consumer = Consumer({
            "bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": f"bench-e2e-{os.getpid()}-{time.time()}",
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
        })
        self.consumer.subscribe([FLIGHT_STATES.name])
        self.size = size
        self.newest: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        import orjson

        while not self.stopping.is_set():
            for message in self.consumer.consume(num_messages=5000, timeout=0.5):
                if message.error() or message.key() is None:
                    continue
                key = message.key().decode()
                with self.lock:
                    if key not in self.newest and len(self.newest) >= self.size:
                        continue
                    event_time = orjson.loads(message.value())["event_time"]
                    self.newest[key] = max(event_time, self.newest.get(key, 0.0))
        self.consumer.close()

    def snapshot(self) -> dict[str, float]:
        with self.lock:
            return dict(self.newest)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(10)


def topic_end_offsets(settings: Settings) -> int:
    from confluent_kafka import Consumer, TopicPartition

    from skyrisk.contracts import FLIGHT_STATES

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "bench-e2e-offsets"})
    try:
        partitions = consumer.list_topics(FLIGHT_STATES.name, timeout=10).topics[FLIGHT_STATES.name].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(FLIGHT_STATES.name, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()


class ProcessMeter:
    """CPU % since the previous call and RSS of named processes (a name may cover several pids)."""

    def __init__(self) -> None:
        self.known: dict[int, psutil.Process] = {}

    def measure(self, named: dict[str, list[psutil.Process]]) -> tuple[dict[str, float], dict[str, float]]:
        cpu: dict[str, float] = {}
        rss: dict[str, float] = {}
        for name, processes in named.items():
            for found in processes:
                process = self.known.setdefault(found.pid, found)  # cpu_percent needs the same object
                with contextlib.suppress(psutil.Error):
                    cpu[name] = cpu.get(name, 0.0) + process.cpu_percent(None)
                    rss[name] = rss.get(name, 0.0) + process.memory_info().rss / 2**20
        return cpu, rss


def wait_for_line(process: PlatformProcess, text: str, timeout_s: float) -> None:
    """Wait until ``text`` appears in the process's log (it died or took too long: RuntimeError)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in process.last_run_log():
            return
        if process.returncode() is not None:
            raise RuntimeError(f"exited with {process.returncode()} before '{text}'; see {process.log_path}")
        time.sleep(1.0)
    raise RuntimeError(f"no '{text}' in {process.log_path} after {timeout_s:.0f} s")


def named_processes(settings: Settings, children: dict[str, PlatformProcess]) -> dict[str, list[psutil.Process]]:
    from infra import stack

    named: dict[str, list[psutil.Process]] = {}
    for service in stack.SERVICE_NAMES:
        process = stack.running_process(settings, service)
        if process is not None:
            named[{"kafka": "broker"}.get(service, service)] = [process]
    for name, child in children.items():
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(child.pid)
            descendants = process.children(recursive=True)
            jvms = [p for p in descendants if "java" in p.name()]
            named[name] = [process, *[p for p in descendants if p not in jvms]]
            if jvms:
                named["spark driver (JVM)" if name == "streaming" else f"{name} (JVM)"] = jvms
    return named


def flights_progress(db, after_batch: int) -> list[dict]:
    return list(db["stream_progress"].find({"query": "flights", "batch_id": {"$gt": after_batch}}, {"_id": 0}))


def run_fleet(aircraft: int, duration_s: float, interval_s: float, logs: Path, echo=print) -> FleetRun:
    from pymongo import MongoClient

    from infra.stack import throwaway_stack

    run = FleetRun(aircraft, duration_s)
    with throwaway_stack(f"bench-e2e-{aircraft}-", echo=lambda _m: None) as base:
        settings = base.model_copy(update={
            "checkpoint_dir": str(base.data_dir / "checkpoints"), "sim_aircraft": aircraft,
            "spark_master": "local[2]", "spark_shuffle_partitions": 2,
        })
        # a database that stops answering must fail the run, not hang it
        db = MongoClient(settings.mongo_uri.get_secret_value(), socketTimeoutMS=60_000,
                         serverSelectionTimeoutMS=30_000)[settings.mongo_database]

        def launch(name: str, args: list[str]) -> PlatformProcess:
            process = PlatformProcess(settings, name, args, logs / f"{name}-{aircraft}.log", echo=echo)
            children[name] = process
            process.start()
            return process

        children: dict[str, PlatformProcess] = {}
        newest: NewestInKafka | None = None
        try:
            wait_for_line(launch("streaming", ["streaming"]), STREAMING_READY, STARTUP_TIMEOUT_S)
            echo(f"  [{aircraft:>6} aircraft] streaming job ready; starting the producers")
            newest = NewestInKafka(settings)
            launch("producers", ["producers", "all", "sim", "--aircraft", str(aircraft)])
            launch("dashboard", ["dashboard"])
            meter = ProcessMeter()
            meter.measure(named_processes(settings, children))
            started = time.monotonic()
            last_batch = -1
            processed = 0
            while (elapsed := time.monotonic() - started) < duration_s:
                time.sleep(max(0.0, interval_s - (time.monotonic() - started - elapsed)))
                for name, child in children.items():
                    if child.returncode() is not None:
                        raise RuntimeError(f"{name} exited with {child.returncode()}; see {child.log_path}")
                batches = flights_progress(db, last_batch)
                if batches:
                    last_batch = max(b["batch_id"] for b in batches)
                    processed += sum(b["num_input_rows"] for b in batches)
                    run.batches.extend(batches)
                sample = Sample(t=time.monotonic() - started, produced=topic_end_offsets(settings), processed=processed)
                for icao24, newest_event in newest.snapshot().items():
                    doc = db["flights_live"].find_one({"_id": icao24}, {"event_time": 1})
                    if doc is None:
                        sample.missing += 1
                    else:
                        sample.freshness_s.append(max(0.0, newest_event - doc["event_time"]))
                sample.cpu, sample.rss_mb = meter.measure(named_processes(settings, children))
                run.samples.append(sample)
                echo(f"  [{aircraft:>6} aircraft] t={sample.t:5.0f}s produced={sample.produced:>10,} "
                     f"processed={sample.processed:>10,} lag={sample.lag:>9,} "
                     f"freshness p95={percentile(sample.freshness_s, 0.95):6.1f}s missing={sample.missing}")
        finally:
            for name in ("producers", "dashboard", "streaming"):
                if name in children:
                    children[name].stop(STOP_TIMEOUT_S)
            if newest is not None:
                newest.close()
    return run


# --- reporting ---------------------------------------------------------------------------------------
def plot(runs: list[FleetRun], out: Path, stem: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []

    def save(fig, name: str) -> None:
        path = out / f"{stem}-{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)

    def per_interval(run: FleetRun, attribute: str) -> tuple[list[float], list[float]]:
        s = run.samples
        return [b.t for b in s[1:]], [(getattr(b, attribute) - getattr(a, attribute)) / (b.t - a.t) for a, b in zip(s, s[1:])]

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for run in runs:
        line = ax.plot(*per_interval(run, "produced"), label=f"{run.aircraft:,} produced")[0]
        ax.plot(*per_interval(run, "processed"), "--", color=line.get_color(), label=f"{run.aircraft:,} processed")
    ax.set(xlabel="seconds", ylabel="messages/s", title="Produced vs processed")
    ax.legend(fontsize=8)
    save(fig, "throughput")

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for run in runs:
        ax.plot([s.t for s in run.samples], [s.lag for s in run.samples], label=f"{run.aircraft:,} aircraft")
    ax.set(xlabel="seconds", ylabel="messages", title="Kafka lag (produced - processed)")
    ax.legend(fontsize=8)
    save(fig, "lag")

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for run in runs:
        t = [s.t for s in run.samples if s.freshness_s]
        for q, style in ((0.5, ":"), (0.95, "-"), (0.99, "--")):
            ax.plot(t, [percentile(s.freshness_s, q) for s in run.samples if s.freshness_s], style,
                    label=f"{run.aircraft:,} p{round(q * 100)}")
    ax.set(xlabel="seconds", ylabel="seconds", title="Freshness of flights_live (sampled aircraft)", yscale="log")
    ax.legend(fontsize=8, ncol=3)
    save(fig, "freshness")

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for run in runs:
        if run.batches:
            t0 = run.batches[0]["timestamp"]
            ax.plot([b["timestamp"] - t0 for b in run.batches], [b["batch_duration_ms"] / 1000 for b in run.batches],
                    ".", markersize=3, label=f"{run.aircraft:,} aircraft")
    ax.set(xlabel="seconds", ylabel="seconds", title="Micro-batch duration (flights query)")
    ax.legend(fontsize=8)
    save(fig, "batch")

    for metric, label in (("cpu", "CPU % of one core"), ("rss_mb", "RSS MB")):
        fig, axes = plt.subplots(len(runs), 1, figsize=(9, 3 * len(runs)), squeeze=False)
        for ax, run in zip(axes[:, 0], runs):
            names = sorted({n for s in run.samples for n in getattr(s, metric)})
            for name in names:
                ax.plot([s.t for s in run.samples], [getattr(s, metric).get(name, 0.0) for s in run.samples], label=name)
            ax.set(ylabel=label, title=f"{run.aircraft:,} aircraft")
            ax.legend(fontsize=7, ncol=4)
        axes[-1, 0].set_xlabel("seconds")
        save(fig, metric.replace("_mb", ""))
    return paths


def report(runs: list[FleetRun], plots: list[Path], out: Path, stem: str, command: str) -> Path:
    verdicts = [verdict(r) for r in runs]
    held = [v["aircraft"] for v in verdicts if v["held"]]
    lines = [
        f"# End-to-end benchmark {stem}",
        "",
        f"`{command}` on {platform.node()}: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB, "
        f"Python {platform.python_version()}; {runs[0].duration_s:.0f} s per fleet size, simulator at 1 Hz, "
        f"producers start once the streaming job is up; their first {WARMUP_S:.0f} s are left out of the rates. "
        "Each size on a fresh stack.",
        "",
        "| aircraft | produced/s | processed/s | lag start → mid → end | lag trend/s | freshness p50 / p95 / p99 | batch p50 / p95 | held |",
        "|---:|---:|---:|---|---:|---|---|---|",
    ]
    for v in verdicts:
        lines.append(
            f"| {v['aircraft']:,} | {v['produced_per_s']:,.0f} | {v['processed_per_s']:,.0f} | "
            f"{v['lag_start']:,} → {v['lag_mid']:,} → {v['lag_end']:,} | {v['lag_slope_per_s']:+,.0f} | "
            f"{v['freshness_p50_s']:.1f} / {v['freshness_p95_s']:.1f} / {v['freshness_p99_s']:.1f} s | "
            f"{v['batch_p50_s']:.1f} / {v['batch_p95_s']:.1f} s | {'yes' if v['held'] else 'no'} |"
        )
    best = max(held) if held else None
    lines += [
        "",
        (f"**Highest rate held with bounded lag: {best:,} aircraft at 1 Hz** "
         f"({next(v for v in verdicts if v['aircraft'] == best)['processed_per_s']:,.0f} states/s processed)."
         if best else "**No fleet size held with bounded lag.**"),
        "Held means: processed ≥ 95 % of produced, and the lag's trend over the second half grows by less than "
        "2 % of the produced rate.",
        "",
        "## CPU (mean % of one core) and RSS (max MB) per process",
        "",
    ]
    for run in runs:
        table = process_table(run)
        lines += [f"**{run.aircraft:,} aircraft**", "", "| process | CPU % | RSS MB |", "|---|---:|---:|"]
        lines += [f"| {name} | {cpu:.0f} | {rss:,.0f} |" for name, (cpu, rss) in table.items()]
        lines.append("")
    lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    path = out / f"{stem}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    (out / f"{stem}.json").write_text(json.dumps(
        {"verdicts": verdicts, "runs": [{"aircraft": r.aircraft, "duration_s": r.duration_s,
                                         "samples": [asdict(s) for s in r.samples], "batches": r.batches} for r in runs]},
        default=str), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aircraft", default="2000,10000,20000", help="fleet sizes, comma-separated")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds per fleet size")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--stem", help="report file name (default: today's date)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.aircraft.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.stem or datetime.now(UTC).strftime("%Y-%m-%d")
    command = "python -m bench.e2e " + " ".join(argv if argv is not None else sys.argv[1:])
    logs = args.out / f"logs-{stem}"  # the processes' output (git-ignored)
    logs.mkdir(exist_ok=True)
    runs = []
    for aircraft in sizes:
        print(f"[bench] {aircraft:,} aircraft for {args.duration:.0f} s (logs: {logs})", flush=True)
        runs.append(run_fleet(aircraft, args.duration, args.interval, logs))
        print(f"[bench] {aircraft:,} aircraft: {json.dumps(verdict(runs[-1]), default=str)}", flush=True)
    path = report(runs, plot(runs, args.out, stem), args.out, stem, command.strip())
    print(f"[bench] report: {path}")
    print(path.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
