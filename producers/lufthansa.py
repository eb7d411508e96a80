"""Lufthansa Open API: reference data and schedules; parser and the live / replay clients.

The API's JSON is converted from XML: wherever a list has one member it arrives as a bare object.
Every such position goes through :func:`producers.core.as_list`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from producers.core import RECORD_ERRORS, Batch, Clock, SourceClient, Stopped, as_list
from producers.http import (
    HttpClient,
    HttpError,
    OAuthToken,
    RateLimiter,
    Recorder,
    parse_recording_name,
)
from producers.replay import find_files, read_recording
from skyrisk.contracts import LH_REFERENCE, LH_SCHEDULES, ReferenceRecord, ScheduleJourney, ScheduleLeg, Source
from skyrisk.settings import Settings

log = logging.getLogger(__name__)

PAGE_LIMIT = 100
# Hard cap on the pages of one reference type per sweep (50,000 records): a server whose paging
# never ends must not spend the hourly call budget on one type and starve the schedules.
MAX_PAGES = 500
TOKEN_LIFETIME_S = 21_600.0
PLAN_LIMITS = ((1.0, 5), (3600.0, 1000))  # the public plan: about 5 calls a second, 1000 an hour
# What the client allows itself: below the plan, because the provider counts arrivals and the
# time between our charge and the request's arrival jitters (connection setup, a busy host).
CALL_LIMITS = ((1.0, 4), (3600.0, 950))
REFRESH_HOUR_UTC = 2  # references and schedules are refreshed nightly
LOOP_PAUSE_S = 60.0  # a looping replay of reference data re-sends it once a minute, not in a busy loop


@dataclass(frozen=True)
class ReferenceKind:
    endpoint: str  # path below /mds-references/ and the recording label
    type: str  # ReferenceRecord.type
    resource: str
    collection: str
    item: str
    code_field: str


REFERENCE_KINDS: dict[str, ReferenceKind] = {
    kind.endpoint: kind
    for kind in (
        ReferenceKind("countries", "country", "CountryResource", "Countries", "Country", "CountryCode"),
        ReferenceKind("cities", "city", "CityResource", "Cities", "City", "CityCode"),
        ReferenceKind("airports", "airport", "AirportResource", "Airports", "Airport", "AirportCode"),
        ReferenceKind("airlines", "airline", "AirlineResource", "Airlines", "Airline", "AirlineID"),
        ReferenceKind("aircraft", "aircraft", "AircraftResource", "AircraftSummaries", "AircraftSummary",
                      "AircraftCode"),
    )
}


# --- small helpers -------------------------------------------------------------------------
def text(value: Any) -> str | None:
    """A scalar that may come as a number or as ``{"$": ...}``."""
    if isinstance(value, dict):
        value = value.get("$")
    return None if value is None else str(value)


def names_by_language(names_node: Any) -> dict[str, str]:
    """``Names.Name``: one ``{"@LanguageCode","$"}`` object or a list of them."""
    names: dict[str, str] = {}
    for name in as_list(names_node.get("Name") if isinstance(names_node, dict) else None):
        if isinstance(name, dict) and name.get("$") is not None:
            names[str(name.get("@LanguageCode", "")).lower()] = str(name["$"])
    return names


def pick_name(names: dict[str, str], language: str = "en") -> str | None:
    """The name in ``language``, else English, else the first one given."""
    return names.get(language) or names.get("en") or next(iter(names.values()), None)


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def duration_minutes(iso: str) -> int:
    """ISO-8601 duration as minutes: ``PT9H54M`` -> 594, ``P1DT2H5M`` -> 1565."""
    match = _DURATION.match(iso.strip()) if isinstance(iso, str) else None
    if match is None or iso.strip() in ("P", "PT"):
        raise ValueError(f"not an ISO-8601 duration: {iso!r}")
    days, hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return int(round(days * 1440 + hours * 60 + minutes + seconds / 60))


def processing_error(payload: Any) -> str | None:
    """The API's error body ``{"ProcessingErrors": {"ProcessingError": ...}}`` as one line."""
    if not isinstance(payload, dict) or "ProcessingErrors" not in payload:
        return None
    errors = as_list((payload["ProcessingErrors"] or {}).get("ProcessingError"))
    parts = [
        f"{e.get('@Type', 'Error')} {e.get('Code', '')}: {text(e.get('Description')) or ''}".strip()
        for e in errors if isinstance(e, dict)
    ]
    return "; ".join(parts) or "ProcessingErrors without detail"


