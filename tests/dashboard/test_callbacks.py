"""The callbacks as the browser calls them (Dash's HTTP endpoint), with the data access faked."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dashboard.app import create_app
from dashboard.live import PHASES, RISK_CATEGORIES, Viewport
from tests.dashboard import seed
from tests.dashboard.fakes import FakeData

EUROPE = Viewport(35.0, 62.0, -12.0, 32.0, 4.0)


@pytest.fixture(scope="module")
def fake() -> FakeData:
    return FakeData()


@pytest.fixture(scope="module")
def app(fake):
    return create_app(fake.settings, fake)


@pytest.fixture(scope="module")
def client(app):
    return app.server.test_client()


def call(client, outputs: list[tuple[str, str]], inputs: list[tuple[str, str, Any]], changed: str,
         state: list[tuple[str, str, Any]] = (), output: str | None = None) -> tuple[int, dict[str, Any]]:
    """POST one callback like dash-renderer does; returns (status, response). ``output`` names the
    callback when it is not derived from ``outputs`` (a duplicate output has a suffix)."""
    output = output or (f"..{'...'.join(f'{i}.{p}' for i, p in outputs)}.." if len(outputs) > 1
                        else f"{outputs[0][0]}.{outputs[0][1]}")
    body = {"output": output, "outputs": [{"id": i, "property": p} for i, p in outputs] if len(outputs) > 1
            else {"id": outputs[0][0], "property": outputs[0][1]},
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
            "state": [{"id": i, "property": p, "value": v} for i, p, v in state], "changedPropIds": [changed]}
    reply = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    return reply.status_code, (reply.get_json() if reply.status_code == 200 else {})


def refresh_map(client, risk=list(RISK_CATEGORIES), search=None, selected=None, changed="live-tick.n_intervals"):
    return call(client, [("live-map", "figure"), ("live-counters", "children")], [
        ("live-tick", "n_intervals", 1), ("colour-mode", "value", "risk"), ("filter-risk", "value", risk),
        ("filter-phase", "value", list(PHASES)), ("filter-anomalies", "value", []),
        ("filter-altitude", "value", [0, 45_000]), ("filter-search", "value", search),
        ("weather-layer", "value", ["on"]), ("map-viewport", "data", EUROPE.__dict__),
        ("selected-aircraft", "data", selected)], changed)


def counter(response: dict[str, Any], box_id: str) -> str:
    """The text of one counter box in the returned children (by its id)."""
    def walk(node: Any) -> str | None:
        if isinstance(node, dict):
            props = node.get("props", {})
            if props.get("id") == box_id:
                return props.get("children")
            return walk(props.get("children"))
        if isinstance(node, list):
            return next((found for found in map(walk, node) if found is not None), None)
        return None

    return walk(response["response"]["live-counters"]["children"])


def test_a_refresh_patches_the_figure_and_counts_the_aircraft(client):
    status, response = refresh_map(client)
    assert status == 200
    figure = response["response"]["live-map"]["figure"]
    assert figure.get("__dash_patch_update")  # a Patch: the browser keeps its zoom, pan and selection
    assert counter(response, "count-shown") == str(seed.SEEDED_COUNT)
    assert counter(response, "count-emergencies") == str(seed.SEEDED_EMERGENCIES)


def test_filters_change_the_count(client):
    _, high_only = refresh_map(client, risk=["HIGH"])
    assert counter(high_only, "count-shown") == "2"  # DLH123 and the emergency EZY77
    _, searched = refresh_map(client, search="AFR")
    assert counter(searched, "count-shown") == "1"


def test_hostile_filter_values_are_ignored(client):
    _, response = refresh_map(client, risk=[{"$ne": None}])
    assert counter(response, "count-shown") == str(seed.SEEDED_EMERGENCIES)  # no category: only emergencies
    _, response = refresh_map(client, search={"$regex": ".*"})
    assert counter(response, "count-shown") == "0"  # taken literally: no callsign starts with it


def test_the_map_refresh_never_reads_tracks(client, fake):
    fake.queries.clear()
    refresh_map(client, selected=seed.DETAIL_ICAO24, changed="selected-aircraft.data")
    assert not any(q[0] == "track" for q in fake.queries)


def test_selecting_an_aircraft_patches_its_trail(app, client, fake):
    trail_callback = next(key for key in app.callback_map if key.startswith("live-map.figure@"))
    fake.queries.clear()
    status, response = call(client, [("live-map", "figure")],
                            [("selected-aircraft", "data", seed.DETAIL_ICAO24), ("trail-tick", "n_intervals", None)],
                            "selected-aircraft.data", state=[("colour-mode", "value", "risk")], output=trail_callback)
    assert status == 200 and fake.queries == [("track", seed.DETAIL_ICAO24)]
    patch = json.dumps(response["response"]["live-map"]["figure"])
    assert all(str(p["latitude"]) in patch for p in seed.tracks())


def test_a_click_selects_only_a_valid_aircraft(client):
    status, response = call(client, [("selected-aircraft", "data")],
                            [("live-map", "clickData", {"points": [{"customdata": seed.DETAIL_ICAO24}]}),
                             ("clear-selection", "n_clicks", None)], "live-map.clickData")
    assert status == 200 and response["response"]["selected-aircraft"]["data"] == seed.DETAIL_ICAO24
    status, response = call(client, [("selected-aircraft", "data")],
                            [("live-map", "clickData", {"points": [{"customdata": {"$ne": None}}]}),
                             ("clear-selection", "n_clicks", None)], "live-map.clickData")
    assert "selected-aircraft" not in response.get("response", {})  # no update


def test_detail_panel_shows_the_aircraft(client):
    _, response = call(client, [("detail-body", "children")],
                       [("selected-aircraft", "data", seed.DETAIL_ICAO24), ("live-tick", "n_intervals", 1)],
                       "selected-aircraft.data")
    text = json.dumps(response)
    assert seed.DETAIL_CALLSIGN in text and seed.DETAIL_RISK_FACTOR in text and "LH 400" in text


def test_route_search_callback_with_injected_values_queries_nothing(client, fake):
    fake.queries.clear()
    _, response = call(client, [("route-outbound", "children"), ("route-inbound", "children")],
                       [("route-search", "n_clicks", 1)], "route-search.n_clicks",
                       state=[("route-from", "value", {"$ne": None}), ("route-to", "value", "JFK"),
                              ("route-date", "date", seed.TODAY.isoformat()), ("route-return", "date", None),
                              ("route-nonstop", "value", [])])
    assert "Choose a departure airport" in json.dumps(response)
    assert not any(q[0] == "schedules" for q in fake.queries)
# The return-date search (JFK -> FRA found) runs on the real stack: tests/dashboard/test_data.py.


def load_replay(client, day: Any, flight: Any) -> dict[str, Any]:
    _, response = call(client, [("replay-points", "data"), ("replay-slider", "max"), ("replay-slider", "value"),
                                ("replay-note", "children")],
                       [("replay-flight", "value", flight)], "replay-flight.value", state=[("replay-day", "value", day)])
    return response["response"]


def test_replay_loads_a_flight_and_its_slider_spans_its_positions(client, fake):
    loaded = load_replay(client, "2026-11-19", FakeData.REPLAY_FLIGHT)
    assert len(loaded["replay-points"]["data"]) == 4
    assert loaded["replay-slider"] == {"max": 3, "value": 3}


@pytest.mark.parametrize(("day", "flight"), [("2026-11-19", {"$ne": None}), ("2026-11-19", "../../etc"),
                                             ({"$gt": ""}, FakeData.REPLAY_FLIGHT), ("2026-13-01", "x")])
def test_replay_with_hostile_values_reads_nothing(client, fake, day, flight):
    fake.queries.clear()
    loaded = load_replay(client, day, flight)
    assert loaded["replay-points"]["data"] == [] and "Pick a day" in loaded["replay-note"]["children"]
    assert fake.queries == []


def patched(response: dict[str, Any]) -> dict[tuple[int, str], Any]:
    """The figure Patch of a map refresh as {(trace index, property): value}."""
    operations = response["response"]["live-map"]["figure"]["operations"]
    return {(op["location"][1], ".".join(map(str, op["location"][2:]))): op["params"]["value"] for op in operations
            if op["location"][0] == "data" and op["operation"] == "Assign"}


def marker_of(response: dict[str, Any], icao24: str) -> tuple[float, float]:
    import base64

    import numpy as np

    values = patched(response)
    for (index, prop), ids in values.items():
        if prop == "customdata" and icao24 in ids:
            lat, lon = (np.frombuffer(base64.b64decode(values[(index, p)]["bdata"]), values[(index, p)]["dtype"])
                        for p in ("lat", "lon"))
            return float(lat[ids.index(icao24)]), float(lon[ids.index(icao24)])
    raise AssertionError(f"{icao24} is not on the map")


def test_two_refreshes_without_a_new_report_move_the_aircraft_and_mark_it_estimated(client, monkeypatch):
    from types import SimpleNamespace

    from dashboard.live import trace_names
    from dashboard.pages import live_map

    clock = SimpleNamespace(t=seed.NOW + 60)  # the seeded reports are 65 s old: estimated, still extrapolated
    monkeypatch.setattr(live_map, "time", SimpleNamespace(time=lambda: clock.t), raising=False)
    _, first = refresh_map(client)
    clock.t += 3.0  # the next tick; the snapshot (and every report in it) is the same
    _, second = refresh_map(client)
    (lat1, lon1), (lat2, lon2) = marker_of(first, seed.DETAIL_ICAO24), marker_of(second, seed.DETAIL_ICAO24)
    assert lon2 > lon1 and lat1 == pytest.approx(lat2, abs=1e-3)  # seeded track 90: east
    ring = patched(second)[(trace_names("risk").index("estimated position"), "lat")]
    assert ring and ring["bdata"]  # drawn as estimated
    assert "1 min 08 s ago" in json.dumps(second) and "estimated position" in json.dumps(second)
    assert f"{seed.SEEDED_COUNT} at an estimated position" in counter(second, "count-estimated")
