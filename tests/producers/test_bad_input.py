"""No upstream answer or recorded file can end the producer process or make a live poller spend
its budget again: each bad file or answer is skipped (or dead-lettered) with one log line, and
the next file or poll goes on. Paging stops at a repeated link and at a hard page cap."""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from itertools import islice
from pathlib import Path

import pytest
from pydantic import SecretStr

from producers.core import Clock
from producers.http import HttpClient, Recorder
from producers import lufthansa
from producers.lufthansa import (
    REFERENCE_KINDS,
    LufthansaLive,
    LufthansaReplay,
    next_offset,
    parse_reference_page,
    parse_schedules,
)
from producers.opensky import OpenSkyLive, OpenSkyReplay, parse_states_response
from producers.replay import find_files
from producers.runner import run
from producers.weather import WeatherReplay
from skyrisk.contracts import DEAD_LETTER, FLIGHT_STATES, LH_REFERENCE, LH_SCHEDULES, WEATHER, FlightState
from tests.producers.helpers import DATA, FakeClock, Reply, Seen, load
from tests.producers.test_output_and_http import make_output

REPO = Path(__file__).resolve().parents[2]
GOOD_SNAPSHOT = "opensky.states__20261121T100000000Z.json.gz"  # opensky_states_mixed.json: 3 states
GOOD_ICAO24 = ["3944ef", "3c6444", "4ca7b5"]
CSV_HEADER = (DATA / "states_2022-06-27-00.csv").read_text().splitlines()[0]
CSV_ROW = "{time},3c6444,50.0379,8.5622,245.3,287.5,-0.33,{callsign},false,false,false,1000,10972.8,11201.4,,"


def write_good_snapshot(folder: Path) -> None:
    (folder / GOOD_SNAPSHOT).write_bytes(gzip.compress((DATA / "opensky_states_mixed.json").read_bytes()))


def truncated_gzip(data: bytes) -> bytes:
    return gzip.compress(data)[:-12]  # a recorder killed before the gzip trailer


def published(producer, topic: str) -> list:
    return [(key, value) for t, key, value in producer.delivered if t == topic]


def replay_all(settings, replay) -> tuple[int, object]:
    """The replay source through the real runner (real clock) into a fake producer."""
    output, producer = make_output(settings)
    code = run([replay], output, Clock(), status_interval_s=60)
    return code, producer


# --- OpenSky -----------------------------------------------------------------------------------
@pytest.mark.parametrize("states", [5, "abc", {"x": 1}, True])
def test_an_answer_whose_states_is_not_a_list_is_one_dead_letter(states):
    batch = parse_states_response({"time": 1763719200, "states": states}, "live")
    assert batch.records == []
    (dead,) = batch.dead_letters
    assert dead.reason == f"'states' is not a list but {type(states).__name__}"


def test_a_live_answer_with_states_5_is_dead_lettered_and_the_next_poll_comes_at_its_interval(settings, api):
    clock = FakeClock()
    api.add("GET", "/api/states/all", Reply(200, {"time": 1763719200, "states": 5}))
    api.always("GET", "/api/states/all", Reply(200, load("opensky_states_mixed.json")))
    live = OpenSkyLive(settings.model_copy(update={"opensky_api_url": api.url + "/api"}), clock, HttpClient(clock))

    first, second = islice(live.batches(), 2)

    assert first.records == [] and "'states' is not a list" in first.dead_letters[0].reason
    assert sorted(FlightState.model_validate_json(v).icao24 for _, v in second.records) == GOOD_ICAO24
    assert len(api.requests_to("/api/states/all")) == 2
    assert clock.sleeps == [pytest.approx(live.interval)]  # the regular pacing, no extra poll


def _states_5(folder: Path) -> None:
    (folder / "opensky.states__20261121T095959000Z.json").write_text('{"time": 1763719199, "states": 5}')  # 1 s before


