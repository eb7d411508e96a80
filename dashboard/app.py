"""The Dash application: pages registered with their data access, the offline base map served."""

from __future__ import annotations

import logging
from pathlib import Path

import dash
from dash import Dash, Input, Output, dcc, html
from flask import Response

from dashboard.basemap import COUNTRIES_URL, countries_geojson
from dashboard.data import DashboardData
from dashboard.health import ServiceDown
from dashboard.hosts import HostGuard, allowed_hosts
from dashboard.pages import alerts, history, live_map, pipeline, route_search, streams
from skyrisk.settings import Settings

PAGES = (live_map, route_search, alerts, streams, pipeline, history)
STATUS_REFRESH_MS = 5_000
log = logging.getLogger("skyrisk.dashboard")


def navigation() -> html.Nav:
    links = [html.A(page["name"], href=page["relative_path"], className="nav-link")
             for page in sorted(dash.page_registry.values(), key=lambda p: p["order"])]
    return html.Nav([html.Span("skyrisk", className="brand")] + links, className="navbar")


def service_unavailable(error: Exception) -> None:
    """Dash's error handler for every callback: a service that is down (or fails a request) leaves the
    outputs as they are — the banner above every page says what is down — instead of a 500; any
    other error is a bug and is raised."""
    from confluent_kafka import KafkaException
    from pymongo.errors import PyMongoError

    if isinstance(error, ServiceDown | PyMongoError | KafkaException | OSError):
        log.warning("callback without data: %s: %s", type(error).__name__, str(error).splitlines()[0][:300]
                    if str(error) else "")
        return None  # no update
    raise error


def create_app(settings: Settings, data: DashboardData | None = None) -> Dash:
    """One app; ``data`` is the single access point to MongoDB, Kafka and the lake."""
    data = data or DashboardData(settings)
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",  # pages are registered below, each with the data object
        assets_folder=str(Path(__file__).parent / "assets"),
        title="skyrisk",
        serve_locally=True,  # no CDN: everything comes from this server
        suppress_callback_exceptions=True,
        on_error=service_unavailable,
    )
    # Before Flask and Dash: a request for any other host name is refused (DNS rebinding).
    app.server.wsgi_app = HostGuard(app.server.wsgi_app, allowed_hosts(settings))
    app.server.add_url_rule(COUNTRIES_URL, "countries", lambda: Response(countries_geojson(),
                                                                           mimetype="application/geo+json"))
    for page in PAGES:
        page.register(app, data)
    app.layout = html.Div([navigation(), html.Div(id="service-status", className="service-status"),
                           dcc.Interval(id="service-status-tick", interval=STATUS_REFRESH_MS),
                           html.Main(dash.page_container, className="content")])

    @app.callback(Output("service-status", "children"), Input("service-status-tick", "n_intervals"))
    def show_service_status(_: object) -> list[html.Div]:
        return [html.Div(line, className="message message-warning") for line in data.health.banner_lines()]

    return app