def coordinate(node: Any) -> tuple[float | None, float | None]:
    position = node.get("Position") if isinstance(node, dict) else None
    coord = (position or {}).get("Coordinate") or {}
    lat, lon = coord.get("Latitude"), coord.get("Longitude")
    return (None if lat is None else float(lat)), (None if lon is None else float(lon))


# --- reference data --------------------------------------------------------------------------
def reference_items(kind: ReferenceKind, payload: Any) -> list[Any]:
    """The page's items; TypeError when the page or its resource is not shaped as an object."""
    resource = _member(payload, kind.resource)
    return as_list(_member(resource, kind.collection).get(kind.item))


def _member(node: Any, name: str) -> dict[str, Any]:
    """``node[name]`` as an object ({} when absent); TypeError when either is something else."""
    if not isinstance(node, dict):
        raise TypeError(f"{type(node).__name__} where an object was expected")
    value = node.get(name) or {}
    if not isinstance(value, dict):
        raise TypeError(f"{name} is {type(value).__name__}, not an object")
    return value


class PagingError(ValueError):
    """The paging metadata cannot be followed (e.g. a next link whose offset is not an integer)."""


def _offset(value: Any, what: str) -> int:
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if text is None or not text.isdigit():
        raise PagingError(f"{what} {value!r} is not an integer >= 0")
    return int(text)


def next_offset(kind: ReferenceKind, payload: Any, offset: int, count: int) -> int | None:
    """Offset of the next page, from ``Meta.Link[@Rel=next]``, else from ``TotalCount``; None at the end
    (also when the page carries no usable metadata). PagingError when the metadata says there is a
    next page but not where."""
    resource = payload.get(kind.resource) if isinstance(payload, dict) else None
    meta = resource.get("Meta") if isinstance(resource, dict) else None
    if not isinstance(meta, dict):
        return None
    links = {link.get("@Rel"): link.get("@Href") for link in as_list(meta.get("Link")) if isinstance(link, dict)}
    if links:
        href = links.get("next")
        if not href or count == 0:
            return None
        try:
            query = parse_qs(urlsplit(str(href)).query)
        except ValueError as exc:
            raise PagingError(f"next link {href!r} is not a URL: {exc}") from None
        return _offset(query["offset"][0], "next link offset") if "offset" in query else offset + count
    total = meta.get("TotalCount")
    if total is not None and count > 0 and offset + count < _offset(total, "TotalCount"):
        return offset + count
    return None


def reference_record(kind: ReferenceKind, item: dict[str, Any], fetched: float, source: Source) -> ReferenceRecord:
    names = names_by_language(item.get("Names"))
    latitude, longitude = coordinate(item)
    airports = []
    if kind.type == "city":
        airports = [a for a in (text(code) for code in as_list((item.get("Airports") or {}).get("AirportCode"))) if a]
    return ReferenceRecord(
        source=source,
        type=kind.type,  # type: ignore[arg-type]
        code=text(item[kind.code_field]) or "",
        name=pick_name(names),
        names=names,
        country_code=text(item.get("CountryCode")),
        city_code=text(item.get("CityCode")),
        latitude=latitude,
        longitude=longitude,
        location_type=text(item.get("LocationType")),
        utc_offset=text(item.get("UtcOffset")),
        timezone_id=text(item.get("TimeZoneId")),
        airports=airports,
        icao_code=text(item.get("AirlineID_ICAO")),
        fetched_time=fetched,
    )


def parse_reference_page(kind: ReferenceKind, payload: Any, fetched: float, source: Source) -> Batch:
    batch = Batch(LH_REFERENCE)
    if not isinstance(payload, dict):
        batch.reject(f"{kind.endpoint} page is not an object but {type(payload).__name__}", payload, source,
                     key=kind.type)
        return batch
    if (error := processing_error(payload)) is not None:
        batch.reject(f"ProcessingErrors: {error}", payload, source, key=kind.type)
        return batch
    try:
        items = reference_items(kind, payload)
    except TypeError as exc:
        batch.reject(f"{kind.endpoint} page has an unexpected shape: {exc}", payload, source, key=kind.type)
        return batch
    for item in items:
        try:
            record = reference_record(kind, item, fetched, source)
            if not record.code:
                raise ValueError(f"empty {kind.code_field}")
        except RECORD_ERRORS as exc:
            batch.reject(f"invalid {kind.type}: {exc}".splitlines()[0], item, source)
            continue
        batch.add(record.key, record)
    return batch


