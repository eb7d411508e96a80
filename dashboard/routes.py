"""Pure logic of the Lufthansa route search: the search rules (what a code stands for, which
airport pairs are asked, the return direction, the non-stop filter, the dates that can be asked),
journeys to table rows, durations, days of operation.

``reference`` below is :meth:`dashboard.data.DashboardData.reference`: ``airports`` and ``cities``
(ReferenceRecord documents by code), ``city_airports`` (city code -> its airports, from
:func:`city_airports`), ``routes`` (schedule origin -> destinations), ``icao_of_airline``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from dashboard import inputs
from skyrisk.contracts import ScheduleJourney

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # Lufthansa digits 1..7
ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")
NONSTOP = "nonstop"  # the value of the "Non-stop only" checkbox


class RouteData(Protocol):
    """What the search needs of :class:`dashboard.data.DashboardData`."""

    settings: Any

    def reference(self) -> dict[str, Any]: ...

    def schedules(self, origin: str, destination: str, day: date) -> list[dict[str, Any]]: ...


# --- the search rules ---------------------------------------------------------------------------
def utc_today() -> date:
    """The producers fetch schedules from the UTC date of their nightly run on."""
    return datetime.now(UTC).date()


def search_window(today: date, horizon_days: int) -> tuple[date, date]:
    """The days whose schedules are fetched: today .. today + horizon_days - 1 (at least today)."""
    return today, today + timedelta(days=max(1, horizon_days) - 1)


def date_problem(day: date, window: tuple[date, date]) -> str | None:
    """Why ``day`` cannot be searched (outside the fetched days), or None."""
    first, last = window
    if first <= day <= last:
        return None
    return (f"Schedules are fetched for {first.isoformat()} to {last.isoformat()} only: "
            "choose a date in that range.")


def city_airports(airports: Mapping[str, Mapping[str, Any]],
                  cities: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """City code -> its airports: the city record's ``airports`` and every airport whose
    ``city_code`` is the city (either may be missing in the reference data)."""
    members: dict[str, set[str]] = {}
    for code, city in cities.items():
        listed = city.get("airports") or ()
        listed = [listed] if isinstance(listed, str) else listed  # ReferenceRecord sends a list; be safe
        members.setdefault(code, set()).update(a for a in listed if isinstance(a, str))
    for code, airport in airports.items():
        city_code = airport.get("city_code")
        if isinstance(city_code, str) and city_code:
            members.setdefault(city_code, set()).add(code)
    return {city: sorted(codes) for city, codes in members.items()}


def _city_index(reference: Mapping[str, Any]) -> Mapping[str, list[str]]:
    index = reference.get("city_airports")
    return index if index is not None else city_airports(reference["airports"], reference["cities"])


def schedule_endpoints(reference: Mapping[str, Any]) -> set[str]:
    """Every airport a schedule leaves from or goes to."""
    routes = reference["routes"]
    return set(routes).union(*routes.values()) if routes else set()


def is_airport(reference: Mapping[str, Any], code: str) -> bool:
    routes = reference["routes"]
    return code in reference["airports"] or code in routes or any(code in d for d in routes.values())


def location_airports(reference: Mapping[str, Any], code: str | None) -> list[str]:
    """The airports a code stands for. An airport code (reference airport or schedule endpoint)
    stands for itself, even when a city has the same code (FRA is the airport); any other city
    code for all its airports (LON -> LCY, LGW, LHR, LTN, STN); an unknown code for none."""
    if not code:
        return []
    if is_airport(reference, code):
        return [code]
    return list(_city_index(reference).get(code, []))


def known_locations(reference: Mapping[str, Any]) -> set[str]:
    """Every code the user may name: reference airports and cities (also a city known only from
    its airports' city code), and every schedule endpoint."""
    return set(reference["airports"]) | set(reference["cities"]) | set(_city_index(reference)) | \
        schedule_endpoints(reference)


def airport_pairs(reference: Mapping[str, Any], origin: str, destination: str) -> list[tuple[str, str]]:
    """The (origin airport, destination airport) pairs with schedules between what the two codes
    stand for; a pair without any schedule is never asked (no query)."""
    routes = reference["routes"]
    destinations = location_airports(reference, destination)
    return [(o, d) for o in location_airports(reference, origin) for d in destinations
            if o != d and d in routes.get(o, ())]


def return_direction(origin: str, destination: str) -> tuple[str, str]:
    """The return trip goes from the outbound's destination back to its origin (city codes stay
    city codes: FRA -> LON comes back LON -> FRA, i.e. from any London airport)."""
    return destination, origin


def is_nonstop(journey: ScheduleJourney) -> bool:
    """One flight and no stop at all (neither a connection nor a technical stop)."""
    return len(journey.legs) == 1 and journey.stops == 0 and journey.legs[0].stops == 0


def cities_holding(reference: Mapping[str, Any], airports: Collection[str]) -> set[str]:
    """The city codes (that are not themselves airports) with at least one of ``airports``."""
    wanted, airport_codes = set(airports), set(reference["airports"]) | schedule_endpoints(reference)
    return {city for city, members in _city_index(reference).items()
            if city not in airport_codes and wanted.intersection(members)}


def location_label(reference: Mapping[str, Any], code: str) -> str:
    """``Frankfurt/Main International (FRA)``; a city code: ``London, all airports (LON)``."""
    if is_airport(reference, code):
        return f"{(reference['airports'].get(code) or {}).get('name') or code} ({code})"
    return f"{(reference['cities'].get(code) or {}).get('name') or code}, all airports ({code})"


def _options(reference: Mapping[str, Any], codes: Iterable[str]) -> list[dict[str, str]]:
    options = [{"label": location_label(reference, code), "value": code} for code in set(codes)]
    return sorted(options, key=lambda o: o["label"])


def origin_options(reference: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every schedule origin, and every city holding one."""
    origins = set(reference["routes"])
    return _options(reference, origins | cities_holding(reference, origins))


def destination_options(reference: Mapping[str, Any], origin: Any) -> list[dict[str, str]]:
    """Destinations served from what ``origin`` stands for, and the cities holding them (an unknown
    or malformed origin has none)."""
    origin_code = inputs.location_code(origin, known_locations(reference))
    routes = reference["routes"]
    served = {d for o in location_airports(reference, origin_code) for d in routes.get(o, ())}
    return _options(reference, (served | cities_holding(reference, served)) - {origin_code})


def iso_duration_minutes(text: str) -> int | None:
    """``PT9H54M`` -> 594, ``P1DT2H5M`` -> 1565; None when not an ISO day/hour/minute duration."""
    match = ISO_DURATION.fullmatch(text or "")
    if not match or not any(match.groups()):
        return None
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    return days * 1440 + hours * 60 + minutes


def format_duration(minutes: int) -> str:
    """``1565`` -> ``1 d 02 h 05 min``; under a day -> ``9 h 54 min``."""
    days, rest = divmod(int(minutes), 1440)
    hours, mins = divmod(rest, 60)
    return f"{days} d {hours:02d} h {mins:02d} min" if days else f"{hours} h {mins:02d} min"


def days_of_operation(digits: str | None) -> str:
    """``"1234567"`` -> ``daily``; ``"135"`` -> ``Mon Wed Fri``."""
    if not digits:
        return "-"
    days = sorted({int(c) for c in digits if c in "1234567"})
    if len(days) == 7:
        return "daily"
    return " ".join(WEEKDAYS[d - 1] for d in days) or "-"


def split_local(local: str) -> tuple[str, str]:
    """``2026-11-21T09:40`` -> (``2026-11-21``, ``09:40``)."""
    date_part, _, time_part = local.partition("T")
    return date_part, time_part[:5]


def airport_label(names: Mapping[str, str], code: str) -> str:
    """``Frankfurt/Main International (FRA)``, or only the code when its name is not known."""
    name = names.get(code)
    return f"{name} ({code})" if name else code


@dataclass(frozen=True)
class JourneyRow:
    flights: str
    origin: str  # the first leg's departure airport: name (code)
    departure_terminal: str
    destination: str  # the last leg's arrival airport
    arrival_terminal: str
    departure_date: str
    departure_time: str
    arrival_date: str
    arrival_time: str
    duration: str
    stops: str
    aircraft: str
    days: str
    callsigns: tuple[str, ...]  # ICAO callsigns of the legs (DLH400), to find them on the live map

    def airborne_icao24(self, airborne: Mapping[str, str]) -> str | None:
        """The icao24 of the first leg flying right now (``airborne``: callsign -> icao24)."""
        return next((airborne[c] for c in self.callsigns if c in airborne), None)


def journey_row(journey: ScheduleJourney, icao_of_airline: Mapping[str, str],
                airport_names: Mapping[str, str] | None = None) -> JourneyRow:
    names = airport_names or {}
    first, last = journey.legs[0], journey.legs[-1]
    dep_date, dep_time = split_local(first.departure_local)
    arr_date, arr_time = split_local(last.arrival_local)
    minutes = journey.duration_minutes or iso_duration_minutes(journey.duration_iso) or 0
    connections = [leg.arrival_airport for leg in journey.legs[:-1]]
    technical = sum(leg.stops for leg in journey.legs)
    if connections:
        stops = f"{len(connections)} connection{'s' if len(connections) > 1 else ''} via {', '.join(connections)}"
    else:
        stops = "non-stop"
    if technical:
        stops += f" + {technical} technical stop{'s' if technical > 1 else ''}"
    callsigns = tuple(
        f"{icao_of_airline[leg.marketing_airline]}{leg.flight_number}"
        for leg in journey.legs
        if leg.marketing_airline in icao_of_airline
    )
    return JourneyRow(
        flights=" + ".join(f"{leg.marketing_airline} {leg.flight_number}" for leg in journey.legs),
        origin=airport_label(names, first.departure_airport),
        departure_terminal=first.departure_terminal or "-",
        destination=airport_label(names, last.arrival_airport),
        arrival_terminal=last.arrival_terminal or "-",
        departure_date=dep_date,
        departure_time=dep_time,
        arrival_date=arr_date,
        arrival_time=arr_time,
        duration=format_duration(minutes),
        stops=stops,
        aircraft=", ".join(dict.fromkeys(leg.aircraft_code or "?" for leg in journey.legs)),
        days=days_of_operation(journey.days_of_operation or first.days_of_operation),
        callsigns=callsigns,
    )


def journey_rows(documents: Iterable[Mapping[str, Any]], icao_of_airline: Mapping[str, str],
                 airport_names: Mapping[str, str] | None = None, *, nonstop_only: bool = False) -> list[JourneyRow]:
    """Rows sorted by departure, duplicates (same flights, same departure) dropped; with
    ``nonstop_only`` only the journeys without any stop (:func:`is_nonstop`)."""
    rows: dict[tuple[str, str, str], JourneyRow] = {}
    for doc in documents:
        journey = ScheduleJourney.model_validate({k: v for k, v in doc.items() if k != "_id"})
        if nonstop_only and not is_nonstop(journey):
            continue
        row = journey_row(journey, icao_of_airline, airport_names)
        rows.setdefault((row.flights, row.departure_date, row.departure_time), row)
    return sorted(rows.values(), key=lambda r: (r.departure_date, r.departure_time, r.flights))


# --- one search, and a round trip ---------------------------------------------------------------
@dataclass(frozen=True)
class SearchResult:
    rows: list[JourneyRow] = field(default_factory=list)
    error: str | None = None  # why nothing was searched (shown instead of the rows)
    hidden: int = 0  # journeys with a stop that the non-stop filter left out
    origin: str | None = None  # the codes searched (airport or city) and the day
    destination: str | None = None
    day: date | None = None
    pairs: tuple[tuple[str, str], ...] = ()  # the airport pairs asked


def find_journeys(data: RouteData, origin: Any, destination: Any, day: Any, *, nonstop_only: bool = False,
                  window: tuple[date, date] | None = None) -> SearchResult:
    """A validated search. Both codes must be known (an airport or a city, expanded to its airports),
    the date a real date inside ``window`` (default: the fetched days from today); only airport
    pairs with schedules are queried, so a pair of known codes without one costs no query."""
    reference = data.reference()
    known = known_locations(reference)
    origin_code = inputs.location_code(origin, known)
    if origin_code is None:
        return SearchResult(error="Choose a departure airport or city from the list.")
    destination_code = inputs.location_code(destination, known)
    if destination_code is None:
        return SearchResult(error="Choose a destination from the list.")
    if origin_code == destination_code:
        return SearchResult(error="Choose a destination other than the departure.")
    when = inputs.day(day)
    if when is None:
        return SearchResult(error="Choose a valid departure date.")
    window = window or search_window(utc_today(), data.settings.lufthansa_horizon_days)
    if (problem := date_problem(when, window)) is not None:
        return SearchResult(error=problem)
    pairs = tuple(airport_pairs(reference, origin_code, destination_code))
    documents = [doc for o, d in pairs for doc in data.schedules(o, d, when)]
    names = {code: doc["name"] for code, doc in reference["airports"].items() if doc.get("name")}
    icao = reference["icao_of_airline"]
    rows = journey_rows(documents, icao, names, nonstop_only=nonstop_only)
    hidden = len(journey_rows(documents, icao, names)) - len(rows) if nonstop_only else 0
    return SearchResult(rows, None, hidden, origin_code, destination_code, when, pairs)


def search(data: RouteData, origin: Any, destination: Any, day: Any, *,
           nonstop_only: bool = False) -> tuple[list[JourneyRow], str | None]:
    """:func:`find_journeys` as (rows, error)."""
    result = find_journeys(data, origin, destination, day, nonstop_only=nonstop_only)
    return result.rows, result.error


def round_trip(data: RouteData, origin: Any, destination: Any, departure: Any, back: Any, *,
               nonstop_only: bool = False, today: date | None = None) -> tuple[SearchResult, SearchResult | None]:
    """Outbound on ``departure`` and, when a return date is given, the return trip
    (:func:`return_direction`) on ``back``, which must be on or after departure and inside the
    fetched days too. No return search (None) without a return date or when the outbound is refused."""
    window = search_window(today or utc_today(), data.settings.lufthansa_horizon_days)
    outbound = find_journeys(data, origin, destination, departure, nonstop_only=nonstop_only, window=window)
    if back in (None, "") or outbound.error:
        return outbound, None
    return_day = inputs.day(back)
    if return_day is None or outbound.day is None or return_day < outbound.day:
        return outbound, SearchResult(error="The return date must be on or after departure.")
    back_from, back_to = return_direction(outbound.origin or "", outbound.destination or "")
    return outbound, find_journeys(data, back_from, back_to, back, nonstop_only=nonstop_only, window=window)
