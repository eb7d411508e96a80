"""Pipeline: the streaming job's progress over time and the nightly batch runs."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from dashboard.components import GRAPH_LAYOUT, data_table, message, page_header, utc
from dashboard.data import DashboardData

PROGRESS_POINTS = 300
GRAPHS = ("rates", "duration", "watermark", "rejects", "weather")
RUN_COLUMNS = [("day", "Day"), ("status", "Status"), ("started", "Started (UTC)"), ("duration", "Duration"),
               ("rows", "Rows"), ("error", "Error")]


def watermark_delay_s(progress: dict[str, Any]) -> float | None:
    """Seconds between the batch time and the event-time watermark (how far events lag)."""
    text = progress.get("watermark")
    if not text:
        return None
    try:
        mark = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if mark.tzinfo is None:
        mark = mark.replace(tzinfo=timezone.utc)
    return progress["timestamp"] - mark.timestamp()


def progress_figures(progress: list[dict[str, Any]]) -> dict[str, go.Figure]:
    times = [datetime.fromtimestamp(p["timestamp"], timezone.utc) for p in progress]

    def figure(title: str, series: dict[str, list[Any]], unit: str) -> go.Figure:
        fig = go.Figure([go.Scatter(x=times, y=values, name=name, mode="lines+markers") for name, values in series.items()])
        fig.update_layout(**GRAPH_LAYOUT, title=title, yaxis_title=unit)
        return fig

    return {
        "rates": figure("Input vs processed rate", {
            "input rows/s": [p.get("input_rows_per_second") for p in progress],
            "processed rows/s": [p.get("processed_rows_per_second") for p in progress]}, "rows/s"),
        "duration": figure("Batch duration", {"duration": [p.get("batch_duration_ms") for p in progress]}, "ms"),
        "watermark": figure("Watermark delay", {"delay": [watermark_delay_s(p) for p in progress]}, "s"),
        "rejects": figure("Rejected records per batch", {
            "rejects": [sum((p.get("rejects") or {}).values()) for p in progress]}, "records"),
        "weather": figure("Airborne states with weather", {
            "with weather": [weather_share(p) for p in progress]}, "%"),
    }


def weather_share(progress: dict[str, Any]) -> float | None:
    """Percent of a flights batch's airborne states joined with weather (None for other queries)."""
    rows = progress.get("sink_rows") or {}
    airborne = rows.get("airborne")
    return 100.0 * rows.get("airborne_with_weather", 0) / airborne if airborne else None


def weather_summary(progress: list[dict[str, Any]]) -> str:
    """The share over every batch shown, weighted by states: what the live weather planner achieves."""
    airborne = sum((p.get("sink_rows") or {}).get("airborne", 0) for p in progress)
    joined = sum((p.get("sink_rows") or {}).get("airborne_with_weather", 0) for p in progress)
    if not airborne:
        return "Airborne states with weather: no airborne states in the batches shown."
    return (f"Airborne states with weather: {100.0 * joined / airborne:.1f} % ({joined:,} of {airborne:,} in the last "
            f"{sum(1 for p in progress if (p.get('sink_rows') or {}).get('airborne'))} flight batches).")


def data_loss_lines(progress: list[dict[str, Any]]) -> list[str]:
    """One line per query that read less than its offsets held: Kafka deleted those messages first."""
    lost: dict[str, tuple[int, float]] = {}
    for p in progress:
        count = sum((p.get("data_lost") or {}).values())
        if count:
            total, _ = lost.get(p["query"], (0, 0.0))
            lost[p["query"]] = (total + count, p["timestamp"])
    return [f"Data lost: Kafka deleted {total:,} messages of the {query} query's topics before the streaming job "
            f"read them (last at {utc(at)}): the job was stopped or fell behind longer than the topics' retention."
            for query, (total, at) in sorted(lost.items())]


def run_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"day": r.get("day"), "status": r.get("status"), "started": utc(r.get("started_at")),
             "duration": "-" if r.get("duration_s") is None else f"{r['duration_s']:.0f} s",
             "rows": ", ".join(f"{k} {v:,}" for k, v in (r.get("rows") or {}).items()),
             "error": r.get("error") or ""} for r in runs]


def layout(**_query: Any) -> html.Div:
    graphs = [dcc.Graph(id=f"progress-{name}") for name in GRAPHS]
    return html.Div(
        [
            page_header("Pipeline", "Streaming micro-batches over time and the nightly batch runs."),
            html.Div(id="data-loss"),
            html.P(id="weather-coverage"),
            html.Div(graphs, className="grid-2"),
            html.H3("Batch runs"),
            html.Div(id="batch-run-table"),
            dcc.Interval(id="pipeline-tick", interval=10_000),
        ]
    )


def register(app: dash.Dash, data: DashboardData) -> None:
    dash.register_page(__name__, path="/pipeline", name="Pipeline", title="skyrisk · pipeline", order=4,
                       layout=layout)

    @app.callback([Output(f"progress-{n}", "figure") for n in GRAPHS]
                  + [Output("batch-run-table", "children"), Output("data-loss", "children"),
                     Output("weather-coverage", "children")],
                  Input("pipeline-tick", "n_intervals"))
    def refresh_pipeline(_: Any) -> list[Any]:
        progress = data.stream_progress(PROGRESS_POINTS)
        figures = progress_figures(progress)
        return [figures[n] for n in GRAPHS] + [
            data_table(RUN_COLUMNS, run_rows(data.batch_runs(50))), [message(line, "warning") for line in data_loss_lines(progress)],
            weather_summary(progress)]
