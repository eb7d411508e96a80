"""MongoDB side of the batch: reference data in, daily_stats and batch_runs out.

Only operations inside the FerretDB subset (find, replace_one, insert_one, update_one).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pymongo.database import Database

from skyrisk.contracts import BatchRun, ReferenceRecord, ScheduleJourney

DAILY_STATS = "daily_stats"
BATCH_RUNS = "batch_runs"


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
    """``batch_runs``: one document per run, inserted as running, then finished."""

    def __init__(self, db: Database) -> None:
        self._runs = db[BATCH_RUNS]

    def start(self, day: str, started_at: float) -> Any:
        doc = BatchRun(day=day, status="running", started_at=started_at).model_dump()
        return self._runs.insert_one(doc).inserted_id

    def finish(self, run_id: Any, run: BatchRun) -> None:
        self._runs.update_one({"_id": run_id}, {"$set": run.model_dump()})

    def succeeded_days(self) -> set[str]:
        return {doc["day"] for doc in self._runs.find({"status": "succeeded"}, {"day": 1})}
