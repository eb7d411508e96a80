"""``python -m dashboard``: serve the dashboard with waitress (production WSGI, debug off)."""

from __future__ import annotations

from waitress import serve

from dashboard.app import create_app
from skyrisk.settings import load_settings


def main() -> None:
    settings = load_settings()
    app = create_app(settings)
    url = f"http://{settings.dashboard_host}:{settings.dashboard_port}/"
    print(f"skyrisk dashboard: {url}", flush=True)
    serve(app.server, host=settings.dashboard_host, port=settings.dashboard_port, threads=8, ident="skyrisk")


if __name__ == "__main__":
    main()
