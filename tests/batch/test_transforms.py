"""The batch transforms on the known-truth day, in memory (Spark, no lake, no database)."""

from __future__ import annotations

import pytest

from batch import transforms
from skyrisk.contracts import CuratedPosition, EnrichedState, FlightSummary, ReferenceRecord, ScheduleJourney, spark_schema
from tests.batch import scenario


def summary_dicts(df) -> dict[str, dict]:
    return {row["flight_id"]: {k: v for k, v in row.asDict(recursive=True).items() if k != "flight_id"} for row in df.collect()}


def assert_summaries_equal(actual: dict[str, dict], expected: dict[str, dict]) -> None:
    assert sorted(actual) == sorted(expected)
    for flight_id, values in expected.items():
        got = actual[flight_id]
        assert set(got) == set(values), flight_id
        for key, value in values.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (flight_id, key)
            else:
                assert got[key] == value, (flight_id, key)


def reference_frames(spark, day: str):
    schema = spark_schema(ReferenceRecord)
    journeys = spark.createDataFrame([j.model_dump() for j in scenario.schedules()], spark_schema(ScheduleJourney))
    return {
        "airlines": spark.createDataFrame([r.model_dump() for r in scenario.reference_airlines()], schema),
        "airports": spark.createDataFrame([r.model_dump() for r in scenario.reference_airports()], schema),
        "legs": transforms.scheduled_legs(journeys, day),
    }


@pytest.fixture(scope="module")
def curated(spark):
    enriched = spark.createDataFrame(scenario.rows(), spark_schema(EnrichedState))
    return transforms.curate_positions(enriched, partitions=2, gap_minutes=15).cache()


@pytest.mark.integration
def test_curated_positions_drop_duplicates_and_keep_the_enriched_copy(curated):
    rows = curated.collect()
    assert len(rows) == scenario.POSITIONS
    keys = [(r.icao24, r.event_time) for r in rows]
    assert len(set(keys)) == len(keys)
    contract = spark_schema(CuratedPosition)
    assert [(f.name, f.dataType.simpleString()) for f in curated.schema] == [
        (f.name, f.dataType.simpleString()) for f in contract
    ]
    a1_second = next(r for r in rows if r.icao24 == "3c6444" and r.event_time == scenario.at(scenario.DAY, "06:01"))
    assert a1_second.weather_missing is False and a1_second.risk_score == 10


@pytest.mark.integration
def test_curated_positions_are_sorted_by_aircraft_and_time_within_each_file(curated):
    for part in curated.rdd.glom().collect():
        keys = [(r.icao24, r.event_time) for r in part]
        assert keys == sorted(keys)


@pytest.mark.integration
def test_flights_split_on_silence_and_touchdown(curated):
    by_flight: dict[str, list[str]] = {}
    for r in curated.orderBy("icao24", "event_time").collect():
        by_flight.setdefault(r.flight_id, []).append(r.event_time)
    day = scenario.DAY.replace("-", "")
    assert {fid: len(ts) for fid, ts in by_flight.items()} == {
        f"3c6444-{day}T060000": 8,  # up to and including the touchdown
        f"3c6444-{day}T060800": 7,  # taxi-out after the landing starts the next flight
        f"3c6444-{day}T062500": 1,  # parked after the second touchdown
        f"4ca123-{day}T100000": 3,
        f"4ca123-{day}T102200": 4,  # the exact 15-minute silence does not split
        f"a0b1c2-{day}T140000": 3,
    }


@pytest.mark.integration
def test_steps_and_alert_starts_restart_with_each_flight(curated):
    rows = {(r.icao24, r.event_time): r for r in curated.collect()}
    day = scenario.DAY
    first_of_a2 = rows[("3c6444", scenario.at(day, "06:08"))]
    assert first_of_a2.step_km == 0.0  # same place as the touchdown, and a new flight anyway
    after_silence = rows[("4ca123", scenario.at(day, "10:22"))]
    assert after_silence.step_km == 0.0 and after_silence.alert_starts == ["ANOMALY"]
    assert rows[("4ca123", scenario.at(day, "10:01"))].step_km == pytest.approx(scenario.meridian_km(0.1), rel=1e-9)
    assert rows[("4ca123", scenario.at(day, "10:23"))].alert_starts == ["EMERGENCY"]
    assert rows[("4ca123", scenario.at(day, "10:24"))].alert_starts == []  # the episode goes on
    assert rows[("4ca123", scenario.at(day, "10:39"))].alert_starts == ["ANOMALY"]


@pytest.mark.integration
def test_every_summary_value_matches_the_known_truth(spark, curated):
    summaries = transforms.flight_summaries(curated, day=scenario.DAY, **reference_frames(spark, scenario.DAY))
    contract = spark_schema(FlightSummary)
    assert [(f.name, f.dataType) for f in summaries.schema] == [(f.name, f.dataType) for f in contract]
    assert_summaries_equal(summary_dicts(summaries), scenario.expected_summaries(scenario.DAY))


@pytest.mark.integration
def test_daily_statistics_match_the_known_truth(spark, curated):
    summaries = transforms.flight_summaries(curated, day=scenario.DAY, **reference_frames(spark, scenario.DAY))
    alerts = transforms.total_alert_episodes(summaries).first().asDict()
    document = transforms.daily_stats_document(
        scenario.DAY,
        [r.asDict() for r in transforms.daily_counts(curated).collect()],
        aircraft=curated.select("icao24").distinct().count(),
        flights=summaries.count(),
        alert_episodes=alerts,
    )
    assert document == scenario.expected_daily_stats(scenario.DAY)


def test_daily_stats_document_orders_cells_and_fills_every_hour_and_category():
    counts = [
        {"cell_id": "1:1", "hour": 23, "risk_category": "HIGH", "n": 2},
        {"cell_id": "0:5", "hour": 0, "risk_category": "LOW", "n": 5},
        {"cell_id": "0:4", "hour": 0, "risk_category": "LOW", "n": 5},
    ] + [{"cell_id": f"9:{k:02d}", "hour": 12, "risk_category": "LOW", "n": 1} for k in range(12)]
    doc = transforms.daily_stats_document("2026-01-02", counts, aircraft=4, flights=3, alert_episodes={"ANOMALY": 7})
    assert doc["_id"] == doc["date"] == "2026-01-02"
    assert doc["positions"] == 24
    assert doc["risk_distribution"] == {"LOW": 22, "MEDIUM": 0, "HIGH": 2}
    assert doc["alerts_by_type"] == {"HIGH_RISK": 0, "ANOMALY": 7, "EMERGENCY": 0}
    assert doc["hourly_traffic"][0] == 10 and doc["hourly_traffic"][12] == 12 and doc["hourly_traffic"][23] == 2
    assert sum(doc["hourly_traffic"]) == 24 and len(doc["hourly_traffic"]) == 24
    assert [c["cell_id"] for c in doc["busiest_cells"]] == ["0:4", "0:5", "1:1"] + [f"9:{k:02d}" for k in range(7)]
