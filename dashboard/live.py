"""Pure logic of the live map: snapshot arrays, dead reckoning, filters, viewport culling, low-zoom aggregation.

No I/O here. :class:`LiveSnapshot` holds ``flights_live`` as numpy columns (loaded by
:mod:`dashboard.data`); :func:`map_traces` turns a snapshot, the user's filters and the
visible viewport into the data arrays of the map's fixed traces, so the callback can send them
as a ``Patch`` without touching the layout (zoom, pan and selection survive every refresh).

Between two reports an aircraft is drawn where it is *now* by dead reckoning
(:func:`positions_at`: its last position flown on at its ground speed along its track for the
time since the report, at most :data:`skyrisk.geo.DEAD_RECKONING_CAP_S`); one whose report is
older than :data:`ESTIMATED_AFTER_S` is drawn as an estimate (hollow, ringed, "estimated
position" in the legend and its hover).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from _plotly_utils.utils import to_typed_array_spec

from skyrisk.geo import DEAD_RECKONING_CAP_S, dead_reckon, dead_reckon_arrays
from skyrisk.risk import assess_risk, risk_category
from skyrisk.vocabulary import (  # noqa: F401 - RISK_CATEGORIES and PHASES are this module's public names
    CLIMB_DESCENT,
    CRUISE,
    EMERGENCY,
    GROUND,
    HIGH,
    LOW,
    MEDIUM,
    PHASES,
    RISK_CATEGORIES,
    TAKEOFF_LANDING,
)

RISK_COLOURS = {LOW: "#2ca02c", MEDIUM: "#ff9f1c", HIGH: "#d62728"}
PHASE_COLOURS = {GROUND: "#8c8c8c", TAKEOFF_LANDING: "#9467bd", CLIMB_DESCENT: "#17becf", CRUISE: "#1f77b4"}
ANOMALY_COLOURS = {"normal": "#6baed6", "anomaly": "#e377c2"}
EMERGENCY_COLOUR = "#ff00ff"
ESTIMATED_RING_COLOUR = "#dfe7ef"  # the light ring around an estimated position (and its legend entry)
ESTIMATED_CENTRE_COLOUR = "#0f1923"  # the map's background: the hollow centre of an estimated marker
ESTIMATED_POSITION = "estimated position"  # the legend entry
ESTIMATED_CENTRE = "estimated centre"  # the trace of the hollow centres (no legend entry)

COLOUR_MODES: dict[str, tuple[tuple[str, str], ...]] = {
    "risk": tuple(RISK_COLOURS.items()),
    "phase": tuple(PHASE_COLOURS.items()),
    "anomaly": tuple(ANOMALY_COLOURS.items()),
}

FEET_PER_METRE = 3.28084
MAX_ALTITUDE_FT = 45_000
# Above this many visible aircraft the map shows aggregated cells instead of single markers.
MAX_INDIVIDUAL_MARKERS = 4_000
# Heading ticks only when few enough aircraft are shown for them to be readable.
MAX_HEADING_TICKS = 1_500
CALLSIGN_SEARCH = re.compile(r"^[A-Z0-9]{1,8}$")
# A position is drawn as an estimate once its report is older than this: a report is then more
# than a few refreshes and the pipeline's usual lag (p95 ~30 s at 2,000 aircraft) behind.
ESTIMATED_AFTER_S = 30.0
ESTIMATED_SIZE = 10  # an estimated single marker; its hollow centre is half, its ring +6 px


# --- the snapshot -----------------------------------------------------------------------------
@dataclass(frozen=True)
class LiveSnapshot:
    """``flights_live`` as columns; categorical fields are small integer codes."""

    icao24: np.ndarray  # str objects
    callsign: np.ndarray  # str objects, "" when unknown
    airline_icao: np.ndarray
    latitude: np.ndarray  # float64
    longitude: np.ndarray
    altitude_m: np.ndarray  # float64, nan when unknown
    true_track: np.ndarray  # float64, nan when unknown
    velocity: np.ndarray  # float64 m/s over ground, nan when unknown
    event_time: np.ndarray  # float64 epoch s of the report (its position), nan when unknown
    risk: np.ndarray  # int8 index into RISK_CATEGORIES
    phase: np.ndarray  # int8 index into PHASES
    anomaly: np.ndarray  # bool
    emergency: np.ndarray  # str objects, "" when none
    on_ground: np.ndarray  # bool
    loaded_at: float = 0.0

    def __len__(self) -> int:
        return len(self.icao24)

    @classmethod
    def empty(cls) -> LiveSnapshot:
        return cls.from_documents([])

    @classmethod
    def from_documents(cls, documents: Iterable[Mapping[str, Any]], loaded_at: float = 0.0) -> LiveSnapshot:
        docs = [d for d in documents if d.get("latitude") is not None and d.get("longitude") is not None]
        risk_index = {name: i for i, name in enumerate(RISK_CATEGORIES)}
        phase_index = {name: i for i, name in enumerate(PHASES)}

        def strings(key: str) -> np.ndarray:
            return np.array([d.get(key) or "" for d in docs], dtype=object)

        def floats(key: str) -> np.ndarray:
            return np.array([d.get(key) if d.get(key) is not None else np.nan for d in docs], dtype=np.float64)

        return cls(
            icao24=np.array([d.get("icao24") or d.get("_id") for d in docs], dtype=object),
            callsign=np.array([(d.get("callsign") or "").strip().upper() for d in docs], dtype=object),
            airline_icao=strings("airline_icao"),
            latitude=floats("latitude"),
            longitude=floats("longitude"),
            altitude_m=floats("baro_altitude"),
            true_track=floats("true_track"),
            velocity=floats("velocity"),
            event_time=floats("event_time"),
            risk=np.array([risk_index.get(d.get("risk_category"), 0) for d in docs], dtype=np.int8),
            phase=np.array([phase_index.get(d.get("phase"), 0) for d in docs], dtype=np.int8),
            anomaly=np.array([bool(d.get("anomaly")) for d in docs], dtype=bool),
            emergency=strings("emergency"),
            on_ground=np.array([bool(d.get("on_ground")) for d in docs], dtype=bool),
            loaded_at=loaded_at,
        )

    def index_of(self, icao24: str) -> int | None:
        hits = np.flatnonzero(self.icao24 == icao24)
        return int(hits[0]) if len(hits) else None


# --- dead reckoning ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Positioned:
    """A snapshot moved to a moment: positions dead-reckoned, each report's age, which are estimates."""

    snapshot: LiveSnapshot  # latitude/longitude are the positions at ``now``
    age_s: np.ndarray  # float64 seconds since each report, nan when unknown
    estimated: np.ndarray  # bool: drawn as an estimated position


