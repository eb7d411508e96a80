"""Replay of recorded OpenSky data (JSON, gz, historical CSV) and the recorder that writes it."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from producers.http import HttpClient, Recorder, parse_recording_name, read_maybe_gzip, recording_name
from producers.opensky import OpenSkyLive, OpenSkyReplay, country_of_icao24
from skyrisk.contracts import FlightState
from tests.producers.helpers import DATA, FakeClock, Reply


def states(batch) -> list[FlightState]:
    return [FlightState.model_validate_json(value) for _, value in batch.records]


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    """Two polls recorded as the recorder names them (one gzipped, one plain) plus a historical CSV."""
    folder = tmp_path / "opensky"
    folder.mkdir()
    mixed = (DATA / "opensky_states_mixed.json").read_bytes()
    (folder / "opensky.states__20261121T100000000Z.json.gz").write_bytes(gzip.compress(mixed))
    shutil.copy(DATA / "opensky_states_null.json", folder / "opensky.states__20261121T100010000Z.json")
    return folder


def test_json_and_gz_recordings_replay_in_time_order(recordings):
    replay = OpenSkyReplay(recordings, FakeClock(), speed=0)
    batches = list(replay.batches())
    assert len(batches) == 2
    assert sorted(s.icao24 for s in states(batches[0])) == ["3944ef", "3c6444", "4ca7b5"]
    assert all(s.source == "replay" for s in states(batches[0]))
    assert batches[0].skipped == 2 and len(batches[0].dead_letters) == 2
    assert batches[1].records == []  # states: null


def test_historical_csv_rows_grouped_by_time(tmp_path):
    replay = OpenSkyReplay(DATA / "states_2022-06-27-00.csv", FakeClock(), speed=0)
    first, second = list(replay.batches())

    (dlh,) = states(first)
    assert first.skipped == 1  # RYR83TK has no lat/lon
    assert (dlh.icao24, dlh.callsign, dlh.origin_country) == ("3c6444", "DLH400", "Germany")
    assert (dlh.latitude, dlh.longitude, dlh.velocity, dlh.true_track, dlh.vertical_rate) == (
        50.0379, 8.5622, 245.3, 287.5, -0.33)
    assert (dlh.baro_altitude, dlh.geo_altitude, dlh.on_ground, dlh.squawk) == (10972.8, 11201.4, False, "1000")
    assert (dlh.snapshot_time, dlh.event_time, dlh.last_contact) == (1656288000, 1656287999.512, 1656287999.9)

    by_icao = {s.icao24: s for s in states(second)}
    parked = by_icao["abcdef"]
    assert parked.on_ground is True and parked.callsign is None and parked.true_track is None
    assert parked.origin_country == "United States" and parked.squawk is None


def test_csv_and_json_merge_in_event_time_order(recordings):
    shutil.copy(DATA / "states_2022-06-27-00.csv", recordings / "states_2022-06-27-00.csv")
    snapshot_times = [states(b)[0].snapshot_time for b in OpenSkyReplay(recordings, FakeClock(), speed=0).batches()
                      if b.records]
    assert snapshot_times == [1656288000, 1656288010, 1763719200]


def test_speed_paces_in_event_time():
    clock = FakeClock()
    list(OpenSkyReplay(DATA / "states_2022-06-27-00.csv", clock, speed=2.0).batches())
    assert clock.sleeps == [pytest.approx(5.0)]  # 10 s of data at 2x


def test_shift_to_now_moves_timestamps(recordings):
    clock = FakeClock(start=1_800_000_000.0)
    (first, _) = list(OpenSkyReplay(recordings, clock, speed=0, shift_to_now=True).batches())
    by_icao = {s.icao24: s for s in states(first)}
    shift = 1_800_000_000.0 - 1763719200
    assert by_icao["3c6444"].snapshot_time == 1_800_000_000.0
    assert by_icao["3c6444"].event_time == pytest.approx(1763719198 + shift)
    assert by_icao["3944ef"].last_contact == pytest.approx(1763719190 + shift)


def test_a_faster_replay_shifted_to_now_never_runs_ahead_of_the_clock():
    # 10 s of recorded data at 2x: the second snapshot is sent 5 s after the first, and stamped then
    clock = FakeClock(start=1_800_000_000.0)
    sent = [(clock.now(), states(b)[0].snapshot_time)
            for b in OpenSkyReplay(DATA / "states_2022-06-27-00.csv", clock, speed=2.0, shift_to_now=True).batches()
            if b.records]
    assert sent == [(1_800_000_000.0, 1_800_000_000.0), (1_800_000_005.0, 1_800_000_005.0)]


def test_loop_starts_again_until_stopped(recordings):
    clock = FakeClock()
    replay = OpenSkyReplay(recordings, clock, speed=0, loop=True)
    seen = []
    for batch in replay.batches():
        seen.append(len(batch.records))
        if len(seen) == 5:
            clock.stop()
    assert seen == [3, 0, 3, 0, 3]


def test_country_of_icao24_blocks():
    assert country_of_icao24("3c6444") == "Germany"
    assert country_of_icao24("4ca7b5") == "Ireland"
    assert country_of_icao24("a0b1c2") == "United States"
    assert country_of_icao24("000001") == "Unknown"
    assert country_of_icao24("zzzzzz") == "Unknown"


def test_recording_names_round_trip():
    name = recording_name("lufthansa.schedules.FRA.JFK.2026-11-21", 1_763_719_200.123)
    assert name == "lufthansa.schedules.FRA.JFK.2026-11-21__20251121T100000123Z.json.gz"
    stem, at = parse_recording_name(Path(name))
    assert stem == "lufthansa.schedules.FRA.JFK.2026-11-21" and at == pytest.approx(1_763_719_200.123)
    assert parse_recording_name(Path("states_2022-06-27-00.csv")) is None
    assert parse_recording_name(Path("notes.json")) is None


def test_recorder_saves_gzipped_raw_body_with_unique_names(tmp_path):
    clock = FakeClock()
    recorder = Recorder(tmp_path, clock)
    a = recorder.save("weather.current", b'{"a": 1}')
    b = recorder.save("weather.current", b'{"b": 2}')
    assert a != b and a.read_bytes()[:2] == b"\x1f\x8b"
    assert read_maybe_gzip(a) == b'{"a": 1}' and read_maybe_gzip(b) == b'{"b": 2}'
    assert parse_recording_name(b)[1] > parse_recording_name(a)[1]


def test_live_recording_replays_to_the_same_states(settings, api, tmp_path):
    body = (DATA / "opensky_states_mixed.json").read_bytes()
    api.always("GET", "/api/states/all", Reply(200, body))
    clock = FakeClock()
    live = OpenSkyLive(settings.model_copy(update={"opensky_api_url": api.url + "/api"}), clock, HttpClient(clock),
                       recorder=Recorder(tmp_path / "opensky", clock))
    live_batch = live.poll()

    (recorded,) = (tmp_path / "opensky").iterdir()
    assert read_maybe_gzip(recorded) == body  # the raw response, byte for byte
    (replayed,) = list(OpenSkyReplay(tmp_path / "opensky", FakeClock(), speed=0).batches())

    def comparable(batch):
        return sorted(s.model_dump(exclude={"source"}).__repr__() for s in states(batch))

    assert comparable(replayed) == comparable(live_batch) and len(live_batch.records) == 3