def _truncated_gz(folder: Path) -> None:
    (folder / "opensky.states__20261121T095900000Z.json.gz").write_bytes(
        truncated_gzip((DATA / "opensky_states_mixed.json").read_bytes()))


def _no_time(folder: Path) -> None:
    (folder / "opensky.states__20261121T095900000Z.json").write_text('{"states": []}')


def _csv_time_not_a_number(folder: Path) -> None:
    rows = [CSV_ROW.format(time=1656288000, callsign="DLH400"), CSV_ROW.format(time="noon", callsign="DLH401"),
            CSV_ROW.format(time=1656288010, callsign="DLH402")]
    (folder / "states_2022-06-27-00.csv").write_text("\n".join([CSV_HEADER, *rows]) + "\n")


def _csv_huge_field(folder: Path) -> None:
    rows = [CSV_ROW.format(time=1656288000, callsign="DLH400"), CSV_ROW.format(time=1656288005, callsign="X" * 131_073),
            CSV_ROW.format(time=1656288010, callsign="DLH402")]
    (folder / "states_2022-06-27-00.csv").write_text("\n".join([CSV_HEADER, *rows]) + "\n")


def _csv_gz_truncated(folder: Path) -> None:
    rows = [CSV_ROW.format(time=1656288000 + i // 1000, callsign="DLH400") for i in range(3000)]
    (folder / "states_2022-06-27-00.csv.gz").write_bytes(truncated_gzip("\n".join([CSV_HEADER, *rows]).encode()))


@pytest.mark.parametrize(
    ("fault", "speed", "skipped_file", "log_words", "dead_letters"),
    [  # speed 1 for the JSON recordings (one minute apart); the CSV's 2022 would wait years for 2025
        (_states_5, 1.0, None, None, 1),
        (_truncated_gz, 1.0, "opensky.states__20261121T095900000Z.json.gz", "truncated or not gzip", 0),
        (_no_time, 1.0, None, None, 1),
        (_csv_time_not_a_number, 0, None, None, 1),
        (_csv_huge_field, 0, "states_2022-06-27-00.csv", "field larger than field limit", 0),
        (_csv_gz_truncated, 0, "states_2022-06-27-00.csv.gz", "Compressed file ended", 0),
    ],
    ids=["states-5", "truncated-json-gz", "no-time-at-speed-1", "csv-time-not-a-number", "csv-128KiB-field",
         "truncated-csv-gz"],
)
def test_a_bad_recording_is_skipped_and_the_replay_goes_on(settings, tmp_path, caplog, fault, speed, skipped_file,
                                                           log_words, dead_letters):
    fault(tmp_path)
    write_good_snapshot(tmp_path)  # recorded after the bad one: it must still be played
    replay = OpenSkyReplay(tmp_path, Clock(), speed=speed)  # a real clock: an endless wait raises OverflowError

    with caplog.at_level(logging.ERROR, logger="producers"):
        code, producer = replay_all(settings, replay)

    assert code == 0
    icao24 = [FlightState.model_validate_json(v).icao24 for _, v in published(producer, FLIGHT_STATES.name)]
    assert set(GOOD_ICAO24) <= set(icao24)  # the good recording after the bad one was played
    assert len(published(producer, DEAD_LETTER.name)) == 2 + dead_letters  # the good file holds 2 bad rows
    # Only the producers' own lines: other loggers of this test process (a server thread) are not the replay's.
    skips = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("producers")]
    if skipped_file is None:
        assert skips == [] and "bad_files=0" in replay.status()
    else:
        assert len(skips) == 1 and skipped_file in skips[0] and log_words in skips[0]
        assert "bad_files=1" in replay.status()


def test_csv_rows_before_a_128_kib_field_are_kept_and_a_bad_time_row_is_dead_lettered(settings, tmp_path):
    _csv_huge_field(tmp_path)
    code, producer = replay_all(settings, OpenSkyReplay(tmp_path, Clock(), speed=0))
    assert code == 0
    assert [FlightState.model_validate_json(v).callsign for _, v in published(producer, FLIGHT_STATES.name)] == [
        "DLH400"]

    (tmp_path / "states_2022-06-27-00.csv").unlink()
    _csv_time_not_a_number(tmp_path)
    code, producer = replay_all(settings, OpenSkyReplay(tmp_path, Clock(), speed=0))
    assert code == 0
    assert [FlightState.model_validate_json(v).callsign for _, v in published(producer, FLIGHT_STATES.name)] == [
        "DLH400", "DLH402"]
    (dead,) = published(producer, DEAD_LETTER.name)
    assert b"invalid CSV row: time 'noon' is not a number" in dead[1] and b"DLH401" in dead[1]


# --- Open-Meteo replay ---------------------------------------------------------------------------
def test_a_truncated_weather_recording_is_skipped(settings, tmp_path, caplog):
    (tmp_path / "weather.current__20261121T101500000Z.json.gz").write_bytes(
        truncated_gzip((DATA / "open_meteo_list.json").read_bytes()))
    shutil.copy(DATA / "open_meteo_list.json", tmp_path / "weather.current__20261121T101600000Z.json")
    replay = WeatherReplay(tmp_path, settings, Clock(), speed=0)
    with caplog.at_level(logging.ERROR, logger="producers"):
        code, producer = replay_all(settings, replay)
    assert code == 0 and len(published(producer, WEATHER.name)) == 2
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "weather.current__20261121T101500000Z.json.gz" in line and "bad_files=1" in replay.status()


# --- Lufthansa -----------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [[], [{"AirportResource": {}}], "text", 5])
def test_a_lufthansa_body_that_is_not_an_object_is_one_dead_letter(body):
    kind = REFERENCE_KINDS["airports"]
    page = parse_reference_page(kind, body, 0.0, "live")
    assert page.records == [] and len(page.dead_letters) == 1 and "not an object" in page.dead_letters[0].reason
    assert next_offset(kind, body, 0, 0) is None
    schedules = parse_schedules(body, "FRA", "JFK", "2026-11-21", 0.0, "live")
    assert schedules.records == [] and len(schedules.dead_letters) == 1
    assert "not an object" in schedules.dead_letters[0].reason


@pytest.fixture
def lh(settings, api):
    api.always("POST", "/v1/oauth/token", Reply(200, {"access_token": "t", "expires_in": 21600}))
    configured = settings.model_copy(update={
        "lufthansa_api_url": api.url + "/v1", "lufthansa_client_id": "skyrisk",
        "lufthansa_client_secret": SecretStr("lh-secret"), "lufthansa_routes": "FRA-JFK",
        "lufthansa_horizon_days": 1})
    clock = FakeClock()
    return LufthansaLive(configured, clock, HttpClient(clock))


def test_a_list_shaped_lufthansa_page_does_not_stop_the_sweep(lh, api):
    api.always("GET", "/v1/mds-references/countries", Reply(200, [{"CountryCode": "DE"}]))
    for kind, name in (("cities", "lh_cities.json"), ("airports", "lh_airports_list.json"),
                       ("airlines", "lh_airlines.json"), ("aircraft", "lh_aircraft.json")):
        api.always("GET", f"/v1/mds-references/{kind}", Reply(200, load(name)))
    api.always("GET", "/v1/operations/schedules/FRA/JFK/2025-11-21", Reply(200, []))

    batches = list(islice(lh.batches(), 6))  # 5 reference types of one page, 1 schedule day

    assert [b.topic for b in batches] == [LH_REFERENCE] * 5 + [LH_SCHEDULES]
    assert "not an object" in batches[0].dead_letters[0].reason and batches[1].records
    assert "not an object" in batches[5].dead_letters[0].reason
    assert len(api.requests_to("/v1/mds-references/countries")) == 1  # no restart, no second sweep


def _page(offset: int, next_href: str | None = None, total: object = None) -> dict:
    links = [{"@Rel": "self", "@Href": f"https://x/v1/mds-references/airports?limit=100&offset={offset}"}]
    if next_href is not None:
        links.append({"@Rel": "next", "@Href": next_href})
    meta: dict = {"Link": links} if next_href is not None else {}
    if total is not None:
        meta["TotalCount"] = total
    code = "".join(chr(65 + (offset // 100 // 26**k) % 26) for k in (2, 1, 0))
    return {"AirportResource": {"Airports": {"Airport": {"AirportCode": code, "CityCode": code}}, "Meta": meta}}


@pytest.mark.parametrize(
    "page",
    [_page(0, "https://x/v1/mds-references/airports?limit=100&offset=abc"),
     _page(0, "https://x/v1/mds-references/airports?limit=100&offset=1.5"),
     _page(0, total="lots")],
    ids=["next-offset-abc", "next-offset-1.5", "total-count-lots"])
def test_a_non_integer_offset_stops_paging_with_one_log_line(lh, api, caplog, page):
    api.always("GET", "/v1/mds-references/airports", Reply(200, page))
    with caplog.at_level(logging.WARNING, logger="producers"):
        batches = list(islice(lh.reference_batches(REFERENCE_KINDS["airports"]), 10))
    assert len(batches) == 1 and [k for k, _ in batches[0].records] == ["airport:AAA"]
    assert len(api.requests_to("/v1/mds-references/airports")) == 1
    (line,) = [r.getMessage() for r in caplog.records if "paging" in r.getMessage()]
    assert "airports" in line and "not an integer" in line
    assert "paging_stopped=1" in lh.status()


def test_a_next_link_to_the_same_page_stops_paging(lh, api, caplog):
    api.always("GET", "/v1/mds-references/airports",
               Reply(200, _page(0, "https://x/v1/mds-references/airports?limit=100&offset=0")))
    with caplog.at_level(logging.WARNING, logger="producers"):
        batches = list(islice(lh.reference_batches(REFERENCE_KINDS["airports"]), 10))
    assert len(batches) == 1 and len(api.requests_to("/v1/mds-references/airports")) == 1
    assert any("offset 0 again" in r.getMessage() for r in caplog.records)


def test_paging_stops_at_the_page_cap(lh, api, caplog):
    def endless(request: Seen) -> Reply:
        offset = int(request.query["offset"][0])
        return Reply(200, _page(offset, f"https://x/v1/mds-references/airports?limit=100&offset={offset + 100}"))

    api.always("GET", "/v1/mds-references/airports", endless)
    with caplog.at_level(logging.WARNING, logger="producers"):
        batches = list(islice(lh.reference_batches(REFERENCE_KINDS["airports"]), lufthansa.MAX_PAGES + 10))
    assert len(batches) == lufthansa.MAX_PAGES == len(api.requests_to("/v1/mds-references/airports"))
    assert any(f"{lufthansa.MAX_PAGES} pages" in r.getMessage() for r in caplog.records)


def test_lufthansa_replay_skips_a_truncated_recording_and_dead_letters_a_list_body(settings, tmp_path, caplog):
    (tmp_path / "lufthansa.airports.0__20261121T020000000Z.json.gz").write_bytes(
        truncated_gzip((DATA / "lh_airports_list.json").read_bytes()))
    (tmp_path / "lufthansa.cities.0__20261121T020001000Z.json").write_text("[]")
    shutil.copy(DATA / "lh_countries.json", tmp_path / "lufthansa.countries.0__20261121T020002000Z.json")
    replay = LufthansaReplay(tmp_path, Clock())
    with caplog.at_level(logging.ERROR, logger="producers"):
        code, producer = replay_all(settings, replay)
    assert code == 0
    assert [k for k, _ in published(producer, LH_REFERENCE.name)] == ["country:DE"]
    assert len(published(producer, DEAD_LETTER.name)) == 1  # the list body
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "lufthansa.airports.0__20261121T020000000Z.json.gz" in line and "bad_files=1" in replay.status()


# --- the recorder ------------------------------------------------------------------------------------
KILLED_MID_WRITE = textwrap.dedent("""
    import gzip, os, signal, sys
    from producers.http import Recorder
    from producers.testing import FakeClock

    real_write = gzip.GzipFile.write

    def write_half_then_die(self, data):
        real_write(self, bytes(data)[: len(data) // 2])
        self.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # killed in the middle of the file

    gzip.GzipFile.write = write_half_then_die
    Recorder(sys.argv[1], FakeClock()).save("opensky.states", os.urandom(200_000))
""")


def test_a_recorder_killed_mid_file_leaves_only_a_part_file_that_replay_ignores(settings, tmp_path):
    folder = tmp_path / "opensky"
    result = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(folder)], cwd=REPO, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True)
    assert result.returncode == -9, result.stderr
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 1 and names[0].endswith(".json.gz.part")  # nothing under the final name
    write_good_snapshot(folder)
    code, producer = replay_all(settings, OpenSkyReplay(folder, Clock(), speed=0))
    assert code == 0 and len(published(producer, FLIGHT_STATES.name)) == 3


def test_a_finished_recording_has_its_final_name_and_no_part_file(tmp_path):
    path = Recorder(tmp_path, FakeClock()).save("weather.current", b'{"a": 1}')
    assert [p.name for p in tmp_path.iterdir()] == [path.name] and path.name.endswith(".json.gz")


def test_a_recorder_that_cannot_write_logs_it_and_the_poll_still_publishes(settings, api, tmp_path, caplog,
                                                                              monkeypatch):
    api.always("GET", "/api/states/all", Reply(200, load("opensky_states_mixed.json")))
    clock = FakeClock()
    recorder = Recorder(tmp_path, clock)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gzip.GzipFile, "write", disk_full)
    live = OpenSkyLive(settings.model_copy(update={"opensky_api_url": api.url + "/api"}), clock, HttpClient(clock),
                       recorder=recorder)
    with caplog.at_level(logging.ERROR, logger="producers"):
        batch = live.poll()
    assert len(batch.records) == 3
    assert list(tmp_path.iterdir()) == []  # the .part file is removed
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "No space left on device" in line and recorder.failed == 1


def test_a_part_file_is_never_replayed_even_when_named(tmp_path):
    part = tmp_path / f"{GOOD_SNAPSHOT}.part"
    part.write_bytes(gzip.compress((DATA / "opensky_states_mixed.json").read_bytes()))
    assert find_files(tmp_path, OpenSkyReplay.SUFFIXES) == []
    with pytest.raises(FileNotFoundError, match="unfinished recording"):
        find_files(part, OpenSkyReplay.SUFFIXES)


@pytest.mark.parametrize("body", ["not json", {"token_type": "bearer"}, ["t"], {"access_token": None}])
def test_an_unusable_token_answer_is_dead_lettered_and_the_poller_goes_on(settings, api, body):
    clock = FakeClock()
    api.add("POST", "/token", Reply(200, body))
    api.always("POST", "/token", Reply(200, {"access_token": "tok", "expires_in": 1800}))
    api.always("GET", "/api/states/all", Reply(200, load("opensky_states_mixed.json")))
    live = OpenSkyLive(settings.model_copy(update={
        "opensky_api_url": api.url + "/api", "opensky_token_url": api.url + "/token", "opensky_client_id": "id",
        "opensky_client_secret": SecretStr("s3cret")}), clock, HttpClient(clock))

    first, second = islice(live.batches(), 2)

    assert first.records == [] and "token answer" in first.dead_letters[0].reason
    assert len(second.records) == 3 and len(api.requests_to("/api/states/all")) == 1  # no data call without token
    assert clock.sleeps == [pytest.approx(live.interval)]
