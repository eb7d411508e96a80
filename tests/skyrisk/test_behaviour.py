"""Behaviour: envelope rules, persistence and jumps; the Spark twin agrees with the Python one,
within a micro-batch and across batches through the context table."""

from __future__ import annotations

import math
import random

import pytest

from skyrisk.behaviour import (
    Context,
    assess_behaviour,
    assess_track,
    empty_context_table,
    envelope_violations,
    is_jump,
    merge_context_table,
)

STATES = "icao24 string, event_time double, latitude double, longitude double, on_ground boolean, velocity double, vertical_rate double"
KM_PER_DEG_LAT = 111.195  # haversine on the 6371 km sphere


def state(t, lat=50.0, lon=8.0, vr=0.0, v=230.0, on_ground=False):
    return {"event_time": t, "latitude": lat, "longitude": lon, "on_ground": on_ground, "velocity": v, "vertical_rate": vr}


def test_envelope_violations():
    assert envelope_violations(False, 230.0, -45.0) == ["vertical rate outside airliner envelope"]
    assert envelope_violations(False, 400.0, 0.0) == ["ground speed outside airliner envelope"]
    assert envelope_violations(True, 10.0, -45.0) == []  # a vertical rate on the ground is noise
    assert envelope_violations(False, float("nan"), float("nan")) == []
    assert envelope_violations(False, None, None) == []
    assert envelope_violations(False, 360.0, 40.0) == []  # the bounds themselves are inside


def test_a_run_outside_the_envelope_becomes_an_anomaly_at_its_third_report():
    out, context = assess_track([state(t, vr=-60.0, lat=50 + 0.002 * t) for t in range(5)])
    assert [o["anomaly"] for o in out] == [False, False, True, True, True]
    assert [o["envelope_streak"] for o in out] == [1, 2, 3, 4, 5]
    assert context.envelope_streak == 5 and context.envelope_since == 0


def test_or_after_twenty_seconds_at_a_slow_report_rate():
    out, _ = assess_track([state(0, v=400.0), state(20, v=400.0, lat=50.07)])
    assert [o["anomaly"] for o in out] == [False, True]


def test_a_report_inside_the_envelope_ends_the_run():
    vrs = [-60, -60, 0, -60, -60, -60]
    out, _ = assess_track([state(t, vr=float(v), lat=50 + 0.002 * t) for t, v in enumerate(vrs)])
    assert [o["anomaly"] for o in out] == [False, False, False, False, False, True]


def test_a_50_km_jump_is_an_anomaly_at_once_and_the_track_goes_on_from_there():
    jump = 50.0 / KM_PER_DEG_LAT
    track = [state(t, lat=50 + 0.002 * t) for t in range(3)] + [state(t, lat=50 + jump + 0.002 * t) for t in range(3, 6)]
    out, _ = assess_track(track)
    assert [o["anomaly_reasons"] for o in out] == [[], [], [], ["implausible position jump"], [], []]


def test_jump_threshold_is_the_envelope_speed_plus_tolerance():
    previous = Context(0.0, 50.0, 8.0)
    allowed_km = (360.0 * 10 + 5000.0) / 1000.0  # 8.6 km in 10 s
    assert not is_jump(previous, 10.0, 50.0 + (allowed_km - 0.1) / KM_PER_DEG_LAT, 8.0)
    assert is_jump(previous, 10.0, 50.0 + (allowed_km + 0.1) / KM_PER_DEG_LAT, 8.0)
    assert not is_jump(previous, 0.0, 60.0, 8.0)  # no time between them: nothing to judge
    assert not is_jump(None, 10.0, 60.0, 8.0)


def random_tracks(rng, aircraft=12, reports=40):
    tracks = {}
    for a in range(aircraft):
        t, lat = 1_700_000_000.0, 45.0 + a
        rows = []
        for _ in range(reports):
            t += rng.choice([1.0, 1.0, 5.0, 10.0, 30.0])
            lat += rng.choice([0.002, 0.002, 0.002, 0.5])  # now and then a ~55 km jump
            vr = rng.choice([0.0, 5.0, -60.0, -60.0, float("nan"), None])
            v = rng.choice([230.0, 230.0, 400.0, None])
            rows.append(state(t, lat=lat, vr=vr, v=v, on_ground=rng.random() < 0.05))
        tracks[f"a{a:05x}"] = rows
    return tracks


def spark_rows(spark, tracks, batches):
    """Run the Spark twin over the reports cut into ``batches`` micro-batches by time, carrying the
    context table between them as the streaming job does."""
    import numpy as np

    everything = sorted(((k, s) for k, rows in tracks.items() for s in rows), key=lambda ks: ks[1]["event_time"])
    context = empty_context_table(spark)
    got = {}
    for part in np.array_split(np.arange(len(everything)), batches):
        rows = [(k, s["event_time"], s["latitude"], s["longitude"], s["on_ground"], s["velocity"], s["vertical_rate"])
                for k, s in (everything[i] for i in part)]
        assessed = assess_behaviour(spark.createDataFrame(rows, STATES), context).cache()
        for r in assessed.collect():
            got[(r.icao24, r.event_time)] = (r.anomaly, list(r.anomaly_reasons), r.envelope_streak, r.envelope_since)
        context = merge_context_table(context, assessed).localCheckpoint(eager=True)
    return got


@pytest.mark.integration
@pytest.mark.parametrize("batches", [1, 7])
def test_the_spark_twin_agrees_with_the_python_one(spark, batches):
    tracks = random_tracks(random.Random(5))
    expected = {}
    for icao24, rows in tracks.items():
        out, _ = assess_track(rows)
        for s, o in zip(rows, out):
            expected[(icao24, s["event_time"])] = (o["anomaly"], o["anomaly_reasons"], o["envelope_streak"], o["envelope_since"])
    got = spark_rows(spark, tracks, batches)
    assert got == expected
    assert any(v[0] for v in expected.values()) and not all(v[0] for v in expected.values())
    assert any(v[1] == ["implausible position jump"] for v in expected.values())


@pytest.mark.integration
def test_context_table_keeps_the_newest_report_and_forgets_aircraft_gone_for_half_an_hour(spark):
    context = spark.createDataFrame(
        [("old", 1000.0, 1.0, 1.0, 0, None), ("kept", 2000.0, 2.0, 2.0, 3, 1990.0)], empty_context_table(spark).schema)
    batch = spark.createDataFrame(
        [("kept", 1500.0, 9.0, 9.0, 0, None), ("new", 3000.0, 3.0, 3.0, 1, 3000.0)],
        "icao24 string, event_time double, latitude double, longitude double, envelope_streak long, envelope_since double")
    merged = {r.icao24: tuple(r)[1:] for r in merge_context_table(context, batch, keep_seconds=1800.0).collect()}
    # "kept": its stored report is newer than the late one of the batch; "old": 2000 s before the newest
    assert merged == {"kept": (2000.0, 2.0, 2.0, 3, 1990.0), "new": (3000.0, 3.0, 3.0, 1, 3000.0)}
    assert not math.isnan(merged["new"][0])
