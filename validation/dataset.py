"""The real-data validation set: real OpenSky trajectories, converted to what the replay reads.

The ``traffic`` package on PyPI ships recorded OpenSky trajectories as sample files inside its
wheel. :func:`fetch_wheel` downloads that one wheel (version and sha256 pinned in
``infra/versions.toml``) into the cache, outside the repository; the project never imports the
package. :func:`read_sample` reads one collection straight out of the zip, and the pure
functions below turn its records (ft, kt, ft/min, epoch ms) into OpenSky's formats in SI units:
historical state-vector CSV rows and ``/states/all`` snapshots.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from producers.opensky import CSV_COLUMNS, country_of_icao24

REPO = Path(__file__).resolve().parent.parent
VERSIONS_FILE = REPO / "infra" / "versions.toml"
SIMPLE_INDEX = "https://pypi.org/simple/{name}/"

FEET_TO_M = 0.3048
KNOTS_TO_MS = 1852.0 / 3600.0
FEET_PER_MIN_TO_MS = FEET_TO_M / 60.0


class DatasetError(RuntimeError):
    """Something the user can act on (no network, a changed download); printed as one line."""


@dataclass(frozen=True)
class WheelPin:
    name: str
    version: str
    filename: str
    sha256: str


def wheel_pin(versions_file: Path = VERSIONS_FILE) -> WheelPin:
    entry = tomllib.loads(versions_file.read_text())["data"]["traffic"]
    return WheelPin(entry["package"], entry["version"], entry["wheel"], entry["sha256"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_wheel(cache_dir: Path, pin: WheelPin | None = None, echo: Callable[[str], None] = print) -> Path:
    """The pinned wheel in ``<cache_dir>/validation/``; downloaded once, checked every time."""
    import requests

    pin = pin or wheel_pin()
    target = Path(cache_dir) / "validation" / pin.filename
    if target.exists() and _sha256(target) == pin.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    echo(f"[validate] downloading {pin.filename} (real OpenSky samples, ~28 MB) into {target.parent}")
    try:
        index = requests.get(SIMPLE_INDEX.format(name=pin.name), timeout=60,
                             headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        index.raise_for_status()
        files = [f for f in index.json()["files"] if f["filename"] == pin.filename]
        if not files:
            raise DatasetError(f"PyPI lists no {pin.filename}")
        partial = target.with_suffix(".part")
        with requests.get(files[0]["url"], stream=True, timeout=120) as response:
            response.raise_for_status()
            with partial.open("wb") as handle:
                for chunk in response.iter_content(1 << 20):
                    handle.write(chunk)
    except requests.RequestException as exc:
        raise DatasetError(f"cannot download {pin.filename} from PyPI: {exc.__class__.__name__}: {exc}") from None
    if _sha256(partial) != pin.sha256:
        partial.unlink()
        raise DatasetError(f"{pin.filename}: sha256 differs from the pin in infra/versions.toml")
    partial.replace(target)  # only a complete, verified wheel ever has the final name
    return target


def read_sample(wheel: Path, name: str) -> list[dict[str, Any]]:
    """One sample collection of the wheel (``collections/quickstart``) as its JSON records."""
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(f"traffic/data/samples/{name}.json.gz")
    return json.loads(gzip.decompress(raw))


# --- records -> SI state rows ----------------------------------------------------------------------
def _scaled(value: Any, factor: float) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value) * factor


def _squawk(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return f"{int(float(value)):04d}" if not isinstance(value, str) else value


def state_row(record: dict[str, Any]) -> dict[str, Any] | None:
    """One sample record -> one state in SI units (None without a position).

    ``altitude`` is barometric (ft), ``groundspeed`` kt, ``vertical_rate`` ft/min, ``timestamp``
    epoch ms; a record without ``onground`` (some collections) counts as airborne.
    """
    if record.get("latitude") is None or record.get("longitude") is None:
        return None
    return {
        "time": float(record["timestamp"]) / 1000.0,
        "icao24": str(record["icao24"]).lower(),
        "callsign": (record.get("callsign") or "").strip() or None,
        "latitude": float(record["latitude"]),
        "longitude": float(record["longitude"]),
        "baro_altitude": _scaled(record.get("altitude"), FEET_TO_M),
        "geo_altitude": _scaled(record.get("geoaltitude"), FEET_TO_M),
        "velocity": _scaled(record.get("groundspeed"), KNOTS_TO_MS),
        "true_track": _scaled(record.get("track"), 1.0),
        "vertical_rate": _scaled(record.get("vertical_rate"), FEET_PER_MIN_TO_MS),
        "on_ground": bool(record.get("onground", False)),
        "squawk": _squawk(record.get("squawk")),
    }


def state_rows(records: Iterable[dict[str, Any]], hours: float | None = None) -> list[dict[str, Any]]:
    """Every record with a position, in (time, icao24) order; ``hours`` keeps the first hours only."""
    rows = [r for r in map(state_row, records) if r is not None]
    rows.sort(key=lambda r: (r["time"], r["icao24"]))
    if hours is not None and rows:
        end = rows[0]["time"] + hours * 3600.0
        rows = [r for r in rows if r["time"] < end]
    return rows


# --- OpenSky formats -----------------------------------------------------------------------------
def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def csv_row(row: dict[str, Any]) -> dict[str, str]:
    """A state as a row of OpenSky's historical CSV (``producers.opensky.CSV_COLUMNS``)."""
    t = int(row["time"]) if float(row["time"]).is_integer() else row["time"]
    values = {
        "time": t, "icao24": row["icao24"], "lat": row["latitude"], "lon": row["longitude"],
        "velocity": row["velocity"], "heading": row["true_track"], "vertrate": row["vertical_rate"],
        "callsign": row["callsign"], "onground": row["on_ground"], "alert": False, "spi": False,
        "squawk": row["squawk"], "baroaltitude": row["baro_altitude"], "geoaltitude": row["geo_altitude"],
        "lastposupdate": row["time"], "lastcontact": row["time"],
    }
    return {column: _text(values[column]) for column in CSV_COLUMNS}


