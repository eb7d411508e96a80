"""``python -m dashboard``: serve the dashboard with waitress (production WSGI, debug off).

It starts with MongoDB, MinIO or Kafka down: one warning line per service that does not answer
(the line of ``skyrisk.services.unreachable_service``), and every page says the same while it lasts.
The dashboard is where an analyst looks when the pipeline is in trouble, so it does not refuse to
start because part of it is; what it cannot do without is its own port (exit 2, one line).
"""

from __future__ import annotations

import argparse
import errno
import sys

from dashboard.health import unreachable_lines
from skyrisk.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="Serve the skyrisk dashboard (waitress). Address and databases come from the "
        "SKYRISK_* settings; the options below override the address. Starts with MongoDB, MinIO or "
        "Kafka down and says on every page what is down.",
    )
    parser.add_argument("--host", help="bind address (default SKYRISK_DASHBOARD_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default SKYRISK_DASHBOARD_PORT, 8050)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in {"dashboard_host": args.host, "dashboard_port": args.port}.items() if v}
    settings = load_settings(**overrides)

    from waitress import create_server

    from dashboard.app import create_app

    host, port = settings.dashboard_host, settings.dashboard_port
    app = create_app(settings)
    try:
        server = create_server(app.server, host=host, port=port, threads=8, ident="skyrisk")
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            print(f"error: port {port} on {host} is already in use; stop what holds it or set SKYRISK_DASHBOARD_PORT",
                  file=sys.stderr, flush=True)
        else:
            print(f"error: cannot listen on {host}:{port}: {error.strerror or error}", file=sys.stderr, flush=True)
        return 2
    for line in unreachable_lines(settings):
        print(f"warning: {line.removeprefix('error: ')}; the dashboard starts anyway and says so on every page",
              file=sys.stderr, flush=True)
    print(f"skyrisk dashboard: http://{host}:{port}/", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
