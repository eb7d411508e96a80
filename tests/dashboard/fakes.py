"""A stand-in for DashboardData serving the seeded documents from memory, recording queries."""

from __future__ import annotations

from datetime import date
from typing import Any

from dashboard.live import LiveSnapshot
from skyrisk.settings import Settings, load_settings
from tests.dashboard import seed


class AllServicesUp:
    """The fake's services: always up (the real probe is tested in test_degraded.py)."""

    def problem(self, service: str) -> None:
        return None

    def require(self, service: str) -> None:
        return None

    def banner_lines(self) -> list[str]:
        return []


class FakeData:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings(_env_file=None)
        self.health = AllServicesUp()
        ref = seed.reference()
        routes: dict[str, set[str]] = {}
        for doc in seed.schedules():
            routes.setdefault(doc["origin"], set()).add(doc["destination"])
        self._reference = {"airports": {d["_id"]: d for d in ref["airports"]},
                           "cities": {d["_id"]: d for d in ref["cities"]},
                           "icao_of_airline": {a["_id"]: a["icao_code"] for a in ref["airlines"]},
                           "airline_names": {a["_id"]: a["name"] for a in ref["airlines"]},
                           "routes": {o: sorted(d) for o, d in routes.items()}}
        self._snapshot = LiveSnapshot.from_documents(seed.flights_live(), loaded_at=seed.NOW)
        self.queries: list[tuple[Any, ...]] = []

    def reference(self) -> dict[str, Any]:
        return self._reference

    def live_snapshot(self) -> LiveSnapshot:
        return self._snapshot

    def live_snapshot_or_empty(self) -> LiveSnapshot:
        return self._snapshot

    def weather_observations(self) -> list[dict[str, Any]]:
        return seed.weather_latest()

    def flight(self, icao24: str) -> dict[str, Any] | None:
        self.queries.append(("flight", icao24))
        return next((f for f in seed.flights_live() if f["_id"] == icao24), None)

    def track(self, icao24: str, minutes: int) -> list[dict[str, Any]]:
        self.queries.append(("track", icao24))
        return [p for p in seed.tracks() if p["icao24"] == icao24]

    def schedules(self, origin: str, destination: str, day: date) -> list[dict[str, Any]]:
        self.queries.append(("schedules", origin, destination, day))
        return [d for d in seed.schedules()
                if (d["origin"], d["destination"], d["query_date"]) == (origin, destination, day.isoformat())]

    def schedules_of_flight(self, flight_number: str, day: date) -> list[dict[str, Any]]:
        return [d for d in seed.schedules() if flight_number in d["flight_numbers"]][:1]

    REPLAY_FLIGHT = "3c6444-20261119T080000"

    def replay_track(self, day: date, flight_id: str) -> list[dict[str, Any]]:
        self.queries.append(("replay", day, flight_id))
        if flight_id != self.REPLAY_FLIGHT:
            return []
        return [{"event_time": 1_795_000_000.0 + 30 * i, "latitude": 50.0 + i / 10, "longitude": 8.0,
                 "baro_altitude": 1000.0 * i} for i in range(4)]
