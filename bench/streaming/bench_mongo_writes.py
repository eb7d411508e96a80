"""How fast can the streaming job refresh ``flights_live`` on FerretDB (SQLite)? One process.

    .venv/bin/python -m bench.streaming.bench_mongo_writes                 # own FerretDB on a free port
    .venv/bin/python -m bench.streaming.bench_mongo_writes --aircraft 20000 --updates 4000

A collection holding ``--aircraft`` flights_live-sized documents is refreshed with ``--updates``
new states, written in different ways; the figure is documents written per second:

- ``update_one`` per document (one request each);
- unordered ``bulk_write`` of upserts in chunks of 10 ... 5,000 operations per request;
- ``delete_many({_id: {$in}})`` + ``insert_many`` (no upsert at all).

First without, then with the ``_id`` lookup index that ``infra.stack.index_ferretdb_id_lookups``
adds at bootstrap (FerretDB's own ``_id`` index does not match the expression its updates use, so
each update scans the table).

Unpatched, FerretDB 1.24 kept the SQLite query of every operation of an update request open until
the request ended, with at most 100 pooled connections, so a request of 100 or more updates never
completed; infra/ferretdb/patches/update-closes-its-query.patch closes each query before its write,
and the larger requests are measured too (the job's writers use ``streaming.sinks.BULK_CHUNK``).
"""

from __future__ import annotations

import argparse
import random
import time

from pymongo import MongoClient, UpdateOne


def document(icao24: str, t: float) -> dict:
    """A flights_live document of realistic size (the enriched state with its weather)."""
    rnd = random.Random(icao24)
    return {
        "_id": icao24, "icao24": icao24, "callsign": f"DLH{rnd.randint(1, 9999)}", "airline_icao": "DLH",
        "origin_country": "Germany", "source": "sim", "event_time": t, "latitude": rnd.uniform(45, 55),
        "longitude": rnd.uniform(0, 15), "baro_altitude": 11000.0, "geo_altitude": 11100.0, "velocity": 240.0,
        "true_track": 90.0, "vertical_rate": 0.0, "on_ground": False, "squawk": "1000", "cell_id": "100:17",
        "weather": {"observation_time": t - 600, "temperature_2m": 5.0, "wind_speed_10m": 10.0, "wind_gusts_10m": 20.0,
                    "precipitation": 0.0, "cloud_cover": 10.0, "weather_code": 1, "visibility": 20000.0},
        "weather_missing": False, "risk_score": 10, "risk_category": "LOW", "risk_factors": ["cloud cover 10 %"],
        "phase": "Cruise", "anomaly": False, "anomaly_score": 0.4, "anomaly_reasons": [], "emergency": None,
        "model_version": "bootstrap-sim", "last_seen": t,
    }


def timed_rate(count: int, action) -> float:
    start = time.perf_counter()
    action()
    return count / (time.perf_counter() - start)


def run(settings, aircraft: int, updates: int) -> None:
    from infra.stack import index_ferretdb_id_lookups

    db = MongoClient(settings.mongo_uri.get_secret_value())["bench_writes"]
    collection = db["flights_live"]
    collection.drop()
    ids = [f"{i:06x}" for i in range(aircraft)]
    start = time.perf_counter()
    for k in range(0, aircraft, 1000):
        collection.insert_many([document(i, 0.0) for i in ids[k:k + 1000]])
    print(f"seeded {aircraft:,} documents in {time.perf_counter() - start:.1f} s", flush=True)
    print(f"{'strategy':<36} {'docs/s':>10}")
    tick = [1.0]

    def fresh_docs() -> list[dict]:
        tick[0] += 1
        return [document(i, tick[0]) for i in random.sample(ids, updates)]

    def update_each(docs):
        for d in docs:
            collection.update_one({"_id": d["_id"]}, {"$set": d}, upsert=True)

    def bulk(chunk):
        def write(docs):
            ops = [UpdateOne({"_id": d["_id"]}, {"$set": d}, upsert=True) for d in docs]
            for k in range(0, len(ops), chunk):
                collection.bulk_write(ops[k:k + chunk], ordered=False)
        return write

    def delete_insert(docs):
        for k in range(0, len(docs), 1000):
            part = docs[k:k + 1000]
            collection.delete_many({"_id": {"$in": [d["_id"] for d in part]}})
            collection.insert_many(part, ordered=False)

    docs = fresh_docs()[:20]
    rate = timed_rate(len(docs), lambda: update_each(docs))
    print(f"{'update_one each, no _id lookup index':<36} {rate:>10,.1f}", flush=True)
    index_ferretdb_id_lookups(settings, "bench_writes")
    strategies = [("update_one each", update_each)]
    strategies += [(f"bulk_write upserts, {c} per request", bulk(c)) for c in (10, 50, 100, 500, 2000)]
    strategies += [("delete_many $in + insert_many", delete_insert)]
    for name, write in strategies:
        docs = fresh_docs()
        rate = timed_rate(len(docs), lambda: write(docs))
        assert collection.count_documents({"event_time": tick[0]}) == len(docs), name
        print(f"{name:<36} {rate:>10,.0f}", flush=True)
    collection.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aircraft", type=int, default=20_000)
    parser.add_argument("--updates", type=int, default=2_000)
    args = parser.parse_args()
    from infra.stack import throwaway_stack

    with throwaway_stack("bench-mongo-writes-") as settings:
        run(settings, args.aircraft, args.updates)


if __name__ == "__main__":
    main()
