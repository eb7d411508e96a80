"""python -m infra {setup,up,down,status,logs,run,check-credentials}: the operations behind the Makefile
(and docker-compose's credentials guard)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from infra import stack
from infra.setup import PARTS, SetupError, setup
from skyrisk.services import unreachable_service
from skyrisk.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    setup_cmd = sub.add_parser("setup", help="obtain jars, build MinIO/FerretDB, install the browser (cached)")
    setup_cmd.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS),
                           help="obtain only these parts (default: all)")
    sub.add_parser("up", help="start Kafka, MinIO, FerretDB and create topics, bucket, collections")
    sub.add_parser("bootstrap", help="create topics, bucket, collections and indexes on running services")
    sub.add_parser("down", help="stop the services (data is kept)")
    sub.add_parser("status", help="show each service, its pid, health and address")
    logs = sub.add_parser("logs", help="show the services' logs")
    logs.add_argument("service", nargs="?", choices=stack.SERVICE_NAMES)
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    run = sub.add_parser("run", help="setup + up + the whole pipeline; Ctrl-C stops everything")
    run.add_argument("--mode", choices=("sim", "live", "replay"), help="producer mode (default: from settings)")
    sub.add_parser("check-credentials",
                   help="docker-compose: refuse credentials that are empty or the .env.example placeholders")
    args = parser.parse_args(argv)
    if args.command == "check-credentials":
        from infra.credentials import check

        return check(os.environ)  # compose hands the credentials over as environment variables

    settings = load_settings()
    try:
        if args.command == "setup":
            setup(settings, parts=tuple(args.only))
        elif args.command == "up":
            started = time.monotonic()
            stack.up(settings)
            print(f"Stack ready in {time.monotonic() - started:.1f}s. `make status` shows it, `make down` stops it.")
        elif args.command == "bootstrap":
            problem = unreachable_service(settings)  # one line, not a client's traceback
            if problem:
                print(problem, file=sys.stderr)
                return 2
            stack.bootstrap(settings)
        elif args.command == "down":
            stack.down(settings)
        elif args.command == "status":
            return print_status(settings)
        elif args.command == "logs":
            show_logs(settings, args.service, args.lines, args.follow)
        elif args.command == "run":
            from infra.run import run_platform

            return run_platform(settings, mode=args.mode)
    except (stack.StackError, SetupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def print_status(settings) -> int:
    rows = stack.status(settings)
    print(f"{'service':10s} {'state':10s} {'pid':>8s}  address")
    for row in rows:
        state = "healthy" if row.healthy else ("unhealthy" if row.pid else "stopped")
        print(f"{row.name:10s} {state:10s} {row.pid or '-':>8}  {row.address}")
    return 0


def show_logs(settings, service: str | None, lines: int, follow: bool) -> None:
    names = [service] if service else list(stack.SERVICE_NAMES)
    for name in names:
        print(f"==> {name}: {stack.log_file(settings, name)}")
        print(stack.tail(stack.log_file(settings, name), lines))
    if follow:
        # (inode, offset) per log: a rotated log is a new file, read from its start.
        offsets = {name: (stat.st_ino, stat.st_size) for name in names
                   if (path := stack.log_file(settings, name)).exists() and (stat := path.stat())}
        while True:
            time.sleep(1)
            for name in names:
                path = stack.log_file(settings, name)
                if not path.exists():
                    continue
                inode, offset = offsets.get(name, (None, 0))
                with path.open("rb") as handle:
                    current = os.fstat(handle.fileno()).st_ino
                    handle.seek(offset if current == inode else 0)
                    chunk = handle.read()
                    offsets[name] = (current, handle.tell())
                for line in chunk.decode(errors="replace").splitlines():
                    print(f"[{name}] {line}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
