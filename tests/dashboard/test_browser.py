"""The running dashboard in headless Chromium, against the seeded test stack.

Each test saves a screenshot of its page under tests/screenshots/.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from skyrisk.contracts import DEAD_LETTER, TOPICS
from tests.dashboard import seed
from tests.dashboard.conftest import SCREENSHOTS

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PAGES = {"/": "Live map", "/routes": "Route search", "/alerts": "Alerts", "/streams": "Streams",
         "/pipeline": "Pipeline", "/history": "History"}
PLOT = "document.querySelector('#live-map.js-plotly-plot, #live-map .js-plotly-plot')"  # plotly's graph div
# Chromium's own notes about software WebGL are not errors of the page.
HARMLESS = ("WebGL", "GL Driver", "GPU stall")


def wait(driver, condition, timeout: float = 30):
    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: condition(d))


def text_of(driver, element_id: str) -> str:
    # Read in one script call: the live page re-renders every few seconds, so a located
    # element can go stale before its text is read.
    return driver.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : '';",
                                 element_id)


def markers_on_map(driver) -> dict[str, int]:
    """Per trace name, how many aircraft markers the browser's figure holds."""
    return driver.execute_script(
        f"const gd = {PLOT};"
        "const out = {}; for (const t of (gd && gd.data) || []) {"
        "  if (t.customdata) out[t.name] = t.customdata.length; }"
        "return out;")


def page_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and not any(h in e["message"] for h in HARMLESS)]


def open_live_map(driver, base: str, query: str = "") -> None:
    driver.get(f"{base}/{query}")
    wait(driver, lambda d: text_of(d, "count-shown") == str(seed.SEEDED_COUNT))


def test_map_shows_the_seeded_aircraft_and_a_filter_changes_the_count(browser, dashboard_url):
    open_live_map(browser, dashboard_url)
    wait(browser, lambda d: sum(markers_on_map(d).values()) >= seed.SEEDED_COUNT)
    markers = markers_on_map(browser)
    # The emergency is drawn twice (halo and marker); every other aircraft once.
    assert markers["EMERGENCY"] == seed.SEEDED_EMERGENCIES
    assert markers["LOW"] + markers["MEDIUM"] + markers["HIGH"] + markers["EMERGENCY"] == seed.SEEDED_COUNT
    assert text_of(browser, "count-high") == str(seed.SEEDED_HIGH)
    assert text_of(browser, "count-emergencies") == str(seed.SEEDED_EMERGENCIES)

    low_not_emergency = sum(1 for a in seed.AIRCRAFT if a[5] == "LOW" and not a[8])
    browser.find_element(By.XPATH, "//div[@id='filter-risk']//input[@value='LOW']").click()
    wait(browser, lambda d: text_of(d, "count-shown") == str(seed.SEEDED_COUNT - low_not_emergency))
    wait(browser, lambda d: markers_on_map(d).get("LOW") == 0)
    browser.save_screenshot(str(SCREENSHOTS / "live_map_filtered.png"))


def test_click_on_an_aircraft_opens_the_detail_panel(browser, dashboard_url):
    open_live_map(browser, dashboard_url)
    wait(browser, lambda d: markers_on_map(d).get("LOW", 0) > 0)
    # Where the figure draws it: dead-reckoned on from its seeded report, so not at the seeded position.
    lat, lon = browser.execute_script(
        f"const gd = {PLOT};"
        "for (const t of gd._fullData) { const i = t.customdata ? Array.from(t.customdata).indexOf(arguments[0]) : -1;"
        "  if (i >= 0) return [t.lat[i], t.lon[i]]; }", seed.DETAIL_ICAO24)
    # Where MapLibre draws the aircraft, in pixels of the map canvas; then a real mouse click there.
    x, y = browser.execute_script(
        f"const gd = {PLOT};"
        "const p = gd._fullLayout.map._subplot.map.project([arguments[1], arguments[0]]); return [p.x, p.y];",
        lat, lon)
    canvas = browser.find_element(By.CSS_SELECTOR, "#live-map canvas.maplibregl-canvas")
    offset_x, offset_y = x - canvas.size["width"] / 2, y - canvas.size["height"] / 2
    ActionChains(browser).move_to_element_with_offset(canvas, offset_x, offset_y).pause(0.5).click().perform()
    wait(browser, lambda d: text_of(d, "detail-callsign") == seed.DETAIL_CALLSIGN)
    panel = text_of(browser, "detail-panel")
    assert seed.DETAIL_RISK_FACTOR in panel
    assert "LH 400" in panel  # the matching Lufthansa schedule
    browser.save_screenshot(str(SCREENSHOTS / "live_map_detail.png"))


