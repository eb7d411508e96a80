"""Every mode against the real broker: messages consumed back validate against the contracts."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from pydantic import SecretStr

from producers.core import Clock
from producers.output import KafkaOutput
from producers.runner import RunOptions, create_all, run
from skyrisk.contracts import (
    DEAD_LETTER,
    FLIGHT_STATES,
    LH_REFERENCE,
    LH_SCHEDULES,
    MESSAGE_BY_TOPIC,
    WEATHER,
    TopicSpec,
)
from skyrisk.settings import Settings
from tests.producers.helpers import DATA, Reply, ScriptedServer, load
from tests.producers.test_weather import answer_every_point

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DATA_TOPICS = (FLIGHT_STATES, WEATHER, LH_REFERENCE, LH_SCHEDULES)


def high_watermarks(settings: Settings, topic: TopicSpec) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "skyrisk-tests",
                         "enable.auto.commit": False})
    try:
        deadline = time.monotonic() + 30
        while True:  # right after the topics are created their leaders may not be elected yet
            try:
                return {p: consumer.get_watermark_offsets(TopicPartition(topic.name, p), timeout=10)[1]
                        for p in range(topic.partitions)}
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        consumer.close()


def read_range(settings: Settings, topic: TopicSpec, start: dict[int, int], end: dict[int, int]
               ) -> dict[int, list[tuple[str, bytes]]]:
    """Messages of each partition from ``start`` up to (excluding) ``end``, in partition order."""
    wanted = {p: end[p] - start[p] for p in start if end[p] > start[p]}
    out: dict[int, list[tuple[str, bytes]]] = {p: [] for p in start}
    if not wanted:
        return out
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "skyrisk-tests",
                         "enable.auto.commit": False, "enable.partition.eof": False})
    consumer.assign([TopicPartition(topic.name, p, start[p]) for p in wanted])
    deadline = time.monotonic() + 60
    try:
        while any(len(out[p]) < n for p, n in wanted.items()) and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            p = message.partition()
            if message.offset() < end[p]:
                out[p].append((message.key().decode() if message.key() else None, message.value()))
    finally:
        consumer.close()
    assert all(len(out[p]) == n for p, n in wanted.items()), "not every message could be read back"
    return out


def snapshot(settings: Settings) -> dict[str, dict[int, int]]:
    return {topic.name: high_watermarks(settings, topic) for topic in (*DATA_TOPICS, DEAD_LETTER)}


def published_since(settings: Settings, before: dict[str, dict[int, int]]) -> dict[str, dict[int, list]]:
    after = snapshot(settings)
    return {topic.name: read_range(settings, topic, before[topic.name], after[topic.name])
            for topic in (*DATA_TOPICS, DEAD_LETTER)}


def validated(topic: TopicSpec, per_partition: dict[int, list]) -> list:
    """Each value parsed with the topic's contract model; the key is the one the TopicSpec names."""
    model = MESSAGE_BY_TOPIC[topic.name]
    messages = []
    for records in per_partition.values():
        for key, value in records:
            message = model.model_validate_json(value)
            expected_key = {
                FLIGHT_STATES.name: lambda m: m.icao24,
                WEATHER.name: lambda m: m.cell_id,
                LH_REFERENCE.name: lambda m: m.key,
                LH_SCHEDULES.name: lambda m: m.key,
                DEAD_LETTER.name: lambda m: m.source_topic,
            }[topic.name](message)
            assert key == expected_key
            messages.append(message)
    return messages