def write_csv(rows: Iterable[dict[str, Any]], directory: Path) -> list[Path]:
    """``states_YYYY-MM-DD-HH.csv.gz`` files, one per UTC hour, rows in time order (as OpenSky's)."""
    from datetime import UTC, datetime

    directory.mkdir(parents=True, exist_ok=True)
    by_hour: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        hour = datetime.fromtimestamp(row["time"], UTC).strftime("%Y-%m-%d-%H")
        by_hour.setdefault(hour, []).append(csv_row(row))
    paths = []
    for hour, hour_rows in sorted(by_hour.items()):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(hour_rows)
        path = directory / f"states_{hour}.csv.gz"
        path.write_bytes(gzip.compress(buffer.getvalue().encode()))
        paths.append(path)
    return paths


def state_vector(row: dict[str, Any]) -> list[Any]:
    """A state as the 17-item array of ``/states/all`` (apis.md: 7 baro, 13 geo, 16 position source)."""
    callsign = (row["callsign"] or "").ljust(8) if row["callsign"] else None
    t = int(row["time"])
    return [row["icao24"], callsign, country_of_icao24(row["icao24"]), t, t, row["longitude"], row["latitude"],
            row["baro_altitude"], row["on_ground"], row["velocity"], row["true_track"], row["vertical_rate"],
            None, row["geo_altitude"], row["squawk"], False, 0]


def snapshots(rows: Iterable[dict[str, Any]], resolution_s: int = 10) -> Iterator[dict[str, Any]]:
    """``/states/all`` answers every ``resolution_s``: each aircraft's newest state at that time
    (what an anonymous account, 10 s resolution, would have seen)."""
    newest: dict[str, dict[str, Any]] = {}
    current: int | None = None
    for row in rows:
        slot = int(row["time"] // resolution_s) * resolution_s
        if current is not None and slot != current and newest:
            yield {"time": current + resolution_s, "states": [state_vector(r) for _, r in sorted(newest.items())]}
            newest = {}
        current = slot
        newest[row["icao24"]] = row
    if newest and current is not None:
        yield {"time": current + resolution_s, "states": [state_vector(r) for _, r in sorted(newest.items())]}


def write_snapshots(rows: Iterable[dict[str, Any]], directory: Path, resolution_s: int = 10) -> int:
    """One ``opensky.states_<epoch ms>.json.gz`` per answer, named as the recorder names them."""
    from producers.http import recording_name

    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for answer in snapshots(rows, resolution_s):
        (directory / recording_name("opensky.states", answer["time"])).write_bytes(gzip.compress(json.dumps(answer).encode()))
        count += 1
    return count