def pick_option(driver, dropdown_id: str, value: str) -> None:
    """Open a dropdown, type the value, click its option once the options have arrived."""
    driver.find_element(By.ID, dropdown_id).click()
    search = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "input.dash-dropdown-search"))[0]
    search.send_keys(value)
    option = f"//*[@role='option'][.//input[@value='{value}']]"

    def click_option(d) -> bool:
        # The list re-renders while the typed filter applies: an option found a moment ago can be
        # gone by the click (CI failed on it once), so find and click are retried together.
        try:
            found = d.find_elements(By.XPATH, option)
            if found:
                found[0].click()
            return bool(found)
        except StaleElementReferenceException:
            return False

    wait(driver, click_option)


def choose(driver, dropdown_id: str, code: str) -> None:
    """Pick an airport and wait until the dropdown shows it."""
    pick_option(driver, dropdown_id, code)
    wait(driver, lambda d: f"({code})" in text_of(d, dropdown_id))


def test_route_search_lists_the_seeded_flights_and_says_no_flights(browser, dashboard_url):
    browser.get(f"{dashboard_url}/routes")
    wait(browser, lambda d: d.find_elements(By.ID, "route-from"))
    choose(browser, "route-from", seed.SEARCH_FROM)
    choose(browser, "route-to", seed.SEARCH_TO)
    browser.find_element(By.ID, "route-search").click()
    wait(browser, lambda d: "LH 402" in text_of(d, "route-outbound"))
    result = text_of(browser, "route-outbound")
    assert all(flight in result for flight in seed.SEEDED_ROUTE_FLIGHTS)
    assert "on the map" in result  # LH 400 is airborne as DLH400
    browser.save_screenshot(str(SCREENSHOTS / "route_search_results.png"))

    choose(browser, "route-to", seed.EMPTY_TO)
    browser.find_element(By.ID, "route-search").click()
    wait(browser, lambda d: "No flights" in text_of(d, "route-outbound"))
    browser.save_screenshot(str(SCREENSHOTS / "route_search_no_flights.png"))


def date_input_value(driver, picker_id: str) -> str:
    return driver.execute_script("return document.getElementById(arguments[0]).value;", picker_id)


def type_date(driver, picker_id: str, day: str) -> None:
    """Type a date into a DatePickerSingle's input and leave it with Tab (the picker parses it then,
    and refuses a day outside its allowed range); Escape closes the calendar it opened."""
    field = driver.find_element(By.ID, picker_id)
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(day, Keys.TAB)
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()


def search_routes(driver) -> None:
    driver.execute_script("document.getElementById('route-search').click();")  # not under a closing calendar


