"""OpenSky: parsing recorded /states/all responses, the credit budget, and the live client over HTTP."""

from __future__ import annotations

import random
import time
from itertools import islice

import orjson
import pytest

from producers.http import HttpClient
from producers.opensky import (
    OpenSkyLive,
    credit_cost,
    paced_interval_s,
    parse_states_response,
    poll_interval_s,
)
from skyrisk.contracts import DEAD_LETTER, FLIGHT_STATES, FlightState
from skyrisk.settings import Settings
from tests.producers.helpers import Reply, ScriptedServer, load

STATES = {"time": 1763719200, "states": [
    ["3c6444", "DLH400  ", "Germany", 1763719198, 1763719199, 8.5622, 50.0379, 10972.8, False, 245.3, 287.5, -0.33,
     None, 11201.4, "1000", False, 0],
]}


def states_by_icao(batch) -> dict[str, FlightState]:
    return {key: FlightState.model_validate_json(value) for key, value in batch.records}


# --- parser ------------------------------------------------------------------------------------
def test_17_and_18_field_rows_become_named_si_fields():
    batch = parse_states_response(load("opensky_states_mixed.json"), "live")
    states = states_by_icao(batch)

    dlh = states["3c6444"]  # 17 items
    assert (dlh.callsign, dlh.origin_country, dlh.latitude, dlh.longitude) == ("DLH400", "Germany", 50.0379, 8.5622)
    assert (dlh.baro_altitude, dlh.geo_altitude) == (10972.8, 11201.4)  # index 7 vs 13, not swapped
    assert (dlh.velocity, dlh.true_track, dlh.vertical_rate) == (245.3, 287.5, -0.33)
    assert (dlh.event_time, dlh.last_contact, dlh.snapshot_time) == (1763719198, 1763719199, 1763719200)
    assert (dlh.squawk, dlh.spi, dlh.position_source, dlh.category) == ("1000", False, 0, None)
    assert dlh.source == "live" and dlh.schema_version == 1

    ryr = states["4ca7b5"]  # 18 items: the last one is the category, index 16 the position source
    assert (ryr.category, ryr.position_source) == (4, 0)


def test_null_time_position_falls_back_to_last_contact():
    states = states_by_icao(parse_states_response(load("opensky_states_mixed.json"), "live"))
    afr = states["3944ef"]
    assert afr.event_time == 1763719190
    assert afr.baro_altitude is None and afr.on_ground is True and afr.position_source == 2


def test_rows_without_position_are_skipped_and_counted_and_bad_rows_dead_lettered():
    batch = parse_states_response(load("opensky_states_mixed.json"), "live")
    assert sorted(states_by_icao(batch)) == ["3944ef", "3c6444", "4ca7b5"]
    assert batch.skipped == 2  # a0b1c2 (no longitude/latitude), 4b1805 (no longitude)
    reasons = sorted(d.reason for d in batch.dead_letters)
    assert len(reasons) == 2
    assert reasons[0].startswith("invalid state vector: icao24")  # "XYZ!!!"
    assert reasons[1] == "state vector must have 17 or 18 items, got 15"
    assert all(d.source_topic == FLIGHT_STATES.name for d in batch.dead_letters)
    assert '"440abc"' in next(d.raw for d in batch.dead_letters if "15" in d.reason)


def test_states_null_is_an_empty_snapshot():
    batch = parse_states_response(load("opensky_states_null.json"), "live")
    assert batch.records == [] and batch.dead_letters == [] and batch.skipped == 0


def test_a_response_without_time_is_dead_lettered():
    batch = parse_states_response({"states": []}, "live")
    assert batch.records == [] and len(batch.dead_letters) == 1


# --- credit budget ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bbox", "credits"),
    [
        ((45.0, 5.0, 50.0, 10.0), 1),  # 25 sq deg
        ((45.0, 5.0, 50.1, 10.0), 2),
        ((40.0, 0.0, 50.0, 10.0), 2),  # 100
        ((42.0, -5.0, 54.0, 7.0), 3),  # France-sized, 144
        ((30.0, 0.0, 50.0, 20.0), 3),  # 400
        ((35.0, -12.0, 62.0, 32.0), 4),  # Europe
        (None, 4),  # global
    ],
)
def test_credit_cost_by_box_area(bbox, credits):
    assert credit_cost(bbox) == credits


