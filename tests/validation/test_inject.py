"""Injected faults: copies of real stretches with one known fault each, seeded."""

from __future__ import annotations

import pytest

from validation import inject


def track(icao24="3944e1", callsign="AFR123", seconds=900, altitude=9000.0):
    return [{"time": 1000.0 + t, "icao24": icao24, "callsign": callsign, "latitude": 48.0 + 0.002 * t, "longitude": 2.0,
             "baro_altitude": altitude, "geo_altitude": None, "velocity": 230.0, "true_track": 0.0, "vertical_rate": 0.0,
             "on_ground": False, "squawk": "1000"} for t in range(seconds)]


def test_candidate_starts_need_an_airliner_at_altitude_with_the_whole_window_recorded():
    assert inject.candidate_starts(track()) == [1300.0, 1360.0, 1420.0, 1480.0, 1540.0, 1600.0]  # 300 s in, 240 s left
    assert inject.candidate_starts(track(callsign="FHXYZ")) == []  # a private callsign: not an airliner
    assert inject.candidate_starts(track(altitude=1500.0)) == []


def by_kind(copies, manifest):
    return {m.kind: (m, [r for r in copies if r["icao24"] == m.icao24]) for m in manifest}


def test_each_fault_is_where_and_what_the_manifest_says():
    copies, manifest = inject.inject({"3944e1": track()}, per_kind=1, seed=1)
    kinds = by_kind(copies, manifest)
    assert set(kinds) == set(inject.KINDS)
    for kind, (m, rows) in kinds.items():
        assert m.source_icao24 == "3944e1" and m.expected_alert == inject.KINDS[kind][0]
        assert rows[0]["time"] == m.start - inject.BEFORE_S and rows[-1]["time"] == m.start + 60 + inject.AFTER_S
        assert m.icao24.startswith(inject.KINDS[kind][1])
    m, rows = kinds["vertical_rate"]
    during = [r for r in rows if m.start <= r["time"] < m.end]
    assert len(during) == 60 and {r["vertical_rate"] for r in during} == {-60.0}  # above 6,000 m: a dive
    assert during[-1]["baro_altitude"] == pytest.approx(9000.0 - 60 * 59)
    assert rows[-1]["baro_altitude"] == pytest.approx(9000.0 - 3600)  # stays at the new altitude
    m, rows = kinds["ground_speed"]
    assert {r["velocity"] for r in rows if m.start <= r["time"] < m.end} == {400.0}
    assert {r["velocity"] for r in rows if not m.start <= r["time"] < m.end} == {230.0}
    m, rows = kinds["position_jump"]
    assert m.end == m.start
    before, after = [r for r in rows if r["time"] == m.start - 1][0], [r for r in rows if r["time"] == m.start][0]
    assert (after["latitude"] - before["latitude"]) * inject.KM_PER_DEG_LAT == pytest.approx(50.0 + 0.002 * 111.195, abs=1e-6)
    m, rows = kinds["squawk_7700"]
    assert [r["squawk"] for r in rows].count("7700") == 60


def test_injection_is_seeded_and_leaves_the_originals_alone():
    tracks = {"3944e1": track(), "3944e2": track("3944e2")}
    originals = [dict(r) for r in tracks["3944e1"]]
    assert inject.inject(tracks, 3, seed=9) == inject.inject(tracks, 3, seed=9)
    assert tracks["3944e1"] == originals
