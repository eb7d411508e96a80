"""Security of the dashboard: it listens on loopback only, reads with its own (read-only) MongoDB
URI, and no browser value can act as a MongoDB operator or a pattern: the data-access functions and
the callbacks, on the real FerretDB with the seeded data, treat every payload as literal text."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest

from dashboard.app import create_app
from dashboard.data import DashboardData
from dashboard.live import PHASES, RISK_CATEGORIES
from infra.ports import free_port
from skyrisk.services import is_listening
from tests.dashboard import seed
from tests.dashboard.test_callbacks import EUROPE, call, counter
from tests.sockets import child_environment, exposed, listening, stop, wait_for

pytestmark = pytest.mark.integration

PAYLOADS: list[Any] = [
    {"$ne": None}, {"$gt": ""}, {"$regex": "."}, {"$where": "1"}, {"$in": [seed.DETAIL_ICAO24]},
    '{"$where": "1"}', '{"$ne": null}', ".*", "^.*$", "a|b", "(a+)+$", "$regex", "$ne", "[^x]*",
    [seed.DETAIL_ICAO24], [{"$ne": None}], 42, True,
]
TEXT_PAYLOADS = [p for p in PAYLOADS if isinstance(p, str)]


def ids(value: Any) -> str:
    return json.dumps(value)


# --- listening sockets ------------------------------------------------------------------------------
def test_this_test_process_spark_and_dashboard_listen_on_loopback_only(spark, dashboard_url):
    """The session's SparkSession (a child JVM) and the dashboard the browser tests use (a thread)."""
    assert spark.range(3).count() == 3
    sockets = listening(psutil.Process())
    assert any(name == "java" for name, _, _ in sockets), "the Spark driver JVM shows no listening socket"
    assert int(dashboard_url.rsplit(":", 1)[1]) in {port for _, _, port in sockets}
    assert exposed(sockets) == []


