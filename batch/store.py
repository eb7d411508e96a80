"""MongoDB side of the batch: reference data in, daily_stats and batch_runs out, and the
per-day lease (``batch_locks``) that keeps two runs of one day apart.

Only operations inside the FerretDB subset (find, replace_one, insert_one, update_one,
delete_many; the unique ``_id`` is the only index the lease relies on).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from pymongo.database import Database

from batch.lake import LakeError
from skyrisk.contracts import BatchRun, ReferenceRecord, ScheduleJourney

DAILY_STATS = "daily_stats"
BATCH_RUNS = "batch_runs"
BATCH_LOCKS = "batch_locks"


def _without_id(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}


def reference_records(db: Database, kind: str) -> list[dict[str, Any]]:
    """``airports`` / ``airlines`` documents as validated ReferenceRecord dicts."""
    return [ReferenceRecord.model_validate(_without_id(d)).model_dump() for d in db[kind].find({})]


def schedule_journeys(db: Database, day: str) -> list[dict[str, Any]]:
    """Journeys queried for the day and its neighbours: a leg of a journey that starts the
    evening before can depart on ``day``; legs are filtered by their own date later."""
    d = date.fromisoformat(day)
    dates = [(d + timedelta(days=k)).isoformat() for k in (-1, 0, 1)]
    return [
        ScheduleJourney.model_validate(_without_id(doc)).model_dump()
        for doc in db["schedules"].find({"query_date": {"$in": dates}})
    ]


def write_daily_stats(db: Database, document: dict[str, Any]) -> None:
    """One document per day, replaced whole (``_id = date``): reruns leave exactly one."""
    db[DAILY_STATS].replace_one({"_id": document["_id"]}, document, upsert=True)


class MongoRunLog:
    """``batch_runs``: one document per run, inserted as running, then finished; ``trigger``
    (``scheduled`` or ``manual``) says who started it."""

    def __init__(self, db: Database, trigger: str = "scheduled") -> None:
        self._runs = db[BATCH_RUNS]
        self.trigger = trigger

    def start(self, day: str, started_at: float) -> Any:
        doc = BatchRun(day=day, status="running", started_at=started_at, trigger=self.trigger).model_dump()
        return self._runs.insert_one(doc).inserted_id

    def finish(self, run_id: Any, run: BatchRun) -> None:
        self._runs.update_one({"_id": run_id}, {"$set": run.model_dump()})

    def succeeded_days(self) -> set[str]:
        return {doc["day"] for doc in self._runs.find({"status": "succeeded"}, {"day": 1})}


# --- the per-day lease ------------------------------------------------------------------------
def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def lease_owner(trigger: str) -> str:
    """Who holds a lease, as the refused run prints it: ``manual run on host pid 1234``."""
    return f"{trigger} run on {socket.gethostname()} pid {os.getpid()}"


class DayBusy(RuntimeError):
    """Another live run holds the day's lease."""

    def __init__(self, day: str, holder: dict[str, Any]) -> None:
        self.day, self.holder = day, holder
        super().__init__(
            f"consolidation of {day} is already running (owner {holder.get('owner', '?')}, "
            f"since {_utc(float(holder.get('acquired_at', 0.0)))}); try again later"
        )


class LeaseLost(LakeError):
    """The run no longer holds its day's lease (it stalled past the expiry and another run took
    the day over): it must not publish."""


def live_holder(db: Database, day: str, now: float | None = None) -> dict[str, Any] | None:
    """The unexpired lease of ``day``, if any (a look, not a lock: :class:`DayLease` decides)."""
    holder = db[BATCH_LOCKS].find_one({"_id": day})
    if holder and float(holder.get("expires_at", 0.0)) >= (time.time() if now is None else now):
        return holder
    return None