# --- schedules -------------------------------------------------------------------------------
def schedule_leg(flight: dict[str, Any]) -> ScheduleLeg:
    departure, arrival = flight["Departure"], flight["Arrival"]
    details = flight.get("Details") or {}
    period = details.get("DatePeriod") or {}
    return ScheduleLeg(
        departure_airport=text(departure["AirportCode"]) or "",
        departure_local=text(departure["ScheduledTimeLocal"]["DateTime"]) or "",
        departure_terminal=text((departure.get("Terminal") or {}).get("Name")),
        arrival_airport=text(arrival["AirportCode"]) or "",
        arrival_local=text(arrival["ScheduledTimeLocal"]["DateTime"]) or "",
        arrival_terminal=text((arrival.get("Terminal") or {}).get("Name")),
        marketing_airline=text(flight["MarketingCarrier"]["AirlineID"]) or "",
        flight_number=int(flight["MarketingCarrier"]["FlightNumber"]),
        operating_airline=text((flight.get("OperatingCarrier") or {}).get("AirlineID")),
        aircraft_code=text((flight.get("Equipment") or {}).get("AircraftCode")),
        stops=int((details.get("Stops") or {}).get("StopQuantity") or 0),
        days_of_operation=text(details.get("DaysOfOperation")),
        effective=text(period.get("Effective")),
        expiration=text(period.get("Expiration")),
    )


def parse_schedules(payload: Any, origin: str, destination: str, query_date: str, fetched: float,
                    source: Source) -> Batch:
    """``ScheduleResource.Schedule`` (object or list), each with ``Flight`` legs (object or list)."""
    batch = Batch(LH_SCHEDULES)
    key = f"{origin}-{destination}-{query_date}"
    if not isinstance(payload, dict):
        batch.reject(f"schedules body is not an object but {type(payload).__name__}", payload, source, key=key)
        return batch
    if (error := processing_error(payload)) is not None:
        batch.reject(f"ProcessingErrors: {error}", payload, source, key=key)
        return batch
    try:
        schedules = as_list(_member(payload, "ScheduleResource").get("Schedule"))
    except TypeError as exc:
        batch.reject(f"schedules body has an unexpected shape: {exc}", payload, source, key=key)
        return batch
    for schedule in schedules:
        try:
            legs = [schedule_leg(flight) for flight in as_list(schedule["Flight"])]
            if not legs:
                raise ValueError("schedule without flights")
            duration = text(schedule["TotalJourney"]["Duration"]) or ""
            journey = ScheduleJourney(
                source=source,
                origin=origin,
                destination=destination,
                query_date=query_date,
                duration_iso=duration,
                duration_minutes=duration_minutes(duration),
                stops=len(legs) - 1 + sum(leg.stops for leg in legs),
                flight_numbers=[f"{leg.marketing_airline}{leg.flight_number}" for leg in legs],
                legs=legs,
                days_of_operation=legs[0].days_of_operation,
                effective=legs[0].effective,
                expiration=legs[0].expiration,
                fetched_time=fetched,
            )
        except RECORD_ERRORS as exc:
            batch.reject(f"invalid schedule: {exc}".splitlines()[0], schedule, source, key=key)
            continue
        batch.add(journey.key, journey)
    return batch


def parse_routes(spec: str) -> list[tuple[str, str]]:
    routes = []
    for part in spec.split(","):
        if part.strip():
            origin, _, destination = part.strip().upper().partition("-")
            if len(origin) != 3 or len(destination) != 3:
                raise ValueError(f"route {part!r} is not ORIGIN-DESTINATION (IATA codes)")
            routes.append((origin, destination))
    return routes


