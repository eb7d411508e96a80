"""Conversion of the traffic samples (ft, kt, ft/min, epoch ms) into OpenSky's formats in SI units."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import zipfile

import pytest

from producers.core import Clock
from producers.opensky import OpenSkyReplay, parse_csv_row, parse_states_response
from skyrisk.contracts import FlightState
from validation import dataset

RECORD = {"altitude": 35000.0, "callsign": "AFR123  ", "groundspeed": 450.0, "icao24": "3944E1", "latitude": 48.5,
          "longitude": 2.25, "onground": False, "squawk": "1000", "timestamp": 1633608773000, "track": 311.0,
          "vertical_rate": -1000.0}


def test_state_row_converts_to_si_units():
    row = dataset.state_row(RECORD)
    assert row["time"] == 1633608773.0
    assert row["icao24"] == "3944e1" and row["callsign"] == "AFR123"
    assert row["baro_altitude"] == pytest.approx(10668.0)  # 35,000 ft
    assert row["velocity"] == pytest.approx(231.5, abs=0.01)  # 450 kt = 231.50 m/s
    assert row["vertical_rate"] == pytest.approx(-5.08)  # -1,000 ft/min
    assert row["geo_altitude"] is None and row["on_ground"] is False and row["squawk"] == "1000"


def test_records_without_position_or_onground_and_numeric_squawks():
    assert dataset.state_row({**RECORD, "latitude": None}) is None
    no_flag = {k: v for k, v in RECORD.items() if k != "onground"}
    assert dataset.state_row(no_flag)["on_ground"] is False
    assert dataset.state_row({**RECORD, "squawk": 770.0})["squawk"] == "0770"
    assert dataset.state_row({**RECORD, "altitude": None, "squawk": None})["baro_altitude"] is None


def test_state_rows_are_time_ordered_and_cut_to_the_first_hours():
    records = [{**RECORD, "timestamp": t * 1000, "icao24": i} for t, i in ((7300, "b"), (100, "a"), (3699, "c"), (3700, "d"))]
    assert [r["icao24"] for r in dataset.state_rows(records, hours=1)] == ["a", "c"]


def test_csv_rows_parse_back_through_the_replay_parser(tmp_path):
    rows = dataset.state_rows([RECORD, {**RECORD, "timestamp": RECORD["timestamp"] + 1000, "onground": True}])
    [path] = dataset.write_csv(rows, tmp_path)
    assert path.name == "states_2021-10-07-12.csv.gz"
    parsed = [parse_csv_row(r, "replay") for r in csv.DictReader(io.StringIO(gzip.decompress(path.read_bytes()).decode()))]
    assert [(s.event_time, s.on_ground) for s in parsed] == [(1633608773.0, False), (1633608774.0, True)]
    first = parsed[0]
    assert (first.baro_altitude, first.vertical_rate, first.latitude, first.callsign) == (10668.0, -5.08, 48.5, "AFR123")
    assert first.origin_country == "France"


def test_snapshots_hold_each_aircraft_newest_state_per_slot_and_parse_as_states_all(tmp_path):
    rows = dataset.state_rows([{**RECORD, "timestamp": t} for t in (1633608770000, 1633608775000, 1633608781000)])
    answers = list(dataset.snapshots(rows, resolution_s=10))
    assert [a["time"] for a in answers] == [1633608780, 1633608790]
    assert [a["states"][0][3] for a in answers] == [1633608775, 1633608781]  # the newest in each slot
    batch = parse_states_response(answers[0], "replay")
    assert not batch.dead_letters
    [(_, value)] = batch.records
    state = FlightState.model_validate_json(value)
    assert (state.baro_altitude, state.geo_altitude, state.position_source) == (10668.0, None, 0)
    assert dataset.write_snapshots(rows, tmp_path, resolution_s=10) == 2
    replay = OpenSkyReplay(tmp_path, Clock(), speed=0)
    assert sum(1 for _ in replay.batches()) == 2


def test_fetch_uses_the_cached_wheel_when_its_hash_matches(tmp_path):
    wheel = tmp_path / "validation" / "x-1-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("traffic/data/samples/collections/tiny.json.gz", gzip.compress(json.dumps([RECORD]).encode()))
    pin = dataset.WheelPin("x", "1", wheel.name, hashlib.sha256(wheel.read_bytes()).hexdigest())
    assert dataset.fetch_wheel(tmp_path, pin, echo=pytest.fail) == wheel  # no download, no message
    assert dataset.read_sample(wheel, "collections/tiny") == [RECORD]


def test_the_pin_is_read_from_versions_toml():
    pin = dataset.wheel_pin()
    assert (pin.name, pin.version, pin.filename) == ("traffic", "2.13", "traffic-2.13-py3-none-any.whl")
    assert len(pin.sha256) == 64
