"""OpenSky Network state vectors: parser, credit budget, and the live / replay / simulator clients."""

from __future__ import annotations

import csv
import gzip
import heapq
import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from producers.core import RECORD_ERRORS, Batch, Clock, SourceClient, Stopped
from producers.http import HttpClient, HttpError, OAuthToken, Recorder
from producers.replay import UNREADABLE, ReplayPacer, find_files, read_recording
from skyrisk.contracts import FLIGHT_STATES, FlightState, Source
from skyrisk.settings import Settings

log = logging.getLogger(__name__)

DAILY_CREDITS = {"anonymous": 400, "standard": 4000, "feeder": 8000}
RESOLUTION_S = {"anonymous": 10.0, "authenticated": 5.0}  # newer data than this does not exist
STATE_FIELDS_BASE, STATE_FIELDS_EXTENDED = 17, 18

# ICAO 24-bit address blocks (ICAO Annex 10 vol. III): the country of registration of an airframe,
# needed for historical CSV rows (which lack origin_country) and by the simulator.
ICAO24_BLOCKS: tuple[tuple[int, int, str], ...] = (
    (0x100000, 0x1FFFFF, "Russian Federation"),
    (0x300000, 0x33FFFF, "Italy"),
    (0x340000, 0x37FFFF, "Spain"),
    (0x380000, 0x3BFFFF, "France"),
    (0x3C0000, 0x3FFFFF, "Germany"),
    (0x400000, 0x43FFFF, "United Kingdom"),
    (0x440000, 0x447FFF, "Austria"),
    (0x448000, 0x44FFFF, "Belgium"),
    (0x458000, 0x45FFFF, "Denmark"),
    (0x460000, 0x467FFF, "Finland"),
    (0x468000, 0x46FFFF, "Greece"),
    (0x470000, 0x477FFF, "Hungary"),
    (0x478000, 0x47FFFF, "Norway"),
    (0x480000, 0x487FFF, "Kingdom of the Netherlands"),
    (0x488000, 0x48FFFF, "Poland"),
    (0x490000, 0x497FFF, "Portugal"),
    (0x498000, 0x49FFFF, "Czech Republic"),
    (0x4A8000, 0x4AFFFF, "Sweden"),
    (0x4B0000, 0x4B7FFF, "Switzerland"),
    (0x4B8000, 0x4BFFFF, "Turkey"),
    (0x4CA000, 0x4CAFFF, "Ireland"),
    (0x780000, 0x7BFFFF, "China"),
    (0x896000, 0x896FFF, "United Arab Emirates"),
    (0xA00000, 0xAFFFFF, "United States"),
    (0xC00000, 0xC3FFFF, "Canada"),
)


def country_of_icao24(icao24: str) -> str:
    try:
        address = int(icao24, 16)
    except ValueError:
        return "Unknown"
    for low, high, country in ICAO24_BLOCKS:
        if low <= address <= high:
            return country
    return "Unknown"


# --- credit budget ---------------------------------------------------------------------------
def credit_cost(bbox: tuple[float, float, float, float] | None) -> int:
    """Credits one /states/all call costs, by the box area in square degrees (None = global)."""
    if bbox is None:
        return 4
    lamin, lomin, lamax, lomax = bbox
    area = (lamax - lamin) * (lomax - lomin)
    if area <= 25:
        return 1
    if area <= 100:
        return 2
    if area <= 400:
        return 3
    return 4


def effective_tier(settings: Settings) -> str:
    return settings.opensky_tier if settings.has_live_credentials else "anonymous"


def poll_interval_s(bbox: tuple[float, float, float, float] | None, tier: str) -> float:
    """Seconds between polls so a whole day of polling stays within the tier's daily credits."""
    resolution = RESOLUTION_S["anonymous" if tier == "anonymous" else "authenticated"]
    return max(resolution, 86_400 * credit_cost(bbox) / DAILY_CREDITS[tier])