def schedule_pairs(routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Both directions of every configured route, each origin-destination pair once, in the
    configured order: ``FRA-JFK`` gives FRA->JFK and JFK->FRA (the return trips). A route configured
    both ways (``FRA-JFK,JFK-FRA``) is still fetched once each way; ``FRA-FRA`` is no route."""
    pairs: dict[tuple[str, str], None] = {}
    for origin, destination in routes:
        if origin != destination:
            pairs.setdefault((origin, destination))
            pairs.setdefault((destination, origin))
    return list(pairs)


def nightly_calls(routes: list[tuple[str, str]], horizon_days: int, reference_pages: int = 0) -> int:
    """Calls one nightly refresh spends (retries aside): one schedules call per origin-destination
    pair (every route in both directions) and day of the horizon, plus one call per reference page
    (100 records a page, every page of the five reference types)."""
    return len(schedule_pairs(routes)) * max(0, horizon_days) + max(0, reference_pages)


def sweep_hours(calls: int) -> float:
    """Hours a refresh of ``calls`` calls takes at the client's hourly limit (CALL_LIMITS)."""
    per_hour = dict(CALL_LIMITS)[3600.0]
    return calls / per_hour


def seconds_to_next_refresh(now: float) -> float:
    moment = datetime.fromtimestamp(now, UTC)
    refresh = moment.replace(hour=REFRESH_HOUR_UTC, minute=0, second=0, microsecond=0)
    if refresh <= moment:
        refresh += timedelta(days=1)
    return (refresh - moment).total_seconds()


# --- clients -----------------------------------------------------------------------------------
class LufthansaLive(SourceClient):
    """Every page of every reference type, then schedules of the configured routes in both
    directions; nightly."""

    name = "lufthansa"

    def __init__(self, settings: Settings, clock: Clock, http: HttpClient | None = None,
                 recorder: Recorder | None = None, today: date | None = None) -> None:
        if settings.lufthansa_client_id is None or settings.lufthansa_client_secret is None:
            raise ValueError("lufthansa live needs SKYRISK_LUFTHANSA_CLIENT_ID and SKYRISK_LUFTHANSA_CLIENT_SECRET")
        self.clock = clock
        self.http = http or HttpClient(clock)
        self.recorder = recorder
        self.base_url = settings.lufthansa_api_url.rstrip("/")
        self.token = OAuthToken(self.http, f"{self.base_url}/oauth/token", settings.lufthansa_client_id,
                                settings.lufthansa_client_secret, default_lifetime_s=TOKEN_LIFETIME_S)
        self.limiter = RateLimiter(clock, CALL_LIMITS)
        self.routes = parse_routes(settings.lufthansa_routes)
        self.pairs = schedule_pairs(self.routes)  # every route both ways: the return trips too
        self.horizon_days = settings.lufthansa_horizon_days
        self.today = today
        self.calls = 0
        self.paging_stopped = 0  # reference types whose paging was cut short (bad metadata, loop, cap)
        self.reference_pages = 0  # pages fetched in the current (or last) refresh
        schedule_calls = nightly_calls(self.routes, self.horizon_days)
        log.info("lufthansa live: %d routes in both directions (%d origin-destination pairs) x %d days = "
                 "%d schedule calls a night, plus one call per reference page (%d records a page, %d types); "
                 "at most %d calls an hour: the schedules alone take %.0f min of the budget",
                 len(self.routes), len(self.pairs), self.horizon_days, schedule_calls, PAGE_LIMIT,
                 len(REFERENCE_KINDS), dict(CALL_LIMITS)[3600.0], sweep_hours(schedule_calls) * 60)
        if sweep_hours(schedule_calls) > 24:
            log.warning("lufthansa live: %d schedule calls a night need %.1f h at %d calls an hour, more than "
                        "the day between two refreshes: fewer routes or SKYRISK_LUFTHANSA_HORIZON_DAYS",
                        schedule_calls, sweep_hours(schedule_calls), dict(CALL_LIMITS)[3600.0])

    def get(self, path: str, params: dict[str, Any] | None, record_as: str) -> tuple[int, Any, bytes]:
        # every attempt (retries too) is a call against the plan (CALL_LIMITS)
        response = self.http.request("GET", self.base_url + path, params=params, token=self.token,
                                     headers={"Accept": "application/json"}, before_attempt=self.limiter.acquire)
        self.calls += 1
        if self.recorder is not None:
            self.recorder.save(record_as, response.content)
        try:
            return response.status_code, orjson.loads(response.content), response.content
        except orjson.JSONDecodeError:
            return response.status_code, None, response.content

    def reference_batches(self, kind: ReferenceKind) -> Iterator[Batch]:
        """Every page of one reference type. Paging stops (one log line, counted in ``paging_stopped``)
        at metadata it cannot follow, at a next link to a page already fetched and after MAX_PAGES."""
        offset: int | None = 0
        fetched: set[int] = set()
        while offset is not None:
            if offset in fetched:
                self._stop_paging(kind, f"the next link points to offset {offset} again")
                return
            if len(fetched) >= MAX_PAGES:
                self._stop_paging(kind, f"stopped at the cap of {MAX_PAGES} pages ({MAX_PAGES * PAGE_LIMIT} records)")
                return
            fetched.add(offset)
            self.reference_pages += 1
            try:
                status, payload, raw = self.get(f"/mds-references/{kind.endpoint}",
                                                {"limit": PAGE_LIMIT, "offset": offset},
                                                f"lufthansa.{kind.endpoint}.{offset}")
            except HttpError as exc:
                yield Batch.rejected(LH_REFERENCE, f"{kind.endpoint} offset {offset}: {exc}", exc.body, "live")
                return
            if payload is None or (status != 200 and processing_error(payload) is None):
                yield Batch.rejected(LH_REFERENCE, f"{kind.endpoint} offset {offset}: HTTP {status}",
                                     raw.decode(errors="replace"), "live")
                return
            yield parse_reference_page(kind, payload, self.clock.now(), "live")
            try:
                offset = next_offset(kind, payload, offset, len(reference_items(kind, payload)))
            except TypeError:  # not a page at all: dead-lettered by parse_reference_page
                return
            except PagingError as exc:
                self._stop_paging(kind, str(exc))
                return

    def _stop_paging(self, kind: ReferenceKind, why: str) -> None:
        self.paging_stopped += 1
        log.warning("lufthansa %s paging stops: %s", kind.endpoint, why)

    def schedule_batches(self) -> Iterator[Batch]:
        first = self.today or datetime.fromtimestamp(self.clock.now(), UTC).date()
        for origin, destination in self.pairs:
            for day in range(self.horizon_days):
                query_date = (first + timedelta(days=day)).isoformat()
                try:
                    status, payload, raw = self.get(f"/operations/schedules/{origin}/{destination}/{query_date}",
                                                    None, f"lufthansa.schedules.{origin}.{destination}.{query_date}")
                except HttpError as exc:
                    yield Batch.rejected(LH_SCHEDULES, str(exc), exc.body, "live",
                                         key=f"{origin}-{destination}-{query_date}")
                    continue
                if payload is None:
                    yield Batch.rejected(LH_SCHEDULES, f"HTTP {status}, body is not JSON",
                                         raw.decode(errors="replace"), "live")
                    continue
                yield parse_schedules(payload, origin, destination, query_date, self.clock.now(), "live")

    def batches(self) -> Iterator[Batch]:
        while not self.clock.stopped:
            started, calls_before = self.clock.now(), self.calls  # a refresh's calls: nightly_calls(...)
            self.reference_pages = 0
            try:
                for kind in REFERENCE_KINDS.values():
                    yield from self.reference_batches(kind)
                yield from self.schedule_batches()
            except Stopped:
                return
            log.info("lufthansa refresh done: %d reference pages + %d schedule calls = %d calls in %.0f min",
                     self.reference_pages, nightly_calls(self.routes, self.horizon_days),
                     self.calls - calls_before, (self.clock.now() - started) / 60)
            self.clock.sleep(seconds_to_next_refresh(self.clock.now()))

    def status(self) -> str:
        return (f"calls={self.calls} calls_left_hour={self.limiter.left()[3600.0]} "
                f"paging_stopped={self.paging_stopped}")


def replay_batch(stem: str, payload: Any, fetched: float, source: Source) -> Batch | None:
    """A recorded response, told apart by its recording name: ``lufthansa.<endpoint>.<offset>`` or
    ``lufthansa.schedules.<origin>.<destination>.<date>``."""
    parts = stem.split(".")
    if len(parts) >= 2 and parts[0] == "lufthansa" and parts[1] in REFERENCE_KINDS:
        return parse_reference_page(REFERENCE_KINDS[parts[1]], payload, fetched, source)
    if len(parts) == 5 and parts[:2] == ["lufthansa", "schedules"]:
        return parse_schedules(payload, parts[2], parts[3], parts[4], fetched, source)
    return None


class LufthansaReplay(SourceClient):
    """Recorded Lufthansa responses in recording order (reference data: no pacing)."""

    name = "lufthansa"

    def __init__(self, path: Path, clock: Clock, *, loop: bool = False) -> None:
        self.files = [p for p in find_files(path, (".json", ".json.gz")) if parse_recording_name(p)]
        self.clock = clock
        self.loop = loop
        self.responses = 0
        self.bad_files = 0  # unreadable, truncated or not JSON: skipped

    def batches(self) -> Iterator[Batch]:
        while True:
            for path in self.files:
                if self.clock.stopped:
                    return
                stem, fetched = parse_recording_name(path)  # type: ignore[misc]
                raw = read_recording(path)  # None: truncated or not gzip, logged
                if raw is None:
                    self.bad_files += 1
                    continue
                try:
                    payload = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    self.bad_files += 1
                    log.error("skipping %s: not JSON (%s)", path, exc)
                    continue
                batch = replay_batch(stem, payload, fetched, "replay")
                if batch is None:
                    self.bad_files += 1
                    log.error("skipping %s: not a Lufthansa recording name", path)
                    continue
                self.responses += 1
                yield batch
            if not self.loop or self.clock.stopped:
                return
            self.clock.sleep(LOOP_PAUSE_S)

    def status(self) -> str:
        return f"responses={self.responses} bad_files={self.bad_files}"
