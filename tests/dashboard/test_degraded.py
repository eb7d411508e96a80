"""The dashboard with MongoDB and MinIO down (Kafka up): it starts, every page loads and says what
is down and what it cannot show, nothing waits for a dead server's timeout, no callback fails; the
Streams page still shows the broker. And the entry point: --help, a taken port."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By

from dashboard.app import create_app
from infra.ports import free_port
from skyrisk.contracts import TOPICS
from skyrisk.services import is_listening
from tests.dashboard.conftest import SCREENSHOTS
from tests.dashboard.test_browser import PAGES, page_errors, text_of, wait
from tests.dashboard.test_callbacks import call
from tests.dashboard import seed
from tests.sockets import FreezableProxy, child_environment, stop, wait_for

pytestmark = pytest.mark.integration

MONGO_DOWN = "MongoDB (FerretDB) is not reachable at 127.0.0.1:{port}"
MINIO_DOWN = "MinIO (S3) is not reachable at 127.0.0.1:{port}"


@pytest.fixture(scope="module")
def degraded(stack):
    """The test stack's broker, but MongoDB and MinIO on ports where nothing listens."""
    mongo, s3 = free_port(), free_port()
    settings = stack.model_copy(update={
        "mongo_uri": type(stack.mongo_uri)(f"mongodb://127.0.0.1:{mongo}/"), "dashboard_mongo_uri": None,
        "s3_endpoint": f"http://127.0.0.1:{s3}", "dashboard_port": free_port()})
    return settings, MONGO_DOWN.format(port=mongo), MINIO_DOWN.format(port=s3)


