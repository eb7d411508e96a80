"""`make validate --short` inside `make test`: real recorded traffic through the real stack.

A subprocess, like the command a user runs: its own throw-away services and its own Spark JVM.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FIGURES = (
    "cruise-like rows labelled Cruise",
    "on-ground rows labelled Ground",
    "ordinary aircraft with an ANOMALY episode",
    "ordinary rows flagged anomalous",
    "injected vertical_rate raising ANOMALY",
    "injected ground_speed raising ANOMALY",
    "injected position_jump raising ANOMALY",
    "injected squawk_7700 raising EMERGENCY",
    "real zero gravity raising ANOMALY",
)


@pytest.mark.integration
@pytest.mark.timeout(1500)
def test_short_validation_meets_every_target_on_real_traffic():
    result = subprocess.run([sys.executable, "-m", "validation", "--short"], cwd=REPO, capture_output=True,
                            text=True, timeout=1400)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "2021-10-07 12:00-12:30 UTC around Paris" in out
    for name in FIGURES:
        line = next((l for l in out.splitlines() if l.startswith(name)), None)
        assert line is not None, f"{name!r} not printed:\n{out}"
        assert re.search(r"\bPASS\b", line), line
    # the figures count real rows: the half hour holds tens of thousands of states of 50 aircraft
    counted = re.search(r"ordinary rows flagged anomalous.*\((\d[\d,]*) / (\d[\d,]*)\)", out)
    assert counted and int(counted.group(2).replace(",", "")) > 40_000
