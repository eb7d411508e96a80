"""The simulator: determinism, contract, flight profiles, turnarounds, DLH/schedule match, storms."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from producers.simulator import (
    EMERGENCY_SQUAWKS,
    LufthansaSim,
    StormField,
    TrafficSimulator,
    WeatherSim,
    iso_duration,
    lufthansa_timetable,
)
from skyrisk.contracts import FlightState, ReferenceRecord, ScheduleJourney, WeatherObservation
from skyrisk.geo import cell_id, grid_cells
from tests.producers.helpers import FakeClock

START = 1_795_255_200.0  # 2026-11-21T10:00Z
EUROPE = (35.0, -12.0, 62.0, 32.0)


@pytest.fixture
def sim_settings(settings):
    return settings.model_copy(update={"bbox": EUROPE, "sim_erratic_rate": 0.0, "sim_emergency_rate": 0.0})


def decoded(records) -> list[dict]:
    return [orjson.loads(value) for _, value in records]


def test_same_seed_gives_the_same_stream_and_another_seed_does_not(sim_settings):
    def run(seed: int) -> list[list[tuple[str, bytes]]]:
        sim = TrafficSimulator(sim_settings, START, aircraft=150, seed=seed)
        return [sim.tick().records for _ in range(5)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_messages_validate_against_the_contract_and_stay_in_the_box(settings):
    sim = TrafficSimulator(settings.model_copy(update={"bbox": EUROPE}), START, aircraft=400, seed=1)
    batch = sim.tick()
    states = [FlightState.model_validate_json(value) for _, value in batch.records]
    assert len(states) > 300  # a few long-haul DLH flights may be outside Europe
    assert [key for key, _ in batch.records] == [s.icao24 for s in states]
    assert len({s.icao24 for s in states}) == len(states)
    lamin, lomin, lamax, lomax = EUROPE
    assert all(lamin <= s.latitude <= lamax and lomin <= s.longitude <= lomax for s in states)
    assert all(s.source == "sim" and s.snapshot_time == START + 1 and s.event_time <= s.snapshot_time for s in states)


def test_profiles_have_realistic_speeds_altitudes_and_climb_rates(sim_settings):
    sim = TrafficSimulator(sim_settings, START, aircraft=2000, seed=3)
    states = decoded(sim.tick().records)
    airborne = [s for s in states if not s["on_ground"]]
    assert 0.75 < len(airborne) / len(states) < 0.97
    assert all(70 <= s["velocity"] <= 260 for s in airborne)
    assert all(abs(s["vertical_rate"]) <= 15 for s in airborne)
    cruising = [s for s in airborne if s["vertical_rate"] == 0]
    assert len(cruising) / len(airborne) > 0.3
    assert all(9144 - 0.1 <= s["baro_altitude"] <= 12192 + 0.1 for s in cruising)  # FL300-FL400
    assert any(s["vertical_rate"] > 5 for s in airborne) and any(s["vertical_rate"] < -5 for s in airborne)
    on_ground = [s for s in states if s["on_ground"]]
    assert all(s["vertical_rate"] == 0 for s in on_ground)
    assert all(s["velocity"] <= 8 or s["velocity"] <= 80 and s["baro_altitude"] < 1500 for s in on_ground)  # parked,
    # taxiing, or on the take-off/landing roll
    assert sum(s["velocity"] <= 8 for s in on_ground) > 0.8 * len(on_ground)


def test_a_flight_lands_turns_round_and_departs_on_the_return_route(sim_settings):
    settings = sim_settings.model_copy(update={"lufthansa_routes": "FRA-LIS"})
    sim = TrafficSimulator(settings, START, aircraft=1, seed=5)  # one aircraft: it flies the DLH route
    track = []
    while sim.flights_started < 3 and len(track) < 5000:
        sim.step(10.0)
        (state,) = decoded(sim.records())
        track.append(state)
    callsigns = [s["callsign"] for s in track]
    assert set(callsigns) == {"DLH400", "DLH401"}
    turn = next(i for i in range(1, len(track)) if callsigns[i] != callsigns[i - 1])
    landed, departed = track[turn - 1], track[turn]
    destination = (38.7813, -9.13592) if callsigns[turn - 1] == "DLH400" else (50.0264, 8.54313)  # LIS, FRA
    assert landed["latitude"] == pytest.approx(destination[0], abs=0.05)
    assert landed["longitude"] == pytest.approx(destination[1], abs=0.05)
    assert departed["on_ground"] and departed["latitude"] == pytest.approx(destination[0], abs=1e-4)
    after = track[turn:]
    phases = [("climb" if s["vertical_rate"] > 0 else "descent" if s["vertical_rate"] < 0 else
               "ground" if s["on_ground"] else "cruise") for s in after]
    order = [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]]
    assert order[:5] == ["ground", "climb", "cruise", "descent", "ground"]
    assert max(s["baro_altitude"] for s in after) >= 9144


def test_dlh_callsigns_fly_the_schedules_the_simulator_publishes(settings):
    sim = TrafficSimulator(settings.model_copy(update={"bbox": EUROPE}), START, aircraft=300, seed=2)
    published = one_lufthansa_refresh(settings)
    schedules = [ScheduleJourney.model_validate_json(v) for k, v in published.items() if not k.startswith(
        ("country:", "city:", "airport:", "airline:", "aircraft:"))]
    routes_by_number = {j.flight_numbers[0]: (j.origin, j.destination) for j in schedules}
    airline = ReferenceRecord.model_validate_json(published["airline:LH"])
    assert airline.icao_code == "DLH"

    flying = [i for i in range(sim.n) if sim.callsign[i].startswith("DLH")]
    assert len(flying) == len(lufthansa_timetable([tuple(r.split("-")) for r in settings.lufthansa_routes.split(",")])) // 2
    for i in flying:
        number = "LH" + sim.callsign[i][3:]
        assert routes_by_number[number] == (sim.airports[sim.origin[i]].iata, sim.airports[sim.destination[i]].iata)


def one_lufthansa_refresh(settings) -> dict[str, bytes]:
    clock = FakeClock(start=START)
    published: list = []
    for batch in LufthansaSim(settings, clock).batches():
        if clock.sleeps:
            break
        published.extend(batch.records)
    return dict(published)


def test_the_simulated_timetable_covers_every_route_in_both_directions_every_day(settings):
    from producers.lufthansa import parse_routes, schedule_pairs

    published = one_lufthansa_refresh(settings)
    journeys = [ScheduleJourney.model_validate_json(v) for k, v in published.items()
                if not k.split(":")[0] in ("country", "city", "airport", "airline", "aircraft")]
    asked = {(j.origin, j.destination, j.query_date) for j in journeys}
    days = {j.query_date for j in journeys}
    assert len(days) == settings.lufthansa_horizon_days
    pairs = schedule_pairs(parse_routes(settings.lufthansa_routes))  # what the live client fetches
    assert asked == {(o, d, day) for o, d in pairs for day in days}
    assert all(j.legs[0].departure_airport == j.origin and j.legs[-1].arrival_airport == j.destination
               for j in journeys)


def test_simulated_reference_data_has_metropolitan_cities(settings):
    published = one_lufthansa_refresh(settings)
    london = ReferenceRecord.model_validate_json(published["city:LON"])
    assert london.name == "London" and "LHR" in london.airports and len(london.airports) > 1
    assert ReferenceRecord.model_validate_json(published["airport:LHR"]).city_code == "LON"
    assert "city:LHR" not in published  # a metropolitan airport is not a city of its own
    assert ReferenceRecord.model_validate_json(published["airport:FRA"]).city_code == "FRA"
    assert ReferenceRecord.model_validate_json(published["city:FRA"]).airports == ["FRA"]


def test_rare_events_follow_their_rates(sim_settings):
    loud = sim_settings.model_copy(update={"sim_emergency_rate": 1.0, "sim_erratic_rate": 1.0})
    states = decoded(TrafficSimulator(loud, START, aircraft=300, seed=4).tick().records)
    assert {s["squawk"] for s in states} <= set(EMERGENCY_SQUAWKS)
    airborne = [s for s in states if not s["on_ground"]]
    assert all(abs(s["vertical_rate"]) >= 35 and s["velocity"] >= 1.6 * 75 for s in airborne)

    quiet = decoded(TrafficSimulator(sim_settings, START, aircraft=300, seed=4).tick().records)
    assert not {s["squawk"] for s in quiet} & set(EMERGENCY_SQUAWKS)


def test_airports_come_from_the_airport_dataset(sim_settings):
    sim = TrafficSimulator(sim_settings, START, aircraft=10, seed=1)
    fra = next(a for a in sim.airports if a.iata == "FRA")
    assert (fra.icao, fra.latitude, fra.longitude) == ("EDDF", 50.0264, 8.54313)
    assert len(sim.airports) > 100


def test_iso_duration_of_the_simulated_schedules():
    assert iso_duration(594) == "PT9H54M"
    assert iso_duration(1565) == "P1DT2H5M"


# --- weather ---------------------------------------------------------------------------------------
def test_storm_core_is_a_thunderstorm_and_the_background_is_calm():
    cells = grid_cells((48.0, 8.0, 52.0, 12.0), 0.5)
    field = StormField((48.0, 8.0, 52.0, 12.0), cells, 1, np.random.default_rng(0))
    core = cells.index(("98:18", 49.25, 9.25))
    field.storm_lat[0], field.storm_lon[0], field.radius_km[0], field.intensity[0] = 49.25, 9.25, 60.0, 1.0
    answers = field.open_meteo_answer(START, 60)
    storm, far = answers[core]["current"], answers[cells.index(("103:23", 51.75, 11.75))]["current"]
    assert storm["weather_code"] == 99 and storm["wind_gusts_10m"] > 80 and storm["visibility"] < 1000
    assert storm["precipitation"] > 20 and storm["cloud_cover"] == 100
    assert far["weather_code"] in (0, 1, 3) and far["visibility"] > 20_000
    assert answers[core]["current"]["time"] == "2026-11-21T10:00"

    before = field.storm_lon[0]
    field.advance(600)
    assert field.storm_lon[0] != before  # storms drift


def test_weather_sim_publishes_every_cell_keyed_like_streaming(settings):
    sim = WeatherSim(settings, FakeClock(start=START), seed=1)
    batch = next(sim.batches())
    assert len(batch.records) == len(grid_cells(settings.bbox, settings.weather_grid_deg))
    for key, value in batch.records[:: max(1, len(batch.records) // 50)]:
        obs = WeatherObservation.model_validate_json(value)
        assert key == obs.cell_id == cell_id(obs.cell_latitude, obs.cell_longitude, settings.weather_grid_deg)
        assert obs.observation_time == START and obs.source == "sim"
