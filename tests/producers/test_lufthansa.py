"""Lufthansa: "object or list" everywhere, names, durations, errors, paging and pacing over HTTP."""

from __future__ import annotations

import logging
import shutil
from datetime import date

import pytest
from pydantic import SecretStr

from producers.core import as_list
from producers.http import HttpClient
from producers.lufthansa import (
    REFERENCE_KINDS,
    LufthansaLive,
    LufthansaReplay,
    duration_minutes,
    names_by_language,
    next_offset,
    nightly_calls,
    parse_reference_page,
    parse_routes,
    parse_schedules,
    pick_name,
    schedule_pairs,
    sweep_hours,
)
from skyrisk.contracts import LH_REFERENCE, LH_SCHEDULES, ReferenceRecord, ScheduleJourney
from tests.producers.helpers import DATA, FakeClock, Reply, Seen, load


def references(batch) -> dict[str, ReferenceRecord]:
    return {key: ReferenceRecord.model_validate_json(value) for key, value in batch.records}


def journeys(batch) -> list[tuple[str, ScheduleJourney]]:
    return [(key, ScheduleJourney.model_validate_json(value)) for key, value in batch.records]


# --- helpers --------------------------------------------------------------------------------------
def test_as_list_normalises_object_or_list():
    assert as_list(None) == []
    assert as_list({"a": 1}) == [{"a": 1}]
    assert as_list([{"a": 1}, {"a": 2}]) == [{"a": 1}, {"a": 2}]
    assert as_list("FRA") == ["FRA"]


def test_names_by_language_with_fallback():
    names = names_by_language({"Name": [{"@LanguageCode": "DE", "$": "München"}, {"@LanguageCode": "EN", "$": "Munich"}]})
    assert names == {"de": "München", "en": "Munich"}
    assert pick_name(names, "de") == "München"
    assert pick_name(names, "fr") == "Munich"  # no French: English
    assert pick_name({"de": "Zweibrücken"}, "fr") == "Zweibrücken"  # no English either: the first one
    assert pick_name({}) is None
    assert names_by_language({"Name": {"@LanguageCode": "EN", "$": "Frankfurt"}}) == {"en": "Frankfurt"}


@pytest.mark.parametrize(
    ("iso", "minutes"),
    [("PT9H54M", 594), ("P1DT2H5M", 1565), ("PT45M", 45), ("PT2H", 120), ("P2D", 2880), ("PT1H30M40S", 91)],
)
def test_iso_8601_durations_including_days(iso, minutes):
    assert duration_minutes(iso) == minutes


@pytest.mark.parametrize("bad", ["", "P", "PT", "9H54M", "PT9X", None])
def test_invalid_durations_are_refused(bad):
    with pytest.raises(ValueError):
        duration_minutes(bad)


def test_routes_setting():
    assert parse_routes("FRA-JFK, muc-lhr,") == [("FRA", "JFK"), ("MUC", "LHR")]
    with pytest.raises(ValueError):
        parse_routes("FRA-NEWYORK")


# --- reference pages ---------------------------------------------------------------------------------
def test_single_airport_sent_as_a_bare_object():
    batch = parse_reference_page(REFERENCE_KINDS["airports"], load("lh_airports_single.json"), 10.0, "live")
    (record,) = references(batch).values()
    assert [key for key, _ in batch.records] == ["airport:FRA"]
    assert (record.code, record.name, record.names) == ("FRA", "Frankfurt/Main International",
                                                        {"en": "Frankfurt/Main International"})
    assert (record.city_code, record.country_code, record.location_type) == ("FRA", "DE", "Airport")
    assert (record.latitude, record.longitude, record.utc_offset, record.timezone_id) == (
        50.0333, 8.5706, "+01:00", "Europe/Berlin")
    assert record.fetched_time == 10.0 and batch.topic is LH_REFERENCE


def test_airport_list_with_name_lists_and_fallback():
    records = references(parse_reference_page(REFERENCE_KINDS["airports"], load("lh_airports_list.json"), 0, "live"))
    assert records["airport:MUC"].name == "Munich International"
    assert records["airport:MUC"].names["de"] == "München Franz Josef Strauß"
    assert records["airport:MUC"].utc_offset == "1"
    assert records["airport:ZQW"].name == "Zweibrücken"  # only a German name


