"""What every producer shares: batches of serialised messages, the source interface, the clock.

A *source* (one per upstream API) has three implementations chosen by configuration: live HTTP,
replay of recorded responses and a simulator. Each yields :class:`Batch` objects that the Kafka
output publishes; a source never talks to Kafka itself.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from skyrisk.contracts import DeadLetter, Source, TopicSpec


def as_list(value: Any) -> list[Any]:
    """The one "object or list" normaliser: XML-to-JSON APIs send a one-member list as a bare object."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


# What a malformed upstream record raises while being parsed: it goes to the dead-letter topic.
RECORD_ERRORS = (ValidationError, KeyError, TypeError, ValueError, AttributeError)


def to_json(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump(mode="json"))


@dataclass
class Batch:
    """Messages of one topic from one poll (or one simulator tick)."""

    topic: TopicSpec
    records: list[tuple[str, bytes]] = field(default_factory=list)  # (key, JSON value)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    skipped: int = 0  # rows dropped on purpose (e.g. state vectors without a position)

    @classmethod
    def rejected(cls, topic: TopicSpec, reason: str, raw: Any, source: Source, key: str | None = None) -> Batch:
        """A batch holding only one dead letter (a failed call or an unreadable response)."""
        batch = cls(topic)
        batch.reject(reason, raw, source, key=key)
        return batch

    def add(self, key: str, message: BaseModel) -> None:
        self.records.append((key, to_json(message)))

    def reject(self, reason: str, raw: Any, source: Source, key: str | None = None, at: float | None = None) -> None:
        text = raw if isinstance(raw, str) else orjson.dumps(raw, default=str).decode()
        self.dead_letters.append(
            DeadLetter(source=source, source_topic=self.topic.name, reason=reason, raw=text, key=key,
                       at=time.time() if at is None else at)
        )


class Clock:
    """Wall time and an interruptible sleep; ``stop()`` wakes every sleeper (SIGINT/SIGTERM)."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stop.wait(seconds)

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()


class Stopped(Exception):
    """Raised inside a source when the clock was stopped while it waited."""


class SourceClient(ABC):
    """One upstream source in one mode; ``batches()`` runs until exhausted or the clock stops."""

    name: str = "source"

    @abstractmethod
    def batches(self) -> Iterator[Batch]: ...

    def observe(self, batch: Batch) -> None:
        """Every batch any source of this process publishes (the live weather follows the traffic)."""

    def status(self) -> str:
        """Budget left upstream (credits, calls), for the status line."""
        return ""
