"""`make run`: the whole platform in one terminal.

Sets up and starts the services, then supervises the pipeline's processes (producers,
streaming job, nightly scheduler, dashboard): their output is shown with a prefix and kept
under ``<data_dir>/logs``; a component that crashes is restarted with backoff (the streaming
job resumes from its checkpoint). Ctrl-C (or SIGTERM) stops the components in order —
producers first so they flush — and then the services.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from infra import stack
from infra.logs import LogLimits, RotatingLog
from infra.setup import setup
from skyrisk.settings import Settings

RESTART_LIMIT = 5  # crashes within RESTART_WINDOW before a component is given up
RESTART_WINDOW = 600.0
STOP_TIMEOUT = 45.0
SERVICE_WAIT_S = 900  # how long a restarted streaming job waits for a service that is down (an outage)


@dataclass
class Component:
    name: str
    module: str
    args: list[str]
    process: subprocess.Popen | None = None
    crashes: list[float] = field(default_factory=list)
    given_up: bool = False
    finishes: bool = False  # may end on its own (a replay): exit 0 is done, not a crash to restart
    log_limits: LogLimits = field(default_factory=LogLimits)  # its log file is rotated by size
    env: dict[str, str] = field(default_factory=dict)  # added to the environment it inherits

    def available(self) -> bool:
        return importlib.util.find_spec(self.module) is not None and (
            importlib.util.find_spec(f"{self.module}.__main__") is not None
        )


def producer_mode(settings: Settings, requested: str | None) -> str:
    if requested:
        return requested
    return settings.resolved_producer_mode


REPLAY_SOURCES = ("opensky", "weather", "lufthansa")  # the sub-folders `python -m producers all replay DIR` reads


def replay_problem(settings: Settings, mode: str) -> str | None:
    """Mode replay needs SKYRISK_PRODUCER_REPLAY_DIR naming a folder of recordings; the one-line error if not."""
    if mode != "replay":
        return None
    folder = settings.producer_replay_dir
    hint = ("a folder holding opensky/, weather/ or lufthansa/ recordings, as "
            "`python -m producers all live --record DIR` writes them")
    if folder is None:
        return f"error: producer mode replay needs SKYRISK_PRODUCER_REPLAY_DIR: {hint}"
    if not folder.is_dir():
        return f"error: SKYRISK_PRODUCER_REPLAY_DIR={folder} does not exist or is not a folder; it must be {hint}"
    if not any((folder / source).is_dir() for source in REPLAY_SOURCES):
        return (f"error: SKYRISK_PRODUCER_REPLAY_DIR={folder} holds none of opensky/, weather/, lufthansa/; "
                f"it must be {hint}")
    return None


def producer_args(settings: Settings, mode: str) -> list[str]:
    if mode != "replay":
        return ["all", mode]
    # One pass in real time, each snapshot stamped with the time it is sent, so the streaming job
    # takes recordings of any age as live data.
    assert settings.producer_replay_dir is not None
    return ["all", "replay", str(settings.producer_replay_dir.resolve()), "--shift-to-now"]


def components(settings: Settings, mode: str) -> list[Component]:
    # Start order; they are stopped in the same order (producers first, so they flush).
    limits = LogLimits.of(settings)
    # Every component knows the producers' mode (the streaming join's weather age follows it).
    env = {"SKYRISK_PRODUCER_MODE": mode}
    return [
        Component("producers", "producers", producer_args(settings, mode), finishes=mode == "replay",
                  log_limits=limits, env=env),
        # A restart during an outage waits for the services instead of burning the restart budget.
        Component("streaming", "streaming", ["--wait-for-services", str(SERVICE_WAIT_S)], log_limits=limits, env=env),
        Component("scheduler", "batch", ["schedule"], log_limits=limits, env=env),
        Component("dashboard", "dashboard", [], log_limits=limits, env=env),
    ]


def _pump(component: Component, log_path: Path) -> None:
    """Copy a child's output to the console (prefixed) and to its log file."""
    assert component.process and component.process.stdout
    with RotatingLog(log_path, component.log_limits) as log:
        for line in component.process.stdout:
            log.write(line)
            log.flush()
            sys.stdout.write(f"[{component.name}] {line.decode(errors='replace')}")
            sys.stdout.flush()


def start(component: Component, logs_dir: Path) -> None:
    component.process = subprocess.Popen(
        [sys.executable, "-m", component.module, *component.args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **component.env},
        start_new_session=True,  # Ctrl-C reaches only us; we stop children in order
    )
    threading.Thread(target=_pump, args=(component, logs_dir / f"{component.name}.log"), daemon=True).start()


def stop(component: Component) -> None:
    process = component.process
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"[run] {component.name} did not stop in {STOP_TIMEOUT:.0f}s; killing it", flush=True)
        process.kill()
        process.wait()


def supervise(active: list[Component], logs_dir: Path, stopping: threading.Event) -> None:
    while not stopping.wait(1.0):
        for component in active:
            process = component.process
            if component.given_up or process is None or process.poll() is None:
                continue
            if component.finishes and process.returncode == 0:
                component.given_up = True  # nothing left to do: not restarted
                print(f"[run] {component.name} finished (exit 0); the rest keeps running", flush=True)
                continue
            now = time.monotonic()
            component.crashes = [t for t in component.crashes if now - t < RESTART_WINDOW] + [now]
            if len(component.crashes) > RESTART_LIMIT:
                component.given_up = True
                print(f"[run] {component.name} crashed {RESTART_LIMIT} times in {RESTART_WINDOW:.0f}s; "
                      f"giving up on it (log: {logs_dir / component.name}.log)", flush=True)
                continue
            delay = min(60, 2 ** len(component.crashes))
            print(f"[run] {component.name} exited with code {process.returncode}; restarting in {delay}s",
                  flush=True)
            if stopping.wait(delay):
                return
            start(component, logs_dir)


def run_platform(settings: Settings, *, mode: str | None = None) -> int:
    chosen = producer_mode(settings, mode)
    if problem := replay_problem(settings, chosen):  # before anything is set up or started
        print(problem, file=sys.stderr, flush=True)
        return 2
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if not stopping.is_set():
            print(f"\n[run] {signal.Signals(signum).name}: stopping everything...", flush=True)
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    setup(settings)
    if stopping.is_set():
        return 130
    stack.up(settings)
    logs_dir = (settings.data_dir / "logs").resolve()
    logs_dir.mkdir(parents=True, exist_ok=True)

    active = [c for c in components(settings, chosen) if c.available()]
    missing = [c.name for c in components(settings, chosen) if not c.available()]
    for component in active:
        start(component, logs_dir)
    print(f"[run] producers mode: {chosen}", flush=True)
    if missing:
        print(f"[run] not built yet: {', '.join(missing)}", flush=True)
    if any(c.name == "dashboard" for c in active):
        print(f"[run] dashboard: http://{settings.dashboard_host}:{settings.dashboard_port}/", flush=True)
    print(f"[run] logs: {logs_dir}; press Ctrl-C to stop everything", flush=True)

    try:
        supervise(active, logs_dir, stopping)
    finally:
        for component in active:
            stop(component)
            print(f"[run] {component.name} stopped", flush=True)
        stack.down(settings)
    print("[run] everything stopped", flush=True)
    return 0