def positions_at(snapshot: LiveSnapshot, now: float | None, cap_s: float = DEAD_RECKONING_CAP_S) -> Positioned:
    """Every aircraft where it is at ``now``: airborne ones flown on from their report at their
    ground speed along their track (great circle, at most ``cap_s``); aircraft on the ground
    (taxiing, landing roll: no straight line) and those without speed or track stay where they
    were reported. ``now=None``: the positions as reported, ages unknown."""
    if now is None:
        return Positioned(snapshot, np.full(len(snapshot), np.nan), np.zeros(len(snapshot), dtype=bool))
    age = now - snapshot.event_time
    speed = np.where(snapshot.on_ground, np.nan, snapshot.velocity)
    lat, lon = dead_reckon_arrays(snapshot.latitude, snapshot.longitude, speed, snapshot.true_track, age, cap_s)
    with np.errstate(invalid="ignore"):
        estimated = np.isfinite(age) & (age > ESTIMATED_AFTER_S)
    return Positioned(replace(snapshot, latitude=lat, longitude=lon), age, estimated)


def position_at(snapshot: LiveSnapshot, row: int, now: float | None,
                cap_s: float = DEAD_RECKONING_CAP_S) -> tuple[float, float]:
    """One aircraft's position at ``now``, as :func:`positions_at` draws it (the plain-Python twin)."""
    lat, lon = float(snapshot.latitude[row]), float(snapshot.longitude[row])
    if now is None or snapshot.on_ground[row]:
        return lat, lon
    return dead_reckon(lat, lon, float(snapshot.velocity[row]), float(snapshot.true_track[row]),
                       now - float(snapshot.event_time[row]), cap_s)


