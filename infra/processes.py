"""The platform's own processes (``python -m producers|streaming|dashboard|batch ...``) run on a
given stack's settings, as ``make run`` would run them: for chaos scenarios and benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from infra.logs import LogLimits, RotatingLog, read_all, start_writer
from skyrisk.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[1]
START_MARKER = "=== starting "


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment of a platform process on this stack: no SKYRISK_* of ours, only the stack's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(settings.as_environment())
    env["PYTHONUNBUFFERED"] = "1"
    return env


class PlatformProcess:
    """``python -m <module> ...`` in its own process group, output appended to a log file."""

    def __init__(self, settings: Settings, name: str, args: list[str], log_path: Path,
                 echo: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.name = name
        self.args = args
        self.log_path = log_path
        self.echo = echo
        self.process: subprocess.Popen | None = None
        self._writer: subprocess.Popen | None = None  # appends its output to the log, rotated

    def start(self) -> None:
        from infra.stack import _die_with_parent

        limits = LogLimits.of(self.settings)
        with RotatingLog(self.log_path, limits) as log:
            log.write(f"\n{START_MARKER}{self.name} at {time.strftime('%H:%M:%S')} ===\n".encode())
        # Output through a pipe to a writer process that rotates the log (it ends with the pipe).
        out, self._writer = start_writer(self.log_path, limits)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *self.args],
                cwd=REPO,
                env=child_environment(self.settings),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: kill -9 reaches the Spark JVM too
                preexec_fn=_die_with_parent,  # no orphan when the runner itself is killed
            )
        finally:
            os.close(out)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def kill9(self) -> None:
        """SIGKILL to the whole group (Python driver and JVM): a crash without any cleanup."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout_s: float = 90.0) -> int | None:
        """SIGTERM (the platform's clean stop); SIGKILL to the group if it does not end in time."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.echo(f"{self.name} did not stop within {timeout_s:.0f}s; killing it")
                self.kill9()
            except KeyboardInterrupt:  # Ctrl-C while cleaning up: leave nothing running
                self.kill9()
                raise
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # anything of its group left behind
        return self.process.returncode

    def last_run_log(self) -> str:
        """The output of the newest start of this process (what rotation kept of it)."""
        if self.process is not None and self.process.poll() is not None and self._writer is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._writer.wait(timeout=5)  # an ended process: its last lines are in the log
        return read_all(self.log_path, self.settings.log_backups).rsplit(START_MARKER, 1)[-1]
