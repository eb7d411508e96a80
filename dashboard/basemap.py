"""The map's geography: country outlines that work offline, online tiles only when reachable.

The outlines come from the ``countryinfo`` package (Natural Earth 1:110m shapes as GeoJSON,
shipped in the wheel), so the map has geography with no internet. They are served once by the
app at :data:`COUNTRIES_URL` and referenced by URL from the MapLibre style, so no figure update
ever carries them. Online raster tiles are added only when a quick probe reaches the tile
server; an unreachable tile URL would fill the browser console with failed requests.
"""

from __future__ import annotations

import functools
import json
import socket
import time
from typing import Any

from countryinfo import CountryInfo

COUNTRIES_URL = "/basemap/countries.geojson"
ONLINE_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
ONLINE_TILES_HOST = ("tile.openstreetmap.org", 443)
OCEAN = "#0b1a2a"
LAND = "#1d2b3a"
BORDER = "#5b7288"


@functools.cache
def countries_geojson() -> bytes:
    """All country outlines as one FeatureCollection, coordinates rounded to 0.01° (~1 km)."""

    def rounded(coords: Any) -> Any:
        if isinstance(coords, list) and coords and isinstance(coords[0], int | float):
            return [round(c, 2) for c in coords]
        return [rounded(c) for c in coords]

    features = []
    for info in CountryInfo.all().values():
        for feature in (info.get("geoJSON") or {}).get("features", []):
            geometry = feature.get("geometry") or {}
            if geometry.get("type") in ("Polygon", "MultiPolygon"):
                features.append({"type": "Feature", "properties": {"name": info.get("name")},
                                 "geometry": {"type": geometry["type"], "coordinates": rounded(geometry["coordinates"])}})
    return json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")).encode()


_probe_cache: dict[str, tuple[float, bool]] = {}
PROBE_EVERY_S = 600.0


def online_tiles_reachable(timeout_s: float = 1.0) -> bool:
    """A TCP connect to the tile server, remembered for ten minutes."""
    checked_at, reachable = _probe_cache.get("tiles", (0.0, False))
    if time.monotonic() - checked_at < PROBE_EVERY_S and checked_at:
        return reachable
    try:
        with socket.create_connection(ONLINE_TILES_HOST, timeout=timeout_s):
            reachable = True
    except OSError:
        reachable = False
    _probe_cache["tiles"] = (time.monotonic(), reachable)
    return reachable


def map_style(with_online_tiles: bool) -> dict[str, Any]:
    """A self-contained MapLibre style: dark ocean, land and borders, tiles on top when online."""
    sources: dict[str, Any] = {"countries": {"type": "geojson", "data": COUNTRIES_URL}}
    layers: list[dict[str, Any]] = [
        {"id": "ocean", "type": "background", "paint": {"background-color": OCEAN}},
        {"id": "land", "type": "fill", "source": "countries", "paint": {"fill-color": LAND}},
    ]
    if with_online_tiles:
        sources["online"] = {"type": "raster", "tiles": [ONLINE_TILES], "tileSize": 256,
                             "attribution": "© OpenStreetMap contributors"}
        layers.append({"id": "online", "type": "raster", "source": "online",
                       "paint": {"raster-opacity": 0.35}})
    layers.append({"id": "borders", "type": "line", "source": "countries",
                   "paint": {"line-color": BORDER, "line-width": 0.8}})
    return {"version": 8, "sources": sources, "layers": layers}
