"""Open-Meteo: single-object and list answers, errors, chunked requests and location pacing."""

from __future__ import annotations

import shutil

import orjson

import pytest

from producers.http import HttpClient
from producers.core import Batch
from producers.weather import WeatherLive, WeatherReplay, parse_current_weather
from producers.weather_plan import MINUTE_LIMIT
from skyrisk.contracts import FLIGHT_STATES, WEATHER, WEATHER_VARIABLES, WeatherObservation
from tests.producers.helpers import DATA, FakeClock, Reply, Seen, load

QUARTER_PAST_TEN_UTC = 1795256100.0  # 2026-11-21T10:15Z


def observations(batch) -> list[WeatherObservation]:
    return [WeatherObservation.model_validate_json(value) for _, value in batch.records]


def test_single_object_answer_for_one_requested_cell():
    batch = parse_current_weather(load("open_meteo_single.json"), [("100:17", 50.25, 8.75)], 0.5, 1795256400.0, "live")
    ((key, _),) = batch.records
    (obs,) = observations(batch)
    assert key == "100:17" == obs.cell_id
    assert (obs.cell_latitude, obs.cell_longitude, obs.model_latitude, obs.model_longitude) == (50.25, 8.75, 50.0, 8.5)
    assert obs.observation_time == QUARTER_PAST_TEN_UTC and obs.fetched_time == 1795256400.0
    assert (obs.temperature_2m, obs.relative_humidity_2m, obs.wind_speed_10m, obs.wind_direction_10m) == (
        6.4, 87, 14.8, 245)
    assert (obs.wind_gusts_10m, obs.precipitation, obs.rain, obs.cloud_cover) == (31.3, 0.2, 0.2, 100)
    assert (obs.weather_code, obs.visibility) == (61, 8400.0)


def test_list_answer_maps_to_cells_in_request_order_and_utc():
    cells = [("105:26", 52.75, 13.25), ("97:4", 48.75, 2.25)]
    berlin, paris = observations(parse_current_weather(load("open_meteo_list.json"), cells, 0.5, 0.0, "live"))
    assert (berlin.cell_id, berlin.weather_code, berlin.wind_gusts_10m) == ("105:26", 3, 45.0)
    assert (paris.cell_id, paris.weather_code, paris.visibility) == ("97:4", 97, 1800.0)
    # Paris answered in local time (11:15, offset 3600 s): the same instant as Berlin's 10:15 GMT.
    assert berlin.observation_time == paris.observation_time == QUARTER_PAST_TEN_UTC


def test_without_requested_cells_the_model_point_picks_the_cell():
    berlin, paris = observations(parse_current_weather(load("open_meteo_list.json"), None, 0.5, 0.0, "replay"))
    assert (berlin.cell_id, berlin.cell_latitude, berlin.cell_longitude) == ("105:26", 52.75, 13.25)
    assert paris.cell_id == "97:4"


def test_answer_count_mismatch_and_error_bodies_are_dead_lettered():
    mismatch = parse_current_weather(load("open_meteo_list.json"), [("105:26", 52.75, 13.25)], 0.5, 0.0, "live")
    assert mismatch.records == [] and mismatch.dead_letters[0].reason == "2 answers for 1 requested points"

    error = parse_current_weather(load("open_meteo_error_400.json"), [("1:1", 0.75, 0.75)], 0.5, 0.0, "live")
    assert error.records == []
    assert error.dead_letters[0].reason == "Open-Meteo error: Latitude must be in range of -90 to 90°. Given: 95.0."
    assert error.dead_letters[0].source_topic == WEATHER.name


def test_one_broken_answer_does_not_lose_the_others():
    answers = load("open_meteo_list.json")
    del answers[0]["current"]
    batch = parse_current_weather(answers, [("105:26", 52.75, 13.25), ("97:4", 48.75, 2.25)], 0.5, 0.0, "live")
    assert [key for key, _ in batch.records] == ["97:4"] and len(batch.dead_letters) == 1


def answer_every_point(request: Seen) -> Reply:
    lats = request.query["latitude"][0].split(",")
    lons = request.query["longitude"][0].split(",")
    one = load("open_meteo_single.json")
    answers = [{**one, "latitude": float(lat), "longitude": float(lon)} for lat, lon in zip(lats, lons)]
    return Reply(200, answers[0] if len(answers) == 1 else answers)


