"""Pure logic of the Lufthansa route search: journeys to table rows, durations, days of operation."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from skyrisk.contracts import ScheduleJourney

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # Lufthansa digits 1..7
ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


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


@dataclass(frozen=True)
class JourneyRow:
    flights: str
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


def journey_row(journey: ScheduleJourney, icao_of_airline: Mapping[str, str]) -> JourneyRow:
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


def journey_rows(documents: Iterable[Mapping[str, Any]], icao_of_airline: Mapping[str, str]) -> list[JourneyRow]:
    """Rows sorted by departure, duplicates (same flights, same departure) dropped."""
    rows: dict[tuple[str, str, str], JourneyRow] = {}
    for doc in documents:
        journey = ScheduleJourney.model_validate({k: v for k, v in doc.items() if k != "_id"})
        row = journey_row(journey, icao_of_airline)
        rows.setdefault((row.flights, row.departure_date, row.departure_time), row)
    return sorted(rows.values(), key=lambda r: (r.departure_date, r.departure_time, r.flights))
