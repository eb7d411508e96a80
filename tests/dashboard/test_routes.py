"""Route search: journeys to rows (single-leg, multi-leg, over a day) and input validation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard.pages.route_search import destination_options, origin_options, search
from dashboard.routes import days_of_operation, format_duration, iso_duration_minutes, journey_rows
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


@pytest.mark.parametrize(("origin", "destination"), [("FRA", "NYC"), ("JFK", "FRA")])
def test_known_codes_without_a_route_have_no_flights_and_cost_no_query(origin, destination):
    data = FakeData()
    assert search(data, origin, destination, seed.TODAY.isoformat()) == ([], None)
    assert data.queries == []


def test_destinations_depend_on_the_origin_and_carry_names():
    reference = FakeData().reference()
    assert [o["value"] for o in destination_options(reference, "FRA")] == ["JFK", "MUC"]
    assert destination_options(reference, "MUC")[0]["label"] == "John F. Kennedy International (JFK)"
    assert destination_options(reference, {"$ne": None}) == []
    assert {o["value"] for o in origin_options(reference)} == {"FRA", "MUC"}
