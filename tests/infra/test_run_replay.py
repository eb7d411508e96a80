"""`make run` in producer mode replay: the recordings folder comes from SKYRISK_PRODUCER_REPLAY_DIR,
a missing or unusable one is one line before anything starts, the producers command `make run`
builds really replays into the broker, and a replay that is done is not restarted as a crash."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time

import orjson
import pytest

from infra import run as platform
from infra.processes import REPO, child_environment
from skyrisk.contracts import FLIGHT_STATES
from skyrisk.settings import Settings, load_settings
from tests.producers.helpers import DATA
from tests.producers.test_integration import high_watermarks, read_range, replay_folder


def producers_component(settings: Settings, mode: str) -> platform.Component:
    (component,) = [c for c in platform.components(settings, mode) if c.name == "producers"]
    return component


def test_replay_mode_gives_the_producers_the_recordings_folder(tmp_path):
    folder = replay_folder(tmp_path / "recordings")
    settings = load_settings(_env_file=None, producer_mode="replay", producer_replay_dir=folder)
    mode = platform.producer_mode(settings, None)
    assert mode == "replay" and platform.replay_problem(settings, mode) is None
    component = producers_component(settings, mode)
    assert component.args == ["all", "replay", str(folder), "--shift-to-now"] and component.finishes
    sim = producers_component(settings, "sim")
    assert sim.args == ["all", "sim"] and not sim.finishes  # the other modes unchanged


def test_a_finished_replay_is_not_restarted_but_a_crashed_one_is(tmp_path, monkeypatch, capsys):
    restarted: list[str] = []
    monkeypatch.setattr(platform, "start", lambda component, _logs: restarted.append(component.name))
    done = platform.Component("producers", "producers", ["all", "replay", "x"], finishes=True)
    crashed = platform.Component("streaming", "streaming", [])
    done.process = subprocess.Popen([sys.executable, "-c", "pass"])
    crashed.process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    done.process.wait()
    crashed.process.wait()
    stopping = threading.Event()
    supervisor = threading.Thread(target=platform.supervise, args=([done, crashed], tmp_path, stopping))
    supervisor.start()
    time.sleep(4.5)  # the first restart comes 2 s after the crash is seen
    stopping.set()
    supervisor.join(timeout=10)
    assert restarted == ["streaming"]
    out = capsys.readouterr().out
    assert "[run] producers finished (exit 0)" in out and "producers exited" not in out


@pytest.fixture
def nothing_may_start(monkeypatch):
    """run_platform must stop before setup, the services and the signal handlers."""

    def started(*_args, **_kwargs):
        raise AssertionError("run_platform went on to start things")

    monkeypatch.setattr(platform, "setup", started)
    monkeypatch.setattr(platform.stack, "up", started)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("case", ["unset", "missing", "no-source-folder"])
def test_replay_mode_without_a_usable_folder_is_one_line_and_exit_2(case, tmp_path, capsys, nothing_may_start):
    folder = {"unset": None, "missing": tmp_path / "nowhere", "no-source-folder": tmp_path}[case]
    settings = load_settings(_env_file=None, producer_replay_dir=folder)

    assert platform.run_platform(settings, mode="replay") == 2

    out, err = capsys.readouterr()
    (line,) = err.strip().splitlines()
    assert out == "" and line.startswith("error: ")
    expected = {"unset": "producer mode replay needs SKYRISK_PRODUCER_REPLAY_DIR",
                "missing": f"SKYRISK_PRODUCER_REPLAY_DIR={folder} does not exist",
                "no-source-folder": "holds none of opensky/, weather/, lufthansa/"}[case]
    assert expected in line and "--record DIR" in line


@pytest.mark.integration
def test_the_producers_command_of_make_run_replays_into_the_broker(stack: Settings, tmp_path):
    folder = tmp_path / "recordings"
    (folder / "opensky").mkdir(parents=True)
    shutil.copy(DATA / "states_2022-06-27-00.csv", folder / "opensky")  # 3 states in two snapshots 10 s apart
    (folder / "weather").mkdir()
    shutil.copy(DATA / "open_meteo_list.json", folder / "weather" / "weather.current__20261121T101600000Z.json")
    settings = stack.model_copy(update={"producer_mode": "replay", "producer_replay_dir": folder})
    component = producers_component(settings, platform.producer_mode(settings, None))
    before = high_watermarks(stack, FLIGHT_STATES)
    started = time.time()
    process = subprocess.Popen([sys.executable, "-m", component.module, *component.args], cwd=REPO,
                               env=child_environment(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        output, _ = process.communicate(timeout=120)  # one pass at real speed, then it ends by itself
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output

    after = high_watermarks(stack, FLIGHT_STATES)
    states = [orjson.loads(v) for records in read_range(stack, FLIGHT_STATES, before, after).values()
              for _, v in records]
    assert len(states) == 3 and {s["source"] for s in states} == {"replay"}
    # --shift-to-now: stamped with the time sent, not 2022, so the streaming job takes them as live
    assert all(started <= s["snapshot_time"] <= time.time() for s in states)
    snapshots = sorted({s["snapshot_time"] for s in states})
    assert len(snapshots) == 2 and snapshots[1] - snapshots[0] == pytest.approx(10, abs=1)  # real time


def test_every_component_is_told_the_producers_mode_so_the_streaming_weather_age_follows_it(monkeypatch):
    from skyrisk.weather import max_age_minutes

    settings = load_settings(_env_file=None)  # no credentials: alone, the streaming job would assume the simulator
    components = platform.components(settings, "live")
    assert {c.name: c.env for c in components} == {name: {"SKYRISK_PRODUCER_MODE": "live"}
                                                   for name in ("producers", "streaming", "scheduler", "dashboard")}
    for name, value in components[1].env.items():
        monkeypatch.setenv(name, value)
    assert max_age_minutes(load_settings(_env_file=None)) == 120  # the quota's age, not the simulator's 60
