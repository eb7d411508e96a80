"""``python -m producers <source|all> <live|replay|sim> [PATH] [options]``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from producers.core import Clock
from producers.output import KafkaOutput
from producers.runner import MODES, SOURCES, RunOptions, create_all, create_source, run
from skyrisk.services import unreachable_service
from skyrisk.settings import Settings, load_settings

EXAMPLES = """examples:
  python -m producers all sim                              # what `make run` starts
  python -m producers opensky sim --aircraft 20000 --seed 7
  python -m producers opensky live --record recordings/    # also saves every raw response
  python -m producers opensky replay recordings/opensky --speed 10 --shift-to-now
  python -m producers opensky replay states_2022-06-27-00.csv.gz --speed 0
  python -m producers weather replay recordings/weather --loop
  python -m producers all replay recordings/ --speed 0
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m producers", description="Publish flight states, weather and "
                                "Lufthansa data to Kafka from the live APIs, recordings or the simulator.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", choices=(*SOURCES, "all"), help="which source ('all' runs the three together)")
    p.add_argument("mode", choices=MODES, help="live HTTP, replay of recorded data, or simulator")
    p.add_argument("path", nargs="?", type=Path,
                   help="replay: a file or directory (for 'all': the directory holding opensky/, weather/, lufthansa/)")
    p.add_argument("--speed", type=float, default=1.0, help="replay: times real time; 0 = as fast as possible")
    p.add_argument("--loop", action="store_true", help="replay: start again at the end")
    p.add_argument("--shift-to-now", action="store_true",
                   help="replay: stamp each snapshot with the time it is sent, so the data looks live at any --speed")
    p.add_argument("--record", type=Path, metavar="DIR",
                   help="live: save every raw response (gzipped) under DIR/<source>/")
    p.add_argument("--seed", type=int, help="sim: random seed (default: settings sim_seed)")
    p.add_argument("--aircraft", type=int, help="sim: number of aircraft (default: settings sim_aircraft)")
    p.add_argument("--bbox", help="region lamin,lomin,lamax,lomax (default: settings bbox)")
    p.add_argument("--bootstrap-servers", help="Kafka brokers (default: settings kafka_bootstrap_servers)")
    p.add_argument("--status-interval", type=float, help="seconds between status lines")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: run until SIGINT/SIGTERM)")
    return p


def kafka_unreachable(settings: Settings) -> str | None:
    """The one-line error when none of the bootstrap servers answers, else None. Checked at start
    only: once running, a broker that goes away is waited for (see producers.output)."""
    servers = [s.strip() for s in settings.kafka_bootstrap_servers.split(",") if s.strip()]
    for server in servers:
        if unreachable_service(settings.model_copy(update={"kafka_bootstrap_servers": server}), ["Kafka"]) is None:
            return None
    return unreachable_service(settings, ["Kafka"])


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.mode == "replay" and args.path is None:
        parser().error("replay needs a PATH")
    if args.record and args.mode != "live":
        parser().error("--record only applies to live mode")
    overrides: dict[str, Any] = {}
    if args.bbox:
        overrides["bbox"] = args.bbox
    if args.bootstrap_servers:
        overrides["kafka_bootstrap_servers"] = args.bootstrap_servers
    settings = load_settings(**overrides)
    if args.mode == "replay" and not args.path.exists():  # the user's own mistake first
        print(f"error: nothing to replay at {args.path}", file=sys.stderr)
        return 2
    if down := kafka_unreachable(settings):  # before anything logs or polls: one line, exit 2
        print(down, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    clock = Clock()
    options = RunOptions(path=args.path, speed=args.speed, loop=args.loop, shift_to_now=args.shift_to_now,
                         record=args.record, seed=args.seed, aircraft=args.aircraft)
    try:
        if args.source == "all":
            sources = create_all(args.mode, settings, clock, options)
        else:
            sources = [create_source(args.source, args.mode, settings, clock, options)]
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    output = KafkaOutput(settings)
    for signum in (signal.SIGINT, signal.SIGTERM):  # stop polling, flush, exit 0
        signal.signal(signum, lambda *_: clock.stop())
    return run(sources, output, clock, status_interval_s=args.status_interval or settings.producer_status_interval_s,
               max_seconds=args.duration, restart=args.mode == "live")
