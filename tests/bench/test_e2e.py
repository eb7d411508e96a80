"""The end-to-end benchmark: its summaries on known samples, and its short mode on the real stack."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench import e2e
from bench.e2e import FleetRun, Sample

REPO = Path(__file__).resolve().parents[2]


def steady_run(produced_per_s: float, processed_per_s: float, seconds: int = 120) -> FleetRun:
    run = FleetRun(aircraft=1000, duration_s=seconds)
    for t in range(0, seconds + 1, 5):
        run.samples.append(Sample(t=float(t), produced=int(produced_per_s * t), processed=int(processed_per_s * t),
                                  freshness_s=[2.0, 3.0, 4.0], cpu={"broker": 10.0}, rss_mb={"broker": 500.0 + t}))
    run.batches = [{"batch_duration_ms": 1500, "timestamp": float(t)} for t in range(0, seconds, 2)]
    return run


def test_a_run_that_keeps_up_holds():
    figures = e2e.verdict(steady_run(1000, 1000))
    assert figures["held"]
    assert figures["produced_per_s"] == pytest.approx(1000, rel=0.01)
    assert figures["processed_per_s"] == pytest.approx(1000, rel=0.01)
    assert abs(figures["lag_slope_per_s"]) < 1
    assert (figures["freshness_p50_s"], figures["freshness_p95_s"]) == (3.0, 4.0)
    assert figures["batch_p95_s"] == 1.5


def test_a_run_whose_lag_grows_does_not_hold():
    figures = e2e.verdict(steady_run(1000, 800))
    assert not figures["held"]
    assert figures["lag_slope_per_s"] == pytest.approx(200, rel=0.02)
    assert figures["lag_end"] > figures["lag_mid"] > figures["lag_start"]


def test_percentile_is_nearest_rank_and_nan_when_empty():
    assert e2e.percentile([5, 1, 3, 2, 4], 0.5) == 3
    assert e2e.percentile([5, 1, 3, 2, 4], 0.95) == 5
    assert math.isnan(e2e.percentile([], 0.5))


def test_process_table_averages_cpu_and_keeps_the_peak_rss():
    table = e2e.process_table(steady_run(1000, 1000))
    assert table["broker"] == (10.0, 620.0)


@pytest.mark.integration
@pytest.mark.timeout(1200)
def test_short_mode_measures_the_real_pipeline_and_writes_the_report(tmp_path):
    """`make bench`'s short mode as a smoke check: the figures come from the running processes."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.e2e", "--aircraft", "500", "--duration", "60", "--out", str(tmp_path),
         "--stem", "smoke"],
        cwd=REPO, capture_output=True, text=True, timeout=1100,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (tmp_path / "smoke.md").read_text()
    assert "| 500 |" in report and "spark driver (JVM)" in report and "broker" in report
    verdict = json.loads((tmp_path / "smoke.json").read_text())["verdicts"][0]
    assert verdict["produced_per_s"] > 400  # 500 aircraft at 1 Hz
    assert verdict["processed_per_s"] > 0 and verdict["freshness_samples"] > 0
    for name in ("throughput", "lag", "freshness", "batch", "cpu", "rss"):
        assert (tmp_path / f"smoke-{name}.png").stat().st_size > 10_000