def test_the_dashboard_entry_point_listens_on_loopback_only(stack, tmp_path):
    """``python -m dashboard`` with nothing configured but its port."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "dashboard", "--port", str(port)], cwd=tmp_path,
                               env=child_environment(stack), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: is_listening("127.0.0.1", port), 60, "dashboard", process)
        sockets = listening(psutil.Process(process.pid))
        assert port in {p for _, _, p in sockets}
        assert exposed(sockets) == []
    finally:
        stop(process)


# --- its own MongoDB URI ----------------------------------------------------------------------------
def test_the_dashboard_connects_with_dashboard_mongo_uri(seeded_stack):
    dead = f"mongodb://127.0.0.1:{free_port()}/"  # nothing there: any read through it would fail
    settings = seeded_stack.model_copy(update={"mongo_uri": type(seeded_stack.mongo_uri)(dead),
                                               "dashboard_mongo_uri": seeded_stack.mongo_uri})
    data = DashboardData(settings)
    try:
        assert data.flight(seed.DETAIL_ICAO24)["callsign"] == seed.DETAIL_CALLSIGN
    finally:
        data.close()


# --- data-access functions --------------------------------------------------------------------------
def test_literal_values_still_find_their_documents(data):
    """The positive control: the same functions do find the seeded documents."""
    assert data.flight(seed.DETAIL_ICAO24)["callsign"] == seed.DETAIL_CALLSIGN
    assert data.track(seed.DETAIL_ICAO24, 30)
    assert data.schedules(seed.SEARCH_FROM, seed.SEARCH_TO, seed.TODAY)
    assert data.schedules_of_flight("LH400", seed.TODAY)
    assert data.alerts(["HIGH_RISK", "EMERGENCY"], [], time.time() - 3600, 50)


@pytest.mark.parametrize("payload", PAYLOADS, ids=ids)
def test_payloads_match_nothing_at_the_data_access_functions(data, payload):
    since = time.time() - 3600
    assert data.flight(payload) is None
    assert data.track(payload, 30) == []
    assert data.weather_cell(payload) is None
    assert data.schedules(payload, seed.SEARCH_TO, seed.TODAY) == []
    assert data.schedules(seed.SEARCH_FROM, payload, seed.TODAY) == []
    assert data.schedules(seed.SEARCH_FROM, seed.SEARCH_TO, payload) == []
    assert data.schedules_of_flight(payload, seed.TODAY) == []
    assert data.alerts([payload], [], since, 50) == []
    assert data.alerts(payload, [], since, 50) == []
    assert data.alerts(["HIGH_RISK", "EMERGENCY"], [payload], since, 50) == []
    if not isinstance(payload, int) or isinstance(payload, bool):  # 42 is a real (if old) epoch time
        assert data.alerts(["HIGH_RISK", "EMERGENCY"], [], payload, 50) == []


@pytest.mark.parametrize("payload", TEXT_PAYLOADS, ids=ids)
def test_text_payloads_are_matched_literally(data, mongo_db, payload):
    """A document whose value *is* the payload text is found, and only that one: no pattern, no operator."""
    mongo_db.flights_live.insert_one({"_id": payload, "callsign": "LITERAL"})
    try:
        assert data.flight(payload)["callsign"] == "LITERAL"
        assert mongo_db.flights_live.count_documents({"_id": payload}) == 1
    finally:
        mongo_db.flights_live.delete_one({"_id": payload})


# --- the callbacks, as the browser calls them, on the real database -------------------------------
@pytest.fixture(scope="module")
def client(seeded_stack):
    return create_app(seeded_stack).server.test_client()


def text_of(response: dict[str, Any]) -> str:
    return json.dumps(response)


@pytest.mark.parametrize("payload", PAYLOADS, ids=ids)
def test_route_search_with_payloads_finds_nothing(client, payload):
    for origin, destination, day in ((payload, seed.SEARCH_TO, seed.TODAY.isoformat()),
                                     (seed.SEARCH_FROM, payload, seed.TODAY.isoformat()),
                                     (seed.SEARCH_FROM, seed.SEARCH_TO, payload)):
        status, response = call(client, [("route-outbound", "children"), ("route-inbound", "children")],
                                [("route-search", "n_clicks", 1)], "route-search.n_clicks",
                                state=[("route-from", "value", origin), ("route-to", "value", destination),
                                       ("route-date", "date", day), ("route-return", "date", payload),
                                       ("route-nonstop", "value", payload)])
        assert status == 200
        text = text_of(response)
        assert "Choose a" in text and not any(flight in text for flight in seed.SEEDED_ROUTE_FLIGHTS)


@pytest.mark.parametrize("payload", PAYLOADS, ids=ids)
def test_alert_filters_with_payloads_find_nothing(client, payload):
    for types, categories in (([payload], []), (payload, []), (["HIGH_RISK", "EMERGENCY"], [payload])):
        status, response = call(client, [("alert-table", "children"), ("alert-summary", "children")],
                                [("alert-tick", "n_intervals", 1), ("alert-types", "value", types),
                                 ("alert-categories", "value", categories), ("alert-window", "value", payload)],
                                "alert-types.value")
        assert status == 200
        assert response["response"]["alert-summary"]["children"].startswith("0 alert episode(s)")


@pytest.mark.parametrize("payload", PAYLOADS, ids=ids)
def test_map_selection_and_search_with_payloads_show_nothing(client, payload):
    status, response = call(client, [("detail-body", "children")],
                            [("selected-aircraft", "data", payload), ("live-tick", "n_intervals", 1)],
                            "selected-aircraft.data")
    assert status == 200 and seed.DETAIL_CALLSIGN not in text_of(response)
    status, response = call(client, [("live-map", "figure"), ("live-counters", "children")], [
        ("live-tick", "n_intervals", 1), ("colour-mode", "value", "risk"), ("filter-risk", "value", list(RISK_CATEGORIES)),
        ("filter-phase", "value", list(PHASES)), ("filter-anomalies", "value", []),
        ("filter-altitude", "value", [0, 45_000]), ("filter-search", "value", payload),
        ("weather-layer", "value", ["on"]), ("map-viewport", "data", EUROPE.__dict__),
        ("selected-aircraft", "data", payload)], "filter-search.value")
    assert status == 200 and counter(response, "count-shown") == "0"


@pytest.mark.parametrize("payload", PAYLOADS, ids=ids)
def test_history_and_streams_with_payloads_query_nothing(client, payload):
    status, response = call(client, [("replay-points", "data"), ("replay-slider", "max"), ("replay-slider", "value"),
                                     ("replay-note", "children")],
                            [("replay-flight", "value", payload)], "replay-flight.value",
                            state=[("replay-day", "value", payload)])
    assert status == 200 and "Pick a day and a flight." in text_of(response)
    status, response = call(client, [("browse-records", "children")],
                            [("browse-topic", "value", payload), ("browse-count", "value", payload),
                             ("browse-refresh", "n_clicks", 1)], "browse-topic.value")
    assert status == 200 and "Unknown topic." in text_of(response)


# --- its own, read-only identity on the lake (MinIO) --------------------------------------------------
def _minio(settings, access_key: str, secret_key: str):
    from minio import Minio

    host, port = settings.s3_host_port
    return Minio(f"{host}:{port}", access_key=access_key, secret_key=secret_key, secure=False,
                 region=settings.s3_region)


def _denied(operation) -> str:
    from minio.error import S3Error

    try:
        operation()
    except S3Error as error:
        return error.code
    return "ALLOWED"


def test_the_dashboard_s3_identity_reads_the_lake_but_cannot_write_or_delete(stack):
    import io

    root = _minio(stack, stack.s3_access_key, stack.s3_secret_key.get_secret_value())
    reader = _minio(stack, stack.dashboard_s3_access_key, stack.dashboard_s3_secret_key.get_secret_value())
    bucket, name = stack.lake_bucket, "security/dashboard-identity/probe.json"
    root.put_object(bucket, name, io.BytesIO(b'{"probe": 1}'), 12)
    try:
        assert stack.dashboard_s3_access_key != stack.s3_access_key
        assert name in [o.object_name for o in reader.list_objects(bucket, prefix="security/", recursive=True)]
        assert reader.get_object(bucket, name).read() == b'{"probe": 1}'
        assert reader.stat_object(bucket, name).size == 12
        assert _denied(lambda: reader.put_object(bucket, "security/written.json", io.BytesIO(b"{}"), 2)) == "AccessDenied"
        assert _denied(lambda: reader.put_object(bucket, name, io.BytesIO(b"{}"), 2)) == "AccessDenied"  # overwrite
        assert _denied(lambda: reader.remove_object(bucket, name)) == "AccessDenied"
        assert _denied(lambda: reader.make_bucket("dashboard-made-this")) == "AccessDenied"
        assert _denied(lambda: reader.remove_bucket(bucket)) == "AccessDenied"
        assert root.get_object(bucket, name).read() == b'{"probe": 1}'  # still there, unchanged
        assert not root.bucket_exists("dashboard-made-this")
    finally:
        root.remove_object(bucket, name)


def test_bootstrap_again_keeps_the_dashboard_identity_read_only(stack):
    from infra import stack as stack_manager

    messages: list[str] = []
    stack_manager.bootstrap(stack, echo=messages.append)
    assert any(stack.dashboard_s3_access_key in m and "read-only" in m for m in messages), messages
    reader = _minio(stack, stack.dashboard_s3_access_key, stack.dashboard_s3_secret_key.get_secret_value())
    assert reader.bucket_exists(stack.lake_bucket)
    assert _denied(lambda: reader.remove_bucket(stack.lake_bucket)) == "AccessDenied"


def test_the_dashboard_reads_the_lake_with_its_own_identity(seeded_stack):
    """Root keys that work nowhere: the History page's lake reads still work, so they use the dashboard's."""
    import io

    from batch.lake import MANIFESTS

    root = _minio(seeded_stack, seeded_stack.s3_access_key, seeded_stack.s3_secret_key.get_secret_value())
    name = f"{MANIFESTS}/date=1999-12-31.json"
    root.put_object(seeded_stack.lake_bucket, name, io.BytesIO(b'{"tables": {}}'), 14)
    try:
        no_root = seeded_stack.model_copy(update={"s3_access_key": "nobody",
                                                  "s3_secret_key": type(seeded_stack.s3_secret_key)("wrong-secret")})
        assert "1999-12-31" in DashboardData(no_root).published_days()
        no_reader = seeded_stack.model_copy(update={"dashboard_s3_access_key": "nobody"})
        with pytest.raises(OSError):
            DashboardData(no_reader).published_days()
    finally:
        root.remove_object(seeded_stack.lake_bucket, name)


# --- Host header (DNS rebinding) ---------------------------------------------------------------------
def http_get(port: int, path: str = "/", host: str | None = "localhost", method: str = "GET",
             body: bytes | None = None) -> tuple[int, str]:
    """One real HTTP request to the server on 127.0.0.1:port with exactly this Host header (None: no Host)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            connection.putheader("Host", host)
        if body is not None:
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.parametrize("host", ["localhost", "localhost:{port}", "LOCALHOST:{port}", "127.0.0.1", "127.0.0.1:{port}",
                                  "[::1]:{port}", "localhost.:{port}"])
