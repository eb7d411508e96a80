"""History: daily statistics from ``daily_stats`` and a replay of one flight from the curated lake."""

from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from dashboard import inputs
from dashboard.basemap import map_style
from dashboard.components import GRAPH_LAYOUT, message, page_header, utc
from dashboard.data import DashboardData
from dashboard.live import RISK_CATEGORIES, RISK_COLOURS
from skyrisk.contracts import DailyStats

STAT_GRAPHS = ("per-day", "hourly", "risk", "alert-types", "cells")


def stats_figures(stats: list[DailyStats], day: str | None) -> dict[str, go.Figure]:
    """Trends over all days, and the breakdowns of ``day`` (the newest when not given)."""
    chosen = next((s for s in stats if s.date == day), stats[-1] if stats else None)
    days = [s.date for s in stats]

    def styled(fig: go.Figure, title: str) -> go.Figure:
        fig.update_layout(**GRAPH_LAYOUT, title=title)
        return fig

    per_day = go.Figure([go.Bar(x=days, y=[s.flights for s in stats], name="flights"),
                         go.Bar(x=days, y=[s.aircraft for s in stats], name="aircraft")])
    if chosen is None:
        empty = go.Figure()
        return {"per-day": styled(per_day, "Flights and aircraft per day"), "hourly": styled(empty, "No day yet"),
                "risk": styled(go.Figure(), ""), "alert-types": styled(go.Figure(), ""),
                "cells": styled(go.Figure(), "")}
    label = chosen.date
    return {
        "per-day": styled(per_day, "Flights and aircraft per day"),
        "hourly": styled(go.Figure(go.Bar(x=list(range(24)), y=chosen.hourly_traffic)),
                         f"{label}: positions per UTC hour"),
        "risk": styled(go.Figure(go.Bar(x=list(RISK_CATEGORIES),
                                        y=[chosen.risk_distribution.get(c, 0) for c in RISK_CATEGORIES],
                                        marker_color=[RISK_COLOURS[c] for c in RISK_CATEGORIES])),
                       f"{label}: positions per risk category"),
        "alert-types": styled(go.Figure(go.Bar(x=list(chosen.alerts_by_type), y=list(chosen.alerts_by_type.values()))),
                              f"{label}: alerts by type"),
        "cells": styled(go.Figure(go.Bar(x=[c.count for c in chosen.busiest_cells][::-1],
                                         y=[c.cell_id for c in chosen.busiest_cells][::-1], orientation="h")),
                        f"{label}: busiest weather cells"),
    }


def replay_figure(points: list[dict[str, Any]], upto: int) -> go.Figure:
    """The whole track faint, flown part bright, the aircraft at point ``upto``."""
    upto = max(0, min(upto, len(points) - 1))
    lat = [p["latitude"] for p in points]
    lon = [p["longitude"] for p in points]
    current = points[upto] if points else None
    fig = go.Figure([
        go.Scattermap(lat=lat, lon=lon, mode="lines", line={"color": "#5b7288", "width": 2}, name="track",
                      hoverinfo="skip"),
        go.Scattermap(lat=lat[: upto + 1], lon=lon[: upto + 1], mode="lines", line={"color": "#ffeb3b", "width": 3},
                      name="flown", hoverinfo="skip"),
        go.Scattermap(lat=[current["latitude"]] if current else [], lon=[current["longitude"]] if current else [],
                      mode="markers", marker={"size": 14, "color": "#ff9f1c"}, name="aircraft",
                      hovertext=[f"{utc(current['event_time'])} UTC, {current.get('baro_altitude') or 0:,.0f} m"]
                      if current else [], hoverinfo="text"),
    ])
    center = {"lat": sum(lat) / len(lat), "lon": sum(lon) / len(lon)} if points else {"lat": 50, "lon": 10}
    fig.update_layout(map={"style": map_style(False), "center": center, "zoom": 4}, uirevision="replay",
                      margin={"l": 0, "r": 0, "t": 0, "b": 0}, paper_bgcolor="#0f1923", height=450, showlegend=False)
    return fig


