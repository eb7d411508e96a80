"""The live map's pure logic: filters, viewport culling, aggregation, counters, patch payloads."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.live import (
    COLOUR_MODES,
    DEAD_RECKONING_CAP_S,
    ESTIMATED_SIZE,
    MAX_INDIVIDUAL_MARKERS,
    PHASES,
    WORLD,
    LiveSnapshot,
    Viewport,
    age_label,
    filter_mask,
    map_traces,
    parse_filters,
    position_at,
    trace_data_updates,
    trace_names,
    viewport_from_relayout,
    weather_cells,
)
from dashboard.pages.live_map import build_figure
from skyrisk import geo
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
    assert patched == {"heading", *PHASES, "emergency halo", "EMERGENCY", "estimated position", "estimated centre"}
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


# --- dead reckoning between reports (fake clock: ``now`` is passed in) ------------------------------
class FakeClock:
    def __init__(self, start: float = seed.NOW) -> None:
        self.t = start

    def now(self) -> float:
        return self.t


def decoded(spec) -> np.ndarray:
    """A typed-array spec of a patch back to numbers."""
    import base64

    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype=spec["dtype"]) if spec else np.array([])


def one_aircraft(report_age_s: float, clock: FakeClock, **fields) -> LiveSnapshot:
    doc = {**next(d for d in seed.flights_live() if d["_id"] == seed.DETAIL_ICAO24),
           "event_time": clock.now() - report_age_s, "latitude": 50.0, "longitude": 8.0, "velocity": 250.0,
           "true_track": 90.0, **fields}
    return LiveSnapshot.from_documents([doc])


EVERYTHING = parse_filters(["LOW", "MEDIUM", "HIGH"], ALL_PHASES, [], [0, 45_000], "")


def drawn(snapshot: LiveSnapshot, now: float | None) -> tuple[float, float, str, bool]:
    """Where the map draws the one aircraft, its hover text, and whether it is drawn as estimated."""
    traces = map_traces(snapshot, EVERYTHING, WORLD, "risk", now)
    updates = trace_data_updates(traces, "risk")
    names = trace_names("risk")
    group = next(g for g in traces.groups if len(g.icao24))
    ring = decoded(updates[names.index("estimated position")]["lat"])
    centre = decoded(updates[names.index("estimated centre")]["lon"])
    assert len(ring) == len(centre)
    return float(group.latitude[0]), float(group.longitude[0]), group.hovertext[0], len(ring) == 1


def test_between_reports_the_aircraft_moves_on_its_track_at_its_speed():
    clock = FakeClock()
    snapshot = one_aircraft(40.0, clock)  # one report, 40 s old; no new one comes
    lat1, lon1, _, _ = drawn(snapshot, clock.now())
    clock.t += 3.0  # the next refresh of the map
    lat2, lon2, _, _ = drawn(snapshot, clock.now())
    assert lon2 > lon1 > 8.0 and lat1 == pytest.approx(50.0, abs=1e-3)
    assert (lat1, lon1) == (pytest.approx(geo.dead_reckon(50.0, 8.0, 250.0, 90.0, 40.0)[0], abs=1e-5),
                            pytest.approx(geo.dead_reckon(50.0, 8.0, 250.0, 90.0, 40.0)[1], abs=1e-5))
    assert geo.haversine_km(lat1, lon1, lat2, lon2) == pytest.approx(0.75, rel=0.01)  # 250 m/s x 3 s


def test_an_old_report_is_drawn_as_an_estimated_position_with_its_age():
    clock = FakeClock()
    *_, hover, estimated = drawn(one_aircraft(12.0, clock), clock.now())
    assert not estimated and "last report 12 s ago" in hover and "estimated" not in hover
    *_, hover, estimated = drawn(one_aircraft(200.0, clock), clock.now())
    assert estimated and "estimated position" in hover and "last report 3 min 20 s ago" in hover
    traces = map_traces(one_aircraft(200.0, clock), EVERYTHING, WORLD, "risk", clock.now())
    assert traces.counters.estimated == 1
    assert next(g for g in traces.groups if len(g.icao24)).size[0] == ESTIMATED_SIZE


def test_extrapolation_is_capped_at_two_minutes():
    clock = FakeClock()
    at_cap = drawn(one_aircraft(DEAD_RECKONING_CAP_S, clock), clock.now())[:2]
    assert drawn(one_aircraft(900.0, clock), clock.now())[:2] == at_cap
    assert geo.haversine_km(50.0, 8.0, *at_cap) == pytest.approx(250.0 * DEAD_RECKONING_CAP_S / 1000, rel=1e-4)


@pytest.mark.parametrize("fields", [{"velocity": None}, {"true_track": None}, {"event_time": None},
                                    {"on_ground": True, "velocity": 20.0}])
def test_no_speed_track_or_report_time_or_on_the_ground_stays_where_reported(fields):
    clock = FakeClock()
    lat, lon, _, _ = drawn(one_aircraft(60.0, clock, **fields), clock.now())
    assert (lat, lon) == (pytest.approx(50.0), pytest.approx(8.0))


def test_without_a_clock_the_reported_positions_are_drawn():
    clock = FakeClock()
    lat, lon, hover, estimated = drawn(one_aircraft(60.0, clock), None)
    assert (lat, lon) == (50.0, 8.0) and not estimated and "last report" not in hover


def test_the_selection_ring_sits_on_the_dead_reckoned_marker():
    from dashboard.pages.live_map import selection_ring

    clock = FakeClock()
    snapshot = one_aircraft(75.0, clock)
    lat, lon, _, _ = drawn(snapshot, clock.now())
    ring = selection_ring(snapshot, seed.DETAIL_ICAO24, "risk", clock.now())[trace_names("risk").index("selected")]
    assert (ring["lat"][0], ring["lon"][0]) == (pytest.approx(lat, abs=1e-5), pytest.approx(lon, abs=1e-5))
    assert position_at(snapshot, 0, clock.now()) == (ring["lat"][0], ring["lon"][0])


def test_an_aircraft_that_flew_out_of_the_view_is_not_sent():
    clock = FakeClock()
    snapshot = one_aircraft(100.0, clock, longitude=7.9)  # 25 km east by now: past 8.0
    view = Viewport(49.0, 51.0, 7.0, 8.0, 8.0)
    assert map_traces(snapshot, EVERYTHING, view, "risk", None).counters.shown == 1
    assert map_traces(snapshot, EVERYTHING, view, "risk", clock.now()).counters.shown == 0


def test_report_ages_read_like_a_person_would_say_them():
    assert [age_label(s) for s in (0, 59.9, 60, 200, 3599, 3600, 7500, -5)] == [
        "0 s", "59 s", "1 min 00 s", "3 min 20 s", "59 min 59 s", "1 h 00 min", "2 h 05 min", "0 s"]
