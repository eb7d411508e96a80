"""Publishing batches to Kafka: idempotent, acks=all, compressed, back-pressured, counted.

A broker outage loses nothing while the process runs. ``message.timeout.ms=0`` lets librdkafka keep
every undelivered message and go on retrying it, however long the broker is away (its default of
300 s failed every message older than five minutes). Re-producing failed messages from the
delivery callback was the alternative and is worse: a re-sent message is a new message to the
idempotent producer, so one that was in flight when the broker went away (and may already be
stored) would be duplicated, and re-sent messages land behind newer ones of the same key.

Memory stays bounded by the local queue (``queue.buffering.max.messages`` /
``queue.buffering.max.kbytes``). When it is full, ``produce()`` raises BufferError and the source
thread waits, polling delivery reports, until there is room: the simulator pauses, the live
pollers poll later (spending no API budget meanwhile). One line says when that starts and one when
it ends. At shutdown the queue is flushed; what is still queued after the flush timeout, and what a
source could not queue within the shutdown grace, is reported in one line and in the final status
line (``undelivered=``, ``dropped=``), and the exit code is 1.
"""

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

QUEUE_MAX_MESSAGES = 200_000
PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 50,
    "batch.size": 1_000_000,
    # Never give up on a message while the process runs (librdkafka's default: 300 s): a broker
    # outage of any length is waited out, bounded in memory by the local queue below.
    "message.timeout.ms": 0,
    # The bounded local queue: when it is full, produce() raises BufferError and we wait for it to drain.
    "queue.buffering.max.messages": QUEUE_MAX_MESSAGES,
    "queue.buffering.max.kbytes": 262_144,
}
BACKPRESSURE_POLL_S = 0.05
SHUTDOWN_GRACE_S = 10.0  # after a stop, how long a source may still wait for room in a full queue


@dataclass
class OutputCounters:
    produced: int = 0  # handed to the client
    delivered: int = 0  # acknowledged by the broker
    failed: int = 0  # delivery reports with an error
    dead_letters: int = 0
    skipped: int = 0
    backpressure_waits: int = 0
    dropped: int = 0  # never queued: the queue was still full when the shutdown grace ran out
    undelivered: int = 0  # still queued when the final flush gave up


class KafkaOutput:
    """Wraps one ``confluent_kafka.Producer`` shared by every source thread (it is thread-safe)."""

    def __init__(self, settings: Settings, *, producer_factory: Callable[[dict[str, Any]], Any] = Producer,
                 extra_config: dict[str, Any] | None = None, now: Callable[[], float] = time.monotonic) -> None:
        config = {"bootstrap.servers": settings.kafka_bootstrap_servers, "client.id": "skyrisk-producers",
                  **PRODUCER_CONFIG, **(extra_config or {})}
        self.producer = producer_factory(config)
        self.bootstrap_servers = settings.kafka_bootstrap_servers
        self.counters = OutputCounters()
        self.shutdown_grace_s = SHUTDOWN_GRACE_S
        self._now = now  # for the waits' durations and the shutdown grace
        self._lock = threading.Lock()  # counters: delivery callbacks and produce() run on several threads
        self._failure_kinds: set[Any] = set()  # delivery error codes already logged
        self._full_since: float | None = None  # the local queue is full since (monotonic)
        self._give_up_at: float | None = None  # set by begin_shutdown()

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        with self._lock:
            if error is None:
                self.counters.delivered += 1
                return
            self.counters.failed += 1
            kind = error.code() if isinstance(error, KafkaError) else str(error)
            first = kind not in self._failure_kinds
            self._failure_kinds.add(kind)
        if first:  # one line per kind of failure; the status line counts them all (errors=)
            log.error("delivery to %s failed: %s (further failures of this kind are only counted)",
                      message.topic(), error)

    def produce(self, topic: str, key: str | None, value: bytes) -> bool:
        """Hands one message to the client, waiting while its queue is full; False when it was
        dropped because the queue stayed full past the shutdown grace."""
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:  # local queue full: serve delivery reports until there is room
                if not self._wait_for_room():
                    return False
        self._room_again()
        with self._lock:
            self.counters.produced += 1
        self.producer.poll(0)
        return True

    def _wait_for_room(self) -> bool:
        now = self._now()
        with self._lock:
            self.counters.backpressure_waits += 1
            if self._give_up_at is not None and now >= self._give_up_at:
                self.counters.dropped += 1
                return False
            starting, self._full_since = self._full_since is None, self._full_since or now
        if starting:
            log.warning("local queue full (%s messages waiting for the broker at %s): the sources wait until "
                        "it drains", self._queued(), self.bootstrap_servers)
        self.producer.poll(BACKPRESSURE_POLL_S)
        return True

    def _room_again(self) -> None:
        if self._full_since is None:
            return
        with self._lock:
            since, self._full_since = self._full_since, None
        if since is not None:
            log.info("local queue has room again after %.0f s: the sources go on", self._now() - since)

    def _queued(self) -> int | str:
        try:
            return len(self.producer)
        except TypeError:
            return "?"

    def publish(self, batch: Batch) -> None:
        topic = batch.topic.name
        for key, value in batch.records:
            self.produce(topic, key, value)
        for dead in batch.dead_letters:
            self.produce(DEAD_LETTER.name, dead.source_topic, to_json(dead))
            log.warning("dead letter from %s: %s", dead.source_topic, dead.reason)
        with self._lock:
            self.counters.dead_letters += len(batch.dead_letters)
            self.counters.skipped += batch.skipped

    def begin_shutdown(self) -> None:
        """From now on a source waiting for room gives up after ``shutdown_grace_s`` (counted as dropped)."""
        self._give_up_at = self._now() + self.shutdown_grace_s

    def flush(self, timeout_s: float = 30.0) -> int:
        """Waits for outstanding deliveries; returns how many are still undelivered (plus those dropped
        at shutdown), after one line saying so."""
        remaining = self.producer.flush(timeout_s)
        with self._lock:
            self.counters.undelivered = remaining
            dropped = self.counters.dropped
        if remaining or dropped:
            log.error("shutdown: %d messages still undelivered after waiting %.0f s for the broker and %d never "
                      "queued (the local queue stayed full): they are lost", remaining, timeout_s, dropped)
        return remaining + dropped


class StatusLine:
    """The one-line status: produced/s since the last line, totals, errors, each source's budget."""

    def __init__(self, output: KafkaOutput, sources: list[Any], clock_now: Callable[[], float] = time.time) -> None:
        self.output = output
        self.sources = sources
        self.now = clock_now
        self._last = (clock_now(), 0)

    def line(self, final: bool = False) -> str:
        """``final``: the shutdown line, which also says what was lost (undelivered, dropped)."""
        now, counters = self.now(), self.output.counters
        then, produced_then = self._last
        rate = (counters.produced - produced_then) / max(1e-9, now - then)
        self._last = (now, counters.produced)
        budgets = " | ".join(f"{s.name}: {s.status()}" for s in self.sources if s.status())
        lost = f" undelivered={counters.undelivered} dropped={counters.dropped}" if final else ""
        return (f"produced={counters.produced} ({rate:.0f}/s) delivered={counters.delivered} "
                f"errors={counters.failed} dead={counters.dead_letters} skipped={counters.skipped} "
                f"backpressure={counters.backpressure_waits} queued={self.output._queued()}{lost}"
                + (f" | {budgets}" if budgets else ""))