def layout(**_query: Any) -> html.Div:
    return html.Div(
        [
            page_header("History", "Daily statistics from the nightly batch, and the replay of a past flight."),
            html.Div(html.Div([html.Label("Day"), dcc.Dropdown(id="history-day", placeholder="newest day")],
                              className="field"), className="form-row"),
            html.Div([dcc.Graph(id=f"history-{name}") for name in STAT_GRAPHS], className="grid-2"),
            html.H3("Replay a flight"),
            html.Div(
                [
                    html.Div([html.Label("Day (published in the lake)"), dcc.Dropdown(id="replay-day")],
                             className="field"),
                    html.Div([html.Label("Flight"), dcc.Dropdown(id="replay-flight")], className="field wide"),
                ],
                className="form-row",
            ),
            html.Div(id="replay-note", className="subtitle"),
            dcc.Slider(id="replay-slider", min=0, max=0, step=1, value=0, marks=None,
                       tooltip={"placement": "bottom"}),
            dcc.Graph(id="replay-map", figure=replay_figure([], 0), config={"scrollZoom": True}),
            dcc.Store(id="replay-points"),
        ]
    )


def register(app: dash.Dash, data: DashboardData) -> None:
    dash.register_page(__name__, path="/history", name="History", title="skyrisk · history", order=5, layout=layout)

    @app.callback([Output(f"history-{n}", "figure") for n in STAT_GRAPHS] + [Output("history-day", "options")],
                  Input("history-day", "value"))
    def show_stats(day: Any) -> list[Any]:
        stats = data.daily_stats()
        chosen = inputs.day(day)
        figures = stats_figures(stats, chosen.isoformat() if chosen else None)
        return [figures[n] for n in STAT_GRAPHS] + [[s.date for s in reversed(stats)]]

    @app.callback(Output("replay-day", "options"), Input("replay-day", "id"))
    def list_days(_: Any) -> list[str]:
        try:
            return data.published_days()[::-1]
        except OSError:
            return []

    @app.callback(Output("replay-flight", "options"), Input("replay-day", "value"))
    def list_flights(day: Any) -> list[dict[str, str]]:
        chosen = inputs.day(day)
        if chosen is None:
            return []
        try:
            flights = data.flights_of_day(chosen)
        except OSError:  # the object store is unreachable: nothing to pick
            return []
        return [{"label": f"{(f['callsign'] or '').strip() or f['icao24']} · {utc(f['first_seen'])[11:16]}–"
                          f"{utc(f['last_seen'])[11:16]} UTC", "value": f["flight_id"]}
                for f in flights]

    @app.callback(Output("replay-points", "data"), Output("replay-slider", "max"), Output("replay-slider", "value"),
                  Output("replay-note", "children"), Input("replay-flight", "value"), State("replay-day", "value"))
    def load_flight(flight: Any, day: Any) -> tuple[Any, int, int, Any]:
        chosen_day, chosen_flight = inputs.day(day), inputs.flight_id(flight)
        if chosen_day is None or chosen_flight is None:
            return [], 0, 0, "Pick a day and a flight."
        points = data.replay_track(chosen_day, chosen_flight)
        if not points:
            return [], 0, 0, message("No positions for this flight.", "empty")
        note = f"{len(points)} positions, {utc(points[0]['event_time'])} – {utc(points[-1]['event_time'])} UTC"
        return points, len(points) - 1, len(points) - 1, note

    @app.callback(Output("replay-map", "figure"), Input("replay-slider", "value"), State("replay-points", "data"))
    def move_slider(position: Any, points: Any) -> go.Figure:
        points = points if isinstance(points, list) else []
        return replay_figure(points, inputs.bounded_int(position, 0, max(0, len(points) - 1), 0))
