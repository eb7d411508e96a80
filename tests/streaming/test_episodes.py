"""Alert episodes: continue, reopen after a gap, replay idempotence."""

from __future__ import annotations

from streaming.episodes import EPISODE_GAP_SECONDS, newest_by_aircraft_and_type, plan_alerts


def signal(first, last, icao24="3c6444", type_="HIGH_RISK", reasons=("thunderstorm",)):
    return {"icao24": icao24, "type": type_, "first_seen": first, "last_seen": last, "risk_score": 60,
            "risk_category": "HIGH", "reasons": list(reasons), "callsign": "DLH400", "latitude": 50.0, "longitude": 8.5}


def stored_from(alert):
    return alert.model_dump()


def test_first_signal_opens_an_episode():
    [alert] = plan_alerts([signal(1000.0, 1010.0)], {})
    assert (alert.episode_id, alert.started_at, alert.last_seen) == ("3c6444:HIGH_RISK:1000", 1000.0, 1010.0)


def test_signal_within_gap_continues_the_episode_for_ten_minutes():
    open_ = {}
    ids = set()
    for minute in range(10):
        t = 1000.0 + 60 * minute
        [alert] = plan_alerts([signal(t, t + 30)], open_)
        ids.add(alert.episode_id)
        open_ = newest_by_aircraft_and_type([stored_from(alert)])
    assert ids == {"3c6444:HIGH_RISK:1000"}
    assert alert.last_seen == 1000.0 + 540 + 30


def test_signal_after_gap_opens_a_new_episode():
    [first] = plan_alerts([signal(1000.0, 1010.0)], {})
    later = 1010.0 + EPISODE_GAP_SECONDS + 1
    [second] = plan_alerts([signal(later, later)], newest_by_aircraft_and_type([stored_from(first)]))
    assert second.episode_id == f"3c6444:HIGH_RISK:{int(later)}"
    assert second.started_at == later


def test_replayed_batch_rewrites_the_same_document():
    [created] = plan_alerts([signal(1000.0, 1010.0)], {})
    [replayed] = plan_alerts([signal(1000.0, 1010.0)], newest_by_aircraft_and_type([stored_from(created)]))
    assert replayed == created


def test_types_and_aircraft_are_separate_episodes():
    alerts = plan_alerts([signal(1000.0, 1001.0), signal(1000.0, 1001.0, type_="EMERGENCY"), signal(1000.0, 1001.0, icao24="aaaaaa")], {})
    assert sorted(a.episode_id for a in alerts) == ["3c6444:EMERGENCY:1000", "3c6444:HIGH_RISK:1000", "aaaaaa:HIGH_RISK:1000"]


def test_newest_stored_episode_wins():
    old = {"icao24": "a", "type": "ANOMALY", "started_at": 10.0, "last_seen": 20.0, "episode_id": "a:ANOMALY:10"}
    new = {**old, "started_at": 900.0, "last_seen": 950.0, "episode_id": "a:ANOMALY:900"}
    assert newest_by_aircraft_and_type([new, old])[("a", "ANOMALY")]["episode_id"] == "a:ANOMALY:900"
