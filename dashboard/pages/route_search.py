"""Route search: Lufthansa journeys between two airports/cities on a date (and back)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from dashboard import inputs
from dashboard.components import data_table, map_link, message, page_header
from dashboard.data import DashboardData
from dashboard.routes import JourneyRow, journey_rows

RESULT_COLUMNS = [
    ("flights", "Flight(s)"), ("departure_date", "Departure date"), ("departure_time", "Dep. (local)"),
    ("arrival_date", "Arrival date"), ("arrival_time", "Arr. (local)"), ("duration", "Duration"),
    ("stops", "Stops / connections"), ("aircraft", "Aircraft"), ("days", "Days of operation"),
    ("live", "Live"),
]


def location_label(reference: dict[str, Any], code: str) -> str:
    """``Frankfurt/Main International (FRA)``; a city code gets the city's name."""
    record = reference["airports"].get(code) or reference["cities"].get(code) or {}
    return f"{record.get('name') or code} ({code})"


def origin_options(reference: dict[str, Any]) -> list[dict[str, str]]:
    options = [{"label": location_label(reference, code), "value": code} for code in reference["routes"]]
    return sorted(options, key=lambda o: o["label"])


def destination_options(reference: dict[str, Any], origin: Any) -> list[dict[str, str]]:
    """Destinations served from ``origin`` (an unknown or malformed origin has none)."""
    origin_code = inputs.location_code(origin, reference["routes"].keys())
    destinations = reference["routes"][origin_code] if origin_code else []
    return sorted(({"label": location_label(reference, c), "value": c} for c in destinations), key=lambda o: o["label"])


def known_locations(reference: dict[str, Any]) -> set[str]:
    """Every code the user may name: reference airports and cities, and all schedule endpoints."""
    codes = set(reference["airports"]) | set(reference["cities"]) | set(reference["routes"])
    return codes.union(*reference["routes"].values())


def search(data: DashboardData, origin: Any, destination: Any, day: Any) -> tuple[list[JourneyRow], str | None]:
    """Validated search: (rows, error). Codes must be known, the date a real date; a pair of
    known codes with no schedule between them has no flights (and costs no query)."""
    reference = data.reference()
    known = known_locations(reference)
    origin_code = inputs.location_code(origin, known)
    if origin_code is None:
        return [], "Choose a departure airport from the list."
    destination_code = inputs.location_code(destination, known)
    if destination_code is None:
        return [], "Choose a destination from the list."
    when = inputs.day(day)
    if when is None:
        return [], "Choose a valid departure date."
    if destination_code not in reference["routes"].get(origin_code, []):
        return [], None
    return journey_rows(data.schedules(origin_code, destination_code, when), reference["icao_of_airline"]), None


def airborne_callsigns(data: DashboardData) -> dict[str, str]:
    """Callsign -> icao24 of every airborne live aircraft (for the "on the map" links)."""
    snapshot = data.live_snapshot()
    return {c: i for c, i, ground in zip(snapshot.callsign, snapshot.icao24, snapshot.on_ground) if c and not ground}


def layout(**_query: Any) -> html.Div:
    today = datetime.now(timezone.utc).date().isoformat()
    return html.Div(
        [
            page_header("Route search", "Lufthansa scheduled journeys between two airports or cities."),
            html.Div(
                [
                    html.Div([html.Label("From"), dcc.Dropdown(id="route-from", placeholder="Departure airport")],
                             className="field wide"),
                    html.Div([html.Label("To"), dcc.Dropdown(id="route-to", placeholder="Destination")],
                             className="field wide"),
                    html.Div([html.Label("Departure date"), dcc.DatePickerSingle(id="route-date", date=today,
                                                                                 display_format="YYYY-MM-DD")],
                             className="field"),
                    html.Div([html.Label("Return date (optional)"),
                              dcc.DatePickerSingle(id="route-return", display_format="YYYY-MM-DD", clearable=True)],
                             className="field"),
                    html.Button("Search", id="route-search", n_clicks=0, className="button"),
                ],
                className="form-row",
            ),
            html.Div(id="route-outbound"),
            html.Div(id="route-inbound"),
        ]
    )


def results_block(title: str, rows: list[JourneyRow], error: str | None, airborne: dict[str, str]) -> list[Any]:
    if error:
        return [html.H3(title), message(error, "warning")]
    if not rows:
        return [html.H3(title), message("No flights found for this route and date.", "empty")]
    table_rows = []
    for row in rows:
        live = row.airborne_icao24(airborne)
        table_rows.append({**row.__dict__, "live": map_link(live, "on the map") if live else ""})
    return [html.H3(f"{title}: {len(rows)} journey{'s' if len(rows) > 1 else ''}"),
            data_table(RESULT_COLUMNS, table_rows)]


def register(app: dash.Dash, data: DashboardData) -> None:
    dash.register_page(__name__, path="/routes", name="Route search", title="skyrisk · route search", order=1,
                       layout=layout)

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
                  State("route-date", "date"), State("route-return", "date"), prevent_initial_call=True)
    def run_search(_: int, origin: Any, destination: Any, departure: Any, back: Any) -> tuple[Any, Any]:
        airborne = airborne_callsigns(data)
        rows, error = search(data, origin, destination, departure)
        outbound = results_block("Outbound", rows, error, airborne)
        if back in (None, "") or error:
            return outbound, []
        return_day = inputs.day(back)
        departure_day = inputs.day(departure)
        if return_day is None or (departure_day is not None and return_day < departure_day):
            return outbound, results_block("Return", [], "The return date must be on or after departure.", {})
        rows_back, error_back = search(data, destination, origin, back)
        return outbound, results_block("Return", rows_back, error_back, airborne)