def test_city_airports_as_string_or_list():
    records = references(parse_reference_page(REFERENCE_KINDS["cities"], load("lh_cities.json"), 0, "live"))
    assert records["city:FRA"].airports == ["FRA"]
    assert records["city:LON"].airports == ["LCY", "LGW", "LHR", "LTN", "STN"]
    assert records["city:LON"].names == {"en": "London", "fr": "Londres"}


def test_country_airline_and_aircraft_pages():
    country = references(parse_reference_page(REFERENCE_KINDS["countries"], load("lh_countries.json"), 0, "live"))
    assert country["country:DE"].name == "Germany"
    airlines = references(parse_reference_page(REFERENCE_KINDS["airlines"], load("lh_airlines.json"), 0, "live"))
    assert airlines["airline:LH"].icao_code == "DLH" and airlines["airline:LX"].icao_code == "SWR"
    aircraft = references(parse_reference_page(REFERENCE_KINDS["aircraft"], load("lh_aircraft.json"), 0, "live"))
    assert aircraft["aircraft:359"].name == "Airbus A350-900"


def test_processing_errors_body_is_dead_lettered():
    batch = parse_reference_page(REFERENCE_KINDS["airports"], load("lh_processing_error.json"), 0, "live")
    assert batch.records == []
    assert batch.dead_letters[0].reason == "ProcessingErrors: BusinessError NO_FLIGHTS_FOUND: Flight not found"


def test_next_offset_from_links_or_total_count():
    kind = REFERENCE_KINDS["airports"]
    linked = {"AirportResource": {"Meta": {"Link": [
        {"@Rel": "self", "@Href": "https://x/v1/mds-references/airports?limit=100&offset=100"},
        {"@Rel": "next", "@Href": "https://x/v1/mds-references/airports?limit=100&offset=200"}]}}}
    assert next_offset(kind, linked, 100, 100) == 200
    last = {"AirportResource": {"Meta": {"Link": {"@Rel": "self", "@Href": "https://x/?offset=200"}}}}  # bare object
    assert next_offset(kind, last, 200, 37) is None
    counted = {"AirportResource": {"Meta": {"TotalCount": 250}}}
    assert next_offset(kind, counted, 200, 50) is None
    assert next_offset(kind, counted, 100, 100) == 200


# --- schedules ------------------------------------------------------------------------------------
def test_single_schedule_with_a_single_flight():
    ((key, journey),) = journeys(parse_schedules(load("lh_schedules_single.json"), "FRA", "JFK", "2026-11-21", 5.0,
                                                 "live"))
    assert key == "FRA-JFK-2026-11-21:LH400"
    assert (journey.duration_iso, journey.duration_minutes, journey.stops) == ("PT8H50M", 530, 0)
    assert journey.flight_numbers == ["LH400"]
    (leg,) = journey.legs
    assert (leg.departure_airport, leg.departure_local, leg.departure_terminal) == ("FRA", "2026-11-21T10:30", "1")
    assert (leg.arrival_airport, leg.arrival_local, leg.arrival_terminal) == ("JFK", "2026-11-21T13:20", "1")
    assert (leg.marketing_airline, leg.flight_number, leg.operating_airline, leg.aircraft_code) == (
        "LH", 400, "LH", "744")
    assert (journey.days_of_operation, journey.effective, journey.expiration) == ("1234567", "2026-10-25", "2027-03-27")


def test_schedule_list_with_multi_leg_journey_and_day_duration():
    (_, direct), (_, connecting) = journeys(parse_schedules(load("lh_schedules_multi.json"), "MUC", "SIN",
                                                            "2026-11-22", 0, "live"))
    assert direct.flight_numbers == ["LH778"] and direct.duration_minutes == 735
    assert connecting.duration_iso == "P1DT2H5M" and connecting.duration_minutes == 1565
    assert connecting.flight_numbers == ["LH772", "LH9772"]
    assert connecting.stops == 2  # one connection plus one technical stop on the first leg
    assert [leg.operating_airline for leg in connecting.legs] == ["LH", "TG"]
    assert connecting.legs[1].departure_local == "2026-11-23T17:05"


