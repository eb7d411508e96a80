"""The contract every chaos scenario follows, and the runner that executes them.

A scenario is a function ``run(settings, workdir) -> Verdict``. It gets the settings of a fresh
throw-away stack (Kafka, MinIO, FerretDB on free ports, already bootstrapped) and a scratch
directory, breaks something, and returns a pass/fail verdict with the counts that prove it
(what went in against what came out). Scenario modules live in ``chaos/scenarios/`` and each
exports ``SCENARIOS: list[Scenario]``; the runner discovers them, so adding a scenario touches
no shared file.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import pkgutil
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from infra.processes import PlatformProcess, child_environment  # noqa: F401 - re-exported for scenarios
from skyrisk import contracts
from skyrisk.settings import Settings


@dataclass
class Verdict:
    scenario: str
    passed: bool
    counts: dict[str, float] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Settings, Path], Verdict]
    description: str
    quick: bool = False  # fits in a few minutes: also runs in `make test`


def discover() -> list[Scenario]:
    """Every scenario of every module in ``chaos.scenarios``, in module order."""
    import chaos.scenarios as package

    found: list[Scenario] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found.extend(getattr(module, "SCENARIOS", []))
    return found


# --- running scenarios --------------------------------------------------------------------------------
CHAOS_DATABASE = "skyrisk_chaos"


class Progress:
    """Progress lines of the running scenario, stamped with the time since it began."""

    def __init__(self) -> None:
        self.scenario = "chaos"
        self.started = time.monotonic()

    def begin(self, scenario: str) -> None:
        self.scenario, self.started = scenario, time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __call__(self, message: str) -> None:
        minutes, seconds = divmod(int(self.elapsed()), 60)
        print(f"  [{self.scenario} {minutes:02d}:{seconds:02d}] {message}", flush=True)


say = Progress()


def run_scenario(scenario: Scenario, *, keep_workdir: bool = False) -> tuple[Verdict, float]:
    """Run one scenario on a fresh throw-away stack; returns its verdict and how long it took.

    An exception inside the scenario is a FAIL, not a crash of the runner. The scratch directory
    (child logs, checkpoints) is kept when the scenario fails, so its logs can be read.
    """
    from infra.stack import throwaway_stack

    say.begin(scenario.name)
    workdir = Path(tempfile.mkdtemp(prefix=f"skyrisk-chaos-{scenario.name}-"))
    say(f"starting a throw-away stack (scratch: {workdir})")
    try:
        with throwaway_stack(
            prefix=f"skyrisk-chaos-{scenario.name}-stack-",
            echo=lambda line: say(line.strip()),
            checkpoint_dir=str(workdir / "checkpoints"),
            mongo_database=CHAOS_DATABASE,
            spark_master="local[2]",
            spark_shuffle_partitions=2,
            spark_driver_memory="2g",
        ) as settings:
            verdict = scenario.run(settings, workdir)
    except Exception as exc:  # a broken scenario or stack is a failed scenario, reported with its cause
        verdict = Verdict(scenario.name, False, detail=f"{type(exc).__name__}: {exc}")
    took = say.elapsed()
    say(f"{'PASS' if verdict.passed else 'FAIL'} in {took:.0f}s: {verdict.detail}")
    if verdict.passed and not keep_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        say(f"logs kept in {workdir}")
    return verdict, took


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 2.0,
               alive: Callable[[], bool] | None = None) -> bool:
    """Poll ``condition`` until it holds or the deadline passes (never a fixed sleep); give up
    at once when ``alive`` says the process that should make it hold has ended."""
    deadline = time.monotonic() + timeout_s
    while True:
        if alive is not None and not alive():
            return False
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


# --- services of the throw-away stack -----------------------------------------------------------------
def stop_service(settings: Settings, name: str) -> None:
    """Stop one service of the stack (SIGTERM, as an operator would); its data stays."""
    from infra import stack

    process = stack.running_process(settings, name)
    if process is not None:
        stack._terminate(process)


def start_named_service(settings: Settings, name: str) -> None:
    """Start one stopped service again on its old ports and data. Call it from the main thread:
    a service owned by a throw-away stack dies with the thread that started it."""
    from infra import stack

    service = next(s for s in stack.services(settings) if s.name == name)
    stack.start_service(settings, service, lambda line: say(line.strip()), owned=True)


@dataclass
class Crash:
    at: float  # seconds into the scenario
    code: int | None
    cause: str


_EXCEPTION_LINE = re.compile(r"^([\w.]+(?:Error|Exception|Timeout)): (.*)$")
_OWN_FRAME = re.compile(r'File "[^"]*/((?:streaming|skyrisk|producers|batch)/[\w/]+\.py)", line (\d+), in (\w+)')


def crash_cause(log_text: str) -> str:
    """What a crashed job died of: the Python exception and the frame of our code that raised it.

    When Spark reports a query terminated with an error, that error is the cause (exceptions the
    job logged and survived come before it); otherwise the last exception of the output is.
    """
    terminated = log_text.find("terminated with error")
    found: list[str] = []
    frame = ""
    for line in log_text[max(terminated, 0):].splitlines():
        line = line.strip()
        own = _OWN_FRAME.search(line)
        if own:
            frame = f"{own.group(1)}:{own.group(2)} in {own.group(3)}"
            continue
        exception = _EXCEPTION_LINE.match(line)
        if exception and frame:
            found.append(f"{exception.group(1)}: {exception.group(2)[:120]} (at {frame})")
            if terminated >= 0:
                break
            frame = ""
    return found[-1] if found else "no Python exception in its output"


class SupervisedStreaming:
    """The streaming job restarted as `make run` restarts it (same backoff, same give-up limit),
    recording every crash; a kill the scenario asks for is restarted at once and not a crash."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.child = PlatformProcess(settings, "streaming", ["streaming", "--wait-for-services", "900"],
                                     workdir / "streaming.log", echo=say)  # as `make run` starts it
        self.checkpoint = Path(settings.resolved_checkpoint_dir) / "streaming" / "flights"
        self.crashes: list[Crash] = []
        self.starts = 0
        self.given_up = False
        self._stopping = threading.Event()
        self._killed = threading.Event()
        self._held = threading.Event()  # stopped on purpose (restart_after): not a crash
        self._watcher = threading.Thread(target=self._watch, name="chaos-streaming-watch", daemon=True)

    def start(self) -> None:
        self._start_child()
        self._watcher.start()

    def _start_child(self) -> None:
        self.starts += 1
        self.child.start()

    def _watch(self) -> None:
        from infra.run import RESTART_LIMIT, RESTART_WINDOW

        recent: list[float] = []
        while not self._stopping.wait(0.5):
            code = self.child.returncode()
            if code is None or self.given_up or self._held.is_set():
                continue
            if self._killed.is_set():
                self._killed.clear()
                say("streaming job restarted after kill -9")
                self._start_child()
                continue
            now = time.monotonic()
            self.crashes.append(Crash(say.elapsed(), code, crash_cause(self.child.last_run_log())))
            recent = [t for t in recent if now - t < RESTART_WINDOW] + [now]
            if len(recent) > RESTART_LIMIT:
                self.given_up = True
                say(f"streaming job crashed {len(recent)} times; `make run` would give up on it here")
                continue
            delay = min(60, 2 ** len(recent))
            say(f"streaming job exited with code {code} ({self.crashes[-1].cause}); "
                f"restarting in {delay}s (as `make run` does)")
            if self._stopping.wait(delay):
                return
            self._start_child()

    def kill9(self) -> None:
        self._killed.set()
        self.child.kill9()

    def restart_after(self, while_down: Callable[[], None]) -> int | None:
        """Stop the job as an operator does (SIGTERM), run ``while_down``, start it again; its exit code."""
        self._held.set()
        try:
            code = self.child.stop()
            while_down()
            self._start_child()
        finally:
            self._held.clear()
        return code

    def stop(self) -> int | None:
        self._stopping.set()
        if self._watcher.is_alive():
            self._watcher.join(timeout=5)
        return self.child.stop()


