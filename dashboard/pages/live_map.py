"""Live map (home page): every live aircraft, filters, counters, weather layer, detail panel.

The figure is built once per colour mode; every refresh after that is a ``Patch`` of the
traces' data arrays only, with a fixed ``uirevision``, so zoom, pan and selection survive.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, Patch, State, ctx, dcc, html
from pymongo.errors import PyMongoError

from dashboard import inputs
from dashboard.basemap import map_style, online_tiles_reachable
from dashboard.components import message, utc
from dashboard.data import DashboardData
from dashboard.live import (
    COLOUR_MODES,
    EMERGENCY_COLOUR,
    ESTIMATED_AFTER_S,
    ESTIMATED_CENTRE,
    ESTIMATED_CENTRE_COLOUR,
    ESTIMATED_POSITION,
    ESTIMATED_RING_COLOUR,
    FEET_PER_METRE,
    MAX_ALTITUDE_FT,
    PHASES,
    RISK_CATEGORIES,
    RISK_COLOURS,
    WORLD,
    LiveSnapshot,
    MapFilters,
    Viewport,
    map_traces,
    parse_filters,
    position_at,
    trace_names,
    trace_data_updates,
    viewport_around,
    viewport_from_relayout,
    weather_cells,
)
from dashboard.routes import journey_rows
from skyrisk.vocabulary import EMERGENCY

REFRESH_MS = 3_000
TRAIL_MINUTES = 30
TRAIL_REFRESH_MS = 30_000  # the trail gains a point per 30 s at most
WEATHER_EVERY_N_TICKS = 20
DETAIL_EVERY_N_TICKS = 5  # the detail panel reads one document: refresh it every ~15 s
SELECTED_ZOOM = 7.0


# --- pure helpers (also used by the benchmark) ---------------------------------------------------
def map_update(snapshot: LiveSnapshot, filters: MapFilters, view: Viewport, colour_mode: str,
               now: float | None = None) -> dict[str, Any]:
    """The server-side work of one refresh: per trace index the data to patch, plus counters; the
    aircraft at their dead-reckoned positions at ``now`` (None: as reported)."""
    traces = map_traces(snapshot, filters, view, colour_mode, now)
    return {"traces": trace_data_updates(traces, colour_mode), "counters": traces.counters, "aggregated": traces.aggregated}


def apply_updates(patch: Any, updates: dict[int, dict[str, Any]]) -> Any:
    """Set dotted properties (``marker.size``) per trace index on a ``Patch`` or a figure dict."""
    for index, properties in updates.items():
        for key, value in properties.items():
            target = patch["data"][index]
            *parents, leaf = key.split(".")
            for parent in parents:
                target = target[parent]
            target[leaf] = value
    return patch


def weather_trace_update(data: DashboardData, enabled: bool, colour_mode: str) -> dict[int, Any]:
    index = trace_names(colour_mode).index("weather")
    if not enabled:
        return {index: {"geojson": {"type": "FeatureCollection", "features": []}, "locations": [], "z": [],
                        "text": []}}
    return {index: weather_cells(_or_empty(data.weather_observations, []), data.settings.weather_grid_deg)}


def _or_empty(read: Any, empty: Any) -> Any:
    """A read of MongoDB, or ``empty`` while it is down: the map still draws (the banner says why)."""
    try:
        return read()
    except (OSError, PyMongoError):
        return empty


def selection_ring(snapshot: LiveSnapshot, icao24: str | None, colour_mode: str,
                   now: float | None = None) -> dict[int, Any]:
    """The ring around the selected aircraft where the map draws it (dead-reckoned to ``now``)."""
    row = snapshot.index_of(icao24) if icao24 else None
    position = None if row is None else position_at(snapshot, row, now)
    ring = {"lat": [] if position is None else [position[0]], "lon": [] if position is None else [position[1]]}
    return {trace_names(colour_mode).index("selected"): ring}


def trail_update(data: DashboardData, icao24: str | None, colour_mode: str) -> dict[int, Any]:
    """The trail of the selected aircraft (a query of ``tracks``)."""
    points = _or_empty(lambda: data.track(icao24, TRAIL_MINUTES), []) if icao24 else []
    return {trace_names(colour_mode).index("trail"): {"lat": [p["latitude"] for p in points],
                                                       "lon": [p["longitude"] for p in points]}}


def build_figure(colour_mode: str, center: dict[str, float], zoom: float, online_tiles: bool) -> go.Figure:
    """The empty figure with its fixed traces; data arrives by patches."""
    empty: dict[str, Any] = {"lat": [], "lon": []}
    traces: list[Any] = [
        go.Choroplethmap(geojson={"type": "FeatureCollection", "features": []}, locations=[], z=[], zmin=0, zmax=60,
                         colorscale=[[0, "rgba(255,235,59,0.25)"], [0.5, "rgba(255,152,0,0.35)"],
                                     [1, "rgba(229,57,53,0.5)"]],
                         marker_line_width=0, showscale=False, name="weather", hoverinfo="text", showlegend=True),
        go.Scattermap(**empty, mode="lines", line={"color": "#ffeb3b", "width": 3}, name="trail", hoverinfo="skip"),
        go.Scattermap(**empty, mode="lines", line={"color": "#9fb3c8", "width": 1}, name="heading",
                      hoverinfo="skip", showlegend=False),
        # An estimated position: a light ring under the aircraft's marker and a hollow centre over it.
        go.Scattermap(**empty, mode="markers", name=ESTIMATED_POSITION, hoverinfo="skip", legendgroup="estimated",
                      marker={"color": ESTIMATED_RING_COLOUR, "size": 16, "opacity": 0.9}),
    ]
    for name, colour in COLOUR_MODES[colour_mode]:
        traces.append(go.Scattermap(**empty, mode="markers", name=name, marker={"color": colour, "size": 8},
                                    hovertemplate="%{hovertext}<extra></extra>"))
    traces += [
        go.Scattermap(**empty, mode="markers", name="emergency halo", hoverinfo="skip", showlegend=False,
                      marker={"color": EMERGENCY_COLOUR, "size": 34, "opacity": 0.35}),
        go.Scattermap(**empty, mode="markers", name=EMERGENCY, marker={"color": EMERGENCY_COLOUR, "size": 16},
                      hovertemplate="%{hovertext}<extra></extra>"),
        go.Scattermap(**empty, mode="markers", name=ESTIMATED_CENTRE, hoverinfo="skip", showlegend=False,
                      legendgroup="estimated", marker={"color": ESTIMATED_CENTRE_COLOUR, "size": 5}),
        go.Scattermap(**empty, mode="markers", name="selected", hoverinfo="skip", showlegend=False,
                      marker={"color": "#ffeb3b", "size": 22, "opacity": 0.6}),
    ]
    figure = go.Figure(traces)
    figure.update_layout(
        map={"style": map_style(online_tiles), "center": center, "zoom": zoom},
        uirevision="live-map",  # keep the user's view across every update
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor="#0f1923",
        legend={"bgcolor": "rgba(15,25,35,0.8)", "font": {"color": "#dfe7ef"}, "x": 0.01, "y": 0.99},
        clickmode="event",
        hoverlabel={"bgcolor": "#13202e"},
    )
    return figure


# --- layout -----------------------------------------------------------------------------------
def _filters_panel() -> html.Div:
    return html.Div(
        [
            html.Label("Colour by"),
            dcc.RadioItems(id="colour-mode", value="risk", inline=True,
                           options=[{"label": " risk", "value": "risk"}, {"label": " phase", "value": "phase"},
                                    {"label": " anomalies", "value": "anomaly"}]),
            html.Label("Risk category"),
            dcc.Checklist(id="filter-risk", value=list(RISK_CATEGORIES), inline=True,
                          options=[{"label": html.Span(f" {c}", style={"color": RISK_COLOURS[c]}), "value": c}
                                   for c in RISK_CATEGORIES]),
            html.Label("Phase"),
            dcc.Checklist(id="filter-phase", value=list(PHASES), options=[{"label": f" {p}", "value": p} for p in PHASES]),
            dcc.Checklist(id="filter-anomalies", value=[], options=[{"label": " anomalies only", "value": "anomalies"}]),
            html.Label("Altitude (ft)"),
            dcc.RangeSlider(id="filter-altitude", min=0, max=MAX_ALTITUDE_FT, step=500, value=[0, MAX_ALTITUDE_FT],
                            marks={0: "0", 10_000: "10k", 20_000: "20k", 30_000: "30k", 45_000: "45k"}),
            html.Label("Callsign / airline"),
            dcc.Input(id="filter-search", type="text", placeholder="e.g. DLH or DLH4", debounce=True, maxLength=8),
            dcc.Checklist(id="weather-layer", value=["on"], options=[{"label": " weather layer", "value": "on"}]),
        ],
        className="sidebar",
    )


def make_layout(data: DashboardData) -> Any:
    def layout(icao24: Any = None, **_query: Any) -> html.Div:
        """The page; ``?icao24=`` (a link from alerts or route search) selects and centres an aircraft."""
        selected = inputs.icao24(icao24)
        center, zoom = _initial_view(data, data.live_snapshot_or_empty(), selected, time.time())
        figure = build_figure("risk", center, zoom, online_tiles_reachable())
        return _page(figure, selected, viewport_around(center["lat"], center["lon"], zoom))

    return layout


def _page(figure: go.Figure, selected: str | None, view: Viewport) -> html.Div:
    return html.Div(
        [
            html.Div(id="live-counters", className="counters"),
            html.Div(
                [
                    _filters_panel(),
                    html.Div(dcc.Graph(id="live-map", figure=figure, style={"height": "78vh"},
                                       config={"scrollZoom": True, "displaylogo": False}), className="map-box"),
                    html.Div([html.Button("clear selection", id="clear-selection", className="link-button"),
                              html.Div(id="detail-body")], id="detail-panel", className="detail-panel"),
                ],
                className="live-row",
            ),
            dcc.Interval(id="live-tick", interval=REFRESH_MS),
            dcc.Interval(id="trail-tick", interval=TRAIL_REFRESH_MS),
            dcc.Store(id="selected-aircraft", data=selected),
            dcc.Store(id="map-viewport", data=view.__dict__),
        ]
    )


# --- detail panel ---------------------------------------------------------------------------------
def _row(label: str, value: Any) -> html.Tr:
    return html.Tr([html.Th(label), html.Td("-" if value in (None, "", []) else value)])


def _fmt(value: Any, unit: str, digits: int = 0) -> str | None:
    return None if value is None else f"{value:,.{digits}f} {unit}"


def scheduled_flight(data: DashboardData, callsign: str | None) -> list[Any]:
    """The Lufthansa schedule matching an ICAO callsign (DLH400 -> LH 400), if any."""
    reference = data.reference()
    if not callsign:
        return []
    for iata, icao in reference["icao_of_airline"].items():
        number = callsign[len(icao):]
        if callsign.startswith(icao) and number.isdigit():
            today = datetime.now(timezone.utc).date()
            rows = journey_rows(data.schedules_of_flight(f"{iata}{int(number)}", today), reference["icao_of_airline"])
            return [f"{r.flights}: {r.departure_date} {r.departure_time} → {r.arrival_date} {r.arrival_time} "
                    f"({r.duration}, {r.stops}, {r.aircraft})" for r in rows]
    return []


def detail_panel(data: DashboardData, icao24: str) -> list[Any]:
    flight = data.flight(icao24)
    if flight is None:
        return [message(f"Aircraft {icao24} is not live any more.", "warning")]
    weather = flight.get("weather") or {}
    altitude = flight.get("baro_altitude")
    emergency = flight.get("emergency")
    airline = data.reference()["airline_names"]
    airline_name = next((airline[i] for i, c in data.reference()["icao_of_airline"].items()
                         if c == flight.get("airline_icao")), flight.get("airline_icao"))
    schedule = scheduled_flight(data, (flight.get("callsign") or "").strip())
    return [
        html.H3(f"{(flight.get('callsign') or '').strip() or icao24}", id="detail-callsign"),
        html.Div(f"EMERGENCY {emergency}", className="emergency-banner") if emergency else None,
        html.Table([
            _row("icao24", icao24),
            _row("Airline", airline_name),
            _row("Origin country", flight.get("origin_country")),
            _row("Altitude", None if altitude is None else f"{altitude * FEET_PER_METRE:,.0f} ft ({altitude:,.0f} m)"),
            _row("Speed", _fmt(None if flight.get("velocity") is None else flight["velocity"] * 1.943844, "kt")),
            _row("Vertical rate", _fmt(flight.get("vertical_rate"), "m/s", 1)),
            _row("Phase", flight.get("phase")),
            _row("Risk", f"{flight.get('risk_score')} ({flight.get('risk_category')})"),
            _row("Risk factors", ", ".join(flight.get("risk_factors") or [])),
            _row("Anomaly", f"yes: {', '.join(flight.get('anomaly_reasons') or [])}" if flight.get("anomaly") else "no"),
            _row("Squawk", flight.get("squawk")),
            _row("Last position", utc(flight.get("event_time"))),
        ]),
        html.H4("Weather at the position"),
        html.Table([
            _row("Cell", weather.get("cell_id")),
            _row("Temperature", _fmt(weather.get("temperature_2m"), "°C", 1)),
            _row("Wind / gusts", f"{weather.get('wind_speed_10m')} / {weather.get('wind_gusts_10m')} km/h"
                 if weather else None),
            _row("Precipitation", _fmt(weather.get("precipitation"), "mm", 1)),
            _row("Cloud cover", _fmt(weather.get("cloud_cover"), "%")),
            _row("Visibility", _fmt(weather.get("visibility"), "m")),
            _row("WMO code", weather.get("weather_code")),
        ]) if weather else message("No weather joined (weather missing).", "warning"),
        html.H4("Lufthansa schedule"),
        html.Ul([html.Li(s) for s in schedule]) if schedule else html.P("No matching scheduled flight."),
    ]


# --- callbacks ---------------------------------------------------------------------------------
def register(app: dash.Dash, data: DashboardData) -> None:
    dash.register_page(__name__, path="/", name="Live map", title="skyrisk · live map", order=0,
                       layout=make_layout(data))

    @app.callback(Output("map-viewport", "data"), Input("live-map", "relayoutData"), State("map-viewport", "data"))
    def remember_viewport(relayout: Any, previous: Any) -> Any:
        before = Viewport(**previous) if isinstance(previous, dict) else WORLD
        view = viewport_from_relayout(relayout, before)
        return dash.no_update if view == before else view.__dict__

    @app.callback(
        Output("live-map", "figure"),
        Output("live-counters", "children"),
        Input("live-tick", "n_intervals"),
        Input("colour-mode", "value"),
        Input("filter-risk", "value"),
        Input("filter-phase", "value"),
        Input("filter-anomalies", "value"),
        Input("filter-altitude", "value"),
        Input("filter-search", "value"),
        Input("weather-layer", "value"),
        Input("map-viewport", "data"),
        Input("selected-aircraft", "data"),
    )
    def refresh_map(tick, colour_mode, risk, phase, anomalies, altitude, search, weather_on, viewport, selected):
        colour_mode = colour_mode if colour_mode in COLOUR_MODES else "risk"
        filters = parse_filters(risk, phase, anomalies, altitude, search)
        view = Viewport(**viewport) if isinstance(viewport, dict) else WORLD
        icao24 = inputs.icao24(selected)
        snapshot = data.live_snapshot_or_empty()
        now = time.time()  # every refresh draws the aircraft where they are now (dead reckoning)
        update = map_update(snapshot, filters, view, colour_mode, now)
        weather_enabled = isinstance(weather_on, list) and "on" in weather_on
        # The layout brings the figure; only a new colour mode changes its traces.
        rebuild = ctx.triggered_id == "colour-mode"
        tick = tick or 0
        updates = dict(update["traces"])
        if rebuild or ctx.triggered_id in (None, "weather-layer") or tick % WEATHER_EVERY_N_TICKS == 0:
            updates.update(weather_trace_update(data, weather_enabled, colour_mode))
        updates.update(selection_ring(snapshot, icao24, colour_mode, now))
        if rebuild or ctx.triggered_id is None:  # otherwise the trail has its own, slower callback
            updates.update(trail_update(data, icao24, colour_mode))
        if rebuild:
            center, zoom = _initial_view(data, snapshot, icao24, now)
            figure: Any = apply_updates(build_figure(colour_mode, center, zoom, online_tiles_reachable()).to_dict(),
                                        updates)
        else:
            figure = apply_updates(Patch(), updates)
        return figure, _counters(update["counters"], update["aggregated"], snapshot)

    # Its own callback: reading ``tracks`` can be slow, and must never delay the map refresh.
    @app.callback(Output("live-map", "figure", allow_duplicate=True), Input("selected-aircraft", "data"),
                  Input("trail-tick", "n_intervals"), State("colour-mode", "value"), prevent_initial_call=True)
    def refresh_trail(selected: Any, _: Any, colour_mode: Any) -> Any:
        mode = colour_mode if colour_mode in COLOUR_MODES else "risk"
        return apply_updates(Patch(), trail_update(data, inputs.icao24(selected), mode))

    @app.callback(Output("selected-aircraft", "data"), Input("live-map", "clickData"),
                  Input("clear-selection", "n_clicks"), prevent_initial_call=True)
    def select_aircraft(click: Any, _: Any) -> Any:
        if ctx.triggered_id == "clear-selection":
            return None
        points = click.get("points", []) if isinstance(click, dict) else []
        icao24 = inputs.icao24(points[0].get("customdata")) if points else None
        return icao24 if icao24 else dash.no_update  # a click on a cell of many aircraft selects none

    @app.callback(Output("detail-body", "children"), Input("selected-aircraft", "data"), Input("live-tick", "n_intervals"))
    def show_detail(selected: Any, tick: Any) -> Any:
        icao24 = inputs.icao24(selected)
        if ctx.triggered_id == "live-tick" and (icao24 is None or (tick or 0) % DETAIL_EVERY_N_TICKS):
            return dash.no_update
        if icao24 is None:
            return message("Click an aircraft to see its details.")
        return detail_panel(data, icao24)


def _initial_view(data: DashboardData, snapshot: LiveSnapshot, icao24: str | None,
                  now: float | None = None) -> tuple[dict[str, float], float]:
    row = snapshot.index_of(icao24) if icao24 else None
    if row is not None:
        lat, lon = position_at(snapshot, row, now)
        return {"lat": lat, "lon": lon}, SELECTED_ZOOM
    lamin, lomin, lamax, lomax = data.settings.bbox
    return {"lat": (lamin + lamax) / 2, "lon": (lomin + lomax) / 2}, 3.3


def _counters(counters: Any, aggregated: bool, snapshot: LiveSnapshot) -> list[Any]:
    def box(label: str, value: int, box_id: str, css: str = "") -> html.Div:
        return html.Div([html.Span(f"{value:,}", id=box_id, className="counter-value"),
                         html.Span(label, className="counter-label")], className=f"counter {css}")

    age = "" if not snapshot.loaded_at else datetime.fromtimestamp(snapshot.loaded_at, timezone.utc).strftime("%H:%M:%S")
    return [
        box("aircraft shown", counters.shown, "count-shown"),
        box("HIGH risk", counters.high, "count-high", "counter-high"),
        box("anomalies", counters.anomalies, "count-anomalies", "counter-anomaly"),
        box("emergencies", counters.emergencies, "count-emergencies", "counter-emergency" if counters.emergencies else ""),
        html.Div([html.Span(f"{counters.total:,} live in total · data of {age} UTC" if age else "no live data"),
                  html.Span(f" · {counters.estimated:,} at an estimated position (last report over "
                            f"{ESTIMATED_AFTER_S:.0f} s ago)" if counters.estimated else "", id="count-estimated"),
                  html.Span(" · grouped into cells: zoom in for single aircraft" if aggregated else "")],
                 className="counter-note"),
    ]