def seconds_to_utc_midnight(now: float) -> float:
    moment = datetime.fromtimestamp(now, UTC)
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - moment).total_seconds()


def paced_interval_s(base_interval: float, cost: int, remaining: int | None, now: float) -> float:
    """Stretch the interval when the credits left (``X-Rate-Limit-Remaining``) can't last the day at
    the base pace. Assumes the daily budget renews at 00:00 UTC."""
    if remaining is None:
        return base_interval
    left = seconds_to_utc_midnight(now)
    if remaining < cost:
        return max(base_interval, left)
    return max(base_interval, left * cost / remaining)


# --- parsing -----------------------------------------------------------------------------------
def clean_callsign(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    return raw.strip() or None


def parse_states_response(payload: Any, source: Source, shift_s: float = 0.0) -> Batch:
    """One ``/states/all`` response -> one FlightState per row that has a position.

    Rows have 17 or 18 items (the 18th, category, only with extended=1); ``states`` is null when
    empty; rows without longitude/latitude are skipped and counted; a malformed row goes to the
    dead-letter topic and never stops the rest.
    """
    batch = Batch(FLIGHT_STATES)
    if not isinstance(payload, dict) or not isinstance(payload.get("time"), (int, float)):
        batch.reject("response is not an object with a numeric 'time'", payload, source)
        return batch
    snapshot_time = payload["time"] + shift_s
    states = payload.get("states")
    if states is not None and not isinstance(states, list):  # e.g. "states": 5 would stop the poller
        batch.reject(f"'states' is not a list but {type(states).__name__}", payload, source)
        return batch
    for row in states or ():
        if not isinstance(row, list) or len(row) not in (STATE_FIELDS_BASE, STATE_FIELDS_EXTENDED):
            batch.reject(f"state vector must have 17 or 18 items, got {_size(row)}", row, source)
            continue
        if row[5] is None or row[6] is None:
            batch.skipped += 1
            continue
        try:
            last_contact = row[4] + shift_s
            time_position = row[3]
            state = FlightState(
                source=source,
                icao24=row[0],
                callsign=clean_callsign(row[1]),
                origin_country=row[2],
                event_time=last_contact if time_position is None else time_position + shift_s,
                snapshot_time=snapshot_time,
                last_contact=last_contact,
                longitude=row[5],
                latitude=row[6],
                baro_altitude=row[7],
                on_ground=row[8],
                velocity=row[9],
                true_track=row[10],
                vertical_rate=row[11],
                geo_altitude=row[13],
                squawk=row[14],
                spi=bool(row[15]),
                position_source=row[16] if row[16] is not None else 0,
                category=row[17] if len(row) == STATE_FIELDS_EXTENDED else None,
            )
        except RECORD_ERRORS as exc:
            batch.reject(f"invalid state vector: {_first_error(exc)}", row, source,
                         key=row[0] if isinstance(row[0], str) else None)
            continue
        batch.add(state.icao24, state)
    return batch


CSV_COLUMNS = (
    "time", "icao24", "lat", "lon", "velocity", "heading", "vertrate", "callsign", "onground",
    "alert", "spi", "squawk", "baroaltitude", "geoaltitude", "lastposupdate", "lastcontact",
)


def _number(text: str | None) -> float | None:
    return None if text is None or text == "" else float(text)


def _time(text: str | None) -> float | None:
    """A CSV ``time`` as a finite number, else None."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _flag(text: str | None) -> bool:
    return (text or "").strip().lower() == "true"


def parse_csv_row(row: dict[str, str], source: Source, shift_s: float = 0.0) -> FlightState | None:
    """One row of OpenSky's historical state-vector CSV; None when it has no position."""
    lat, lon = _number(row["lat"]), _number(row["lon"])
    if lat is None or lon is None:
        return None
    snapshot = _time(row["time"])
    if snapshot is None:
        raise ValueError(f"time {row['time']!r} is not a number")
    snapshot += shift_s
    last_contact = _number(row["lastcontact"])
    last_position = _number(row["lastposupdate"])
    last_contact = snapshot if last_contact is None else last_contact + shift_s
    return FlightState(
        source=source,
        icao24=row["icao24"],
        callsign=clean_callsign(row["callsign"]),
        origin_country=country_of_icao24(row["icao24"]),
        event_time=last_contact if last_position is None else last_position + shift_s,
        snapshot_time=snapshot,
        last_contact=last_contact,
        longitude=lon,
        latitude=lat,
        baro_altitude=_number(row["baroaltitude"]),
        geo_altitude=_number(row["geoaltitude"]),
        on_ground=_flag(row["onground"]),
        velocity=_number(row["velocity"]),
        true_track=_number(row["heading"]),
        vertical_rate=_number(row["vertrate"]),
        squawk=row["squawk"] or None,
        spi=_flag(row["spi"]),
    )


def _size(row: Any) -> str:
    return str(len(row)) if isinstance(row, list) else type(row).__name__


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(map(str, error['loc']))}: {error['msg']}"
    return str(exc)


