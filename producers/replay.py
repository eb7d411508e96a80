"""Replay helpers shared by the sources: finding recorded files and pacing them in event time."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from producers.core import Clock
from producers.http import parse_recording_name


def find_files(path: Path, suffixes: Iterable[str]) -> list[Path]:
    """``path`` itself, or every file below it whose name ends with one of ``suffixes``, sorted by
    recording time when the name carries one, else by name."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"nothing to replay at {path}")
    suffixes = tuple(suffixes)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and p.name.endswith(suffixes)]

    def order(p: Path) -> tuple[float, str]:
        parsed = parse_recording_name(p)
        return (parsed[1] if parsed else 0.0, p.name)

    return sorted(files, key=order)


class ReplayPacer:
    """Holds back each event until ``(event_time - first) / speed`` seconds after the first one."""

    def __init__(self, clock: Clock, speed: float) -> None:
        self.clock = clock
        self.speed = speed
        self._anchor: tuple[float, float] | None = None  # (first event time, wall time then)

    def restart(self) -> None:
        self._anchor = None

    def wait_for(self, event_time: float) -> None:
        if self.speed <= 0:
            return
        if self._anchor is None:
            self._anchor = (event_time, self.clock.now())
            return
        first, wall = self._anchor
        self.clock.sleep(wall + (event_time - first) / self.speed - self.clock.now())