def test_poll_interval_keeps_the_day_within_the_tier():
    france = (42.0, -5.0, 54.0, 7.0)
    assert poll_interval_s(france, "standard") == pytest.approx(64.8)  # the reference's "every >= 65 s"
    assert poll_interval_s(None, "standard") == pytest.approx(86.4)
    assert poll_interval_s(france, "anonymous") == pytest.approx(648.0)
    assert poll_interval_s((45.0, 5.0, 46.0, 6.0), "feeder") == 10.8
    assert poll_interval_s((45.0, 5.0, 45.1, 5.1), "feeder") == 10.8  # 86400 / 8000
    assert poll_interval_s((45.0, 5.0, 45.1, 5.1), "anonymous") == 216.0


def test_remaining_credits_stretch_the_interval():
    ten_utc = 1_763_719_200.0  # 14 h = 50,400 s before midnight UTC
    assert paced_interval_s(64.8, 3, None, ten_utc) == 64.8
    assert paced_interval_s(64.8, 3, 3000, ten_utc) == 64.8  # plenty left: the base pace
    assert paced_interval_s(64.8, 3, 300, ten_utc) == pytest.approx(504.0)  # 50400 * 3 / 300
    assert paced_interval_s(64.8, 3, 2, ten_utc) == pytest.approx(50_400.0)  # nothing left until tomorrow


# --- live client against a local server -------------------------------------------------------
def live_settings(settings: Settings, api: ScriptedServer, **extra) -> Settings:
    return settings.model_copy(update={"opensky_api_url": api.url + "/api", "opensky_token_url": api.url + "/token",
                                       **extra})


def with_credentials(settings: Settings, api: ScriptedServer) -> Settings:
    from pydantic import SecretStr

    return live_settings(settings, api, opensky_client_id="skyrisk", opensky_client_secret=SecretStr("s3cret"))


def token_reply(token: str, expires_in: int = 1800) -> Reply:
    return Reply(200, {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})


def test_token_is_fetched_once_cached_and_sent_as_bearer(settings, api, clock):
    api.add("POST", "/token", token_reply("tok-1"))
    api.always("GET", "/api/states/all", Reply(200, STATES, {"X-Rate-Limit-Remaining": "3994"}))
    client = OpenSkyLive(with_credentials(settings, api), clock, HttpClient(clock))

    first, second = client.poll(), client.poll()

    assert len(first.records) == 1 and len(second.records) == 1
    token_calls = api.requests_to("/token")
    assert len(token_calls) == 1
    assert token_calls[0].form == {"grant_type": ["client_credentials"], "client_id": ["skyrisk"],
                                   "client_secret": ["s3cret"]}
    polls = api.requests_to("/api/states/all")
    assert [p.headers["Authorization"] for p in polls] == ["Bearer tok-1", "Bearer tok-1"]
    assert polls[0].query == {"lamin": ["42.0"], "lomin": ["-5.0"], "lamax": ["54.0"], "lomax": ["7.0"],
                              "extended": ["1"]}
    assert client.remaining == 3994 and "credits_left=3994" in client.status()


def test_expired_token_is_fetched_again(settings, api, clock):
    api.add("POST", "/token", token_reply("tok-1", expires_in=1800), token_reply("tok-2"))
    api.always("GET", "/api/states/all", Reply(200, STATES))
    client = OpenSkyLive(with_credentials(settings, api), clock, HttpClient(clock))
    client.poll()
    clock.t += 1800  # a token lives 30 minutes
    client.poll()
    assert [p.headers["Authorization"] for p in api.requests_to("/api/states/all")] == ["Bearer tok-1", "Bearer tok-2"]


def test_401_refreshes_the_token_and_retries(settings, api, clock):
    api.add("POST", "/token", token_reply("stale"), token_reply("fresh"))
    api.add("GET", "/api/states/all", Reply(401, {"error": "invalid token"}), Reply(200, STATES))
    client = OpenSkyLive(with_credentials(settings, api), clock, HttpClient(clock))

    batch = client.poll()

    assert len(batch.records) == 1 and batch.dead_letters == []
    assert [p.headers["Authorization"] for p in api.requests_to("/api/states/all")] == ["Bearer stale", "Bearer fresh"]


def test_anonymous_without_credentials(settings, api, clock):
    api.always("GET", "/api/states/all", Reply(200, STATES))
    client = OpenSkyLive(live_settings(settings, api), clock, HttpClient(clock))
    client.poll()
    assert api.requests_to("/token") == []
    assert "Authorization" not in api.requests_to("/api/states/all")[0].headers
    assert client.tier == "anonymous" and client.base_interval == pytest.approx(648.0)


