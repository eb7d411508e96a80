"""The command line and the configuration-to-client factory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from producers.cli import main
from producers.lufthansa import LufthansaLive, LufthansaReplay
from producers.opensky import OpenSkyLive, OpenSkyReplay
from producers.runner import RunOptions, create_all, create_source
from producers.simulator import LufthansaSim, OpenSkySim, WeatherSim
from producers.weather import WeatherLive, WeatherReplay
from tests.producers.helpers import DATA, FakeClock

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_sources_modes_and_options():
    result = subprocess.run([sys.executable, "-m", "producers", "--help"], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    for word in ("opensky", "weather", "lufthansa", "all", "live", "replay", "sim", "--speed", "--loop",
                 "--shift-to-now", "--record", "--seed", "--aircraft"):
        assert word in result.stdout


def test_replay_needs_a_path_and_record_needs_live(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["opensky", "replay"])
    assert exited.value.code == 2 and "replay needs a PATH" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["opensky", "sim", "--record", "somewhere"])


def test_missing_replay_input_is_reported(capsys, tmp_path):
    assert main(["weather", "replay", str(tmp_path / "nothing-here")]) == 2
    assert "nothing to replay" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("source", "mode", "expected"),
    [
        ("opensky", "live", OpenSkyLive), ("weather", "live", WeatherLive), ("lufthansa", "live", LufthansaLive),
        ("opensky", "replay", OpenSkyReplay), ("weather", "replay", WeatherReplay),
        ("lufthansa", "replay", LufthansaReplay),
        ("opensky", "sim", OpenSkySim), ("weather", "sim", WeatherSim), ("lufthansa", "sim", LufthansaSim),
    ],
)
def test_configuration_chooses_the_implementation(settings, source, mode, expected):
    configured = settings.model_copy(update={"lufthansa_client_id": "id", "lufthansa_client_secret": SecretStr("s")})
    client = create_source(source, mode, configured, FakeClock(), RunOptions(path=DATA, aircraft=20, speed=0))
    assert type(client) is expected and client.name == source


def test_all_leaves_out_what_cannot_run(settings, tmp_path):
    (tmp_path / "opensky").mkdir()
    (tmp_path / "opensky" / "states_2022-06-27-00.csv").write_bytes((DATA / "states_2022-06-27-00.csv").read_bytes())
    replays = create_all("replay", settings, FakeClock(), RunOptions(path=tmp_path, speed=0))
    assert [type(s) for s in replays] == [OpenSkyReplay]  # no weather/ or lufthansa/ recordings
    lives = create_all("live", settings, FakeClock(), RunOptions())  # no Lufthansa credentials
    assert [type(s) for s in lives] == [OpenSkyLive, WeatherLive]


def run_producers(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """``python -m producers ...`` with nothing of this machine's SKYRISK_* settings, cwd tmp_path (no .env)."""
    import os

    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(REPO), **env}
    return subprocess.run([sys.executable, "-m", "producers", *argv], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=clean)


@pytest.mark.parametrize(
    ("argv", "by_option"),
    [
        (["opensky", "sim", "--aircraft", "10", "--duration", "5"], False),
        (["all", "sim", "--aircraft", "10", "--duration", "5"], False),
        (["weather", "replay", str(DATA / "open_meteo_list.json"), "--speed", "0"], False),
        (["lufthansa", "replay", str(DATA), "--speed", "0"], False),
        (["opensky", "live", "--duration", "5"], False),
        (["opensky", "sim", "--aircraft", "10", "--duration", "5"], True),
    ],
    ids=["opensky-sim", "all-sim", "weather-replay", "lufthansa-replay", "opensky-live", "--bootstrap-servers"],
)
def test_with_the_broker_down_each_mode_says_so_in_one_line_and_exits_2(argv, by_option, tmp_path):
    from infra.ports import free_port

    closed = free_port()  # nothing listens on it
    address = f"127.0.0.1:{closed}"
    env = {"SKYRISK_OPENSKY_API_URL": f"http://{address}/api", "SKYRISK_OPENSKY_TOKEN_URL": f"http://{address}/t"}
    if by_option:
        argv = [*argv, "--bootstrap-servers", address]
    else:
        env["SKYRISK_KAFKA_BOOTSTRAP_SERVERS"] = address
    result = run_producers(argv, tmp_path, **env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: Kafka is not reachable at {address}; start the services with `make up` (or run everything with "
        "`make run`)"]


def test_one_answering_broker_of_the_list_is_enough(settings):
    import socket

    from infra.ports import free_port
    from producers.cli import kafka_unreachable

    closed = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        open_port = listener.getsockname()[1]
        both = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{closed}, 127.0.0.1:{open_port}"})
        assert kafka_unreachable(both) is None
        only_closed = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{closed}"})
        assert kafka_unreachable(only_closed) == (
            f"error: Kafka is not reachable at 127.0.0.1:{closed}; start the services with `make up` "
            "(or run everything with `make run`)")

