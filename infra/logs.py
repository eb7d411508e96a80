"""Log files that do not grow forever: each is cut at ``SKYRISK_LOG_MAX_MB`` and the newest
``SKYRISK_LOG_BACKUPS`` cut files are kept (``x.log`` is being written, ``x.log.1`` the newest
rotated, ``x.log.N`` the oldest; older ones are deleted). Files are cut between lines.

Three writers use it: ``make run``'s pump threads (in process), and, for output that a process
writes straight to a file descriptor (the services of ``make up``, which outlive the command
that started them, and :class:`infra.processes.PlatformProcess`), a small writer process
``python -m infra.logs PATH`` that reads a pipe until the process (and everything holding the
pipe) has ended.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from skyrisk.settings import Settings

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class LogLimits:
    max_bytes: int = int(Settings.model_fields["log_max_mb"].default * 1024 * 1024)
    backups: int = Settings.model_fields["log_backups"].default

    @classmethod
    def of(cls, settings: Settings) -> LogLimits:
        return cls(max(1024, int(settings.log_max_mb * 1024 * 1024)), settings.log_backups)


def rotated(path: Path, backups: int) -> list[Path]:
    """The files of one log, oldest first, that exist (``path.N`` ... ``path.1``, ``path``)."""
    candidates = [path.with_name(f"{path.name}.{i}") for i in range(backups, 0, -1)] + [path]
    return [p for p in candidates if p.exists()]


def read_all(path: Path, backups: int = 20) -> str:
    """Every kept line of a log, oldest first (the rotated files, then the current one)."""
    return "".join(p.read_text(errors="replace") for p in rotated(path, backups))


def tail(path: Path, lines: int, backups: int = 20) -> str:
    """The last ``lines`` lines of a log, across its rotation."""
    kept: list[str] = []
    for part in reversed(rotated(path, backups)):
        kept = part.read_text(errors="replace").splitlines() + kept
        if len(kept) >= lines:
            break
    return "\n".join(kept[-lines:])


class RotatingLog:
    """Append bytes to ``path``; before it would pass ``max_bytes`` the file is rotated."""

    def __init__(self, path: Path, limits: LogLimits = LogLimits()) -> None:
        self.path, self.limits = Path(path), limits
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = self.path.open("ab")
        self.size = self._file.tell()

    def write(self, data: bytes) -> None:
        while data:
            room = self.limits.max_bytes - self.size
            if len(data) <= room:
                self._file.write(data)
                self.size += len(data)
                break
            cut = data.rfind(b"\n", 0, room) + 1  # the whole lines that still fit
            if cut == 0 and self.size == 0:
                cut = room  # one line longer than a whole file: cut it
            if cut:
                self._file.write(data[:cut])
                data = data[cut:]
            self.rotate()
        self._file.flush()

    def flush(self) -> None:
        self._file.flush()

    def rotate(self) -> None:
        self._file.close()
        backups = self.limits.backups
        oldest = self.path.with_name(f"{self.path.name}.{backups}")
        oldest.unlink(missing_ok=True)
        for i in range(backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.rename(self.path.with_name(f"{self.path.name}.{i + 1}"))
        self.path.rename(self.path.with_name(f"{self.path.name}.1"))
        self._file = self.path.open("ab")
        self.size = 0

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RotatingLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def start_writer(path: Path, limits: LogLimits) -> tuple[int, subprocess.Popen]:
    """A writer process appending what arrives on a pipe to ``path`` (rotated); returns the pipe's
    write end, to give a process as stdout/stderr and then close, and the writer."""
    read_end, write_end = os.pipe()
    try:
        writer = subprocess.Popen(
            [sys.executable, "-m", "infra.logs", str(path), "--max-bytes", str(limits.max_bytes),
             "--backups", str(limits.backups)],
            stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
            start_new_session=True,  # Ctrl-C and the process group's signals are not for it
        )
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    return write_end, writer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.logs",
                                     description="Append standard input to a log file, rotated by size.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--max-bytes", type=int, default=LogLimits().max_bytes)
    parser.add_argument("--backups", type=int, default=LogLimits().backups)
    args = parser.parse_args(argv)
    # It ends when the pipe does (every writer gone), so the last words of a stopping process are kept.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    source = sys.stdin.buffer
    with RotatingLog(args.path, LogLimits(max(1, args.max_bytes), max(1, args.backups))) as log:
        while chunk := source.read1(65536):
            log.write(chunk)
    return 0


if __name__ == "__main__":
    sys.exit(main())