def simulator(settings: Settings, workdir: Path, aircraft: int, seed: int = 7) -> PlatformProcess:
    """The OpenSky simulator (1 Hz per aircraft) publishing to the stack's broker."""
    return PlatformProcess(
        settings,
        "producers",
        ["producers", "opensky", "sim", "--aircraft", str(aircraft), "--seed", str(seed),
         "--status-interval", "10", "--bootstrap-servers", settings.kafka_bootstrap_servers],
        workdir / "producers.log",
    )


_STATUS_FIELDS = ("produced", "delivered", "errors", "dead")


def producer_totals(log_text: str) -> dict[str, int] | None:
    """The totals of the producer's final status line (``stopped: produced=N (..) delivered=N errors=N``)."""
    final = [line for line in log_text.splitlines() if "stopped: produced=" in line]
    if not final:
        return None
    values = dict(re.findall(r"(\w+)=(\d+)", final[-1].split("stopped:", 1)[1]))
    return {name: int(values[name]) for name in _STATUS_FIELDS if name in values}


def max_undelivered(log_text: str) -> int:
    """The largest produced - delivered of the producer's status lines: what it held while it waited."""
    gaps = [int(p) - int(d) for p, d in re.findall(r"produced=(\d+) \(\S+\) delivered=(\d+)", log_text)]
    return max(gaps, default=0)


