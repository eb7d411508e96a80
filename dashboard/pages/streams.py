"""Streams: the Kafka topics (read-only), the streaming job's lag and a message browser."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, dcc, html
from pymongo.errors import PyMongoError

from dashboard import inputs
from dashboard.components import data_table, message, page_header, utc
from dashboard.data import DashboardData, KafkaRecord, TopicStatus
from dashboard.health import ServiceDown

TOPIC_COLUMNS = [("topic", "Topic"), ("partitions", "Partitions"), ("end_offsets", "End offsets per partition"),
                 ("messages", "Messages retained"), ("rate", "Messages/s")]
LAG_COLUMNS = [("partition", "Topic-partition"), ("lag", "Lag (messages)")]
BROWSE_SIZES = (10, 25, 50, 100)


def topic_rows(statuses: list[TopicStatus]) -> list[dict[str, Any]]:
    return [{"topic": s.name, "partitions": s.partitions, "end_offsets": " ".join(str(o) for o in s.end_offsets),
             "messages": s.messages, "rate": "…" if s.messages_per_s is None else f"{s.messages_per_s:.1f}"}
            for s in statuses]


def lag_rows(progress: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The newest progress document's per-partition Kafka lag of the streaming job."""
    if not progress:
        return [], "The streaming job has not reported progress yet."
    latest = progress[-1]
    lag = latest.get("kafka_lag") or {}
    rows = [{"partition": k, "lag": v} for k, v in sorted(lag.items())]
    return rows, f"query {latest.get('query')} · batch {latest.get('batch_id')} at {utc(latest.get('timestamp'))} UTC"


def record_view(record: KafkaRecord) -> html.Details:
    summary = (f"partition {record.partition} · offset {record.offset} · {utc(record.timestamp_ms / 1000)} UTC"
               f" · key {record.key!s}")
    note = [html.Span(f" · {record.note}", className="record-note")] if record.note else []
    # A value shown as received may be one very long line: wrapped, in the pane's scroll area.
    body = html.Pre(record.value, className="record-raw" if record.note else None)
    return html.Details([html.Summary([summary, *note]), body], open=False, className="record")


def layout(**_query: Any) -> html.Div:
    return html.Div(
        [
            page_header("Streams", "Kafka topics, the streaming job's consumer lag, and the newest messages."),
            html.H3("Topics"),
            html.Div(id="topic-table"),
            html.H3("Streaming consumer lag"),
            html.Div(id="lag-note", className="subtitle"),
            html.Div(id="lag-table"),
            html.H3("Message browser"),
            html.Div(
                [
                    html.Div([html.Label("Topic"), dcc.Dropdown(
                        id="browse-topic", value=inputs.TOPIC_NAMES[0], clearable=False,
                        options=[{"label": t, "value": t} for t in inputs.TOPIC_NAMES])], className="field wide"),
                    html.Div([html.Label("Last"), dcc.Dropdown(
                        id="browse-count", value=BROWSE_SIZES[0], clearable=False,
                        options=[{"label": str(n), "value": n} for n in BROWSE_SIZES])], className="field"),
                    html.Button("Refresh", id="browse-refresh", n_clicks=0, className="button"),
                ],
                className="form-row",
            ),
            dcc.Loading(html.Div(id="browse-records")),
            dcc.Interval(id="streams-tick", interval=5_000),
        ]
    )


def register(app: dash.Dash, data: DashboardData) -> None:
    dash.register_page(__name__, path="/streams", name="Streams", title="skyrisk · streams", order=3, layout=layout)

    @app.callback(Output("topic-table", "children"), Output("lag-table", "children"), Output("lag-note", "children"),
                  Input("streams-tick", "n_intervals"))
    def refresh_topics(_: Any) -> tuple[Any, Any, Any]:
        try:
            topics = topic_rows(data.topics())
        except ServiceDown as error:
            topics = [{"topic": error.line}]
        except Exception as error:  # noqa: BLE001 - an unreachable broker is shown, not raised
            topics = [{"topic": f"broker unreachable: {error}"}]
        try:  # the lag comes from MongoDB: the topics above do not need it
            lag, note = lag_rows(data.stream_progress(1))
        except ServiceDown as error:
            lag, note = [], f"No lag: {error.line}"
        except PyMongoError as error:
            lag, note = [], f"No lag: MongoDB failed: {type(error).__name__}"
        return data_table(TOPIC_COLUMNS, topics), data_table(LAG_COLUMNS, lag), note

    @app.callback(Output("browse-records", "children"), Input("browse-topic", "value"),
                  Input("browse-count", "value"), Input("browse-refresh", "n_clicks"))
    def browse(topic: Any, count: Any, _: Any) -> Any:
        name = inputs.topic(topic)
        if name is None:
            return message("Unknown topic.", "warning")
        size = count if count in BROWSE_SIZES else BROWSE_SIZES[0]
        try:
            records = data.last_messages(name, size)
        except Exception as error:  # noqa: BLE001 - an unreachable broker is shown, not raised
            return message(f"Cannot read {name}: {error}", "warning")
        if not records:
            return message(f"{name} holds no messages.", "empty")
        return [html.P(f"{len(records)} newest message(s) of {name}")] + [record_view(r) for r in records]
