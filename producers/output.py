"""Publishing batches to Kafka: idempotent, acks=all, compressed, back-pressured, counted."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from producers.core import Batch, to_json
from skyrisk.contracts import DEAD_LETTER
from skyrisk.settings import Settings

log = logging.getLogger(__name__)

PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 50,
    "batch.size": 1_000_000,
    # The bounded local queue: when it is full, produce() raises BufferError and we wait for it to drain.
    "queue.buffering.max.messages": 200_000,
    "queue.buffering.max.kbytes": 262_144,
}
BACKPRESSURE_POLL_S = 0.05


@dataclass
class OutputCounters:
    produced: int = 0  # handed to the client
    delivered: int = 0  # acknowledged by the broker
    failed: int = 0  # delivery reports with an error
    dead_letters: int = 0
    skipped: int = 0
    backpressure_waits: int = 0


class KafkaOutput:
    """Wraps one ``confluent_kafka.Producer`` shared by every source thread (it is thread-safe)."""

    def __init__(self, settings: Settings, *, producer_factory: Callable[[dict[str, Any]], Any] = Producer,
                 extra_config: dict[str, Any] | None = None) -> None:
        config = {"bootstrap.servers": settings.kafka_bootstrap_servers, "client.id": "skyrisk-producers",
                  **PRODUCER_CONFIG, **(extra_config or {})}
        self.producer = producer_factory(config)
        self.counters = OutputCounters()
        self._lock = threading.Lock()  # delivery callbacks run on whichever thread polls

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        with self._lock:
            if error is None:
                self.counters.delivered += 1
            else:
                self.counters.failed += 1
        if error is not None:
            log.error("delivery to %s failed: %s", message.topic(), error)

    def produce(self, topic: str, key: str | None, value: bytes) -> None:
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:  # local queue full: serve delivery reports until there is room
                self.counters.backpressure_waits += 1
                self.producer.poll(BACKPRESSURE_POLL_S)
        self.counters.produced += 1
        self.producer.poll(0)

    def publish(self, batch: Batch) -> None:
        topic = batch.topic.name
        for key, value in batch.records:
            self.produce(topic, key, value)
        for dead in batch.dead_letters:
            self.produce(DEAD_LETTER.name, dead.source_topic, to_json(dead))
            log.warning("dead letter from %s: %s", dead.source_topic, dead.reason)
        self.counters.dead_letters += len(batch.dead_letters)
        self.counters.skipped += batch.skipped

    def flush(self, timeout_s: float = 30.0) -> int:
        """Waits for outstanding deliveries; returns how many are still undelivered."""
        remaining = self.producer.flush(timeout_s)
        if remaining:
            log.error("%d messages not delivered at shutdown", remaining)
        return remaining


class StatusLine:
    """The one-line status: produced/s since the last line, totals, errors, each source's budget."""

    def __init__(self, output: KafkaOutput, sources: list[Any], clock_now: Callable[[], float] = time.time) -> None:
        self.output = output
        self.sources = sources
        self.now = clock_now
        self._last = (clock_now(), 0)

    def line(self) -> str:
        now, counters = self.now(), self.output.counters
        then, produced_then = self._last
        rate = (counters.produced - produced_then) / max(1e-9, now - then)
        self._last = (now, counters.produced)
        budgets = " | ".join(f"{s.name}: {s.status()}" for s in self.sources if s.status())
        return (f"produced={counters.produced} ({rate:.0f}/s) delivered={counters.delivered} "
                f"errors={counters.failed} dead={counters.dead_letters} skipped={counters.skipped} "
                f"backpressure={counters.backpressure_waits}" + (f" | {budgets}" if budgets else ""))
