"""Dashboard fixtures: the stack's database seeded with known data, the app served on a free
port by waitress in a thread, and one headless Chromium driven by Selenium."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.data import DashboardData
from skyrisk.settings import Settings
from tests.dashboard import seed

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


@pytest.fixture(scope="session")
def seeded_stack(stack: Settings, mongo_client) -> Settings:
    seed.seed_database(mongo_client[stack.mongo_database])
    return stack


@pytest.fixture(scope="module")
def data(seeded_stack: Settings) -> Iterator[DashboardData]:
    """The data-access module on the seeded database (one per test module)."""
    access = DashboardData(seeded_stack)
    yield access
    access.close()


@pytest.fixture(scope="session")
def dashboard_url(seeded_stack: Settings) -> Iterator[str]:
    from waitress import create_server

    from dashboard.app import create_app

    app = create_app(seeded_stack)
    server = create_server(app.server, host="127.0.0.1", port=seeded_stack.dashboard_port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{seeded_stack.dashboard_port}"
    server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium per test module: quitting it at the module's end stops the open page's interval callbacks,
    which would otherwise keep querying the session dashboard (and FerretDB) through every later module."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"  # Debian's build; selenium-manager must not download one
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--window-size=1600,1000", f"--user-data-dir={tempfile.mkdtemp()}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    SCREENSHOTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()
