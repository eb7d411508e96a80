"""Every entry point of infra/: ``--help`` prints usage and does nothing else; ``bootstrap`` with a
service down exits 2 with the one line of skyrisk.services.unreachable_service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.ports import free_port

REPO = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ("setup", "up", "bootstrap", "down", "status", "logs", "run", "check-credentials")


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SKYRISK_")}
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env=clean | {"SKYRISK_DATA_DIR": str(tmp_path / "data"),
                                       "SKYRISK_CACHE_DIR": str(tmp_path / "cache")} | env)


@pytest.mark.parametrize("command", ["", *SUBCOMMANDS])
def test_infra_help_prints_usage_and_does_nothing(command, tmp_path):
    result = run(["infra", *([command] if command else []), "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m infra{' ' + command if command else ''}")
    assert result.stderr == ""
    assert not (tmp_path / "data").exists() and not (tmp_path / "cache").exists()  # nothing set up or started


@pytest.mark.parametrize("module", ["chaos", "validation", "infra.logs", "bench.e2e", "validation.session",
                                    "bench.producers.bench_weather_plan"])
def test_the_other_tools_help_prints_usage_and_starts_nothing(module, tmp_path):
    result = run([module, "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module}")
    assert result.stderr == ""
    assert not (tmp_path / "data").exists() and not (tmp_path / "cache").exists()


def test_env_example_help_prints_usage_and_writes_nothing(tmp_path):
    files = [REPO / ".env.example", REPO / "README.md"]
    before = [f.read_bytes() for f in files]
    try:
        result = run(["infra.env_example", "--help"], tmp_path)
        after = [f.read_bytes() for f in files]
    finally:  # it rewrote both files before: never leave the checkout changed by this test
        for path, content in zip(files, before):
            if path.read_bytes() != content:
                path.write_bytes(content)
    assert result.returncode == 0 and result.stdout.startswith("usage: python -m infra.env_example")
    assert "wrote" not in result.stdout
    assert after == before


def test_infra_setup_module_help_is_the_setup_command_help(tmp_path):
    result = run(["infra.setup", "--help"], tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("usage: python -m infra setup")


def test_bootstrap_with_the_services_down_exits_2_with_one_line(tmp_path):
    kafka, s3, mongo = free_port(), free_port(), free_port()
    result = run(["infra", "bootstrap"], tmp_path, SKYRISK_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{kafka}",
                 SKYRISK_S3_ENDPOINT=f"http://127.0.0.1:{s3}", SKYRISK_MONGO_URI=f"mongodb://127.0.0.1:{mongo}/")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: Kafka is not reachable at 127.0.0.1:{kafka}; start the services with `make up` "
        "(or run everything with `make run`)"]
    assert "Traceback" not in result.stdout + result.stderr
