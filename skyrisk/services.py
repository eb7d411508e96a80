"""Is each service an entry point needs up? One line naming the first that is not, and how to start it.

A probe of the TCP port only: enough to turn a long client traceback (MinIO's MaxRetryError,
the broker's endless reconnects) into a message a user can act on.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from skyrisk.settings import Settings

START_HINT = "start the services with `make up` (or run everything with `make run`)"


def is_listening(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def service_addresses(settings: Settings) -> dict[str, tuple[str, int]]:
    return {"Kafka": settings.kafka_host_port, "MinIO (S3)": settings.s3_host_port,
            "MongoDB (FerretDB)": settings.mongo_host_port}


def unreachable_service(settings: Settings, needed: Iterable[str] | None = None) -> str | None:
    """The one-line error for the first needed service that does not answer, else None."""
    addresses = service_addresses(settings)
    for name in needed or addresses:
        host, port = addresses[name]
        if not is_listening(host, port):
            return f"error: {name} is not reachable at {host}:{port}; {START_HINT}"
    return None
