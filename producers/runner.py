"""Choosing the client for (source, mode) and running sources into Kafka until stopped."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from producers.core import Clock, SourceClient, Stopped
from producers.http import Recorder
from producers.lufthansa import LufthansaLive, LufthansaReplay
from producers.opensky import OpenSkyLive, OpenSkyReplay
from producers.output import KafkaOutput, StatusLine
from producers.simulator import LufthansaSim, OpenSkySim, WeatherSim
from producers.weather import WeatherLive, WeatherReplay
from skyrisk.settings import Settings

log = logging.getLogger(__name__)

SOURCES = ("opensky", "weather", "lufthansa")
MODES = ("live", "replay", "sim")
RESTART_DELAY_S = 30.0
FLUSH_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class RunOptions:
    path: Path | None = None  # replay input
    speed: float = 1.0
    loop: bool = False
    shift_to_now: bool = False
    record: Path | None = None  # live: save raw responses here
    seed: int | None = None
    aircraft: int | None = None


def create_source(source: str, mode: str, settings: Settings, clock: Clock, options: RunOptions) -> SourceClient:
    """The one place that maps configuration to a client implementation."""
    if mode == "live":
        recorder = Recorder(options.record / source, clock) if options.record else None
        if source == "opensky":
            return OpenSkyLive(settings, clock, recorder=recorder)
        if source == "weather":
            return WeatherLive(settings, clock, recorder=recorder)
        if source == "lufthansa":
            return LufthansaLive(settings, clock, recorder=recorder)
    elif mode == "replay":
        if options.path is None:
            raise ValueError("replay needs a PATH")
        if source == "opensky":
            return OpenSkyReplay(options.path, clock, speed=options.speed, loop=options.loop,
                                 shift_to_now=options.shift_to_now)
        if source == "weather":
            return WeatherReplay(options.path, settings, clock, speed=options.speed, loop=options.loop,
                                 shift_to_now=options.shift_to_now)
        if source == "lufthansa":
            return LufthansaReplay(options.path, clock, loop=options.loop)
    elif mode == "sim":
        if source == "opensky":
            return OpenSkySim(settings, clock, aircraft=options.aircraft, seed=options.seed)
        if source == "weather":
            return WeatherSim(settings, clock, seed=options.seed)
        if source == "lufthansa":
            return LufthansaSim(settings, clock)
    raise ValueError(f"unknown source/mode {source}/{mode}")


def create_all(mode: str, settings: Settings, clock: Clock, options: RunOptions) -> list[SourceClient]:
    """Every source in one mode. A replay reads PATH/<source>/ (the recorder's layout); a source whose
    input or credentials are missing is left out with a warning instead of stopping the others."""
    sources = []
    for source in SOURCES:
        own = options
        if mode == "replay" and options.path is not None:
            own = RunOptions(**{**options.__dict__, "path": options.path / source})
            if not own.path.exists():  # type: ignore[union-attr]
                log.warning("no %s recordings under %s: %s not replayed", source, options.path, source)
                continue
        try:
            sources.append(create_source(source, mode, settings, clock, own))
        except ValueError as exc:
            log.warning("%s left out: %s", source, exc)
    if not sources:
        raise ValueError(f"no source can run in {mode} mode")
    return sources


def _pump(source: SourceClient, output: KafkaOutput, clock: Clock, restart: bool, failures: list[str],
          observers: list[SourceClient]) -> None:
    while not clock.stopped:
        try:
            for batch in source.batches():
                output.publish(batch)
                for observer in observers:
                    observer.observe(batch)
                if clock.stopped:
                    return
            return
        except Stopped:
            return
        except Exception:  # a live poller never dies: log and start polling again
            log.exception("%s failed", source.name)
            if not restart:
                failures.append(source.name)
                return
            clock.sleep(RESTART_DELAY_S)


def run(sources: list[SourceClient], output: KafkaOutput, clock: Clock, *, status_interval_s: float,
        max_seconds: float | None = None, restart: bool = False) -> int:
    """Pumps every source on its own thread until they finish, the clock stops (SIGINT/SIGTERM) or
    ``max_seconds`` pass; then flushes. Returns the process exit code."""
    failures: list[str] = []
    threads = [threading.Thread(target=_pump, args=(s, output, clock, restart, failures, sources), name=s.name,
                                daemon=True) for s in sources]
    for thread in threads:
        thread.start()
    status = StatusLine(output, sources, clock.now)
    started = clock.now()
    next_status = started + status_interval_s
    while any(t.is_alive() for t in threads) and not clock.stopped:
        clock.sleep(0.2)
        now = clock.now()
        if now >= next_status:
            log.info(status.line())
            next_status = now + status_interval_s
        if max_seconds is not None and now - started >= max_seconds:
            break
    clock.stop()
    output.begin_shutdown()  # a source blocked on a full queue gives up after the grace (counted)
    deadline = time.monotonic() + output.shutdown_grace_s + 5
    for thread in threads:  # sources notice the stopped clock within one batch or sleep
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    lost = output.flush(timeout_s=FLUSH_TIMEOUT_S)  # grace + flush: within the 45 s `make run` grants
    log.info("stopped: %s", status.line(final=True))
    return 1 if failures or lost else 0
