"""The live map in headless Chromium: between two reports an aircraft flies on, drawn as estimated.

Its own aircraft are added to the seeded ``flights_live`` for the test and removed after it.
"""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from skyrisk.contracts import EnrichedState
from skyrisk.geo import haversine_km
from tests.dashboard.conftest import SCREENSHOTS

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PLOT = "document.querySelector('#live-map.js-plotly-plot, #live-map .js-plotly-plot')"
SLOW, FRESH = "e5d1a0", "e5d1a1"  # not in the seed
SPEED_MS, TRACK_DEG = 240.0, 90.0
SLOW_AT, FRESH_AT = (46.2, 6.1), (46.4, 6.1)
SCREENSHOT = "/tmp/estimated_aircraft.png"


def wait(driver, condition, timeout: float = 30):
    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: condition(d))


def drawn(driver, icao24: str) -> dict | None:
    """Where the page's figure draws an aircraft (plotly's decoded ``_fullData``), and its hover text."""
    return driver.execute_script(
        f"const gd = {PLOT}; if (!gd || !gd._fullData) return null;"
        "for (const t of gd._fullData) {"
        "  const ids = t.customdata ? Array.from(t.customdata) : []; const i = ids.indexOf(arguments[0]);"
        "  if (i >= 0) return {trace: t.name, lat: t.lat[i], lon: t.lon[i], hover: t.hovertext[i]}; }"
        "return null;", icao24)


def estimated_rings(driver) -> list[list[float]]:
    """The points of the "estimated position" trace (the ring drawn under an estimated marker)."""
    return driver.execute_script(
        f"const gd = {PLOT}; const t = gd._fullData.find(t => t.name === 'estimated position');"
        "return t ? Array.from(t.lat).map((lat, i) => [lat, t.lon[i]]) : [];")


def aircraft(icao24: str, callsign: str, at: tuple[float, float], reported: float) -> dict:
    state = EnrichedState(
        icao24=icao24, callsign=callsign, airline_icao=callsign[:3], origin_country="Switzerland", source="sim",
        event_time=reported, latitude=at[0], longitude=at[1], baro_altitude=10_000.0, velocity=SPEED_MS,
        true_track=TRACK_DEG, vertical_rate=0.0, on_ground=False, squawk="1000", cell_id="92:12",
        weather_missing=True, risk_score=5, risk_category="LOW", risk_factors=[], phase="Cruise", anomaly=False,
        anomaly_reasons=[], model_version="bootstrap-test")
    return {"_id": icao24, **state.model_dump(), "last_seen": reported}


@pytest.fixture
def live(seeded_stack, mongo_client):
    collection = mongo_client[seeded_stack.mongo_database]["flights_live"]
    yield collection
    collection.delete_many({"_id": {"$in": [SLOW, FRESH]}})


def test_an_aircraft_moves_between_refreshes_without_a_new_report_and_is_drawn_as_estimated(
        browser, dashboard_url, live):
    reported = time.time() - 35  # one report 35 s ago (estimated after 30 s), and no other comes
    live.insert_one(aircraft(SLOW, "SWR8EST", SLOW_AT, reported))
    browser.get(f"{dashboard_url}/")
    first = wait(browser, lambda d: drawn(d, SLOW), timeout=60)  # the server's snapshot takes it within seconds
    second = wait(browser, lambda d: (p := drawn(d, SLOW)) and p["lon"] > first["lon"] and p)  # a later refresh
    assert live.find_one({"_id": SLOW})["event_time"] == reported  # no new report came meanwhile

    # east along its track, as far as 240 m/s carries it in the time since the report (at most 2 minutes)
    assert second["lat"] == pytest.approx(SLOW_AT[0], abs=0.01)
    flown_s = haversine_km(*SLOW_AT, second["lat"], second["lon"]) * 1000 / SPEED_MS
    assert 35 <= flown_s <= 121 and flown_s <= time.time() - reported + 1
    between_s = haversine_km(first["lat"], first["lon"], second["lat"], second["lon"]) * 1000 / SPEED_MS
    assert 1 <= between_s <= 60

    # drawn as estimated: a ring under its marker, the legend entry, the age of its report in its hover
    rings = estimated_rings(browser)
    position = drawn(browser, SLOW)
    assert any(abs(lat - position["lat"]) < 1e-4 and abs(lon - position["lon"]) < 1e-4 for lat, lon in rings)
    assert "estimated position" in position["hover"] and "last report" in position["hover"]
    legend = browser.execute_script(f"return ({PLOT}).querySelector('.legend').textContent;")
    assert "estimated position" in legend

    # The screenshot: zoomed in, next to an aircraft with a fresh report (solid), hovering the estimate.
    live.insert_one(aircraft(FRESH, "SWR1NEW", FRESH_AT, time.time()))
    browser.execute_script(f"Plotly.relayout({PLOT}, {{'map.center': {{lat: 46.3, lon: 6.35}}, 'map.zoom': 8}});")
    wait(browser, lambda d: (f := drawn(d, FRESH)) and "last report" in f["hover"] and "estimated" not in f["hover"],
         timeout=30)
    target = drawn(browser, SLOW)
    x, y = browser.execute_script(
        f"const p = ({PLOT})._fullLayout.map._subplot.map.project([arguments[1], arguments[0]]); return [p.x, p.y];",
        target["lat"], target["lon"])
    canvas = browser.find_element(By.CSS_SELECTOR, "#live-map canvas.maplibregl-canvas")
    ActionChains(browser).move_to_element_with_offset(
        canvas, x - canvas.size["width"] / 2, y - canvas.size["height"] / 2).pause(0.5).perform()
    wait(browser, lambda d: "estimated position" in d.execute_script(
        "const h = document.querySelector('#live-map .hoverlayer'); return h ? h.textContent : '';"), timeout=10)
    browser.save_screenshot(SCREENSHOT)
    browser.save_screenshot(str(SCREENSHOTS / "live_map_estimated.png"))
    fresh = drawn(browser, FRESH)  # a recent report: a solid marker, no ring
    assert fresh["trace"] == "LOW" and not any(abs(lat - fresh["lat"]) < 1e-4 and abs(lon - fresh["lon"]) < 1e-4
                                               for lat, lon in estimated_rings(browser))
