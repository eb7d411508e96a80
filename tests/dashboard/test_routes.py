"""Route search: the search rules (city codes, directions, non-stop, the fetched days), journeys to
rows (single-leg, multi-leg, over a day, From/To and terminals) and input validation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dashboard.routes import destination_options, origin_options, search
from dashboard.routes import (
    airport_pairs,
    city_airports,
    date_problem,
    days_of_operation,
    find_journeys,
    format_duration,
    is_nonstop,
    iso_duration_minutes,
    journey_rows,
    known_locations,
    location_airports,
    location_label,
    return_direction,
    round_trip,
    search_window,
)
from skyrisk.contracts import ScheduleJourney
from tests.dashboard import seed
from tests.dashboard.fakes import FakeData

ICAO = {"LH": "DLH"}


@pytest.mark.parametrize(("text", "minutes"), [("PT9H54M", 594), ("P1DT2H5M", 1565), ("PT45M", 45), ("P2D", 2880),
                                               ("PT", None), ("9H", None), ("", None)])
def test_iso_durations(text, minutes):
    assert iso_duration_minutes(text) == minutes


def test_durations_over_a_day_show_the_days():
    assert format_duration(594) == "9 h 54 min"
    assert format_duration(1565) == "1 d 02 h 05 min"
    assert format_duration(2 * 1440) == "2 d 00 h 00 min"


def test_days_of_operation():
    assert days_of_operation("1234567") == "daily"
    assert days_of_operation("135") == "Mon Wed Fri"
    assert days_of_operation(" 2 4 6 ") == "Tue Thu Sat"
    assert days_of_operation(None) == "-"


def test_single_leg_search_lists_the_seeded_flights_in_departure_order():
    rows, error = search(FakeData(), seed.SEARCH_FROM, seed.SEARCH_TO, seed.TODAY.isoformat())
    assert error is None
    assert [r.flights for r in rows] == list(seed.SEEDED_ROUTE_FLIGHTS)
    first = rows[0]
    assert (first.departure_date, first.departure_time, first.arrival_time) == (seed.TODAY.isoformat(), "10:05", "12:55")
    assert (first.duration, first.stops, first.aircraft, first.days) == ("8 h 50 min", "non-stop", "748", "daily")
    assert rows[1].days == "Mon Wed Fri"


def test_multi_leg_journey_over_a_day():
    rows, error = search(FakeData(), seed.MULTI_LEG_FROM, seed.MULTI_LEG_TO, seed.TODAY.isoformat())
    assert error is None and len(rows) == 1
    row = rows[0]
    assert row.flights == "LH 101 + LH 400"
    assert row.stops == "1 connection via FRA"
    assert row.duration == "1 d 02 h 05 min"
    assert row.arrival_date == (seed.TODAY + timedelta(days=1)).isoformat()
    assert row.aircraft == "32N, 748"
    assert row.callsigns == ("DLH101", "DLH400")


def test_a_route_without_flights_that_day_returns_no_rows():
    rows, error = search(FakeData(), seed.EMPTY_FROM, seed.EMPTY_TO, seed.TODAY.isoformat())
    assert (rows, error) == ([], None)


def test_an_airborne_flight_is_found_by_its_icao_callsign():
    row = journey_rows(seed.schedules()[:1], ICAO)[0]
    assert row.airborne_icao24({"DLH400": "3c6444"}) == "3c6444"
    assert row.airborne_icao24({"DLH123": "3c4b26"}) is None


@pytest.mark.parametrize(
    ("origin", "destination", "day"),
    [
        ({"$ne": None}, "JFK", "2026-11-21"),  # operator injection
        ("FRA", {"$regex": ".*"}, "2026-11-21"),
        (".*", "JFK", "2026-11-21"),  # regex payload
        ("FRA", "^J", "2026-11-21"),
        ("XXX", "JFK", "2026-11-21"),  # well-formed but unknown
        ("FRA", "ZZZ", "2026-11-21"),
        ("FRA", "JFK", {"$gt": ""}),
        ("FRA", "JFK", "2026-02-30"),
        ("FRA", "JFK", "tomorrow"),
        (None, None, None),
    ],
)
def test_invalid_input_never_reaches_the_database(origin, destination, day):
    data = FakeData()
    rows, error = search(data, origin, destination, day)
    assert rows == [] and error
    assert data.queries == []


@pytest.mark.parametrize(("origin", "destination"), [("JFK", "MUC"), ("LON", "MUC"), ("FRA", "LGW")])
def test_known_codes_without_a_route_have_no_flights_and_cost_no_query(origin, destination):
    data = FakeData()
    assert search(data, origin, destination, seed.TODAY.isoformat()) == ([], None)
    assert data.queries == []


def test_destinations_depend_on_the_origin_and_carry_names():
    reference = FakeData().reference()
    # the airports served from FRA, and the cities holding them (JFK is in NYC; LHR and LCY in LON)
    assert [o["value"] for o in destination_options(reference, "FRA")] == ["JFK", "LCY", "LHR", "LON", "MUC", "NYC"]
    assert destination_options(reference, "MUC")[0]["label"] == "John F. Kennedy International (JFK)"
    assert destination_options(reference, {"$ne": None}) == []
    assert {o["value"] for o in origin_options(reference)} == {"FRA", "MUC", "JFK", "LHR", "LCY", "NYC", "LON"}
    # from a city: what any of its airports serves
    assert [o["value"] for o in destination_options(reference, "LON")] == ["FRA"]


# --- the search rules ------------------------------------------------------------------------------
def test_a_city_code_stands_for_its_airports_from_both_sources():
    reference = FakeData().reference()
    # LON: the city record's airports (LTN and STN are known only from there) and the airports whose city_code is LON
    assert location_airports(reference, "LON") == list(seed.CITY_AIRPORTS)
    assert location_airports(reference, "NYC") == ["JFK"]  # NYC lists none: JFK names it as its city
    assert location_airports(reference, "FRA") == ["FRA"]  # an airport code is the airport
    assert location_airports(reference, "XXX") == [] and location_airports(reference, None) == []
    assert {"LON", "NYC"} <= known_locations(reference)


def test_city_index_merges_city_records_and_airport_city_codes():
    airports = {"LHR": {"city_code": "LON"}, "LCY": {"city_code": "LON"}, "FRA": {"city_code": "FRA"},
                "XYZ": {"city_code": None}}
    cities = {"LON": {"airports": ["LHR", "STN"]}, "PAR": {"airports": ["CDG", "ORY"]}, "BER": {},
              "ROM": {"airports": "FCO"}}  # a bare string: one airport, not three letters
    assert city_airports(airports, cities) == {"LON": ["LCY", "LHR", "STN"], "PAR": ["CDG", "ORY"], "BER": [],
                                               "ROM": ["FCO"], "FRA": ["FRA"]}


def test_only_airport_pairs_with_schedules_are_asked():
    reference = FakeData().reference()
    assert airport_pairs(reference, "FRA", "LON") == [("FRA", "LCY"), ("FRA", "LHR")]  # not LGW, LTN, STN
    assert airport_pairs(reference, "LON", "FRA") == [("LCY", "FRA"), ("LHR", "FRA")]
    assert airport_pairs(reference, "FRA", "NYC") == [("FRA", "JFK")]
    assert airport_pairs(reference, "LON", "MUC") == []


def test_the_return_trip_goes_back_from_the_destination_to_the_origin():
    assert return_direction("FRA", "LON") == ("LON", "FRA")


def test_search_window_is_today_to_the_last_fetched_day():
    today = date(2026, 12, 4)
    assert search_window(today, 7) == (today, date(2026, 12, 10))
    assert search_window(today, 1) == (today, today)
    assert search_window(today, 0) == (today, today)
    window = search_window(today, 7)
    assert date_problem(today, window) is None and date_problem(date(2026, 12, 10), window) is None
    assert "2026-12-04 to 2026-12-10" in date_problem(date(2026, 12, 11), window)
    assert date_problem(date(2026, 12, 3), window) is not None


def test_non_stop_means_one_flight_without_any_stop():
    docs = {tuple(d["flight_numbers"]): ScheduleJourney.model_validate({k: v for k, v in d.items() if k != "_id"})
            for d in seed.schedules()}
    assert is_nonstop(docs[("LH900",)])
    assert not is_nonstop(docs[("LH96", "LH2470")])  # a connection
    technical = docs[("LH900",)].model_copy(update={"legs": [docs[("LH900",)].legs[0].model_copy(update={"stops": 1})]})
    assert not is_nonstop(technical)  # one flight number, but a technical stop


def test_a_city_search_finds_every_airport_of_the_city():
    rows, error = search(FakeData(), seed.CITY_FROM, seed.CITY_TO, seed.TODAY.isoformat())
    assert error is None
    assert [r.flights for r in rows] == list(seed.SEEDED_CITY_FLIGHTS)
    assert {r.destination for r in rows} == {"London Heathrow (LHR)", "London City (LCY)"}


def test_rows_show_from_and_to_with_names_and_terminals():
    rows, _ = search(FakeData(), seed.CITY_FROM, seed.CITY_TO, seed.TODAY.isoformat())
    row = next(r for r in rows if r.flights == "LH 900")
    assert (row.origin, row.departure_terminal) == ("Frankfurt/Main International (FRA)", seed.CITY_TERMINALS["LH 900"][0])
    assert (row.destination, row.arrival_terminal) == ("London Heathrow (LHR)", seed.CITY_TERMINALS["LH 900"][1])
    lcy = next(r for r in rows if r.flights == "LH 920")
    assert lcy.arrival_terminal == "-"  # not sent
    unnamed = journey_rows(seed.schedules()[:1], ICAO)[0]  # no names known: the codes
    assert (unnamed.origin, unnamed.destination) == ("FRA", "JFK")


def test_non_stop_filter_hides_connections_and_says_how_many():
    result = find_journeys(FakeData(), seed.CITY_FROM, seed.CITY_TO, seed.TODAY.isoformat(), nonstop_only=True)
    assert [r.flights for r in result.rows] == list(seed.SEEDED_CITY_NONSTOP) and result.hidden == 1
    multi = find_journeys(FakeData(), seed.MULTI_LEG_FROM, seed.MULTI_LEG_TO, seed.TODAY.isoformat(), nonstop_only=True)
    assert (multi.rows, multi.error, multi.hidden) == ([], None, 1)


def test_round_trip_finds_the_return_flights():
    outbound, inbound = round_trip(FakeData(), seed.SEARCH_FROM, seed.SEARCH_TO, seed.TODAY.isoformat(),
                                   seed.RETURN_DAY.isoformat(), today=seed.TODAY)
    assert [r.flights for r in outbound.rows] == list(seed.SEEDED_ROUTE_FLIGHTS)
    assert inbound is not None and inbound.error is None
    assert [r.flights for r in inbound.rows] == list(seed.SEEDED_RETURN_FLIGHTS)
    assert (inbound.origin, inbound.destination, inbound.day) == (seed.SEARCH_TO, seed.SEARCH_FROM, seed.RETURN_DAY)
    assert inbound.rows[0].arrival_date == (seed.RETURN_DAY + timedelta(days=1)).isoformat()


def test_round_trip_of_a_city_comes_back_from_any_of_its_airports():
    _, inbound = round_trip(FakeData(), seed.CITY_FROM, seed.CITY_TO, seed.TODAY.isoformat(),
                            seed.RETURN_DAY.isoformat(), today=seed.TODAY)
    assert [r.flights for r in inbound.rows] == list(seed.SEEDED_CITY_RETURN)
    assert inbound.pairs == (("LCY", "FRA"), ("LHR", "FRA"))


@pytest.mark.parametrize(("departure", "back", "error"), [
    (0, None, None),  # no return date: no return search
    (1, 0, "on or after departure"),
    (0, "2026-02-30", "on or after departure"),
    (0, 7, "only: choose a date in that range"),  # the day after the 7 fetched days
    (7, None, "only: choose a date in that range"),
    (-1, None, "only: choose a date in that range"),
])
def test_dates_outside_the_fetched_days_or_before_departure_are_refused(departure, back, error):
    day = lambda n: (seed.TODAY + timedelta(days=n)).isoformat() if isinstance(n, int) else n  # noqa: E731
    data = FakeData()
    outbound, inbound = round_trip(data, seed.SEARCH_FROM, seed.SEARCH_TO, day(departure), day(back), today=seed.TODAY)
    problems = [r.error for r in (outbound, inbound) if r is not None and r.error]
    if error is None:
        assert inbound is None and problems == []
    else:
        assert len(problems) == 1 and error in problems[0]
    assert all(q[3] <= seed.TODAY + timedelta(days=6) for q in data.queries if q[0] == "schedules")


def test_labels_tell_a_city_from_an_airport():
    reference = FakeData().reference()
    assert location_label(reference, "LHR") == "London Heathrow (LHR)"
    assert location_label(reference, "LON") == "London, all airports (LON)"
    assert location_label(reference, "FRA") == "Frankfurt/Main International (FRA)"
