"""Which of the dashboard's services answer, and what the pages cannot show while one does not.

The dashboard starts and keeps serving with MongoDB, MinIO or Kafka down: it is where the analyst
looks when something is wrong, so refusing to start (or showing blank pages) would hide the very
problem. Every page carries a banner naming each service that does not answer, with the same
one line the other entry points print (``skyrisk.services.unreachable_service``) and the pages it
leaves without data; data access to a down service fails at once with :class:`ServiceDown`
instead of waiting for a client's timeout (MongoDB's server selection: 5 s per query).

The probe is the TCP port (0.5 s at most, remembered for a few seconds), as for the other entry
points: a server that accepts connections but fails requests is reported by the failing request.
"""

from __future__ import annotations

import threading
import time

from skyrisk.services import service_addresses, unreachable_service
from skyrisk.settings import Settings

KAFKA, MINIO, MONGO = "Kafka", "MinIO (S3)", "MongoDB (FerretDB)"
WITHOUT_DATA = {
    MONGO: "no data on the live map, route search, alerts, pipeline and history statistics",
    MINIO: "no flight replay on the history page",
    KAFKA: "no topics, lag or messages on the streams page",
}
PROBE_MAX_AGE_S = 3.0


class ServiceDown(ConnectionError):
    """A service the dashboard reads does not answer; ``line`` says which, where, and how to start it."""

    def __init__(self, service: str, line: str) -> None:
        super().__init__(line)
        self.service, self.line = service, line


def probe_settings(settings: Settings) -> Settings:
    """The settings whose addresses the dashboard really uses (its own MongoDB URI)."""
    if settings.dashboard_mongo_uri is None:
        return settings
    return settings.model_copy(update={"mongo_uri": settings.dashboard_mongo_uri})


def unreachable_lines(settings: Settings) -> list[str]:
    """One ``unreachable_service`` line per service of the dashboard that does not answer now."""
    probed = probe_settings(settings)
    return [line for name in service_addresses(probed) if (line := unreachable_service(probed, [name]))]


class ServiceHealth:
    def __init__(self, settings: Settings, max_age_s: float = PROBE_MAX_AGE_S) -> None:
        self._settings = probe_settings(settings)
        self._max_age_s = max_age_s
        self._checked: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def problem(self, service: str) -> str | None:
        """The line naming ``service`` when it does not answer (``error: ...`` dropped), else None."""
        with self._lock:
            checked = self._checked.get(service)
            if checked is None or time.monotonic() - checked[0] > self._max_age_s:
                line = unreachable_service(self._settings, [service])
                checked = (time.monotonic(), line.removeprefix("error: ") if line else None)
                self._checked[service] = checked
            return checked[1]

    def require(self, service: str) -> None:
        line = self.problem(service)
        if line is not None:
            raise ServiceDown(service, line)

    def banner_lines(self) -> list[str]:
        """What every page shows: each service that is down, how to start it, what is missing."""
        return [f"{line} — {WITHOUT_DATA[name]}." for name in (MONGO, MINIO, KAFKA)
                if (line := self.problem(name)) is not None]
