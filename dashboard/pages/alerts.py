"""Alerts: the live feed of alert episodes, filtered by type, category and time."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import dash
from dash import Input, Output, dcc, html

from dashboard import inputs
from dashboard.components import data_table, map_link, page_header, utc
from dashboard.data import DashboardData
from dashboard.live import RISK_CATEGORIES

WINDOWS_MIN = {"15 min": 15, "1 h": 60, "6 h": 360, "24 h": 1440, "7 days": 10080}
FEED_LIMIT = 500
ALERT_COLUMNS = [("type", "Type"), ("callsign", "Callsign"), ("aircraft", "Aircraft"), ("risk", "Risk"),
                 ("reasons", "Reasons"), ("started", "Started (UTC)"), ("last_seen", "Last seen (UTC)"),
                 ("duration", "Duration")]


def alert_rows(alerts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for a in alerts:
        minutes = max(0, int((a.get("last_seen", 0) - a.get("started_at", 0)) // 60))
        rows.append({
            "type": a.get("type"),
            "callsign": (a.get("callsign") or "").strip() or "-",
            "aircraft": map_link(a.get("icao24", "")),
            "risk": f"{a.get('risk_score')} {a.get('risk_category')}" if a.get("risk_score") is not None else "-",
            "reasons": ", ".join(a.get("reasons") or []),
            "started": utc(a.get("started_at")),
            "last_seen": utc(a.get("last_seen")),
            "duration": f"{minutes} min",
        })
    return rows


def layout(**_query: Any) -> html.Div:
    return html.Div(
        [
            page_header("Alerts", "Alert episodes as they happen; click an aircraft to see it on the map."),
            html.Div(
                [
                    html.Div([html.Label("Type"), dcc.Checklist(
                        id="alert-types", value=list(inputs.ALERT_TYPES), inline=True,
                        options=[{"label": f" {t}", "value": t} for t in inputs.ALERT_TYPES])], className="field"),
                    html.Div([html.Label("Risk category (any when none ticked)"), dcc.Checklist(
                        id="alert-categories", value=[], inline=True,
                        options=[{"label": f" {c}", "value": c} for c in RISK_CATEGORIES])], className="field"),
                    html.Div([html.Label("Seen in the last"), dcc.Dropdown(
                        id="alert-window", value="1 h", clearable=False,
                        options=[{"label": k, "value": k} for k in WINDOWS_MIN])], className="field"),
                ],
                className="form-row",
            ),
            html.Div(id="alert-summary", className="subtitle"),
            html.Div(id="alert-table"),
            dcc.Interval(id="alert-tick", interval=5_000),
        ]
    )


def register(app: dash.Dash, data: DashboardData) -> None:
    dash.register_page(__name__, path="/alerts", name="Alerts", title="skyrisk · alerts", order=2, layout=layout)

    @app.callback(Output("alert-table", "children"), Output("alert-summary", "children"),
                  Input("alert-tick", "n_intervals"), Input("alert-types", "value"),
                  Input("alert-categories", "value"), Input("alert-window", "value"))
    def refresh_alerts(_: Any, types: Any, categories: Any, window: Any) -> tuple[Any, str]:
        minutes = WINDOWS_MIN.get(window, 60) if isinstance(window, str) else 60
        wanted = inputs.choices(categories, RISK_CATEGORIES)
        # Only unknown categories asked for ({"$ne": null}, ".*"): they match nothing, never "any category".
        nothing = bool(categories) and not wanted
        alerts = [] if nothing else data.alerts(inputs.choices(types, inputs.ALERT_TYPES), wanted,
                                                time.time() - minutes * 60, FEED_LIMIT)
        return data_table(ALERT_COLUMNS, alert_rows(alerts)), f"{len(alerts)} alert episode(s) seen in the last {minutes} min"
