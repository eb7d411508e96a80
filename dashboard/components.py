"""Small layout pieces shared by the pages (no data access here)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from dash import dash_table, html

TABLE_STYLE: dict[str, Any] = {
    "style_table": {"overflowX": "auto"},
    "style_cell": {"backgroundColor": "#13202e", "color": "#dfe7ef", "border": "1px solid #2a3b4d",
                   "fontFamily": "inherit", "fontSize": "13px", "padding": "4px 8px", "textAlign": "left"},
    "style_header": {"backgroundColor": "#1d2b3a", "fontWeight": "bold"},
    "page_size": 25,
}

GRAPH_LAYOUT: dict[str, Any] = {
    "template": "plotly_dark",
    "paper_bgcolor": "#0f1923",
    "plot_bgcolor": "#13202e",
    "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
    "height": 300,
}


def page_header(title: str, subtitle: str) -> html.Div:
    return html.Div([html.H2(title), html.P(subtitle, className="subtitle")], className="page-header")


def table(table_id: str, columns: list[tuple[str, str]], markdown: tuple[str, ...] = ()) -> dash_table.DataTable:
    return dash_table.DataTable(
        id=table_id,
        columns=[{"name": name, "id": key, **({"presentation": "markdown"} if key in markdown else {})}
                 for key, name in columns],
        data=[],
        markdown_options={"link_target": "_self"},
        **TABLE_STYLE,
    )


def utc(epoch_s: float | None) -> str:
    if epoch_s is None:
        return "-"
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def message(text: str, kind: str = "info") -> html.Div:
    return html.Div(text, className=f"message message-{kind}")
