"""The per-day lease in ``batch_locks`` on the real FerretDB (no Spark)."""

from __future__ import annotations

import threading
import time

import pytest

from batch.store import BATCH_LOCKS, DayBusy, DayLease, LeaseLost, live_holder

pytestmark = pytest.mark.integration


@pytest.fixture
def locks(mongo_db):
    days = [f"lease-test-{name}" for name in ("busy", "race", "stale", "beat", "lost")]
    mongo_db[BATCH_LOCKS].delete_many({"_id": {"$in": days}})
    return mongo_db


def lease(db, day: str, owner: str, ttl_s: float = 30.0, **kw) -> DayLease:
    return DayLease(db, day, owner=owner, ttl_s=ttl_s, echo=lambda _m: None, **kw)


def test_a_second_run_is_refused_while_the_first_holds_the_day(locks):
    with lease(locks, "lease-test-busy", "scheduled run on host-a pid 11") as first:
        with pytest.raises(DayBusy) as refused:
            lease(locks, "lease-test-busy", "manual run on host-b pid 22").acquire()
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first.acquired_at))
        assert str(refused.value) == (
            f"consolidation of lease-test-busy is already running (owner scheduled run on host-a pid 11, "
            f"since {since}); try again later"
        )
        doc = locks[BATCH_LOCKS].find_one({"_id": "lease-test-busy"})
        assert doc["owner"] == "scheduled run on host-a pid 11" and doc["token"] == first.token
    # released in the end: the next run gets it
    assert locks[BATCH_LOCKS].find_one({"_id": "lease-test-busy"}) is None
    with lease(locks, "lease-test-busy", "manual run on host-b pid 22"):
        pass


def test_only_one_of_many_simultaneous_takers_wins(locks):
    winners, refused = [], []
    start = threading.Barrier(6)

    def take(k: int) -> None:
        candidate = lease(locks, "lease-test-race", f"run {k}")
        start.wait()
        try:
            candidate.acquire()
            winners.append(candidate)
        except DayBusy:
            refused.append(k)

    threads = [threading.Thread(target=take, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(refused) == 5
    winners[0].release()


def test_the_expired_lease_of_a_crashed_run_is_taken_over(locks):
    now = time.time()
    locks[BATCH_LOCKS].insert_one({"_id": "lease-test-stale", "owner": "scheduled run on gone pid 9", "token": "dead",
                                   "acquired_at": now - 900, "heartbeat_at": now - 600, "expires_at": now - 300})
    lines = []
    with DayLease(locks, "lease-test-stale", owner="manual run", ttl_s=30, echo=lines.append) as taken:
        doc = locks[BATCH_LOCKS].find_one({"_id": "lease-test-stale"})
        assert doc["token"] == taken.token and doc["owner"] == "manual run"
        taken.check()
    assert len(lines) == 1 and lines[0].startswith(
        "[batch] lease-test-stale: taking over the expired lease of scheduled run on gone pid 9")


def test_the_heartbeat_keeps_a_lease_alive_past_its_ttl(locks):
    with lease(locks, "lease-test-beat", "long run", ttl_s=1.5) as held:
        time.sleep(4.0)  # well past the 1.5 s it was first taken for
        with pytest.raises(DayBusy):
            lease(locks, "lease-test-beat", "other run", ttl_s=1.5).acquire()
        held.check()
        assert live_holder(locks, "lease-test-beat")["token"] == held.token


def test_a_run_that_stalled_and_was_taken_over_learns_it_before_publishing(locks):
    stalled = lease(locks, "lease-test-lost", "stalled run", ttl_s=1.0)
    stalled.acquire()
    stalled._stop.set()  # its renewals stop, as in a process paused for longer than the TTL
    stalled._renewer.join()
    time.sleep(1.2)
    with lease(locks, "lease-test-lost", "new run") as new:
        with pytest.raises(LeaseLost, match=r"lost its lease.*now held by new run\); nothing was published"):
            stalled.check()
        stalled.release()  # deletes only its own lease: the new owner keeps the day
        assert locks[BATCH_LOCKS].find_one({"_id": "lease-test-lost"})["token"] == new.token
