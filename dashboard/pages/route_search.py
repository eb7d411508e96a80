"""Route search: Lufthansa journeys between two airports/cities on a date (and back)."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from dashboard import inputs
from dashboard.components import data_table, map_link, message, page_header
from dashboard.data import DashboardData
from dashboard.routes import (  # the search rules
    NONSTOP,
    SearchResult,
    destination_options,
    location_label,
    origin_options,
    round_trip,
    search_window,
    utc_today,
)

RESULT_COLUMNS = [
    ("flights", "Flight(s)"), ("origin", "From"), ("departure_terminal", "Dep. terminal"),
    ("departure_date", "Departure date"), ("departure_time", "Dep. (local)"), ("destination", "To"),
    ("arrival_terminal", "Arr. terminal"), ("arrival_date", "Arrival date"), ("arrival_time", "Arr. (local)"),
    ("duration", "Duration"), ("stops", "Stops / connections"), ("aircraft", "Aircraft"),
    ("days", "Days of operation"), ("live", "Live"),
]


def airborne_callsigns(data: DashboardData) -> dict[str, str]:
    """Callsign -> icao24 of every airborne live aircraft (for the "on the map" links)."""
    snapshot = data.live_snapshot()
    return {c: i for c, i, ground in zip(snapshot.callsign, snapshot.icao24, snapshot.on_ground) if c and not ground}


def horizon_note(window: tuple[Any, Any]) -> str:
    first, last = window
    days = (last - first).days
    span = f"today and the next {days} day{'s' if days > 1 else ''}" if days else "today only"
    return (f"Schedules are fetched nightly for {first.isoformat()} to {last.isoformat()} ({span}): "
            "only these dates can be picked. A city code (London, all "
            "airports) searches every airport of the city; the return trip goes from the destination back "
            "to the origin.")


def layout(horizon_days: int = 7, **_query: Any) -> html.Div:
    window = search_window(utc_today(), horizon_days)
    first, last = (d.isoformat() for d in window)
    picker = {"display_format": "YYYY-MM-DD", "min_date_allowed": first, "max_date_allowed": last,
              "initial_visible_month": first}
    return html.Div(
        [
            page_header("Route search", "Lufthansa scheduled journeys between two airports or cities."),
            html.Div(
                [
                    html.Div([html.Label("From"),
                              dcc.Dropdown(id="route-from", placeholder="Departure airport or city")],
                             className="field wide"),
                    html.Div([html.Label("To"), dcc.Dropdown(id="route-to", placeholder="Destination")],
                             className="field wide"),
                    html.Div([html.Label("Departure date"),
                              dcc.DatePickerSingle(id="route-date", date=first, **picker)],
                             className="field"),
                    html.Div([html.Label("Return date (optional)"),
                              dcc.DatePickerSingle(id="route-return", clearable=True, **picker)],
                             className="field"),
                    dcc.Checklist(id="route-nonstop", options=[{"label": " Non-stop only", "value": NONSTOP}],
                                  value=[], className="field"),
                    html.Button("Search", id="route-search", n_clicks=0, className="button"),
                ],
                className="form-row",
            ),
            html.P(horizon_note(window), id="route-horizon", className="subtitle"),
            html.Div(id="route-outbound"),
            html.Div(id="route-inbound"),
        ]
    )


def result_title(title: str, result: SearchResult, reference: dict[str, Any]) -> str:
    """``Outbound: Frankfurt/Main International (FRA) → London, all airports (LON), 2026-12-04``."""
    if result.origin is None or result.destination is None or result.day is None:
        return title
    return (f"{title}: {location_label(reference, result.origin)} → {location_label(reference, result.destination)}"
            f", {result.day.isoformat()}")


def results_block(title: str, result: SearchResult, airborne: dict[str, str],
                  reference: dict[str, Any] | None = None) -> list[Any]:
    heading = result_title(title, result, reference) if reference else title
    if result.error:
        return [html.H3(heading), message(result.error, "warning")]
    hidden = (f"{result.hidden} journey{'s' if result.hidden > 1 else ''} with stops hidden (non-stop only)."
              if result.hidden else None)
    if not result.rows:
        empty = "No flights found for this route and date." + (f" {hidden}" if hidden else "")
        return [html.H3(heading), message(empty, "empty")]
    table_rows = []
    for row in result.rows:
        live = row.airborne_icao24(airborne)
        table_rows.append({**row.__dict__, "live": map_link(live, "on the map") if live else ""})
    count = len(result.rows)
    return [html.H3(f"{heading}: {count} journey{'s' if count > 1 else ''}"),
            *([html.P(hidden, className="subtitle")] if hidden else []),
            data_table(RESULT_COLUMNS, table_rows)]


def register(app: dash.Dash, data: DashboardData) -> None:
    def page_layout(**_query: Any) -> html.Div:
        return layout(data.settings.lufthansa_horizon_days)

    dash.register_page(__name__, path="/routes", name="Route search", title="skyrisk · route search", order=1,
                       layout=page_layout)

    @app.callback(Output("route-from", "options"), Input("route-from", "id"))
    def fill_origins(_: Any) -> list[dict[str, str]]:
        return origin_options(data.reference())

    @app.callback(Output("route-to", "options"), Output("route-to", "value"), Input("route-from", "value"),
                  State("route-to", "value"))
    def fill_destinations(origin: Any, current: Any) -> tuple[list[dict[str, str]], Any]:
        options = destination_options(data.reference(), origin)
        return options, current if any(o["value"] == current for o in options) else None

    @app.callback(Output("route-outbound", "children"), Output("route-inbound", "children"),
                  Input("route-search", "n_clicks"), State("route-from", "value"), State("route-to", "value"),
                  State("route-date", "date"), State("route-return", "date"), State("route-nonstop", "value"),
                  prevent_initial_call=True)
    def run_search(_: int, origin: Any, destination: Any, departure: Any, back: Any,
                   nonstop: Any = None) -> tuple[Any, Any]:
        nonstop_only = inputs.choices(nonstop, [NONSTOP]) == [NONSTOP]
        outbound, inbound = round_trip(data, origin, destination, departure, back, nonstop_only=nonstop_only)
        airborne = airborne_callsigns(data) if outbound.rows or (inbound and inbound.rows) else {}
        reference = data.reference()
        return (results_block("Outbound", outbound, airborne, reference),
                results_block("Return", inbound, airborne, reference) if inbound is not None else [])