def live(settings, api, clock, bbox, chunk):
    configured = settings.model_copy(update={"open_meteo_url": api.url + "/v1/forecast", "bbox": bbox,
                                             "weather_grid_deg": 0.5})
    return WeatherLive(configured, clock, HttpClient(clock), chunk_locations=chunk)


def flight_states(*positions: tuple[float, float, float]) -> Batch:
    """A flight-state batch as the OpenSky source publishes it: (latitude, longitude, altitude) each."""
    batch = Batch(FLIGHT_STATES)
    batch.records = [(f"{i:06x}", orjson.dumps({"latitude": lat, "longitude": lon, "baro_altitude": alt,
                                               "on_ground": False})) for i, (lat, lon, alt) in enumerate(positions)]
    return batch


def test_live_without_traffic_requests_the_grid_airports_first_in_multi_location_chunks(settings, api, clock):
    api.always("GET", "/v1/forecast", answer_every_point)
    client = live(settings, api, clock, (50.0, 8.0, 51.0, 9.5), chunk=4)  # 2 rows x 3 columns; FRA in 100:17

    batches = []
    for batch in client.batches():
        batches.append(batch)
        if len(batches) == 2:
            break

    first, second = api.requests_to("/v1/forecast")
    assert first.query["latitude"] == ["50.2500,50.2500,50.2500,50.7500"]
    assert first.query["longitude"] == ["8.7500,8.2500,9.2500,8.2500"]
    assert first.query["current"] == [",".join(WEATHER_VARIABLES)]
    assert second.query["latitude"] == ["50.7500,50.7500"]  # the last chunk: two points, answered as a list
    keys = [key for b in batches for key, _ in b.records]
    assert keys == ["100:17", "100:16", "100:18", "101:16", "101:17", "101:18"]


def test_live_fetches_where_the_flight_states_of_the_process_put_aircraft_first(settings, api, clock):
    api.always("GET", "/v1/forecast", answer_every_point)
    client = live(settings, api, clock, (40.0, 0.0, 60.0, 16.5), chunk=100)  # 40 x 33 = 1,320 cells
    client.observe(flight_states((48.6, 2.2, 11_000.0), (52.3, 13.3, 900.0), (52.4, 13.4, 1_200.0)))

    first = next(iter(client.batches()))
    assert [key for key, _ in first.records][:2] == ["104:26", "97:4"]  # Berlin's two low aircraft, then Paris


def test_live_spends_a_day_of_quota_over_a_day_never_above_the_minute_limit(settings, api, clock):
    seen: list[tuple[float, int]] = []

    def counted(request: Seen) -> Reply:
        seen.append((clock.now(), request.query["latitude"][0].count(",") + 1))
        return answer_every_point(request)

    api.always("GET", "/v1/forecast", counted)
    client = live(settings, api, clock, (40.0, 0.0, 60.0, 16.5), chunk=100)
    start = clock.now()
    for _ in client.batches():
        if clock.now() - start >= 86_400:
            break
    locations = sum(n for _, n in seen)
    assert 9_000 <= locations <= settings.open_meteo_daily_locations
    per_minute: dict[int, int] = {}
    for at, n in seen:
        per_minute[int((at - start) // 60)] = per_minute.get(int((at - start) // 60), 0) + n
    assert max(per_minute.values()) <= MINUTE_LIMIT


def test_live_429_waits_and_400_is_dead_lettered(settings, api, clock):
    error = (DATA / "open_meteo_error_400.json").read_bytes()
    api.add("GET", "/v1/forecast", Reply(429, {"error": True, "reason": "Too many requests"}, {"Retry-After": "5"}),
            answer_every_point, Reply(400, error))
    client = live(settings, api, clock, (50.0, 8.0, 50.5, 9.0), chunk=1)  # 2 cells, one request each
    ok, bad = client.fetch_chunk([client.cells["100:16"]]), client.fetch_chunk([client.cells["100:17"]])
    assert clock.sleeps == [5.0]
    assert [k for k, _ in ok.records] == ["100:16"]
    assert bad.records == [] and "Latitude must be in range" in bad.dead_letters[0].reason


def test_replay_of_recorded_weather(settings, tmp_path):
    shutil.copy(DATA / "open_meteo_list.json", tmp_path / "weather.current__20261121T101600000Z.json")
    (batch,) = list(WeatherReplay(tmp_path, settings, FakeClock(), speed=0).batches())
    berlin, paris = observations(batch)
    assert berlin.fetched_time == 1795256160.0  # from the recording's name
    assert (berlin.source, berlin.cell_id, paris.cell_id) == ("replay", "52:13", "48:2")  # the 1° grid