def age_label(seconds: float) -> str:
    """How long ago a report was, for the hover: ``12 s``, ``3 min 20 s``, ``2 h 05 min``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


# --- user input -------------------------------------------------------------------------------
@dataclass(frozen=True)
class MapFilters:
    """What the analyst asked to see; built only through :func:`parse_filters`."""

    categories: frozenset[str] = frozenset(RISK_CATEGORIES)
    phases: frozenset[str] = frozenset(PHASES)
    anomalies_only: bool = False
    altitude_ft: tuple[float, float] = (0.0, float(MAX_ALTITUDE_FT))
    search: str = ""  # upper-case callsign or airline prefix


def parse_filters(
    categories: Any, phases: Any, anomalies_only: Any, altitude_ft: Any, search: Any
) -> MapFilters:
    """Validate raw browser values: unknown values are dropped, never passed on."""
    cats = frozenset(c for c in (categories or []) if isinstance(c, str) and c in RISK_CATEGORIES)
    phs = frozenset(p for p in (phases or []) if isinstance(p, str) and p in PHASES)
    only = isinstance(anomalies_only, list | tuple) and "anomalies" in anomalies_only or anomalies_only is True
    low, high = 0.0, float(MAX_ALTITUDE_FT)
    if isinstance(altitude_ft, list | tuple) and len(altitude_ft) == 2:
        try:
            low, high = sorted(float(v) for v in altitude_ft)
        except (TypeError, ValueError):
            low, high = 0.0, float(MAX_ALTITUDE_FT)
    return MapFilters(cats, phs, bool(only), (max(0.0, low), min(float(MAX_ALTITUDE_FT), high)), search_prefix(search))


NO_CALLSIGN = "#"  # never starts a callsign or equals an airline code (both are [A-Z0-9])


def search_prefix(search: Any) -> str:
    """The callsign/airline prefix asked for; "" (no search) for an empty box. Anything else that is
    no callsign prefix (".*", "a|b", {"$ne": null}, a list) is taken literally: it matches nothing,
    never everything."""
    if search is None or (isinstance(search, str) and not search.strip()):
        return ""
    text = search.strip().upper().replace(" ", "") if isinstance(search, str) else ""
    return text if CALLSIGN_SEARCH.fullmatch(text) else NO_CALLSIGN


@dataclass(frozen=True)
class Viewport:
    lat_min: float
    lat_max: float
    lon_min: float  # may be > lon_max when the view crosses the antimeridian
    lon_max: float
    zoom: float

    @property
    def whole_world(self) -> bool:
        return self.lon_min == -180.0 and self.lon_max == 180.0


WORLD = Viewport(-90.0, 90.0, -180.0, 180.0, 1.0)


def viewport_around(lat: float, lon: float, zoom: float, width_px: int = 1600, height_px: int = 1000) -> Viewport:
    """A generous box around a centre before the browser reports the real one (Web Mercator:
    360° of longitude span 512 * 2**zoom px; latitude approximated at the centre)."""
    half_lon = width_px / 2 * 360.0 / (512 * 2.0 ** zoom)
    half_lat = height_px / 2 * 360.0 / (512 * 2.0 ** zoom) * math.cos(math.radians(lat))
    if half_lon >= 180:
        return Viewport(-90.0, 90.0, -180.0, 180.0, zoom)
    return Viewport(max(-90.0, lat - half_lat), min(90.0, lat + half_lat), wrap_longitude(lon - half_lon),
                    wrap_longitude(lon + half_lon), zoom)


def wrap_longitude(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0 if not -180.0 <= lon <= 180.0 else lon


def viewport_from_relayout(relayout: Any, previous: Viewport = WORLD) -> Viewport:
    """The visible box from a map's ``relayoutData`` (``map._derived.coordinates`` corners)."""
    if not isinstance(relayout, Mapping):
        return previous
    corners = relayout.get("map._derived", {})
    corners = corners.get("coordinates") if isinstance(corners, Mapping) else None
    zoom = relayout.get("map.zoom", previous.zoom)
    try:
        zoom = float(zoom)
        points = [(float(lon), float(lat)) for lon, lat in corners] if corners else []
    except (TypeError, ValueError):
        return previous
    if len(points) != 4 or not all(map(math.isfinite, (c for p in points for c in p))):
        center = relayout.get("map.center")
        if isinstance(center, Mapping) and isinstance(center.get("lat"), int | float) \
                and isinstance(center.get("lon"), int | float):
            return viewport_around(float(center["lat"]), float(center["lon"]), zoom)  # set by code, not by the user
        return Viewport(previous.lat_min, previous.lat_max, previous.lon_min, previous.lon_max, zoom)
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    lat_min, lat_max = max(-90.0, min(lats)), min(90.0, max(lats))
    lon_lo, lon_hi = min(lons), max(lons)
    if lon_hi - lon_lo >= 360:
        return Viewport(lat_min, lat_max, -180.0, 180.0, zoom)
    # MapLibre reports unwrapped longitudes (e.g. 170..200); wrap them back into ±180.
    return Viewport(lat_min, lat_max, wrap_longitude(lon_lo), wrap_longitude(lon_hi), zoom)


