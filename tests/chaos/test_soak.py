"""The soak's arithmetic and bounds, on made-up samples (the soak itself runs in `make chaos`)."""

from __future__ import annotations

import pytest

from chaos.scenarios.soak import MIB, Samples, judge
from infra.stack import throwaway_settings

MINUTES = [60.0 * m for m in range(31)]


def samples(**series) -> Samples:
    """Samples at 0..30 minutes; each series is a function of the minute."""
    result = Samples()
    for minute, at in enumerate(MINUTES):
        result.add(at, {name: f(minute) for name, f in series.items()})
    return result


FLAT = {
    "memory.streaming": lambda m: 1500 * MIB, "disk.kafka": lambda m: 10 * MIB * m, "disk.lake": lambda m: 2 * MIB * m,
    "logs.total": lambda m: 0.1 * MIB * m, "logs.largest_file": lambda m: 0.05 * MIB * m,
    "disk.ferretdb_wal": lambda m: (4 + m % 3) * MIB,  # emptied by checkpoints: up and down, flat
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return throwaway_settings(tmp_path_factory.mktemp("soak"))


def test_growth_per_hour_is_the_slope_of_the_second_half():
    # 1 MB a minute during warm-up, then 2 MB a minute: 120 MB an hour once warm
    s = samples(x=lambda m: m * MIB if m <= 15 else (15 + 2 * (m - 15)) * MIB)
    assert s.per_hour("x") == pytest.approx(120 * MIB)
    assert samples(x=lambda m: 5.0).per_hour("x") == 0.0


def test_flat_memory_and_rotated_logs_pass(settings):
    problems, report = judge(samples(**FLAT), settings)
    assert problems == []
    assert any(line.startswith("disk.kafka: 300.0 MB now, 600.0 MB/h") for line in report)


def test_memory_that_keeps_growing_once_warm_fails(settings):
    leaking = FLAT | {"memory.streaming": lambda m: (1000 + 10 * m) * MIB}  # 600 MB/h on ~1.3 GB
    problems, _ = judge(samples(**leaking), settings)
    assert len(problems) == 1 and problems[0].startswith("memory.streaming grows 600.0 MB/h")


def test_small_absolute_growth_is_noise(settings):
    # 12 MB/h on a 50 MB process is 24 % an hour, but below the noise floor
    small = FLAT | {"memory.producer": lambda m: (44 + 0.2 * m) * MIB}
    assert judge(samples(**small), settings)[0] == []


def test_a_log_file_beyond_its_rotation_size_fails(settings):
    unrotated = FLAT | {"logs.largest_file": lambda m: (settings.log_max_mb + 1) * MIB}
    problems, _ = judge(samples(**unrotated), settings)
    assert len(problems) == 1 and "rotation" in problems[0]


def test_a_write_ahead_log_that_only_grows_fails(settings):
    growing = FLAT | {"disk.ferretdb_wal": lambda m: 16 * MIB * m}  # 960 MB/h, as FerretDB's did
    problems, _ = judge(samples(**growing), settings)
    assert len(problems) == 1 and problems[0].startswith("FerretDB's SQLite write-ahead log grows 960.0 MB/h")
