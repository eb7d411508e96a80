"""``python -m dashboard``: serve the dashboard with waitress (production WSGI, debug off)."""

from __future__ import annotations

import argparse

from waitress import serve

from dashboard.app import create_app
from skyrisk.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="Serve the skyrisk dashboard (waitress). Address and databases come from the "
        "SKYRISK_* settings; the options below override the address.",
    )
    parser.add_argument("--host", help="bind address (default SKYRISK_DASHBOARD_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default SKYRISK_DASHBOARD_PORT, 8050)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in {"dashboard_host": args.host, "dashboard_port": args.port}.items() if v}
    settings = load_settings(**overrides)
    app = create_app(settings)
    url = f"http://{settings.dashboard_host}:{settings.dashboard_port}/"
    print(f"skyrisk dashboard: {url}", flush=True)
    serve(app.server, host=settings.dashboard_host, port=settings.dashboard_port, threads=8, ident="skyrisk")


if __name__ == "__main__":
    main()