@pytest.fixture(scope="module")
def degraded_url(degraded) -> Iterator[str]:
    from waitress import create_server

    settings = degraded[0]
    server = create_server(create_app(settings).server, host="127.0.0.1", port=settings.dashboard_port, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    yield f"http://127.0.0.1:{settings.dashboard_port}"
    server.close()


# --- a database that accepts but stops answering ------------------------------------------------------
def test_a_database_that_stops_answering_fails_the_read_and_close_returns(seeded_stack, monkeypatch):
    """FerretDB wedged mid-connection (the port still accepts): the read fails after the socket timeout and
    close() returns; without a socket timeout both waited forever (CI hung 900 s in close())."""
    from pymongo.errors import ConnectionFailure

    import dashboard.data

    monkeypatch.setattr(dashboard.data, "MONGO_SOCKET_TIMEOUT_MS", 2_000)
    with FreezableProxy(*seeded_stack.mongo_host_port) as proxy:
        uri = type(seeded_stack.mongo_uri)(f"mongodb://127.0.0.1:{proxy.port}/")
        data = dashboard.data.DashboardData(seeded_stack.model_copy(update={"dashboard_mongo_uri": uri}))
        assert data.flight(seed.DETAIL_ICAO24)["callsign"] == seed.DETAIL_CALLSIGN
        proxy.freeze()
        started = time.monotonic()
        with pytest.raises(ConnectionFailure):  # a PyMongoError: the pages show it as an error banner
            data.flight(seed.DETAIL_ICAO24)
        assert time.monotonic() - started < 20, "the read waited far beyond its socket timeout"
        started = time.monotonic()
        data.close()
        assert time.monotonic() - started < 20


# --- the callbacks, as the browser calls them ------------------------------------------------------
def test_the_status_banner_names_each_service_that_is_down(degraded):
    settings, mongo_down, minio_down = degraded
    client = create_app(settings).server.test_client()
    status, response = call(client, [("service-status", "children")], [("service-status-tick", "n_intervals", 1)],
                            "service-status-tick.n_intervals")
    assert status == 200
    text = json.dumps(response)
    assert mongo_down in text and minio_down in text and "Kafka" not in text
    assert "make up" in text


def test_with_kafka_down_the_banner_names_it_the_streams_page_answers_at_once_and_the_map_still_reads(seeded_stack):
    """Kafka is the one service the degraded fixture keeps up; the README says the dashboard starts without it too."""
    closed = free_port()
    settings = seeded_stack.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{closed}"})
    client = create_app(settings).server.test_client()
    status, response = call(client, [("service-status", "children")], [("service-status-tick", "n_intervals", 1)],
                            "service-status-tick.n_intervals")
    assert status == 200
    banner = json.dumps(response)
    assert f"Kafka is not reachable at 127.0.0.1:{closed}" in banner and "MongoDB" not in banner and "MinIO" not in banner
    started = time.monotonic()
    status, _ = call(client, [("topic-table", "children"), ("lag-table", "children"), ("lag-note", "children")],
                     [("streams-tick", "n_intervals", 1)], "streams-tick.n_intervals")
    assert status in (200, 204) and time.monotonic() - started < 3  # no error, no client timeout per topic
    from dashboard.data import DashboardData

    data = DashboardData(settings)
    try:
        assert len(data.live_snapshot()) > 0  # MongoDB still serves the map
    finally:
        data.close()


def test_callbacks_of_a_down_service_answer_at_once_without_an_error(degraded):
    client = create_app(degraded[0]).server.test_client()
    started = time.monotonic()
    status, _ = call(client, [("alert-table", "children"), ("alert-summary", "children")],
                     [("alert-tick", "n_intervals", 1), ("alert-types", "value", ["HIGH_RISK"]),
                      ("alert-categories", "value", []), ("alert-window", "value", 60)], "alert-types.value")
    assert status in (200, 204)  # no update: the banner says why; never a 500
    status, _ = call(client, [("progress-rates", "figure"), ("progress-duration", "figure"),
                              ("progress-watermark", "figure"), ("progress-rejects", "figure"), ("progress-weather", "figure"),
                              ("batch-run-table", "children"), ("data-loss", "children"), ("weather-coverage", "children")],
                     [("pipeline-tick", "n_intervals", 1)], "pipeline-tick.n_intervals")
    assert status in (200, 204)
    assert time.monotonic() - started < 3  # no 5 s server-selection timeout per query


def test_the_streams_page_still_lists_the_topics_with_mongodb_down(degraded):
    client = create_app(degraded[0]).server.test_client()
    status, response = call(client, [("topic-table", "children"), ("lag-table", "children"), ("lag-note", "children")],
                            [("streams-tick", "n_intervals", 1)], "streams-tick.n_intervals")
    assert status == 200
    text = json.dumps(response)
    assert all(t.name in text for t in TOPICS)
    assert "MongoDB (FerretDB) is not reachable" in text  # the lag comes from stream_progress


# --- what the user sees --------------------------------------------------------------------------------
@pytest.mark.browser
def test_every_page_says_what_is_down_and_loads_without_a_console_error(browser, degraded, degraded_url):
    _, mongo_down, minio_down = degraded
    browser.get_log("browser")
    errors = {}
    for path, title in PAGES.items():
        browser.get(degraded_url + path)
        wait(browser, lambda d: title in d.find_element(By.TAG_NAME, "body").text)
        wait(browser, lambda d: mongo_down in text_of(d, "service-status") and minio_down in text_of(d, "service-status"))
        if path == "/":  # the map still draws, with no aircraft and no invented figures
            wait(browser, lambda d: text_of(d, "count-shown") == "0" and "no live data" in text_of(d, "live-counters"))
        browser.execute_script("return new Promise(r => setTimeout(r, 2500))")
        errors[path] = page_errors(browser)
        if path in ("/", "/streams", "/history"):
            browser.save_screenshot(str(SCREENSHOTS / f"degraded_{path.strip('/') or 'live_map'}.png"))
    assert errors == {path: [] for path in PAGES}
    browser.get(degraded_url + "/streams")
    wait(browser, lambda d: all(t.name in text_of(d, "topic-table") for t in TOPICS))


# --- the entry point ---------------------------------------------------------------------------------
def test_help_prints_usage_and_starts_nothing():
    result = subprocess.run([sys.executable, "-m", "dashboard", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m dashboard") and "--port" in result.stdout
    assert "skyrisk dashboard: http" not in result.stdout


def test_the_entry_point_starts_with_mongodb_and_minio_down_and_says_so(degraded, tmp_path):
    settings, mongo_down, minio_down = degraded
    port = free_port()
    env = child_environment(settings, SKYRISK_S3_ENDPOINT=settings.s3_endpoint)
    process = subprocess.Popen([sys.executable, "-m", "dashboard", "--port", str(port)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: is_listening("127.0.0.1", port), 60, "dashboard", process)
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/alerts", timeout=30) as response:
            assert response.status == 200
    finally:
        stop(process)
    output = process.stdout.read()
    lines = output.splitlines()
    assert any(line.startswith("warning: ") and mongo_down in line for line in lines), output
    assert any(line.startswith("warning: ") and minio_down in line for line in lines), output
    assert "Traceback" not in output


def test_a_taken_port_exits_2_with_one_line(stack, tmp_path):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "dashboard", "--port", str(port)], cwd=tmp_path,
                                env=child_environment(stack), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use; stop what holds it or set SKYRISK_DASHBOARD_PORT"]
    assert "Traceback" not in result.stdout + result.stderr