def test_the_dashboard_answers_its_loopback_names(dashboard_url, host):
    port = port_of(dashboard_url)
    status, body = http_get(port, "/", host.format(port=port))
    assert status == 200 and "skyrisk" in body


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:{port}", "127.0.0.1.attacker.example",
                                  "localhost.attacker.example:{port}", "10.0.0.7:{port}", "", "localhost:{port}@evil"])
def test_other_host_names_get_400_on_every_path(dashboard_url, host):
    """A DNS-rebinding page's requests carry its own name: page, assets, layout and callbacks all refuse it."""
    port = port_of(dashboard_url)
    header = host.format(port=port)
    for method, path, body in (("GET", "/", None), ("GET", "/streams", None), ("GET", "/_dash-layout", None),
                               ("GET", "/assets/style.css", None), ("GET", "/_favicon.ico", None),
                               ("POST", "/_dash-update-component", b"{}")):
        status, text = http_get(port, path, header, method, body)
        assert status == 400, (method, path, status)
        assert text.startswith("Bad Request: unknown host") and len(text) < 200, text
        assert header not in text or not header  # the refused name is not echoed back


def test_a_request_without_host_header_is_refused(dashboard_url):
    assert http_get(port_of(dashboard_url), "/", None)[0] == 400


def test_extra_host_names_come_from_the_setting(stack, tmp_path):
    """``python -m dashboard`` with SKYRISK_DASHBOARD_ALLOWED_HOSTS: those names, the loopback ones, nothing else."""
    port = free_port()
    env = child_environment(stack, SKYRISK_DASHBOARD_ALLOWED_HOSTS="skyrisk.internal, Ops-Screen")
    process = subprocess.Popen([sys.executable, "-m", "dashboard", "--port", str(port)], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: is_listening("127.0.0.1", port), 60, "dashboard", process)
        assert http_get(port, "/", f"skyrisk.internal:{port}")[0] == 200
        assert http_get(port, "/", "ops-screen")[0] == 200
        assert http_get(port, "/", f"127.0.0.1:{port}")[0] == 200
        assert http_get(port, "/", f"localhost:{port}")[0] == 200
        assert http_get(port, "/", f"other.internal:{port}")[0] == 400
    finally:
        stop(process)