def test_route_search_return_trip_city_code_and_non_stop_filter(browser, dashboard_url, seeded_stack):
    last = seed.TODAY + timedelta(days=seeded_stack.lufthansa_horizon_days - 1)
    browser.get(f"{dashboard_url}/routes")
    wait(browser, lambda d: d.find_elements(By.ID, "route-from"))
    # the date pickers are bounded by the fetched days, and the page says so
    wait(browser, lambda d: f"{seed.TODAY} to {last}" in text_of(d, "route-horizon"))
    type_date(browser, "route-date", (last + timedelta(days=1)).isoformat())
    wait(browser, lambda d: date_input_value(d, "route-date") == seed.TODAY.isoformat())  # refused: back to today

    # a return trip: FRA -> JFK today, JFK -> FRA the day after
    choose(browser, "route-from", seed.SEARCH_FROM)
    choose(browser, "route-to", seed.SEARCH_TO)
    type_date(browser, "route-return", seed.RETURN_DAY.isoformat())
    wait(browser, lambda d: date_input_value(d, "route-return") == seed.RETURN_DAY.isoformat())
    search_routes(browser)
    wait(browser, lambda d: all(f in text_of(d, "route-inbound") for f in seed.SEEDED_RETURN_FLIGHTS))
    inbound = text_of(browser, "route-inbound")
    assert "No flights found" not in inbound
    assert "John F. Kennedy International (JFK) → Frankfurt/Main International (FRA)" in inbound
    assert all(flight in text_of(browser, "route-outbound") for flight in seed.SEEDED_ROUTE_FLIGHTS)
    browser.set_window_size(1600, 1200)
    browser.save_screenshot("/tmp/route_return.png")
    browser.save_screenshot(str(SCREENSHOTS / "route_search_return.png"))
    browser.set_window_size(1600, 1000)

    # a city code: every London airport with flights from FRA, and back from each of them
    choose(browser, "route-to", seed.CITY_TO)
    search_routes(browser)
    wait(browser, lambda d: all(f in text_of(d, "route-outbound") for f in seed.SEEDED_CITY_FLIGHTS))
    outbound = text_of(browser, "route-outbound")
    assert "London Heathrow (LHR)" in outbound and "London City (LCY)" in outbound
    wait(browser, lambda d: all(f in text_of(d, "route-inbound") for f in seed.SEEDED_CITY_RETURN))

    # non-stop only: the connection via MUC is hidden, and the page says so
    browser.find_element(By.CSS_SELECTOR, "#route-nonstop input[type='checkbox']").click()
    search_routes(browser)
    wait(browser, lambda d: "with stops hidden" in text_of(d, "route-outbound"))
    outbound = text_of(browser, "route-outbound")
    assert all(flight in outbound for flight in seed.SEEDED_CITY_NONSTOP) and "LH 2470" not in outbound
    browser.save_screenshot(str(SCREENSHOTS / "route_search_city_nonstop.png"))
    assert page_errors(browser) == []


def test_streams_page_lists_the_topics(browser, dashboard_url):
    browser.get(f"{dashboard_url}/streams")
    wait(browser, lambda d: all(t.name in text_of(d, "topic-table") for t in TOPICS))
    browser.save_screenshot(str(SCREENSHOTS / "streams.png"))


def test_streams_page_shows_a_dead_letter_nested_10000_levels_with_a_note(browser, dashboard_url, seeded_stack):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": seeded_stack.kafka_bootstrap_servers})
    producer.produce(DEAD_LETTER.name, key="browser-deep", value=("[" * 10_000 + "]" * 10_000).encode())
    producer.produce(DEAD_LETTER.name, key="browser-after", value=b'{"reason": "malformed_json"}')
    assert producer.flush(30) == 0
    browser.get_log("browser")
    browser.get(f"{dashboard_url}/streams")
    wait(browser, lambda d: text_of(d, "browse-records").strip())  # the first topic's answer
    pick_option(browser, "browse-topic", DEAD_LETTER.name)
    wait(browser, lambda d: f"newest message(s) of {DEAD_LETTER.name}" in text_of(d, "browse-records"))
    records = text_of(browser, "browse-records")
    assert "Cannot read" not in records and "recursion" not in records
    assert "key browser-after" in records
    deep_line = next(line for line in records.splitlines() if "key browser-deep" in line)
    assert "nested deeper than 100 levels: shown as received, not formatted" in deep_line
    summary = browser.find_element(By.XPATH, "//details[contains(@class, 'record')]/summary[contains(., 'key browser-deep')]")
    summary.click()
    wait(browser, lambda d: "[[[[[[" in text_of(d, "browse-records"))
    browser.save_screenshot(str(SCREENSHOTS / "streams_deep_dead_letter.png"))
    assert page_errors(browser) == []


def test_every_page_loads_without_a_console_error(browser, dashboard_url):
    browser.get_log("browser")  # drop what earlier tests left
    errors = {}
    for path, title in PAGES.items():
        browser.get(dashboard_url + path)
        wait(browser, lambda d: title in d.find_element(By.TAG_NAME, "body").text
             and not d.find_elements(By.CSS_SELECTOR, "[data-dash-is-loading='true']"))
        wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")
        browser.implicitly_wait(0)
        browser.execute_script("return new Promise(r => setTimeout(r, 2500))")
        errors[path] = page_errors(browser)
        browser.save_screenshot(str(SCREENSHOTS / f"page_{path.strip('/') or 'live_map'}.png"))
    assert errors == {path: [] for path in PAGES}
