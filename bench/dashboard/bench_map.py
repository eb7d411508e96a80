"""Server time and payload of the live map's refresh with 20,000 aircraft in ``flights_live``.

    .venv/bin/python -m bench.dashboard.bench_map                  # database from settings if it listens
    .venv/bin/python -m bench.dashboard.bench_map --start-stack    # own throw-away stack on free ports
    .venv/bin/python -m bench.dashboard.bench_map --aircraft 5000 --repeat 30

Writes the aircraft to a separate database (``<mongo_database>_bench``), loads the shared
snapshot once (timed), then for a world view and a regional view times

* ``map_update``: the pure server-side work of one refresh (filter, cull, aggregate, arrays),
  plus the JSON encoding of what is sent;
* the whole Dash callback through the real HTTP endpoint (``/_dash-update-component``, as the
  browser calls it every refresh), whose response size is the payload the browser receives.

Targets (issue 6): p95 <= 300 ms, payload <= 1 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import plotly.io.json as pio_json

from dashboard.app import create_app
from dashboard.data import DashboardData
from dashboard.live import PHASES, RISK_CATEGORIES, WORLD, Viewport, parse_filters
from dashboard.pages.live_map import map_update
from bench.producers.bench_simulator import broker as throwaway_stack
from skyrisk.services import is_listening
from skyrisk.settings import Settings, load_settings

TARGET_P95_MS = 300.0
TARGET_PAYLOAD_BYTES = 1_000_000
VIEWS = {
    "world (zoom 1)": WORLD,
    "Europe (zoom 3.3)": Viewport(35.0, 62.0, -12.0, 32.0, 3.3),
    # the worst case: as many single aircraft as the map shows before it groups them
    "dense, unaggregated (z 4.3)": Viewport(42.0, 58.0, 0.0, 22.0, 4.3),
    "regional (zoom 6, Germany)": Viewport(47.0, 55.0, 5.5, 15.5, 6.0),
}


@contextlib.contextmanager
def database(settings: Settings, start_stack: bool) -> Iterator[Settings | None]:
    if not start_stack:
        yield settings if is_listening(*settings.mongo_host_port) else None
        return
    # The producers' benchmark already knows how to run a throw-away stack on free ports.
    with throwaway_stack(settings, start_stack=True) as throwaway:
        yield throwaway


def synthetic_fleet(count: int, seed: int = 42) -> list[dict[str, Any]]:
    """Aircraft in the shape of EnrichedState: 60 % over Europe, 25 % North America, rest anywhere."""
    rng = np.random.default_rng(seed)
    region = rng.choice(3, count, p=[0.6, 0.25, 0.15])
    boxes = np.array([[35, 62, -12, 32], [25, 50, -125, -65], [-50, 70, -180, 180]], dtype=float)
    lat = rng.uniform(boxes[region, 0], boxes[region, 1])
    lon = rng.uniform(boxes[region, 2], boxes[region, 3])
    categories = rng.choice(RISK_CATEGORIES, count, p=[0.8, 0.15, 0.05])
    phases = rng.choice(PHASES, count, p=[0.1, 0.1, 0.2, 0.6])
    docs = []
    for i in range(count):
        docs.append({
            "_id": f"{i:06x}", "icao24": f"{i:06x}", "callsign": f"TST{i:04d}", "airline_icao": "TST",
            "origin_country": "Testland", "source": "sim", "event_time": time.time(),
            "latitude": float(lat[i]), "longitude": float(lon[i]), "baro_altitude": float(rng.uniform(0, 12_000)),
            "velocity": 230.0, "true_track": float(rng.uniform(0, 360)), "vertical_rate": 0.0,
            "on_ground": bool(phases[i] == "Ground"), "squawk": "7700" if i % 5000 == 0 else "1000",
            "cell_id": "0:0", "weather": None, "weather_missing": True, "risk_score": 10,
            "risk_category": str(categories[i]), "risk_factors": [], "phase": str(phases[i]),
            "anomaly": bool(rng.random() < 0.02), "anomaly_score": None, "anomaly_reasons": [],
            "emergency": "7700 emergency" if i % 5000 == 0 else None, "model_version": "bench",
        })
    return docs


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


def callback_request(view: Viewport, tick: int) -> dict[str, Any]:
    """The body the browser posts for the map refresh on an interval tick."""
    inputs = [
        ("live-tick", "n_intervals", tick), ("colour-mode", "value", "risk"),
        ("filter-risk", "value", list(RISK_CATEGORIES)), ("filter-phase", "value", list(PHASES)),
        ("filter-anomalies", "value", []), ("filter-altitude", "value", [0, 45_000]),
        ("filter-search", "value", None), ("weather-layer", "value", ["on"]),
        ("map-viewport", "data", view.__dict__), ("selected-aircraft", "data", None),
    ]
    return {
        "output": "..live-map.figure...live-counters.children..",
        "outputs": [{"id": "live-map", "property": "figure"}, {"id": "live-counters", "property": "children"}],
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "changedPropIds": ["live-tick.n_intervals"],
        "state": [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aircraft", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--start-stack", action="store_true")
    args = parser.parse_args()

    with database(load_settings(), args.start_stack) as base:
        if base is None:
            raise SystemExit("no database listening: start one (make up) or pass --start-stack")
        settings = base.model_copy(update={"mongo_database": f"{base.mongo_database}_bench"})
        data = DashboardData(settings)
        data.db.flights_live.delete_many({})
        data.db.flights_live.insert_many(synthetic_fleet(args.aircraft))
        started = time.perf_counter()
        snapshot = data.reload_live()
        print(f"aircraft in flights_live: {len(snapshot):,}")
        print(f"shared snapshot reload (one query serves every user; background, at most every max(3 s, 2 x this)): "
              f"{(time.perf_counter() - started) * 1000:,.0f} ms")

        filters = parse_filters(list(RISK_CATEGORIES), list(PHASES), [], [0, 45_000], "")
        client = create_app(settings, data).server.test_client()
        print(f"{'view':28} {'what':22} {'p50 ms':>8} {'p95 ms':>8} {'payload':>12} {'markers':>8}")
        failures = []
        for name, view in VIEWS.items():
            pure_ms, encoded = [], b""
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                update = map_update(snapshot, filters, view, "risk")
                encoded = pio_json.to_json_plotly(update["traces"]).encode()
                pure_ms.append((time.perf_counter() - t0) * 1000)
            markers = sum(len(t.get("customdata", [])) for t in update["traces"].values())
            http_ms, response = [], b""
            for tick in range(1, args.repeat + 1):
                body = callback_request(view, tick)
                t0 = time.perf_counter()
                reply = client.post("/_dash-update-component", data=json.dumps(body),
                                    content_type="application/json")
                http_ms.append((time.perf_counter() - t0) * 1000)
                response = reply.data
                assert reply.status_code == 200, reply.data[:500]
            for what, samples, size in (("map_update + JSON", pure_ms, len(encoded)),
                                        ("Dash callback (HTTP)", http_ms, len(response))):
                p50, p95 = percentiles(samples)
                print(f"{name:28} {what:22} {p50:8.1f} {p95:8.1f} {size:>10,} B {markers:8,}")
                if p95 > TARGET_P95_MS or size > TARGET_PAYLOAD_BYTES:
                    failures.append(f"{name} / {what}")
        data.db.client.drop_database(settings.mongo_database)
        data.close()
        print("targets p95 <= 300 ms, payload <= 1 MB:", "met" if not failures else f"MISSED by {failures}")


if __name__ == "__main__":
    main()
