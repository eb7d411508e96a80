"""Validation of every value that comes from the browser, before it can reach a query.

Each function returns a clean value of a plain type (a string matching a strict pattern, a
``date``, ...) or ``None``. Anything else - a dict such as ``{"$ne": null}``, a list, a regex
payload - fails the type or pattern check, so no MongoDB operator or pattern can be smuggled in.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from typing import Any

from skyrisk.contracts import TOPICS, AlertType

ICAO24 = re.compile(r"^[0-9a-f]{6}$")
LOCATION_CODE = re.compile(r"^[A-Z]{3}$")  # IATA airport or city code
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FLIGHT_ID = re.compile(r"^[0-9a-f]{6}-\d{8}T\d{6}$")
ALERT_TYPES: tuple[str, ...] = AlertType.__args__  # type: ignore[attr-defined]
TOPIC_NAMES: tuple[str, ...] = tuple(t.name for t in TOPICS)


def _matching(value: Any, pattern: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def icao24(value: Any) -> str | None:
    return _matching(value.strip().lower() if isinstance(value, str) else value, ICAO24)


def location_code(value: Any, known: Collection[str]) -> str | None:
    """An airport/city code that exists in the reference data (or the schedules)."""
    code = _matching(value, LOCATION_CODE)
    return code if code is not None and code in known else None


def day(value: Any) -> date | None:
    """A ``YYYY-MM-DD`` date (DatePicker values may carry a time part: it is dropped)."""
    if not isinstance(value, str):
        return None
    text = value[:10]
    if not DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def topic(value: Any) -> str | None:
    return value if isinstance(value, str) and value in TOPIC_NAMES else None


def flight_id(value: Any) -> str | None:
    return _matching(value, FLIGHT_ID)


def choices(values: Any, allowed: Collection[str]) -> list[str]:
    """The members of a multi-select that are allowed, in their allowed order."""
    picked = {v for v in values if isinstance(v, str)} if isinstance(values, list | tuple) else set()
    return [a for a in allowed if a in picked]


def bounded_int(value: Any, low: int, high: int, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(min(high, max(low, value)))