# --- selection --------------------------------------------------------------------------------
def filter_mask(snapshot: LiveSnapshot, filters: MapFilters) -> np.ndarray:
    """Aircraft passing the filters (emergencies pass every filter but the search)."""
    mask = np.isin(snapshot.risk, [RISK_CATEGORIES.index(c) for c in filters.categories])
    mask &= np.isin(snapshot.phase, [PHASES.index(p) for p in filters.phases])
    if filters.anomalies_only:
        mask &= snapshot.anomaly
    low_m, high_m = (v / FEET_PER_METRE for v in filters.altitude_ft)
    altitude = np.nan_to_num(snapshot.altitude_m, nan=0.0)
    if filters.altitude_ft[1] < MAX_ALTITUDE_FT:
        mask &= altitude <= high_m
    mask &= altitude >= low_m
    # An emergency is never hidden by a category, phase or altitude filter.
    mask |= snapshot.emergency != ""
    if filters.search:
        callsigns = snapshot.callsign.astype(str)
        mask &= np.char.startswith(callsigns, filters.search) | (snapshot.airline_icao.astype(str) == filters.search)
    return mask


def viewport_mask(snapshot: LiveSnapshot, view: Viewport) -> np.ndarray:
    lat, lon = snapshot.latitude, snapshot.longitude
    mask = (lat >= view.lat_min) & (lat <= view.lat_max)
    if view.whole_world:
        return mask
    if view.lon_min <= view.lon_max:
        return mask & (lon >= view.lon_min) & (lon <= view.lon_max)
    return mask & ((lon >= view.lon_min) | (lon <= view.lon_max))


@dataclass(frozen=True)
class Counters:
    shown: int
    high: int
    anomalies: int
    emergencies: int
    total: int
    estimated: int = 0  # shown at an estimated position