# --- counting what went in and what came out -------------------------------------------------------------
FlightKey = tuple[str, float]  # (icao24, event_time): one state vector


def watermarks(settings: Settings, topic: str) -> dict[int, tuple[int, int]]:
    """Partition -> (first offset Kafka still holds, high watermark) of a topic."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": f"chaos-{uuid.uuid4()}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in partitions}
    finally:
        consumer.close()


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """Partition -> high watermark of a topic."""
    return {p: high for p, (_low, high) in watermarks(settings, topic).items()}


def start_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """Partition -> the first offset Kafka still holds (retention moves it)."""
    return {p: low for p, (low, _high) in watermarks(settings, topic).items()}


def topic_flight_keys(settings: Settings, topic: str, timeout_s: float = 120.0) -> Counter[FlightKey]:
    """Every (icao24, event_time) in the topic, with how often it is there."""
    import orjson
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    ends = end_offsets(settings, topic)
    consumer = Consumer({
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "group.id": f"chaos-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    keys: Counter[FlightKey] = Counter()
    pending = {p for p, end in ends.items() if end > 0}
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=10_000, timeout=1.0):
                if message.error():
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard(message.partition())
                    continue
                state = orjson.loads(message.value())
                keys[(state["icao24"], float(state["event_time"]))] += 1
                if message.offset() + 1 >= ends[message.partition()]:
                    pending.discard(message.partition())
        if pending:
            raise TimeoutError(f"reading {topic} back did not reach the end of partitions {sorted(pending)}")
    finally:
        consumer.close()
    return keys


def lake_flight_keys(settings: Settings) -> Counter[FlightKey]:
    """Every (icao24, event_time) row of the Parquet history, read with pyarrow (no Spark needed)."""
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    host, port = settings.s3_host_port
    fs = pafs.S3FileSystem(
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        endpoint_override=f"{host}:{port}",
        scheme="https" if settings.s3_endpoint.startswith("https") else "http",
        region=settings.s3_region,
    )
    root = f"{settings.lake_bucket}/{contracts.LAKE_ENRICHED}"
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return Counter()
    # Spark's staging and _temporary folders start with '.' or '_', which the dataset skips.
    table = ds.dataset(root, filesystem=fs, format="parquet", partitioning="hive").to_table(columns=["icao24", "event_time"])
    return Counter(zip(table.column("icao24").to_pylist(), (float(t) for t in table.column("event_time").to_pylist())))


@dataclass(frozen=True)
class CountCheck:
    """What went in (distinct state vectors in the topic) against what came out (Parquet rows)."""

    sent: int  # distinct (icao24, event_time) in the topic
    sent_duplicates: int  # topic messages repeating a key (an idempotent producer makes none)
    stored_rows: int
    missing: int  # sent, not in Parquet
    duplicates: int  # Parquet rows beyond the first of their key
    unexpected: int  # in Parquet, never sent

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.duplicates == 0 and self.unexpected == 0 and self.sent > 0

    def counts(self) -> dict[str, float]:
        return {"sent": self.sent, "sent_duplicates": self.sent_duplicates, "parquet_rows": self.stored_rows,
                "missing": self.missing, "duplicates": self.duplicates, "unexpected": self.unexpected}


def compare_counts(sent: Counter[FlightKey], stored: Counter[FlightKey]) -> CountCheck:
    return CountCheck(
        sent=len(sent),
        sent_duplicates=sum(sent.values()) - len(sent),
        stored_rows=sum(stored.values()),
        missing=sum(1 for key in sent if key not in stored),
        duplicates=sum(n - 1 for n in stored.values()),
        unexpected=sum(1 for key in stored if key not in sent),
    )


# --- the streaming job's progress, from its checkpoint -------------------------------------------------
def _batch_ids(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


def checkpoint_offsets(checkpoint: Path, batch_id: int, topic: str) -> dict[int, int]:
    """The Kafka end offsets batch ``batch_id`` of a query reads up to (Spark's offset log:
    a version line, a metadata line, then one JSON line per source)."""
    for line in (checkpoint / "offsets" / str(batch_id)).read_text().splitlines()[2:]:
        with contextlib.suppress(ValueError):
            source = json.loads(line)
            if isinstance(source, dict) and topic in source:
                return {int(p): int(o) for p, o in source[topic].items()}
    return {}


def committed_offsets(checkpoint: Path, topic: str) -> dict[int, int]:
    """The offsets up to which the query has finished (its newest committed batch), else {}."""
    committed = _batch_ids(checkpoint / "commits")
    return checkpoint_offsets(checkpoint, committed[-1], topic) if committed else {}


def batch_in_flight(checkpoint: Path) -> int | None:
    """The batch planned (offset log written) but not committed yet: the job is mid-batch."""
    planned, committed = _batch_ids(checkpoint / "offsets"), _batch_ids(checkpoint / "commits")
    if planned and (not committed or planned[-1] > committed[-1]):
        return planned[-1]
    return None


def caught_up(committed: dict[int, int], ends: dict[int, int]) -> bool:
    return all(committed.get(p, 0) >= end for p, end in ends.items() if end > 0)


# --- flights_live ----------------------------------------------------------------------------------------
def newest_per_aircraft(keys: Iterable[FlightKey]) -> dict[str, float]:
    newest: dict[str, float] = {}
    for icao24, event_time in keys:
        if event_time > newest.get(icao24, float("-inf")):
            newest[icao24] = event_time
    return newest


def live_lagging(expected: dict[str, float], live: dict[str, float]) -> int:
    """Aircraft whose flights_live document is absent or older than their newest state."""
    return sum(1 for icao24, newest in expected.items() if live.get(icao24, float("-inf")) < newest)


def flights_live_event_times(settings: Settings) -> dict[str, float]:
    from pymongo import MongoClient

    client = MongoClient(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=5_000)
    try:
        collection = client[settings.mongo_database]["flights_live"]
        return {doc["_id"]: float(doc["event_time"]) for doc in collection.find({}, {"event_time": 1})}
    finally:
        client.close()
