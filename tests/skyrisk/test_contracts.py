"""The contract module: topic/model registry is consistent and each derived Spark schema
parses JSON written from its pydantic model back to exactly the same values."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from skyrisk import contracts as c

SAMPLES: dict[type, dict] = {
    c.FlightState: dict(source="live", icao24="3c6444", callsign="DLH400  ", origin_country="Germany",
                        event_time=1763719200.0, snapshot_time=1763719205.0, last_contact=1763719204.5,
                        longitude=8.57, latitude=50.03, baro_altitude=10668.0, geo_altitude=10900.5,
                        on_ground=False, velocity=240.1, true_track=287.5, vertical_rate=-0.33,
                        squawk="1000", spi=False, position_source=0, category=6),
    c.WeatherObservation: dict(source="sim", cell_id="100:17", cell_latitude=50.25, cell_longitude=8.75,
                               model_latitude=50.2, model_longitude=8.7, observation_time=1763719200.0,
                               fetched_time=1763719260.0, temperature_2m=4.5, relative_humidity_2m=81.0,
                               wind_speed_10m=22.3, wind_direction_10m=250.0, wind_gusts_10m=55.1,
                               precipitation=0.4, rain=0.4, cloud_cover=90.0, weather_code=95,
                               visibility=2400.0),
    c.ReferenceRecord: dict(source="replay", type="city", code="FRA", name="Frankfurt",
                            names={"en": "Frankfurt", "de": "Frankfurt am Main"}, country_code="DE",
                            latitude=50.05, longitude=8.57, airports=["FRA", "HHN"], fetched_time=1.0),
    c.ScheduleJourney: dict(source="sim", origin="FRA", destination="JFK", query_date="2026-11-22",
                            duration_iso="P1DT2H5M", duration_minutes=1565, stops=1,
                            flight_numbers=["LH400", "LH9000"],
                            legs=[dict(departure_airport="FRA", departure_local="2026-11-22T10:00",
                                       arrival_airport="JFK", arrival_local="2026-11-22T12:45",
                                       marketing_airline="LH", flight_number=400, operating_airline="LH",
                                       aircraft_code="74H", stops=0, days_of_operation="1234567",
                                       effective="2026-10-25", expiration="2027-03-28")],
                            days_of_operation="1234567", fetched_time=2.0),
    c.Alert: dict(source="sim", icao24="3c6444", type="EMERGENCY", episode_id="3c6444:EMERGENCY:1",
                  started_at=1.0, last_seen=2.0, callsign="DLH400", risk_score=65,
                  risk_category="HIGH", reasons=["squawk 7700"]),
    c.DeadLetter: dict(source="live", source_topic="flights.states", reason="bad json", raw="{oops",
                       at=3.0),
}


def test_every_topic_has_a_message_model_and_unique_name():
    names = [spec.name for spec in c.TOPICS]
    assert len(names) == len(set(names))
    assert set(c.MESSAGE_BY_TOPIC) == set(names)


def test_compacted_topics_keep_data_and_others_expire():
    assert c.LH_REFERENCE.config["cleanup.policy"] == "compact"
    assert c.FLIGHT_STATES.config == {"cleanup.policy": "delete", "retention.ms": str(24 * 3_600_000)}


@pytest.mark.parametrize("model", list(SAMPLES), ids=lambda m: m.__name__)
def test_spark_schema_parses_model_json_to_the_same_values(spark, model):
    from pyspark.sql import functions as F

    message = model(**SAMPLES[model])
    payload = message.model_dump_json()
    parsed = (
        spark.createDataFrame([(payload,)], "value string")
        .select(F.from_json("value", c.spark_schema(model), {"mode": "FAILFAST"}).alias("m"))
        .select("m.*")
        .first()
        .asDict(recursive=True)
    )
    assert parsed == json.loads(payload)
    assert set(parsed) == set(model.model_fields)


def test_every_message_model_has_a_sample():
    assert set(c.MESSAGE_BY_TOPIC.values()) == set(SAMPLES)


def test_models_reject_out_of_range_and_unknown_fields():
    good = SAMPLES[c.FlightState]
    with pytest.raises(ValidationError):
        c.FlightState(**{**good, "latitude": 91.0})
    with pytest.raises(ValidationError):
        c.FlightState(**{**good, "velocity": -1.0})
    with pytest.raises(ValidationError):
        c.FlightState(**{**good, "icao24": "XYZ"})
    with pytest.raises(ValidationError):
        c.FlightState(**{**good, "surprise": 1})


def test_keys_follow_the_topic_contract():
    assert c.ReferenceRecord(**SAMPLES[c.ReferenceRecord]).key == "city:FRA"
    assert c.ScheduleJourney(**SAMPLES[c.ScheduleJourney]).key == "FRA-JFK-2026-11-22:LH400+LH9000"


def test_two_journeys_of_one_route_and_day_keep_distinct_keys():
    # The schedules topic is compacted: equal keys would drop all but one journey.
    first = c.ScheduleJourney(**SAMPLES[c.ScheduleJourney])
    second = c.ScheduleJourney(**{**SAMPLES[c.ScheduleJourney], "flight_numbers": ["LH402"]})
    assert first.key != second.key
    assert first.key.startswith("FRA-JFK-2026-11-22") and second.key.startswith("FRA-JFK-2026-11-22")


@pytest.mark.parametrize(
    ("model", "change"),
    [
        (c.FlightState, {"velocity": float("nan")}),
        (c.FlightState, {"baro_altitude": float("inf")}),
        (c.FlightState, {"callsign": "DLH\x00400"}),
        (c.FlightState, {"vertical_rate": 900.0}),
        (c.WeatherObservation, {"wind_gusts_10m": float("nan")}),
        (c.WeatherObservation, {"wind_gusts_10m": 5000.0}),
        (c.ReferenceRecord, {"names": {"en": None}}),
        (c.ReferenceRecord, {"names": {"e.n": "Frankfurt"}}),
        (c.ReferenceRecord, {"names": {"$en": "Frankfurt"}}),
        (c.ReferenceRecord, {"names": {"en": "Frank\x00furt"}}),
        (c.ScheduleJourney, {"legs": [None]}),
        (c.ScheduleJourney, {"flight_numbers": [None]}),
    ],
    ids=lambda v: getattr(v, "__name__", None) or json.dumps(v, default=str),
)
def test_the_models_refuse_what_the_database_refuses_at_any_depth(model, change):
    """NaN/±Infinity, NUL characters, '$'/'.' map keys, nested nulls and unphysical values."""
    with pytest.raises(ValidationError):
        model.model_validate({**SAMPLES[model], **change})


def test_a_nested_leg_with_a_nul_is_refused_but_a_dead_letter_keeps_its_raw_payload_verbatim():
    journey = SAMPLES[c.ScheduleJourney]
    leg = {**journey["legs"][0], "departure_airport": "FR\x00"}
    with pytest.raises(ValidationError, match="departure_airport"):
        c.ScheduleJourney.model_validate({**journey, "legs": [leg]})
    letter = c.DeadLetter.model_validate({**SAMPLES[c.DeadLetter], "raw": "\x00\xff garbage"})
    assert letter.raw == "\x00\xff garbage"
