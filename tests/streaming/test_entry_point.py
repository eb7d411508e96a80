"""`python -m streaming` as a user meets it: --help prints help, services down is one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.ports import free_port
from skyrisk.services import unreachable_service
from skyrisk.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streaming", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)


def test_help_prints_usage_and_starts_nothing():
    result = run("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m streaming")
    assert "SparkSession" not in result.stderr and "Spark" not in result.stderr


def test_with_the_services_down_it_says_so_in_one_line(tmp_path):
    closed = free_port()  # nothing listens on it
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO),
           "SKYRISK_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed}"}
    result = run(env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: Kafka is not reachable at 127.0.0.1:{closed}; "
                     "start the services with `make up` (or run everything with `make run`)"]


@pytest.mark.integration
@pytest.mark.parametrize(("variable", "address", "service"), [
    ("SKYRISK_S3_ENDPOINT", "http://127.0.0.1:{port}", "MinIO (S3)"),  # the MaxRetryError
    ("SKYRISK_MONGO_URI", "mongodb://127.0.0.1:{port}/", "MongoDB (FerretDB)"),
])
def test_with_kafka_up_and_one_other_service_down_it_names_that_one_in_one_line(stack, tmp_path, variable, address,
                                                                                service):
    """Before: the model store's MaxRetryError, a traceback of dozens of lines."""
    closed = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO), **stack.as_environment(),
           variable: address.format(port=closed)}
    result = run(env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {service} is not reachable at 127.0.0.1:{closed}; "
        "start the services with `make up` (or run everything with `make run`)"]


def test_unreachable_service_names_the_first_needed_one_that_is_down():
    closed = free_port()
    settings = Settings(s3_endpoint=f"http://127.0.0.1:{closed}", _env_file=None)
    message = unreachable_service(settings, ["MinIO (S3)"])
    assert message is not None and message.startswith(f"error: MinIO (S3) is not reachable at 127.0.0.1:{closed};")


def test_a_temporary_checkpoint_left_by_a_killed_job_is_removed_at_the_next_start(tmp_path, monkeypatch):
    """Before: every kill -9 left a /tmp/skyrisk-weather-* folder behind, forever."""
    import tempfile

    from streaming.app import ephemeral_checkpoint

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left_by_the_dead = tmp_path / f"skyrisk-weather-{dead.pid}-abc"
    left_by_the_dead.mkdir()
    ours = tmp_path / f"skyrisk-weather-{os.getpid()}-def"  # a live process's folder stays
    ours.mkdir()

    fresh = ephemeral_checkpoint("weather")

    assert not left_by_the_dead.exists() and ours.exists()
    assert os.path.isdir(fresh) and os.path.basename(fresh).startswith(f"skyrisk-weather-{os.getpid()}-")


def test_with_wait_for_services_it_waits_then_says_so_in_one_line(tmp_path):
    """`make run` restarts the job with --wait-for-services: during a broker outage a restart
    waited 0 s, exited 2 at once and used up the restart budget (kafka-outage-6min: 6 exits)."""
    closed = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO),
           "SKYRISK_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed}"}
    started = time.monotonic()
    result = run("--wait-for-services", "5", env=env)
    assert result.returncode == 2 and time.monotonic() - started >= 5
    lines = result.stderr.strip().splitlines()
    assert lines[0].endswith("; waiting up to 5 s") and lines[1].startswith("error: Kafka is not reachable")
    assert len(lines) == 2
