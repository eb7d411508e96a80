"""The live map's pure logic: filters, viewport culling, aggregation, counters, patch payloads."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.live import (
    COLOUR_MODES,
    MAX_INDIVIDUAL_MARKERS,
    PHASES,
    WORLD,
    LiveSnapshot,
    Viewport,
    filter_mask,
    map_traces,
    parse_filters,
    trace_data_updates,
    trace_names,
    viewport_from_relayout,
    weather_cells,
)
from dashboard.pages.live_map import build_figure
from tests.dashboard import seed

ALL_PHASES = ["Ground", "Takeoff/Landing", "Climb/Descent", "Cruise"]


@pytest.fixture
def snapshot() -> LiveSnapshot:
    return LiveSnapshot.from_documents(seed.flights_live())


def shown_callsigns(snapshot: LiveSnapshot, filters) -> set[str]:
    return set(snapshot.callsign[filter_mask(snapshot, filters)])


def test_default_filters_show_every_aircraft(snapshot):
    filters = parse_filters(["LOW", "MEDIUM", "HIGH"], ALL_PHASES, [], [0, 45_000], "")
    assert shown_callsigns(snapshot, filters) == {a[1] for a in seed.AIRCRAFT}


def test_category_filter_keeps_emergencies_visible(snapshot):
    filters = parse_filters(["HIGH"], ALL_PHASES, [], [0, 45_000], "")
    # DLH123 is the HIGH one; EZY77 is MEDIUM but squawks 7700 and must never be hidden.
    assert shown_callsigns(snapshot, filters) == {"DLH123", "EZY77"}


def test_phase_anomaly_and_altitude_filters(snapshot):
    assert shown_callsigns(snapshot, parse_filters(["LOW", "MEDIUM", "HIGH"], ["Ground"], [], [0, 45_000], "")) == {
        "BAW45", "EZY77"}
    assert shown_callsigns(snapshot, parse_filters(["LOW", "MEDIUM", "HIGH"], ALL_PHASES, ["anomalies"], [0, 45_000],
                                                   "")) == {"AFR1234", "EZY77"}
    # 30,000-45,000 ft = 9,144-13,716 m: the three cruisers above 9,800 m, plus the emergency.
    assert shown_callsigns(snapshot, parse_filters(["LOW", "MEDIUM", "HIGH"], ALL_PHASES, [], [30_000, 45_000],
                                                   "")) == {"DLH400", "AFR1234", "RYR9", "EZY77"}


def test_search_by_callsign_prefix_or_airline(snapshot):
    everything = (["LOW", "MEDIUM", "HIGH"], ALL_PHASES, [], [0, 45_000])
    assert shown_callsigns(snapshot, parse_filters(*everything, "dlh")) == {"DLH400", "DLH123"}
    assert shown_callsigns(snapshot, parse_filters(*everything, "DLH4")) == {"DLH400"}


@pytest.mark.parametrize("hostile", [{"$ne": None}, ".*", "^.*$", "DLH|AFR", "(a+)+$", ["DLH"], "A" * 40, 42])
def test_hostile_search_text_matches_nothing(snapshot, hostile):
    everything = (["LOW", "MEDIUM", "HIGH"], ALL_PHASES, [], [0, 45_000])
    assert shown_callsigns(snapshot, parse_filters(*everything, hostile)) == set()


@pytest.mark.parametrize("empty", [None, "", "  "])
def test_an_empty_search_box_shows_everything(snapshot, empty):
    everything = (["LOW", "MEDIUM", "HIGH"], ALL_PHASES, [], [0, 45_000])
    assert parse_filters(*everything, empty).search == ""
    assert shown_callsigns(snapshot, parse_filters(*everything, empty)) == {a[1] for a in seed.AIRCRAFT}


def test_unknown_categories_and_phases_are_dropped():
    filters = parse_filters(["HIGH", {"$gt": ""}, "EXTREME"], ["Cruise", "Hover"], "yes", ["a", 3], None)
    assert filters.categories == frozenset({"HIGH"})
    assert filters.phases == frozenset({"Cruise"})
    assert filters.anomalies_only is False
    assert filters.altitude_ft == (0.0, 45_000.0)


def test_viewport_from_map_relayout_corners():
    relayout = {"map.center": {"lon": 8, "lat": 50}, "map.zoom": 6.5,
                "map._derived": {"coordinates": [[3.0, 53.0], [13.0, 53.0], [13.0, 47.0], [3.0, 47.0]]}}
    assert viewport_from_relayout(relayout) == Viewport(47.0, 53.0, 3.0, 13.0, 6.5)


def test_viewport_across_the_antimeridian_keeps_both_sides():
    relayout = {"map.zoom": 4, "map._derived": {"coordinates": [[170.0, 10.0], [200.0, 10.0], [200.0, -10.0],
                                                                 [170.0, -10.0]]}}
    view = viewport_from_relayout(relayout)
    snap = LiveSnapshot.from_documents([
        {"icao24": "aaaaaa", "latitude": 0.0, "longitude": 175.0},
        {"icao24": "bbbbbb", "latitude": 0.0, "longitude": -170.0},
        {"icao24": "cccccc", "latitude": 0.0, "longitude": 0.0},
    ])
    traces = map_traces(snap, parse_filters(["LOW"], ALL_PHASES, [], [0, 45_000], ""), view, "risk")
    assert sorted(traces.groups[0].icao24) == ["aaaaaa", "bbbbbb"]


def test_viewport_from_a_centre_and_zoom_set_without_corners():
    view = viewport_from_relayout({"map.center": {"lat": 50.0, "lon": 8.0}, "map.zoom": 7})
    assert view.zoom == 7 and view.lat_min < 50.0 < view.lat_max and view.lon_min < 8.0 < view.lon_max
    assert view.lon_max - view.lon_min < 10


def test_viewport_ignores_garbage_relayout():
    assert viewport_from_relayout({"map._derived": {"coordinates": "x"}}) == WORLD
    assert viewport_from_relayout(None) == WORLD


def test_regional_view_sends_only_the_aircraft_inside(snapshot):
    germany = Viewport(47.0, 55.0, 5.0, 15.0, 6.0)
    traces = map_traces(snapshot, parse_filters(["LOW", "MEDIUM", "HIGH"], ALL_PHASES, [], [0, 45_000], ""),
                        germany, "risk")
    sent = {icao for group in traces.groups for icao in group.icao24}
    assert sent == {"3c6444", "3c4b26"}  # DLH400 and DLH123
    assert traces.counters.shown == 2 and traces.counters.high == 1


def many_aircraft(n: int, seed_value: int = 7) -> LiveSnapshot:
    rng = np.random.default_rng(seed_value)
    docs = [{"icao24": f"{i:06x}", "callsign": f"TST{i}", "latitude": float(lat), "longitude": float(lon),
             "risk_category": cat, "phase": "Cruise", "baro_altitude": 10_000.0}
            for i, (lat, lon, cat) in enumerate(zip(rng.uniform(35, 62, n), rng.uniform(-12, 32, n),
                                                   rng.choice(["LOW", "MEDIUM", "HIGH"], n, p=[0.8, 0.15, 0.05])))]
    return LiveSnapshot.from_documents(docs)


def test_world_view_of_many_aircraft_is_aggregated_and_keeps_the_total():
    snap = many_aircraft(MAX_INDIVIDUAL_MARKERS + 1000)
    traces = map_traces(snap, parse_filters(["LOW", "MEDIUM", "HIGH"], ALL_PHASES, [], [0, 45_000], ""), WORLD, "risk")
    assert traces.aggregated
    markers = sum(len(g.latitude) for g in traces.groups)
    assert 0 < markers < MAX_INDIVIDUAL_MARKERS
    # Every aircraft is counted in exactly one cell: the hover texts add up to the total.
    counted = sum(int(text.split(" ")[0]) for g in traces.groups for text in g.hovertext)
    assert counted == len(snap)


def test_each_risk_category_is_aggregated_on_its_own():
    docs = [{"icao24": f"{i:06x}", "latitude": 50.01, "longitude": 8.01, "risk_category": "LOW"}
            for i in range(MAX_INDIVIDUAL_MARKERS + 1)]
    docs[0]["risk_category"] = "HIGH"
    snap = LiveSnapshot.from_documents(docs)
    traces = map_traces(snap, parse_filters(["LOW", "MEDIUM", "HIGH"], ALL_PHASES, [], [0, 45_000], ""), WORLD, "risk")
    low, medium, high = traces.groups
    assert (len(low.latitude), len(medium.latitude), len(high.latitude)) == (1, 0, 1)
    assert low.hovertext[0].startswith(f"{MAX_INDIVIDUAL_MARKERS} aircraft LOW")
    assert high.hovertext[0].startswith("1 aircraft HIGH")
    assert low.size[0] > high.size[0]


def test_emergencies_are_never_aggregated():
    docs = [{"icao24": f"{i:06x}", "latitude": 50.0, "longitude": 8.0, "risk_category": "LOW"}
            for i in range(MAX_INDIVIDUAL_MARKERS + 10)]
    docs[5]["emergency"] = "7500 hijack"
    traces = map_traces(LiveSnapshot.from_documents(docs),
                        parse_filters(["LOW"], ALL_PHASES, [], [0, 45_000], ""), WORLD, "risk")
    assert traces.aggregated and list(traces.emergencies.icao24) == [f"{5:06x}"]
    assert "7500 hijack" in traces.emergencies.hovertext[0]


def test_patch_payload_carries_typed_arrays_for_each_fixed_trace(snapshot):
    traces = map_traces(snapshot, parse_filters(["LOW", "MEDIUM", "HIGH"], ALL_PHASES, [], [0, 45_000], ""), WORLD,
                        "phase")
    updates = trace_data_updates(traces, "phase")
    names = trace_names("phase")
    patched = {names[i] for i in updates}
    assert patched == {"heading", *PHASES, "emergency halo", "EMERGENCY"}
    cruise = updates[names.index("Cruise")]
    assert set(cruise["lat"]) == {"dtype", "bdata"}
    assert sorted(cruise["customdata"]) == ["39856a", "3c6444", "4d2222"]  # EZY77 is drawn as an emergency
    assert updates[names.index("EMERGENCY")]["customdata"] == ["4ca123"]


@pytest.mark.parametrize("colour_mode", list(COLOUR_MODES))
def test_figure_traces_are_in_the_order_the_patches_address(colour_mode):
    figure = build_figure(colour_mode, {"lat": 50, "lon": 8}, 4, online_tiles=False)
    assert [trace.name for trace in figure.data] == trace_names(colour_mode)
    assert figure.layout.uirevision  # a constant uirevision keeps the user's zoom and pan


def test_weather_layer_marks_only_hazardous_cells():
    layer = weather_cells(seed.weather_latest(), 0.5)
    assert layer["locations"] == ["97:22"]
    assert "thunderstorm" in layer["text"][0]
    ring = layer["geojson"]["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == [11.0, 48.5] and ring[2] == [11.5, 49.0]
