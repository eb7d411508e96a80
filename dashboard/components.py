"""Small layout pieces shared by the pages (no data access here)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from dash import dcc, html

GRAPH_LAYOUT: dict[str, Any] = {
    "template": "plotly_dark",
    "paper_bgcolor": "#0f1923",
    "plot_bgcolor": "#13202e",
    "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
    "height": 300,
}


def page_header(title: str, subtitle: str) -> html.Div:
    return html.Div([html.H2(title), html.P(subtitle, className="subtitle")], className="page-header")


def data_table(columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> html.Table:
    """A plain table: ``columns`` are (key, heading); a cell may be text or a component."""
    return html.Table(
        [html.Thead(html.Tr([html.Th(name) for _, name in columns])),
         html.Tbody([html.Tr([html.Td(row.get(key, "")) for key, _ in columns]) for row in rows])],
        className="data-table",
    )


def map_link(icao24: str, text: str | None = None) -> dcc.Link:
    """A link that opens the live map centred on one aircraft, with its detail panel."""
    return dcc.Link(text or icao24, href=f"/?icao24={icao24}")


def utc(epoch_s: float | None) -> str:
    if epoch_s is None:
        return "-"
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def message(text: str, kind: str = "info") -> html.Div:
    return html.Div(text, className=f"message message-{kind}")