def counters(snapshot: LiveSnapshot, mask: np.ndarray, estimated: np.ndarray | None = None) -> Counters:
    return Counters(
        shown=int(mask.sum()),
        high=int((mask & (snapshot.risk == RISK_CATEGORIES.index(HIGH))).sum()),
        anomalies=int((mask & snapshot.anomaly).sum()),
        emergencies=int((mask & (snapshot.emergency != "")).sum()),
        total=len(snapshot),
        estimated=0 if estimated is None else int((mask & estimated).sum()),
    )


# --- traces -----------------------------------------------------------------------------------
def group_codes(snapshot: LiveSnapshot, colour_mode: str) -> np.ndarray:
    """Per aircraft: the index of its colour group in ``COLOUR_MODES[colour_mode]``."""
    if colour_mode == "phase":
        return snapshot.phase.astype(np.int64)
    if colour_mode == "anomaly":
        return snapshot.anomaly.astype(np.int64)
    return snapshot.risk.astype(np.int64)


def aggregation_cell_deg(zoom: float) -> float:
    """Cell edge so that a world view holds roughly 64 x 32 cells, halving per zoom level."""
    return 360.0 / 64.0 / (2.0 ** max(0.0, zoom - 1.0))


@dataclass
class GroupData:
    latitude: np.ndarray
    longitude: np.ndarray
    size: np.ndarray
    hovertext: np.ndarray
    icao24: np.ndarray
    estimated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # per marker


@dataclass
class MapTraces:
    """Everything the map shows for one refresh; the layout is fixed by :func:`trace_names`."""

    groups: list[GroupData]  # one per colour group of the mode
    emergencies: GroupData
    heading_lat: np.ndarray  # line segments separated by nan
    heading_lon: np.ndarray
    aggregated: bool
    counters: Counters
    extras: dict[str, Any] = field(default_factory=dict)

    def estimated_markers(self) -> GroupData:
        """Every single marker drawn at an estimated position (its ring and hollow centre)."""
        parts = [self.emergencies, *self.groups]
        pick = [g.estimated if len(g.estimated) == len(g.latitude) else np.zeros(len(g.latitude), bool) for g in parts]
        return GroupData(
            np.concatenate([g.latitude[m] for g, m in zip(parts, pick)]).astype(np.float32),
            np.concatenate([g.longitude[m] for g, m in zip(parts, pick)]).astype(np.float32),
            np.concatenate([g.size[m] for g, m in zip(parts, pick)]).astype(np.uint8),
            np.array([], dtype=object), np.array([], dtype=object), np.ones(int(sum(m.sum() for m in pick)), bool))


def _altitude_label(metres: float) -> str:
    if not math.isfinite(metres):
        return "altitude unknown"
    return f"FL{round(metres * FEET_PER_METRE / 100):03d} ({metres:,.0f} m)"


def _report_label(age_s: float, estimated: bool) -> str:
    if not math.isfinite(age_s):
        return ""
    return f"<br>{'estimated position, ' if estimated else ''}last report {age_label(age_s)} ago"


def _individual(positioned: Positioned, idx: np.ndarray, size: float, estimated_size: float | None = None) -> GroupData:
    snapshot, estimated = positioned.snapshot, positioned.estimated[idx]
    hover = np.array(
        [f"{snapshot.callsign[i] or snapshot.icao24[i]}<br>{_altitude_label(snapshot.altitude_m[i])}"
         f"{_report_label(positioned.age_s[i], positioned.estimated[i])}" for i in idx],
        dtype=object,
    )
    sizes = np.where(estimated, size if estimated_size is None else estimated_size, size)
    return GroupData(
        snapshot.latitude[idx].astype(np.float32),
        snapshot.longitude[idx].astype(np.float32),
        sizes.astype(np.uint8),
        hover,
        snapshot.icao24[idx],
        estimated,
    )


