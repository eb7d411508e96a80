"""Expiry follows the source's poll interval (skyrisk.liveness), on a fake clock."""

from __future__ import annotations

import pytest

from skyrisk.liveness import (
    MAX_POLL_INTERVAL_S,
    PollIntervalObserver,
    expiry_cutoff,
    is_expired,
    live_expiry_seconds,
)

EXPIRY_MINUTES = 5  # the setting's default
ANONYMOUS_S = 864.0  # anonymous OpenSky, 4 credits a poll: 400 credits a day
STANDARD_S = 86.4


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


class Source:
    """A poller on the fake clock: each poll is one snapshot, every aircraft in it seen at once."""

    def __init__(self, clock: FakeClock, interval_s: float, observer: PollIntervalObserver) -> None:
        self.clock, self.interval_s, self.observer = clock, interval_s, observer
        self.last_seen: dict[str, float] = {}

    def poll(self, aircraft: list[str]) -> None:
        self.observer.observe([self.clock.now()] * len(aircraft))  # the states of one answer share its time
        for icao24 in aircraft:
            self.last_seen[icao24] = self.clock.now()
        self.clock.advance(self.interval_s)

    def live(self) -> set[str]:
        now = self.clock.now()
        return {a for a, seen in self.last_seen.items()
                if not is_expired(seen, now, EXPIRY_MINUTES, self.observer.interval_s)}


def test_an_aircraft_polled_every_864_s_stays_between_polls_and_leaves_after_two_missed_polls():
    clock, observer = FakeClock(), PollIntervalObserver()
    source = Source(clock, ANONYMOUS_S, observer)
    for _ in range(3):
        source.poll(["3c6444", "4ca123"])
    source.poll(["4ca123"])  # 3c6444 left the box: its last report was one interval ago
    assert observer.interval_s == ANONYMOUS_S
    clock.advance(600 - ANONYMOUS_S)  # 10 minutes after 4ca123's last report
    assert source.live() == {"3c6444", "4ca123"}  # before: the 5-minute expiry emptied the map here
    clock.advance(ANONYMOUS_S - 600 + 1)  # 3c6444: two intervals + 1 s after its last report
    assert source.live() == {"4ca123"}
    clock.advance(ANONYMOUS_S)
    assert source.live() == set()  # 4ca123 missed two polls too


def test_a_standard_account_keeps_aircraft_for_the_five_minute_floor():
    clock, observer = FakeClock(), PollIntervalObserver()
    source = Source(clock, STANDARD_S, observer)
    source.poll(["3c6444"])
    source.poll(["3c6444"])
    assert live_expiry_seconds(EXPIRY_MINUTES, observer.interval_s) == 300  # 2 x 86.4 s is less
    clock.advance(300 - STANDARD_S - 1)
    assert source.live() == {"3c6444"}
    clock.advance(2)
    assert source.live() == set()


def test_the_simulator_at_1_hz_expires_after_the_setting():
    observer = PollIntervalObserver()
    observer.observe([100.0, 101.0, 102.0, 103.0])
    assert observer.interval_s == 1.0
    assert expiry_cutoff(1000.0, EXPIRY_MINUTES, observer.interval_s) == 700.0
    assert expiry_cutoff(1000.0, 60, observer.interval_s) == 1000.0 - 3600


def test_an_unknown_interval_leaves_the_setting():
    assert live_expiry_seconds(EXPIRY_MINUTES, None) == 300
    assert PollIntervalObserver().interval_s is None
    assert PollIntervalObserver().observe([5.0, 5.0, 5.0]) is None  # one snapshot: no gap yet
    for bad in (0.0, -864.0, float("nan"), float("inf")):
        assert live_expiry_seconds(EXPIRY_MINUTES, bad) == 300


def test_the_interval_is_the_median_gap_so_one_outage_does_not_change_it():
    observer = PollIntervalObserver()
    observer.observe([0.0, 864.0, 1728.0])
    observer.observe([1728.0 + 7200])  # the producer was down for two hours
    observer.observe([1728.0 + 7200 + 864])
    assert observer.interval_s == ANONYMOUS_S


def test_snapshots_arriving_out_of_order_over_batches_give_the_same_interval():
    observer = PollIntervalObserver()
    for batch in ([172.8, 86.4], [0.0, 259.2], [172.8, 345.6, 0.0]):  # partitions deliver out of order
        observer.observe(batch)
    assert observer.interval_s == pytest.approx(STANDARD_S)


def test_the_interval_follows_a_source_that_slows_down():
    observer = PollIntervalObserver()
    t = 0.0
    for _ in range(6):
        observer.observe([t])
        t += STANDARD_S
    for _ in range(4):  # the poller spaces its calls: the day's credits run low
        t += ANONYMOUS_S - STANDARD_S
        observer.observe([t])
        t += STANDARD_S
    assert observer.interval_s == pytest.approx(ANONYMOUS_S)


def test_a_huge_gap_is_capped():
    assert live_expiry_seconds(EXPIRY_MINUTES, 86_400.0) == 2 * MAX_POLL_INTERVAL_S
    assert live_expiry_seconds(24 * 60, 86_400.0) == 24 * 3600  # a longer setting still wins


def test_a_prior_serves_until_two_snapshots_are_seen_after_a_restart():
    observer = PollIntervalObserver(prior_s=ANONYMOUS_S)
    assert observer.observe([1000.0]) == ANONYMOUS_S
    assert observer.observe([1000.0 + 90.0]) == 90.0  # observed now: the tier changed
    seeded = PollIntervalObserver()
    seeded.seed(ANONYMOUS_S)
    seeded.seed(None)  # nothing stored: the seed stays
    assert seeded.interval_s == ANONYMOUS_S
