"""Replay helpers shared by the sources: finding recorded files, reading them without letting a
damaged one stop the replay, and pacing them in event time."""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Iterable
from pathlib import Path

from producers.core import Clock
from producers.http import PART_SUFFIX, parse_recording_name, read_maybe_gzip

log = logging.getLogger(__name__)

# What reading a damaged recording raises: a truncated gzip (EOFError), a bad gzip header
# (BadGzipFile, an OSError), a corrupt deflate stream (zlib.error), a file gone or unreadable.
UNREADABLE = (OSError, EOFError, zlib.error)


def find_files(path: Path, suffixes: Iterable[str]) -> list[Path]:
    """``path`` itself, or every file below it whose name ends with one of ``suffixes``, sorted by
    recording time when the name carries one, else by name. ``.part`` files (a recording still
    being written, or one whose writer was killed) are never replayed."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"nothing to replay at {path}")
    if path.is_file() and path.name.endswith(PART_SUFFIX):
        raise FileNotFoundError(f"{path} is an unfinished recording ({PART_SUFFIX}); it is never replayed")
    suffixes = tuple(suffixes)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and p.name.endswith(suffixes)]

    def order(p: Path) -> tuple[float, str]:
        parsed = parse_recording_name(p)
        return (parsed[1] if parsed else 0.0, p.name)

    return sorted(files, key=order)


def read_recording(path: Path) -> bytes | None:
    """The file's bytes (gunzipped), or None after one log line when it cannot be read whole."""
    try:
        return read_maybe_gzip(path)
    except UNREADABLE as exc:
        log.error("skipping %s: truncated or not gzip (%s: %s)", path, type(exc).__name__, exc)
        return None


class ReplayPacer:
    """Holds back each event until ``(event_time - first) / speed`` seconds after the first one.
    An event without a finite time (a recording without ``time``) is sent at once and never
    anchors the pacing."""

    def __init__(self, clock: Clock, speed: float) -> None:
        self.clock = clock
        self.speed = speed
        self._anchor: tuple[float, float] | None = None  # (first event time, wall time then)

    def restart(self) -> None:
        self._anchor = None

    def wait_for(self, event_time: float) -> None:
        if self.speed <= 0 or not math.isfinite(event_time):
            return
        if self._anchor is None:
            self._anchor = (event_time, self.clock.now())
            return
        first, wall = self._anchor
        self.clock.sleep(wall + (event_time - first) / self.speed - self.clock.now())