def test_sim_all_publishes_every_topic_and_exits_cleanly_on_sigterm(stack: Settings):
    before = snapshot(stack)
    # Pinned here so a developer's .env cannot change what is expected below.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SKYRISK_")}, "SKYRISK_WEATHER_GRID_DEG": "0.5"}
    process = subprocess.Popen(
        [sys.executable, "-m", "producers", "all", "sim", "--aircraft", "300", "--status-interval", "1",
         "--bbox", "35,-12,62,32", "--bootstrap-servers", stack.kafka_bootstrap_servers],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            grown = sum(high_watermarks(stack, FLIGHT_STATES).values()) - sum(before[FLIGHT_STATES.name].values())
            if grown >= 600:  # two ticks of 300 aircraft
                break
            time.sleep(1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "stopped: produced=" in output and "delivered=" in output

    published = published_since(stack, before)
    states = validated(FLIGHT_STATES, published[FLIGHT_STATES.name])
    weather = validated(WEATHER, published[WEATHER.name])
    references = validated(LH_REFERENCE, published[LH_REFERENCE.name])
    schedules = validated(LH_SCHEDULES, published[LH_SCHEDULES.name])
    assert len(states) >= 600 and {s.source for s in states} == {"sim"}
    assert len(weather) >= 4752  # the whole Europe grid at 0.5 degrees
    assert {r.type for r in references} == {"country", "city", "airport", "airline", "aircraft"}
    dlh = {s.callsign for s in states if s.callsign and s.callsign.startswith("DLH")}
    numbers = {n for j in schedules for n in j.flight_numbers}
    assert dlh and {"LH" + c[3:] for c in dlh} <= numbers


def replay_folder(root: Path) -> Path:
    """The recorder's layout: <root>/<source>/<recordings>, filled with the hand-written responses."""
    for source in ("opensky", "weather", "lufthansa"):
        (root / source).mkdir(parents=True)
    (root / "opensky" / "opensky.states__20251121T100000000Z.json.gz").write_bytes(
        gzip.compress((DATA / "opensky_states_mixed.json").read_bytes()))
    shutil.copy(DATA / "states_2022-06-27-00.csv", root / "opensky")
    shutil.copy(DATA / "open_meteo_list.json", root / "weather" / "weather.current__20261121T101600000Z.json")
    shutil.copy(DATA / "lh_airports_list.json", root / "lufthansa" / "lufthansa.airports.0__20261121T020000000Z.json")
    shutil.copy(DATA / "lh_schedules_multi.json",
                root / "lufthansa" / "lufthansa.schedules.MUC.SIN.2026-11-22__20261121T020001000Z.json")
    return root


def test_replaying_the_same_files_twice_gives_identical_streams(stack: Settings, tmp_path: Path):
    folder = replay_folder(tmp_path / "recordings")

    def replay_once() -> dict[str, dict[int, list]]:
        before = snapshot(stack)
        clock = Clock()
        code = run(create_all("replay", stack, clock, RunOptions(path=folder, speed=0)), KafkaOutput(stack), clock,
                   status_interval_s=60)
        assert code == 0
        return published_since(stack, before)

    first, second = replay_once(), replay_once()

    for topic in DATA_TOPICS:
        assert first[topic.name] == second[topic.name], topic.name  # same keys, values, partitions, order
        assert all(m.source == "replay" for m in validated(topic, first[topic.name]))
    assert sum(len(v) for v in first[FLIGHT_STATES.name].values()) == 6  # 3 JSON + 3 CSV states
    assert sum(len(v) for v in first[WEATHER.name].values()) == 2
    assert sum(len(v) for v in first[LH_SCHEDULES.name].values()) == 2

    def without_time(per_partition):
        return [{**orjson.loads(v), "at": None} for records in per_partition.values() for _, v in records]

    dead = validated(DEAD_LETTER, first[DEAD_LETTER.name])
    assert len(dead) == 2 and without_time(first[DEAD_LETTER.name]) == without_time(second[DEAD_LETTER.name])


def test_live_mode_publishes_to_the_broker_and_records(stack: Settings, tmp_path: Path):
    api = ScriptedServer()
    try:
        api.always("GET", "/api/states/all", Reply(200, load("opensky_states_mixed.json")))
        api.always("GET", "/v1/forecast", answer_every_point)
        api.always("POST", "/v1/oauth/token", Reply(200, {"access_token": "t", "expires_in": 21600}))
        for kind, name in (("countries", "lh_countries.json"), ("cities", "lh_cities.json"),
                           ("airports", "lh_airports_list.json"), ("airlines", "lh_airlines.json"),
                           ("aircraft", "lh_aircraft.json")):
            api.always("GET", f"/v1/mds-references/{kind}", Reply(200, load(name)))
        today = time.strftime("%Y-%m-%d", time.gmtime())
        api.always("GET", f"/v1/operations/schedules/FRA/JFK/{today}", Reply(200, load("lh_schedules_single.json")))
        settings = stack.model_copy(update={
            "opensky_api_url": api.url + "/api", "open_meteo_url": api.url + "/v1/forecast",
            "lufthansa_api_url": api.url + "/v1", "lufthansa_client_id": "id",
            "lufthansa_client_secret": SecretStr("secret"), "lufthansa_routes": "FRA-JFK",
            "lufthansa_horizon_days": 1, "bbox": (50.0, 8.0, 51.0, 9.5),
        })
        before = snapshot(stack)
        clock = Clock()
        sources = create_all("live", settings, clock, RunOptions(record=tmp_path / "rec"))
        assert run(sources, KafkaOutput(settings), clock, status_interval_s=60, max_seconds=6, restart=True) == 0
    finally:
        api.close()

    published = published_since(stack, before)
    states = validated(FLIGHT_STATES, published[FLIGHT_STATES.name])
    assert sorted(s.icao24 for s in states) == ["3944ef", "3c6444", "4ca7b5"] and states[0].source == "live"
    assert len(validated(WEATHER, published[WEATHER.name])) == 6
    assert {r.key for r in validated(LH_REFERENCE, published[LH_REFERENCE.name])} == {
        "country:DE", "city:FRA", "city:LON", "airport:MUC", "airport:ZQW", "airline:LH", "airline:LX",
        "aircraft:359"}
    assert [j.key for j in validated(LH_SCHEDULES, published[LH_SCHEDULES.name])] == [f"FRA-JFK-{today}:LH400"]  # lh_schedules_single.json holds LH400
    recorded = {p.parent.name for p in (tmp_path / "rec").rglob("*.json.gz")}
    assert recorded == {"opensky", "weather", "lufthansa"}
