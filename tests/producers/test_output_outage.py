"""A broker outage through KafkaOutput, against a model of librdkafka's delivery rules: a bounded
local queue (BufferError when full), nothing acknowledged while the broker is away, and a message
failed with _MSG_TIMED_OUT once it waited ``message.timeout.ms`` (default 300 000 ms, 0 = never).
The real thing, a 6-minute outage on the real broker, is the chaos scenario kafka-outage-6min."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from confluent_kafka import KafkaError

from producers.core import Batch, Clock, SourceClient
from producers.output import KafkaOutput
from producers.runner import run
from skyrisk.contracts import FLIGHT_STATES
from tests.producers.helpers import FakeClock

LIBRDKAFKA_DEFAULT_TIMEOUT_MS = 300_000


class _Message:
    def __init__(self, topic: str, key: str | None, value: bytes) -> None:
        self._topic, self._key, self._value = topic, key, value

    def topic(self) -> str:
        return self._topic

    def key(self) -> str | None:
        return self._key


class BrokerModel:
    """librdkafka as far as an outage is concerned. ``down`` says whether the broker is away at a time."""

    def __init__(self, config: dict, now: Callable[[], float], sleep: Callable[[float], None],
                 down: Callable[[float], bool]) -> None:
        self.timeout_s = config.get("message.timeout.ms", LIBRDKAFKA_DEFAULT_TIMEOUT_MS) / 1000 or math.inf
        self.capacity = config["queue.buffering.max.messages"]
        self.now, self.sleep, self.down = now, sleep, down
        self.queue: deque = deque()
        self.stored: list[tuple[str, str | None, bytes]] = []  # what the broker holds, in order

    def __len__(self) -> int:
        return len(self.queue)

    def produce(self, topic, value=None, key=None, on_delivery=None):
        if len(self.queue) >= self.capacity:
            raise BufferError("Local: Queue full")
        self.queue.append((self.now(), _Message(topic, key, value), value, on_delivery))

    def poll(self, timeout: float = 0) -> int:
        self.sleep(timeout)
        served = 0
        if not self.down(self.now()):
            while self.queue:
                _, message, value, callback = self.queue.popleft()
                self.stored.append((message.topic(), message.key(), value))
                callback(None, message)
                served += 1
            return served
        while self.queue and self.now() - self.queue[0][0] >= self.timeout_s:
            _, message, _, callback = self.queue.popleft()
            callback(KafkaError(KafkaError._MSG_TIMED_OUT), message)
            served += 1
        return served

    def flush(self, timeout: float = 0) -> int:
        self.poll(0)
        return len(self.queue)


def output_on(settings, model_args: dict, **extra) -> tuple[KafkaOutput, list[BrokerModel]]:
    """KafkaOutput on the model, both on the model's clock."""
    made: list[BrokerModel] = []

    def factory(config: dict) -> BrokerModel:
        made.append(BrokerModel(config, **model_args))
        return made[0]

    return KafkaOutput(settings, producer_factory=factory, extra_config=extra or None, now=model_args["now"]), made


def test_a_six_minute_outage_loses_nothing_and_keeps_the_order(settings):
    clock = FakeClock(start=0.0)
    outage = (10.0, 370.0)  # the broker is away for 6 minutes, longer than librdkafka's 300 s default
    output, (broker,) = output_on(settings, {"now": clock.now, "sleep": clock.sleep,
                                             "down": lambda t: outage[0] <= t < outage[1]})
    sent = []
    for second in range(400):  # a source publishing 100 states a second throughout
        keys = [f"{second:03d}{i:03d}" for i in range(100)]
        sent += keys
        output.publish(Batch(FLIGHT_STATES, [(k, b"{}") for k in keys]))
        clock.sleep(1.0)
        output.producer.poll(0)
    assert output.flush() == 0

    assert output.counters.failed == 0
    assert output.counters.produced == output.counters.delivered == len(sent) == 40_000
    assert [key for _, key, _ in broker.stored] == sent  # nothing lost, nothing doubled, in order


def test_a_full_local_queue_during_an_outage_makes_the_source_wait_with_one_line_each_way(settings, caplog):
    clock = FakeClock(start=0.0)
    output, (broker,) = output_on(settings, {"now": clock.now, "sleep": clock.sleep, "down": lambda t: t < 120.0},
                                  **{"queue.buffering.max.messages": 50})
    keys = [f"{i:06x}" for i in range(200)]
    with caplog.at_level(logging.INFO, logger="producers"):
        output.publish(Batch(FLIGHT_STATES, [(k, b"{}") for k in keys]))  # returns once the broker is back
        assert output.flush() == 0

    assert [key for _, key, _ in broker.stored] == keys and output.counters.failed == 0
    assert clock.now() >= 120.0 and output.counters.backpressure_waits > 0
    full = [r.getMessage() for r in caplog.records if "local queue full" in r.getMessage()]
    room = [r.getMessage() for r in caplog.records if "room again" in r.getMessage()]
    assert len(full) == 1 and "50 messages waiting" in full[0] and settings.kafka_bootstrap_servers in full[0]
    assert len(room) == 1 and "after 120 s" in room[0]


class Flood(SourceClient):
    """100 states a batch until the clock stops."""

    name = "sim"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def batches(self) -> Iterator[Batch]:
        batch = 0
        while not self.clock.stopped:
            yield Batch(FLIGHT_STATES, [(f"{batch:03d}{i:03d}", b"{}") for i in range(100)])
            batch += 1


def test_stopping_with_the_broker_gone_reports_what_is_lost_in_one_line_and_exits_1(settings, caplog):
    output, (broker,) = output_on(settings, {"now": time.monotonic, "sleep": time.sleep, "down": lambda t: True},
                                  **{"queue.buffering.max.messages": 50})
    output.shutdown_grace_s = 0.5
    clock = Clock()
    threading.Timer(0.5, clock.stop).start()  # what SIGTERM does
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="producers"):
        code = run([Flood(clock)], output, clock, status_interval_s=60)

    assert code == 1 and time.monotonic() - started < 5  # the blocked source gave up after the grace
    assert output.counters.undelivered == 50 == len(broker) and output.counters.dropped == 50  # rest of the batch
    (lost,) = [r.getMessage() for r in caplog.records if "they are lost" in r.getMessage()]
    assert "50 messages still undelivered" in lost and "50 never queued" in lost
    (final,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stopped: ")]
    assert "delivered=0" in final and "undelivered=50 dropped=50" in final and "queued=50" in final