# --- clients -----------------------------------------------------------------------------------
class OpenSkyLive(SourceClient):
    """Polls ``/states/all`` for the configured box within the account's daily credit budget."""

    name = "opensky"

    def __init__(self, settings: Settings, clock: Clock, http: HttpClient | None = None,
                 recorder: Recorder | None = None) -> None:
        self.clock = clock
        self.http = http or HttpClient(clock)
        self.recorder = recorder
        self.url = settings.opensky_api_url.rstrip("/") + "/states/all"
        self.bbox = settings.bbox
        self.token: OAuthToken | None = None
        if settings.has_live_credentials:
            assert settings.opensky_client_id is not None and settings.opensky_client_secret is not None
            self.token = OAuthToken(self.http, settings.opensky_token_url, settings.opensky_client_id,
                                    settings.opensky_client_secret, default_lifetime_s=1800)
        self.tier = effective_tier(settings)
        self.cost = credit_cost(self.bbox)
        self.base_interval = poll_interval_s(self.bbox, self.tier)
        self.interval = self.base_interval
        self.remaining: int | None = None
        self.polls = 0
        log.info("opensky live: %s tier, %d credits per call, polling every %.1f s",
                    self.tier, self.cost, self.base_interval)

    def poll(self) -> Batch:
        lamin, lomin, lamax, lomax = self.bbox
        try:
            response = self.http.request("GET", self.url, token=self.token,
                                         params={"lamin": lamin, "lomin": lomin, "lamax": lamax, "lomax": lomax,
                                                 "extended": 1})  # extended adds the aircraft category
        except HttpError as exc:
            return Batch.rejected(FLIGHT_STATES, str(exc), exc.body, "live")
        self.polls += 1
        remaining = response.headers.get("X-Rate-Limit-Remaining")
        if remaining is not None and remaining.strip().lstrip("-").isdigit():
            self.remaining = int(remaining)
        self.interval = paced_interval_s(self.base_interval, self.cost, self.remaining, self.clock.now())
        if self.recorder is not None:
            self.recorder.save("opensky.states", response.content)
        if response.status_code != 200:
            return Batch.rejected(FLIGHT_STATES, f"HTTP {response.status_code}", response.text, "live")
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            return Batch.rejected(FLIGHT_STATES, f"response is not JSON: {exc}", response.text, "live")
        return parse_states_response(payload, "live")

    def batches(self) -> Iterator[Batch]:
        while not self.clock.stopped:
            started = self.clock.now()
            try:
                yield self.poll()
            except Stopped:
                return
            self.clock.sleep(started + self.interval - self.clock.now())

    def status(self) -> str:
        left = "?" if self.remaining is None else str(self.remaining)
        return f"credits_left={left} cost={self.cost} interval={self.interval:.0f}s"