def _aggregate(snapshot: LiveSnapshot, idx: np.ndarray, group_name: str, cell_deg: float) -> GroupData:
    """Bin one colour group's aircraft into square cells: a marker per cell at their mean
    position, sized by their number. Each group is binned on its own, so a few HIGH aircraft
    show as small red markers over a large green cell instead of turning the whole cell red."""
    lat, lon = snapshot.latitude[idx], snapshot.longitude[idx]
    keys = np.floor(lat / cell_deg).astype(np.int64) * 100_000 + np.floor(lon / cell_deg).astype(np.int64)
    _, inverse = np.unique(keys, return_inverse=True)
    count = np.bincount(inverse)
    mean_lat = np.bincount(inverse, weights=lat) / count
    mean_lon = np.bincount(inverse, weights=lon) / count
    size = np.clip(6 + 4 * np.log2(count), 6, 40).astype(np.uint8)
    hover = np.array([f"{n} aircraft {group_name}<br>zoom in to see them" for n in count], dtype=object)
    return GroupData(mean_lat.astype(np.float32), mean_lon.astype(np.float32), size, hover,
                     np.full(len(count), "", dtype=object))


def heading_ticks(snapshot: LiveSnapshot, idx: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """A short line from each aircraft along its track (nan-separated segments)."""
    idx = idx[np.isfinite(snapshot.true_track[idx])]
    # ~12 px on screen: a Web-Mercator degree of longitude is 512 * 2**zoom / 360 px wide,
    # a degree of latitude is 1 / cos(latitude) times taller.
    length_deg = 8.0 / (2.0 ** zoom)
    track = np.radians(snapshot.true_track[idx])
    lat0, lon0 = snapshot.latitude[idx], snapshot.longitude[idx]
    lat1 = lat0 + length_deg * np.cos(track) * np.cos(np.radians(lat0))
    lon1 = lon0 + length_deg * np.sin(track)
    nan = np.full(len(idx), np.nan)
    return (np.column_stack([lat0, lat1, nan]).ravel().astype(np.float32),
            np.column_stack([lon0, lon1, nan]).ravel().astype(np.float32))


def map_traces(snapshot: LiveSnapshot, filters: MapFilters, view: Viewport, colour_mode: str,
               now: float | None = None) -> MapTraces:
    """The data of every aircraft trace for the current filters and viewport, each aircraft at its
    dead-reckoned position at ``now`` (None: as reported)."""
    positioned = positions_at(snapshot, now)
    snapshot = positioned.snapshot
    colour_mode = colour_mode if colour_mode in COLOUR_MODES else "risk"
    n_groups = len(COLOUR_MODES[colour_mode])
    passing = filter_mask(snapshot, filters)
    visible = passing & viewport_mask(snapshot, view)
    is_emergency = snapshot.emergency != ""
    regular = np.flatnonzero(visible & ~is_emergency)
    codes = group_codes(snapshot, colour_mode)
    aggregated = len(regular) > MAX_INDIVIDUAL_MARKERS
    group_names = [name for name, _ in COLOUR_MODES[colour_mode]]
    if aggregated:
        cell_deg = aggregation_cell_deg(view.zoom)
        groups = [_aggregate(snapshot, regular[codes[regular] == g], group_names[g], cell_deg) for g in range(n_groups)]
        heading_lat = heading_lon = np.array([], dtype=np.float32)
    else:
        groups = [_individual(positioned, regular[codes[regular] == g], 8, ESTIMATED_SIZE) for g in range(n_groups)]
        ticks = regular if len(regular) <= MAX_HEADING_TICKS else regular[:0]
        heading_lat, heading_lon = heading_ticks(snapshot, ticks, view.zoom)
    emergencies = _individual(positioned, np.flatnonzero(visible & is_emergency), 16)
    emergencies.hovertext = np.array(
        [f"{h}<br><b>EMERGENCY {e}</b>" for h, e in zip(emergencies.hovertext, snapshot.emergency[visible & is_emergency])],
        dtype=object,
    )
    return MapTraces(groups, emergencies, heading_lat, heading_lon, aggregated,
                     counters(snapshot, visible, positioned.estimated))



def trace_names(colour_mode: str) -> list[str]:
    """The fixed trace order of the map figure; patches address traces by these positions. The
    ring of an estimated position lies under the aircraft markers, its hollow centre over them."""
    return ["weather", "trail", "heading", ESTIMATED_POSITION, *(name for name, _ in COLOUR_MODES[colour_mode]),
            "emergency halo", EMERGENCY, ESTIMATED_CENTRE, "selected"]


def typed(values: np.ndarray) -> Any:
    """A numpy array as plotly.js's base64 typed-array spec (compact and fast to decode)."""
    return to_typed_array_spec(np.ascontiguousarray(values)) if len(values) else []


def trace_data_updates(traces: MapTraces, colour_mode: str) -> dict[int, dict[str, Any]]:
    """Per trace index: the data properties to set (the callback turns these into a Patch)."""
    names = trace_names(colour_mode)
    updates: dict[int, dict[str, Any]] = {
        names.index("heading"): {"lat": typed(traces.heading_lat), "lon": typed(traces.heading_lon)},
    }
    group_names = [name for name, _ in COLOUR_MODES[colour_mode]]
    targets = [*((names.index(n), group, True) for n, group in zip(group_names, traces.groups)),
               (names.index("emergency halo"), traces.emergencies, False),
               (names.index(EMERGENCY), traces.emergencies, False)]
    for index, group, sized in targets:
        updates[index] = {
            "lat": typed(group.latitude),
            "lon": typed(group.longitude),
            "hovertext": group.hovertext.tolist(),
            "customdata": group.icao24.tolist(),
        }
        if sized:  # cells of many aircraft are bigger; emergencies keep their fixed size
            updates[index]["marker.size"] = typed(group.size)
    estimated = traces.estimated_markers()
    updates[names.index(ESTIMATED_POSITION)] = {"lat": typed(estimated.latitude), "lon": typed(estimated.longitude),
                                                "marker.size": typed((estimated.size + 6).astype(np.uint8))}
    updates[names.index(ESTIMATED_CENTRE)] = {"lat": typed(estimated.latitude), "lon": typed(estimated.longitude),
                                              "marker.size": typed((estimated.size // 2).astype(np.uint8))}
    return updates


# --- weather layer ----------------------------------------------------------------------------
WEATHER_LAYER_INPUTS = ("weather_code", "wind_gusts_10m", "visibility")  # thunderstorm, gusts, visibility


def weather_hazard(observation: Mapping[str, Any]) -> tuple[int, str]:
    """The cell's hazard score and factors for the layer, by the shared risk rules (0 = none)."""
    assessment = assess_risk({k: observation.get(k) for k in WEATHER_LAYER_INPUTS})
    return assessment.score, ", ".join(assessment.factors)


def weather_cells(observations: Sequence[Mapping[str, Any]], size_deg: float) -> dict[str, Any]:
    """Cells with a hazard as a GeoJSON FeatureCollection plus their scores (choropleth input)."""
    features, ids, scores, texts = [], [], [], []
    for obs in observations:
        score, factors = weather_hazard(obs)
        cell = obs.get("cell_id")
        if score <= 0 or not isinstance(cell, str):
            continue
        row, col = (int(p) for p in cell.split(":"))
        lat0, lon0 = row * size_deg, col * size_deg
        ring = [[lon0, lat0], [lon0 + size_deg, lat0], [lon0 + size_deg, lat0 + size_deg], [lon0, lat0 + size_deg],
                [lon0, lat0]]
        features.append({"type": "Feature", "id": cell, "geometry": {"type": "Polygon", "coordinates": [ring]}})
        ids.append(cell)
        scores.append(score)
        texts.append(f"cell {cell}: {factors} ({risk_category(score)})")
    return {"geojson": {"type": "FeatureCollection", "features": features}, "locations": ids, "z": scores,
            "text": texts}
