"""The Dash application: pages registered with their data access, the offline base map served."""

from __future__ import annotations

from pathlib import Path

import dash
from dash import Dash, html
from flask import Response

from dashboard.basemap import COUNTRIES_URL, countries_geojson
from dashboard.data import DashboardData
from dashboard.hosts import HostGuard, allowed_hosts
from dashboard.pages import alerts, history, live_map, pipeline, route_search, streams
from skyrisk.settings import Settings

PAGES = (live_map, route_search, alerts, streams, pipeline, history)


def navigation() -> html.Nav:
    links = [html.A(page["name"], href=page["relative_path"], className="nav-link")
             for page in sorted(dash.page_registry.values(), key=lambda p: p["order"])]
    return html.Nav([html.Span("skyrisk", className="brand")] + links, className="navbar")


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
    )
    # Before Flask and Dash: a request for any other host name is refused (DNS rebinding).
    app.server.wsgi_app = HostGuard(app.server.wsgi_app, allowed_hosts(settings))
    app.server.add_url_rule(COUNTRIES_URL, "countries", lambda: Response(countries_geojson(),
                                                                           mimetype="application/geo+json"))
    for page in PAGES:
        page.register(app, data)
    app.layout = html.Div([navigation(), html.Main(dash.page_container, className="content")])
    return app