def test_schedule_processing_error_and_broken_journey():
    error = parse_schedules(load("lh_processing_error.json"), "FRA", "XXX", "2026-11-21", 0, "live")
    assert error.records == [] and error.dead_letters[0].key == "FRA-XXX-2026-11-21"
    assert error.topic is LH_SCHEDULES

    broken = load("lh_schedules_multi.json")
    broken["ScheduleResource"]["Schedule"][0]["TotalJourney"]["Duration"] = "9 hours"
    batch = parse_schedules(broken, "MUC", "SIN", "2026-11-22", 0, "live")
    assert len(batch.records) == 1 and "not an ISO-8601 duration" in batch.dead_letters[0].reason


# --- live client against a local server ----------------------------------------------------------------
def airport_item(index: int) -> dict:
    code = "".join(chr(65 + (index // 26**k) % 26) for k in (2, 1, 0))
    return {"AirportCode": code, "CityCode": code, "CountryCode": "DE", "LocationType": "Airport",
            "Position": {"Coordinate": {"Latitude": 50.0, "Longitude": 8.0}},
            "Names": {"Name": {"@LanguageCode": "EN", "$": f"Airport {code}"}}}


def airport_pages(total: int):
    """The API's paging: Meta.Link self/first/last, plus next except on the last page."""

    def reply(request: Seen) -> Reply:
        offset, limit = int(request.query["offset"][0]), int(request.query["limit"][0])
        items = [airport_item(i) for i in range(offset, min(total, offset + limit))]
        href = "https://api.lufthansa.com/v1/mds-references/airports/?limit={}&offset={}"
        links = [{"@Rel": "self", "@Href": href.format(limit, offset)}, {"@Rel": "first", "@Href": href.format(limit, 0)}]
        if offset + limit < total:
            links.append({"@Rel": "next", "@Href": href.format(limit, offset + limit)})
        links.append({"@Rel": "last", "@Href": href.format(limit, (total - 1) // limit * limit)})
        body = {"AirportResource": {"Airports": {"Airport": items[0] if len(items) == 1 else items},
                                    "Meta": {"@Version": "1.0.0", "Link": links, "TotalCount": total}}}
        return Reply(200, body)

    return reply


@pytest.fixture
def lh_settings(settings, api):
    return settings.model_copy(update={
        "lufthansa_api_url": api.url + "/v1", "lufthansa_client_id": "skyrisk",
        "lufthansa_client_secret": SecretStr("lh-secret"), "lufthansa_routes": "FRA-JFK,MUC-LHR",
        "lufthansa_horizon_days": 3,
    })


def test_references_are_paged_to_the_last_page(lh_settings, api, clock):
    api.add("POST", "/v1/oauth/token", Reply(200, {"access_token": "lh-tok", "token_type": "bearer",
                                                   "expires_in": 21600}))
    api.always("GET", "/v1/mds-references/airports", airport_pages(201))  # 100 + 100 + a bare object
    client = LufthansaLive(lh_settings, clock, HttpClient(clock))

    batches = list(client.reference_batches(REFERENCE_KINDS["airports"]))

    keys = [key for b in batches for key, _ in b.records]
    assert len(keys) == 201 == len(set(keys)) and keys[-1] == "airport:AHS"
    pages = api.requests_to("/v1/mds-references/airports")
    assert [p.query["offset"] for p in pages] == [["0"], ["100"], ["200"]]
    assert all(p.query["limit"] == ["100"] for p in pages)
    assert all(p.headers["Authorization"] == "Bearer lh-tok" and p.headers["Accept"] == "application/json"
               for p in pages)
    (token_call,) = api.requests_to("/v1/oauth/token")
    assert token_call.form == {"client_id": ["skyrisk"], "client_secret": ["lh-secret"],
                               "grant_type": ["client_credentials"]}


def test_401_refreshes_the_lufthansa_token(lh_settings, api, clock):
    api.add("POST", "/v1/oauth/token", Reply(200, {"access_token": "old", "expires_in": 21600}),
            Reply(200, {"access_token": "new", "expires_in": 21600}))
    api.add("GET", "/v1/mds-references/countries", Reply(401, {"error": "expired"}), Reply(200, load("lh_countries.json")))
    client = LufthansaLive(lh_settings, clock, HttpClient(clock))
    (batch,) = list(client.reference_batches(REFERENCE_KINDS["countries"]))
    assert [k for k, _ in batch.records] == ["country:DE"]
    assert [r.headers["Authorization"] for r in api.requests_to("/v1/mds-references/countries")] == [
        "Bearer old", "Bearer new"]


def test_schedules_for_routes_in_both_directions_over_the_horizon_paced_under_five_calls_a_second(
        lh_settings, api, clock):
    api.always("POST", "/v1/oauth/token", Reply(200, {"access_token": "t", "expires_in": 21600}))
    api.always("GET", "/v1/operations/schedules/FRA/JFK/2026-11-21", Reply(200, load("lh_schedules_single.json")))
    for day in ("2026-11-22", "2026-11-23"):
        api.always("GET", f"/v1/operations/schedules/FRA/JFK/{day}", Reply(404, load("lh_processing_error.json")))
    for day in ("2026-11-21", "2026-11-22", "2026-11-23"):
        for origin, destination in (("JFK", "FRA"), ("MUC", "LHR"), ("LHR", "MUC")):
            api.always("GET", f"/v1/operations/schedules/{origin}/{destination}/{day}",
                       Reply(200, load("lh_schedules_single.json")))
    client = LufthansaLive(lh_settings, clock, HttpClient(clock), today=date(2026, 11, 21))

    batches = list(client.schedule_batches())

    assert len(batches) == 12 == nightly_calls(client.routes, 3)  # 2 routes x 2 directions x 3 days
    asked = [r.path.removeprefix("/v1/operations/schedules/") for r in api.seen if "/schedules/" in r.path]
    assert asked == [f"{pair}/2026-11-{day}" for pair in ("FRA/JFK", "JFK/FRA", "MUC/LHR", "LHR/MUC")
                     for day in (21, 22, 23)]
    keys = [key for b in batches for key, _ in b.records]
    assert keys == ["FRA-JFK-2026-11-21:LH400"] + [f"{pair}-2026-11-{day}:LH400" for pair in ("JFK-FRA", "MUC-LHR",
                                                                                              "LHR-MUC")
                                                   for day in (21, 22, 23)]
    assert sum(len(b.dead_letters) for b in batches) == 2  # the two ProcessingErrors answers
    assert clock.sleeps == [pytest.approx(1.0)] * 2  # the 5th and 9th calls wait: at most 4 in any second
    assert "calls_left_hour=938" in client.status()


def test_schedule_pairs_are_every_route_both_ways_once():
    assert schedule_pairs([("FRA", "JFK"), ("MUC", "LHR")]) == [("FRA", "JFK"), ("JFK", "FRA"), ("MUC", "LHR"),
                                                                ("LHR", "MUC")]
    # configured both ways, or twice: still one call per direction; FRA-FRA is no route
    assert schedule_pairs([("FRA", "JFK"), ("JFK", "FRA"), ("FRA", "JFK"), ("FRA", "FRA")]) == [("FRA", "JFK"),
                                                                                                ("JFK", "FRA")]


def test_calls_a_night_are_routes_times_two_directions_times_days_plus_reference_pages(settings):
    routes = parse_routes(settings.lufthansa_routes)
    assert len(routes) == 22 and settings.lufthansa_horizon_days == 7  # the defaults
    assert nightly_calls(routes, 7) == 22 * 2 * 7 == 308
    assert nightly_calls(routes, 7, reference_pages=5) == 313  # five types of one page each
    assert nightly_calls([("FRA", "JFK"), ("JFK", "FRA")], 3, 2) == 2 * 3 + 2
    assert nightly_calls(routes, 0) == 0
    assert sweep_hours(950) == pytest.approx(1.0)  # at CALL_LIMITS' 950 calls an hour


def test_the_live_client_logs_its_calls_a_night_at_start(lh_settings, caplog):
    caplog.set_level(logging.INFO, logger="producers.lufthansa")
    LufthansaLive(lh_settings, FakeClock())
    (line,) = [r.getMessage() for r in caplog.records if "calls a night" in r.getMessage()]
    assert "2 routes in both directions (4 origin-destination pairs) x 3 days = 12 schedule calls a night" in line
    assert "plus one call per reference page" in line and "at most 950 calls an hour" in line


def test_a_nightly_refresh_spends_the_calls_it_announced_and_logs_them(lh_settings, api, clock, caplog):
    caplog.set_level(logging.INFO, logger="producers.lufthansa")
    api.always("POST", "/v1/oauth/token", Reply(200, {"access_token": "t", "expires_in": 21600}))
    api.always("GET", "/v1/mds-references/airports", airport_pages(201))  # 3 pages
    for kind in ("countries", "cities", "airlines", "aircraft"):  # one page each
        api.always("GET", f"/v1/mds-references/{kind}", Reply(200, load(f"lh_{kind}.json")))
    client = LufthansaLive(lh_settings, clock, HttpClient(clock), today=date(2026, 11, 21))
    sleep = clock.sleep

    def sleep_until_the_next_night_stops(seconds: float) -> None:
        sleep(seconds)
        if seconds > 3600:  # one refresh done
            clock.stop()

    clock.sleep = sleep_until_the_next_night_stops
    list(client.batches())

    gets = [r for r in api.seen if r.method == "GET"]
    assert len(gets) == nightly_calls(client.routes, 3, reference_pages=7) == 19  # 4 pairs x 3 days + 7 pages
    (line,) = [r.getMessage() for r in caplog.records if "refresh done" in r.getMessage()]
    assert "7 reference pages + 12 schedule calls = 19 calls" in line


def test_a_horizon_the_hourly_budget_cannot_fetch_in_a_day_is_warned_about(lh_settings, caplog):
    caplog.set_level(logging.INFO, logger="producers.lufthansa")
    LufthansaLive(lh_settings.model_copy(update={"lufthansa_horizon_days": 7}), FakeClock())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    LufthansaLive(lh_settings.model_copy(update={"lufthansa_routes": ",".join(f"FRA-A{i:02d}" for i in range(40)),
                                                 "lufthansa_horizon_days": 360}), FakeClock())
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "28800 schedule calls a night need 30.3 h" in warning and "more than the day" in warning


def test_a_call_is_charged_when_it_is_sent_not_before_a_slow_token_fetch(lh_settings, api, clock):
    # the token endpoint makes the client wait 3 s: the charge must come after that wait, or the
    # limiter would count the call 3 s earlier than it reached the provider
    api.add("POST", "/v1/oauth/token", Reply(429, {"error": "slow down"}, {"Retry-After": "3"}))
    api.always("POST", "/v1/oauth/token", Reply(200, {"access_token": "t", "expires_in": 21600}))
    api.always("GET", "/v1/mds-references/countries", Reply(200, load("lh_countries.json")))
    client = LufthansaLive(lh_settings, clock, HttpClient(clock))

    (batch,) = list(client.reference_batches(REFERENCE_KINDS["countries"]))

    assert [k for k, _ in batch.records] == ["country:DE"]
    assert clock.sleeps == [pytest.approx(3.0)]
    assert client.limiter.used(1.0) == 1  # charged after the 3 s wait, i.e. still inside the last second


def test_live_needs_credentials(settings):
    with pytest.raises(ValueError, match="LUFTHANSA_CLIENT_ID"):
        LufthansaLive(settings, FakeClock())


def test_replay_of_recorded_lufthansa_responses(tmp_path):
    names = {
        "lh_airports_single.json": "lufthansa.airports.0__20261121T020000000Z.json",
        "lh_cities.json": "lufthansa.cities.0__20261121T020001000Z.json",
        "lh_schedules_multi.json": "lufthansa.schedules.MUC.SIN.2026-11-22__20261121T020002000Z.json",
        "lh_processing_error.json": "lufthansa.schedules.FRA.XXX.2026-11-22__20261121T020003000Z.json",
    }
    for source, target in names.items():
        shutil.copy(DATA / source, tmp_path / target)
    batches = list(LufthansaReplay(tmp_path, FakeClock()).batches())
    assert [key for b in batches for key, _ in b.records] == [
        # the recording holds two MUC-SIN journeys that day: direct LH778, and LH772 + LH9772 via BKK
        "airport:FRA", "city:FRA", "city:LON", "MUC-SIN-2026-11-22:LH778", "MUC-SIN-2026-11-22:LH772+LH9772"]
    assert batches[0].topic is LH_REFERENCE and batches[2].topic is LH_SCHEDULES
    assert len(batches[3].dead_letters) == 1
    assert references(batches[0])["airport:FRA"].fetched_time == 1795226400.0  # 2026-11-21T02:00Z
