"""The FerretDB we build (infra/ferretdb with its patches), against the real server of the stack."""

from __future__ import annotations

import threading

import pytest
from pymongo import MongoClient, UpdateOne

pytestmark = pytest.mark.integration

DOCUMENTS = 300


def _upserts(round_: int) -> list[UpdateOne]:
    return [UpdateOne({"_id": f"a{i:04d}"}, {"$set": {"lat": round_ + i / 1000, "pad": "x" * 600}}, upsert=True)
            for i in range(DOCUMENTS)]


def test_the_write_ahead_log_stays_small_under_continuous_upserts_and_reads(stack):
    # Unpatched, every update of a command kept its query open until the command ended, SQLite
    # never restarted the log, and it grew by about 8 KB per update: ~19 MB for these 2,400.
    client = MongoClient(stack.mongo_uri.get_secret_value(), socketTimeoutMS=60_000)
    database = client["wal_probe"]
    log = stack.data_dir / "ferretdb" / "data" / "wal_probe.sqlite-wal"
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            list(database.live.find({}, {"lat": 1}))
            stop.wait(0.2)

    reader = threading.Thread(target=read, daemon=True)
    try:
        database.live.bulk_write(_upserts(0)[:10])
        reader.start()
        for round_ in range(8):
            operations = _upserts(round_)
            for start in range(0, len(operations), 10):  # the streaming writers' request size
                database.live.bulk_write(operations[start : start + 10], ordered=False)
        stop.set()
        reader.join(30)
        assert database.live.count_documents({}) == DOCUMENTS
        assert log.stat().st_size < 8 * 2**20, f"write-ahead log {log.stat().st_size / 2**20:.1f} MB"
    finally:
        stop.set()
        client.drop_database("wal_probe")
        client.close()


def test_the_write_ahead_log_is_cut_back_after_a_long_read_ends(stack):
    # A reader that stays open (here a cursor half read) keeps SQLite from restarting the log, so
    # the log grows past 16 MB meanwhile; once the reader is gone the next writes restart it and
    # journal_size_limit cuts the file back to 16 MB instead of keeping its largest size.
    client = MongoClient(stack.mongo_uri.get_secret_value(), socketTimeoutMS=60_000)
    database = client["wal_limit_probe"]
    log = stack.data_dir / "ferretdb" / "data" / "wal_limit_probe.sqlite-wal"
    try:
        database.live.bulk_write(_upserts(0), ordered=False)
        cursor = database.live.find({}).batch_size(2)
        next(cursor)
        round_ = 1
        while log.stat().st_size <= 20 * 2**20 and round_ < 40:
            operations = _upserts(round_)
            for start in range(0, len(operations), 10):
                database.live.bulk_write(operations[start : start + 10], ordered=False)
            round_ += 1
        grown = log.stat().st_size
        cursor.close()
        for start in range(0, 60, 10):
            database.live.bulk_write(_upserts(round_)[start : start + 10], ordered=False)
        assert grown > 20 * 2**20, f"the open cursor did not hold the log ({grown / 2**20:.1f} MB)"
        assert log.stat().st_size <= 16 * 2**20, f"write-ahead log {log.stat().st_size / 2**20:.1f} MB"
    finally:
        client.drop_database("wal_limit_probe")
        client.close()


def test_a_command_of_many_updates_does_not_wait_for_itself(stack):
    # Unpatched, each of a command's updates held one of the 100 pooled SQLite connections until
    # the command ended: a command of 300 updates never answered (here: a socket timeout).
    client = MongoClient(stack.mongo_uri.get_secret_value(), socketTimeoutMS=30_000)
    try:
        collection = client["many_updates_probe"].live
        result = collection.bulk_write(_upserts(0), ordered=False)
        assert result.upserted_count == DOCUMENTS
        result = collection.bulk_write(_upserts(1), ordered=False)
        assert result.modified_count == DOCUMENTS
    finally:
        client.drop_database("many_updates_probe")
        client.close()