class OpenSkyReplay(SourceClient):
    """Recorded ``/states/all`` responses (JSON, plain or gz) and historical ``states_*.csv[.gz]``,
    merged in event-time order."""

    name = "opensky"
    SUFFIXES = (".json", ".json.gz", ".csv", ".csv.gz")

    def __init__(self, path: Path, clock: Clock, *, speed: float = 1.0, loop: bool = False,
                 shift_to_now: bool = False) -> None:
        self.files = find_files(path, self.SUFFIXES)
        self.clock = clock
        self.pacer = ReplayPacer(clock, speed)
        self.loop = loop
        self.shift_to_now = shift_to_now
        self.snapshots_played = 0
        self.bad_files = 0  # skipped whole or in part: unreadable, truncated, not JSON

    def _json_snapshots(self, files: list[Path]) -> Iterator[tuple[float, Any]]:
        for path in files:
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
            at = payload.get("time") if isinstance(payload, dict) else None
            yield (float(at) if isinstance(at, (int, float)) else -math.inf), payload

    def _csv_snapshots(self, path: Path) -> Iterator[tuple[float, Any]]:
        """Rows grouped into one snapshot per ``time`` value (the files are written in time order).

        A row whose ``time`` is not a number stays in the current snapshot, where it is
        dead-lettered; a file that cannot be read on (a field over csv's 128 KiB limit, a truncated
        gzip) keeps the snapshots read so far and skips the rest with one log line.
        """
        group: list[dict[str, str]] = []
        current: str | None = None
        at = -math.inf
        line = 0
        try:
            opener = gzip.open(path, "rt", newline="") if path.name.endswith(".gz") else open(path, newline="")
            with opener as handle:
                reader = csv.DictReader(handle)
                for row in reader:
                    line = reader.line_num
                    stamp = row.get("time")
                    value = _time(stamp)
                    if value is not None and stamp != current:
                        if group:
                            yield at, group
                            group = []
                        current, at = stamp, value
                    group.append(row)
        except (csv.Error, UnicodeDecodeError, *UNREADABLE) as exc:
            self.bad_files += 1
            log.error("skipping the rest of %s after line %d: %s: %s", path, line, type(exc).__name__, exc)
        if group:
            yield at, group

    def _snapshots(self) -> Iterator[tuple[float, Any]]:
        json_files = [p for p in self.files if ".json" in p.name]
        streams = [self._json_snapshots(json_files)]
        streams += [self._csv_snapshots(p) for p in self.files if ".csv" in p.name]
        return heapq.merge(*streams, key=lambda item: item[0])

    def _batch(self, snapshot: Any, shift_s: float) -> Batch:
        if isinstance(snapshot, list):  # CSV rows
            batch = Batch(FLIGHT_STATES)
            for row in snapshot:
                try:
                    state = parse_csv_row(row, "replay", shift_s)
                except RECORD_ERRORS as exc:
                    batch.reject(f"invalid CSV row: {_first_error(exc)}", row, "replay", key=row.get("icao24"))
                    continue
                if state is None:
                    batch.skipped += 1
                else:
                    batch.add(state.icao24, state)
            return batch
        return parse_states_response(snapshot, "replay", shift_s)

    def batches(self) -> Iterator[Batch]:
        while True:
            self.pacer.restart()
            for at, snapshot in self._snapshots():
                if self.clock.stopped:
                    return
                self.pacer.wait_for(at)
                # each snapshot stamped with the time it is sent, so at any --speed event times stay
                # at the wall clock (a faster replay shifted once would run ahead of it, and the
                # streaming job rejects states from the future)
                shift_s = self.clock.now() - at if self.shift_to_now and math.isfinite(at) else 0.0
                self.snapshots_played += 1
                yield self._batch(snapshot, shift_s)
            if not self.loop or self.clock.stopped:
                return

    def status(self) -> str:
        return f"snapshots={self.snapshots_played} bad_files={self.bad_files}"