class DayLease:
    """A lease on one day in ``batch_locks``: ``{_id: day, owner, token, acquired_at,
    heartbeat_at, expires_at}`` (epoch seconds).

    Taken by inserting the document: the unique ``_id`` lets exactly one insert win, on MongoDB
    and on FerretDB alike. A background thread renews ``expires_at`` every ``ttl_s / 5``; a run
    that crashed stops renewing, and once its lease has expired the next run deletes it (only
    that very lease: the filter names its token and "expired") and inserts its own, again
    arbitrated by the unique ``_id``. :meth:`check` before publishing makes a run that stalled
    past its expiry and was taken over give up instead of publishing over the new owner.
    Released (deleted, by token) on exit. Expiry is judged by the clocks of the hosts that run
    the batch, so they must agree to well within ``ttl_s`` (NTP).
    """

    def __init__(
        self, db: Database, day: str, *, owner: str, ttl_s: float, echo: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._locks = db[BATCH_LOCKS]
        self.day, self.owner, self.ttl_s = day, owner, ttl_s
        self.token = uuid.uuid4().hex
        self.echo = echo or (lambda message: print(message, flush=True))
        self.clock = clock
        self.acquired_at: float | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lost: str | None = None

    # taking and giving back
    def acquire(self) -> "DayLease":
        from pymongo.errors import DuplicateKeyError

        for _attempt in range(3):
            now = self.clock()
            try:
                self._locks.insert_one(
                    {"_id": self.day, "owner": self.owner, "token": self.token, "acquired_at": now,
                     "heartbeat_at": now, "expires_at": now + self.ttl_s}
                )
            except DuplicateKeyError:
                holder = self._locks.find_one({"_id": self.day})
                if holder is None:
                    continue  # released in between: try again
                if float(holder.get("expires_at", 0.0)) >= now:
                    raise DayBusy(self.day, holder) from None
                # A stale lease of a run that stopped renewing it: remove exactly that one.
                self._locks.delete_many({"_id": self.day, "token": holder.get("token"), "expires_at": {"$lt": now}})
                self.echo(
                    f"[batch] {self.day}: taking over the expired lease of {holder.get('owner', '?')} "
                    f"(since {_utc(float(holder.get('acquired_at', 0.0)))}, last renewed "
                    f"{_utc(float(holder.get('heartbeat_at', 0.0)))})"
                )
                continue
            self.acquired_at = now
            self._renewer = threading.Thread(target=self._renew_loop, name=f"batch-lease-{self.day}", daemon=True)
            self._renewer.start()
            return self
        holder = self._locks.find_one({"_id": self.day}) or {}
        raise DayBusy(self.day, holder)

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
        if self.acquired_at is not None:
            self._locks.delete_many({"_id": self.day, "token": self.token})
            self.acquired_at = None

    def __enter__(self) -> "DayLease":
        return self.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.release()

    # keeping it
    def renew(self) -> bool:
        """Push the expiry out by ``ttl_s``; False when the lease is no longer ours."""
        now = self.clock()
        result = self._locks.update_one(
            {"_id": self.day, "token": self.token}, {"$set": {"heartbeat_at": now, "expires_at": now + self.ttl_s}}
        )
        if result.matched_count == 0:
            self._lost = "its lease document is gone or belongs to another run"
            return False
        return True

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 5):
            try:
                if not self.renew():
                    return
            except Exception as exc:  # noqa: BLE001 - a database hiccup; check() decides at publication
                self.echo(f"[batch] {self.day}: could not renew the lease ({type(exc).__name__}: {exc}); retrying")

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless the lease is still ours and unexpired (call it right
        before publishing)."""
        doc = self._locks.find_one({"_id": self.day})
        if self._lost is None:
            if doc is None or doc.get("token") != self.token:
                self._lost = "its lease document is gone or belongs to another run"
            elif float(doc.get("expires_at", 0.0)) < self.clock():
                self._lost = f"its lease expired at {_utc(float(doc['expires_at']))}"
        if self._lost is not None:
            holder = f"; now held by {doc.get('owner')}" if doc and doc.get("token") != self.token else ""
            raise LeaseLost(f"{self.day}: this run lost its lease ({self._lost}{holder}); nothing was published, run it again")
