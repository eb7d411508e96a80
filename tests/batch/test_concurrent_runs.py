"""Two runs of one day at the same time, on the real stack (MinIO, FerretDB, Spark)."""

from __future__ import annotations

import threading

import pytest

from batch import job, lake, store
from batch.__main__ import run_consolidate
from tests.batch import scenario
from tests.batch.test_consolidate import load_references, write_enriched_day
from tests.batch.test_transforms import summary_dicts

pytestmark = pytest.mark.integration

RACE_DAY = "2026-09-01"
BUSY_DAY = "2026-09-02"
LOST_DAY = "2026-09-03"


class HoldBeforePublishing(job.Progress):
    """Progress that stops the run after its curated positions and summaries are written and
    before it publishes them, until ``release`` is set: the window the other run falls into."""

    def __init__(self, release: threading.Event, action=None) -> None:
        super().__init__(echo=lambda _m: None)
        self.reached, self.release, self.action = threading.Event(), release, action

    def stage(self, stage: job.Stage) -> None:
        super().stage(stage)
        if stage.name == "flight summaries":
            self.reached.set()
            if self.action:
                self.action()
            assert self.release.wait(timeout=600)


@pytest.fixture(scope="module")
def days(spark, stack, mongo_client):
    db = mongo_client[stack.mongo_database]
    load_references(db)
    for day in (RACE_DAY, BUSY_DAY, LOST_DAY):
        write_enriched_day(spark, stack, day)
    return db


def test_two_runs_of_one_day_at_once_leave_it_complete_and_not_duplicated(spark, stack, days):
    second_done = threading.Event()
    first_progress = HoldBeforePublishing(second_done)
    outcome: dict[str, object] = {}

    def run(name: str, progress: job.Progress) -> None:
        try:
            outcome[name] = job.consolidate_day(spark, stack, days, RACE_DAY, progress, retrain_model=False)
        except Exception as exc:  # noqa: BLE001 - the outcome is what is checked
            outcome[name] = exc
        finally:
            if name == "second":
                second_done.set()

    first = threading.Thread(target=run, args=("first", first_progress))
    first.start()
    assert first_progress.reached.wait(timeout=600), outcome
    # The first run has written its files and not published them: the second starts now.
    second = threading.Thread(target=run, args=("second", job.Progress(echo=lambda _m: None)))
    second.start()
    second.join(timeout=600)
    first.join(timeout=600)

    # The day is complete, each position once, flights as by hand...
    positions = lake.read_published(spark, stack.lake_url, "positions", [RACE_DAY])
    assert positions.count() == scenario.POSITIONS
    assert positions.select("icao24", "event_time").distinct().count() == scenario.POSITIONS
    summaries = lake.read_published(spark, stack.lake_url, "summaries", [RACE_DAY]).drop("date")
    assert sorted(summary_dicts(summaries)) == sorted(scenario.expected_summaries(RACE_DAY))  # the 5 flights once
    # ...because one run did it and the other was refused in one sentence.
    assert isinstance(outcome["first"], job.DayResult), outcome["first"]
    assert isinstance(outcome["second"], store.DayBusy), outcome["second"]
    assert str(outcome["second"]).startswith(f"consolidation of {RACE_DAY} is already running (owner batch run on ")
    assert str(outcome["second"]).endswith("); try again later")
    assert lake.read_manifest(spark, stack.lake_url, RACE_DAY)["run_id"] == outcome["first"].run_id
    for table in lake.TABLES:
        day_dir = f"{lake.table_url(stack.lake_url, table)}/date={RACE_DAY}"
        assert lake.child_names(spark, day_dir) == [f"run={outcome['first'].run_id}"]
    assert days[store.BATCH_LOCKS].find_one({"_id": RACE_DAY}) is None  # released


def test_the_manual_command_on_a_day_being_consolidated_says_so_in_one_line(spark, stack, days, capsys):
    with job.day_lease(days, stack, BUSY_DAY, "scheduled", echo=lambda _m: None) as holder:
        since = holder.acquired_at
        status = run_consolidate(spark, stack, days, [BUSY_DAY], retrain_model=False)
    captured = capsys.readouterr()
    assert status == 3
    assert captured.err.strip().splitlines() == [
        f"[batch] {store.DayBusy(BUSY_DAY, {'owner': store.lease_owner('scheduled'), 'acquired_at': since})}"]
    assert f"[batch] consolidation of {BUSY_DAY} is already running (owner scheduled run on " in captured.err
    assert captured.err.strip().endswith("); try again later")
    assert lake.read_manifest(spark, stack.lake_url, BUSY_DAY) is None  # nothing touched
    assert days["batch_runs"].count_documents({"day": BUSY_DAY}) == 0
    # once the lease is free the same command consolidates the day and records the run
    assert run_consolidate(spark, stack, days, [BUSY_DAY], retrain_model=False) == 0
    (run,) = days["batch_runs"].find({"day": BUSY_DAY})
    assert run["status"] == "succeeded" and run["trigger"] == "manual"
    assert run["rows"]["positions"] == scenario.POSITIONS


def test_a_run_that_lost_its_lease_does_not_publish(spark, stack, days):
    def take_over() -> None:  # the run stalled past its expiry and another run took the day
        days[store.BATCH_LOCKS].delete_many({"_id": LOST_DAY})
        days[store.BATCH_LOCKS].insert_one({"_id": LOST_DAY, "owner": "manual run on elsewhere pid 7",
                                            "token": "other", "acquired_at": 0.0, "heartbeat_at": 0.0,
                                            "expires_at": 4e9})

    release = threading.Event()
    release.set()
    with pytest.raises(store.LeaseLost, match="now held by manual run on elsewhere pid 7"):
        job.consolidate_day(spark, stack, days, LOST_DAY, HoldBeforePublishing(release, take_over),
                            retrain_model=False)
    assert lake.read_manifest(spark, stack.lake_url, LOST_DAY) is None
    assert days["daily_stats"].find_one({"_id": LOST_DAY}) is None
    days[store.BATCH_LOCKS].delete_many({"_id": LOST_DAY})