def test_429_waits_the_retry_after_header(settings, api, clock):
    api.add("GET", "/api/states/all",
            Reply(429, {"error": "Too many requests"}, {"X-Rate-Limit-Retry-After-Seconds": "37"}),
            Reply(200, STATES))
    client = OpenSkyLive(live_settings(settings, api), clock, HttpClient(clock))
    batch = client.poll()
    assert len(batch.records) == 1
    assert clock.sleeps == [37.0]


def test_5xx_backs_off_exponentially_with_jitter_then_succeeds(settings, api, clock):
    api.add("GET", "/api/states/all", Reply(503, "busy"), Reply(502, "bad gateway"), Reply(500, "oops"),
            Reply(200, STATES))
    client = OpenSkyLive(live_settings(settings, api), clock, HttpClient(clock, backoff_base_s=2.0,
                                                                           rng=random.Random(3)))
    batch = client.poll()
    assert len(batch.records) == 1
    assert len(clock.sleeps) == 3
    for attempt, slept in enumerate(clock.sleeps, start=1):
        full = 2.0 * 2 ** (attempt - 1)
        assert 0.5 * full <= slept < 1.5 * full
    assert len(set(clock.sleeps)) == 3


def test_timeouts_back_off_and_retry(settings, api, clock):
    def too_slow(_request):
        time.sleep(0.5)  # longer than the client's read timeout below
        return Reply(200, STATES)

    api.add("GET", "/api/states/all", too_slow, Reply(200, STATES))
    http = HttpClient(clock, timeout=(2.0, 0.2), backoff_base_s=2.0, rng=random.Random(1))
    batch = OpenSkyLive(live_settings(settings, api), clock, http).poll()
    assert len(batch.records) == 1
    assert len(clock.sleeps) == 1 and 1.0 <= clock.sleeps[0] < 3.0


def test_persistent_5xx_gives_up_into_the_dead_letter_topic(settings, api, clock):
    api.always("GET", "/api/states/all", Reply(503, "down for maintenance"))
    client = OpenSkyLive(live_settings(settings, api), clock, HttpClient(clock, max_attempts=3))
    batch = client.poll()
    assert batch.records == []
    assert len(batch.dead_letters) == 1 and "giving up after 3 attempts" in batch.dead_letters[0].reason
    assert batch.dead_letters[0].raw == "down for maintenance"
    assert len(api.requests_to("/api/states/all")) == 3


def test_polls_are_paced_by_the_credit_budget(settings, api, clock):
    api.always("GET", "/api/states/all", Reply(200, STATES, {"X-Rate-Limit-Remaining": "3000"}))
    client = OpenSkyLive(with_credentials(settings, api), clock, HttpClient(clock))
    api.always("POST", "/token", token_reply("tok"))

    list(islice(client.batches(), 3))

    assert clock.sleeps == [pytest.approx(64.8), pytest.approx(64.8)]  # standard tier, 3 credits a call


def test_pacing_slows_down_when_few_credits_remain(settings, api, clock):
    api.always("POST", "/token", token_reply("tok"))
    api.always("GET", "/api/states/all", Reply(200, STATES, {"X-Rate-Limit-Remaining": "300"}))
    client = OpenSkyLive(with_credentials(settings, api), clock, HttpClient(clock))
    list(islice(client.batches(), 2))
    assert clock.sleeps == [pytest.approx(504.0)]


def test_non_json_body_is_dead_lettered_not_fatal(settings, api, clock):
    api.add("GET", "/api/states/all", Reply(200, b"<html>maintenance</html>"), Reply(200, STATES))
    client = OpenSkyLive(live_settings(settings, api), clock, HttpClient(clock))
    first, second = client.poll(), client.poll()
    assert first.records == [] and "not JSON" in first.dead_letters[0].reason
    assert len(second.records) == 1


def test_dead_letter_json_matches_contract():
    batch = parse_states_response({"time": 1, "states": [["abc"]]}, "replay")
    dead = batch.dead_letters[0]
    assert dead.source_topic == FLIGHT_STATES.name and dead.source == "replay"
    assert orjson.loads(dead.raw) == ["abc"]
    assert DEAD_LETTER.key == "source topic"
