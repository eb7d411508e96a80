"""The Kafka output (with a fake producer), the rate limiter and the runner's lifecycle."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import orjson
import pytest

from producers.core import Batch, Clock, SourceClient
from producers.http import RateLimiter
from producers.output import KafkaOutput, StatusLine
from producers.runner import run
from skyrisk.contracts import DEAD_LETTER, FLIGHT_STATES, DeadLetter
from tests.producers.helpers import FakeClock


class FakeProducer:
    """Accepts messages into a queue of ``capacity``; ``poll`` delivers everything queued, except that a
    slow broker acknowledges nothing within ``poll(0)``."""

    def __init__(self, config: dict, capacity: int = 1_000_000, fail_delivery: bool = False,
                 slow_broker: bool = False) -> None:
        self.slow_broker = slow_broker
        self.config = config
        self.capacity = capacity
        self.queue: list[tuple] = []
        self.delivered: list[tuple[str, str | None, bytes]] = []
        self.polls: list[float] = []
        self.fail_delivery = fail_delivery
        self.flushed = False

    def produce(self, topic, value=None, key=None, on_delivery=None):
        if len(self.queue) >= self.capacity:
            raise BufferError("Local: Queue full")
        self.queue.append((topic, key, value, on_delivery))

    def poll(self, timeout: float = 0) -> int:
        self.polls.append(timeout)
        if self.slow_broker and timeout == 0:
            return 0
        served = len(self.queue)
        for topic, key, value, callback in self.queue:
            self.delivered.append((topic, key, value))
            callback("broker down" if self.fail_delivery else None, type("M", (), {"topic": lambda _: topic})())
        self.queue.clear()
        return served

    def flush(self, timeout: float = 0) -> int:
        self.flushed = True
        self.poll(1.0)
        return 0


def make_output(settings, **producer_args) -> tuple[KafkaOutput, FakeProducer]:
    made: list[FakeProducer] = []

    def factory(config: dict) -> FakeProducer:
        made.append(FakeProducer(config, **producer_args))
        return made[0]

    output = KafkaOutput(settings, producer_factory=factory)
    return output, made[0]


def test_producer_is_idempotent_acks_all_and_compressed(settings):
    _, producer = make_output(settings)
    assert producer.config["enable.idempotence"] is True
    assert producer.config["acks"] == "all"
    assert producer.config["compression.type"] in ("lz4", "zstd", "snappy", "gzip")
    assert producer.config["bootstrap.servers"] == settings.kafka_bootstrap_servers


def test_full_local_queue_applies_back_pressure_instead_of_crashing(settings):
    output, producer = make_output(settings, capacity=3, slow_broker=True)
    batch = Batch(FLIGHT_STATES, [(f"{i:06x}", b"{}") for i in range(10)])

    output.publish(batch)
    output.flush()

    assert [key for _, key, _ in producer.delivered] == [f"{i:06x}" for i in range(10)]  # none lost, in order
    assert output.counters.backpressure_waits > 0
    assert output.counters.produced == output.counters.delivered == 10
    assert 0 in producer.polls  # poll(0) after each produce serves delivery reports


def test_delivery_failures_are_counted(settings):
    output, _ = make_output(settings, fail_delivery=True)
    output.publish(Batch(FLIGHT_STATES, [("abcdef", b"{}")]))
    assert output.counters.failed == 1 and output.counters.delivered == 0


def test_dead_letters_go_to_their_topic_keyed_by_source_topic(settings):
    output, producer = make_output(settings)
    batch = Batch(FLIGHT_STATES)
    batch.reject("state vector must have 17 or 18 items, got 3", ["a", "b", "c"], "live", at=5.0)
    output.publish(batch)
    ((topic, key, value),) = producer.delivered
    assert (topic, key) == (DEAD_LETTER.name, FLIGHT_STATES.name)
    dead = DeadLetter.model_validate_json(value)
    assert dead.reason.endswith("got 3") and orjson.loads(dead.raw) == ["a", "b", "c"] and dead.at == 5.0
    assert output.counters.dead_letters == 1


def test_status_line_reports_rate_errors_and_budgets(settings):
    output, _ = make_output(settings)
    clock = FakeClock(start=100.0)

    class Budgeted(SourceClient):
        name = "opensky"

        def batches(self) -> Iterator[Batch]:
            yield from ()

        def status(self) -> str:
            return "credits_left=3994"

    status = StatusLine(output, [Budgeted()], clock.now)
    output.publish(Batch(FLIGHT_STATES, [(f"{i:06x}", b"{}") for i in range(50)]))
    clock.t += 10
    line = status.line()
    assert line.startswith("produced=50 (5/s) delivered=50 errors=0 dead=0")
    assert line.endswith("| opensky: credits_left=3994")


class FiniteSource(SourceClient):
    name = "replay"

    def __init__(self, count: int) -> None:
        self.count = count

    def batches(self) -> Iterator[Batch]:
        for i in range(self.count):
            yield Batch(FLIGHT_STATES, [(f"{i:06x}", b"{}")])


class BrokenSource(SourceClient):
    name = "broken"

    def batches(self) -> Iterator[Batch]:
        yield Batch(FLIGHT_STATES, [("000001", b"{}")])
        raise RuntimeError("bug")


def test_run_publishes_until_sources_end_then_flushes(settings):
    output, producer = make_output(settings)
    code = run([FiniteSource(5)], output, Clock(), status_interval_s=60)
    assert code == 0 and producer.flushed and len(producer.delivered) == 5


class EndlessSource(SourceClient):
    name = "sim"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def batches(self) -> Iterator[Batch]:
        while not self.clock.stopped:
            yield Batch(FLIGHT_STATES, [("000001", b"{}")])
            self.clock.sleep(0.05)


def test_run_stops_when_the_clock_is_stopped_and_flushes(settings):
    output, producer = make_output(settings)
    clock = Clock()
    threading.Timer(0.5, clock.stop).start()  # what the SIGINT/SIGTERM handler does
    started = time.monotonic()
    assert run([EndlessSource(clock)], output, clock, status_interval_s=60) == 0
    assert time.monotonic() - started < 5
    assert producer.flushed and len(producer.delivered) >= 3


def test_run_reports_a_crashed_source_with_a_nonzero_exit(settings):
    output, producer = make_output(settings)
    assert run([BrokenSource()], output, Clock(), status_interval_s=60) == 1
    assert len(producer.delivered) == 1 and producer.flushed


# --- rate limiter ----------------------------------------------------------------------------------
def test_rate_limiter_windows():
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(clock, [(1.0, 4), (3600.0, 6)])
    stamps = []
    for _ in range(8):
        limiter.acquire()
        stamps.append(clock.now())
    assert stamps[:4] == [0.0] * 4
    assert stamps[4:6] == [1.0, 1.0]  # the per-second window
    assert stamps[6:] == [3600.0, 3600.0]  # the hourly window: 6 calls, then wait for the oldest to leave


def test_rate_limiter_costs_and_refuses_the_impossible():
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(clock, [(60.0, 600)])
    limiter.acquire(500)
    limiter.acquire(100)
    assert clock.sleeps == []
    limiter.acquire(1)
    assert clock.sleeps == [60.0]
    assert limiter.left() == {60.0: 599}
    with pytest.raises(ValueError):
        limiter.acquire(601)
