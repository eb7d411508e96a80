"""docker-compose.yml cannot be started here, so it is validated statically."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys

import pytest

from infra.compose_check import GUARD, REPO, compose_problems, database_user_problems, init_script_users, load_compose
from infra.env_example import compose_credentials


@pytest.fixture(scope="module")
def compose():
    return load_compose()


def test_compose_file_is_valid(compose):
    assert compose_problems(compose) == []


def test_compose_has_every_part_of_the_platform(compose):
    services = compose["services"]
    for name in ("kafka", "control-center", "mongo", "minio", "minio-init", "spark-master", "spark-worker",
                 "producers", "streaming", "batch-scheduler", "dashboard"):
        assert name in services, name
    assert services["kafka"]["image"].startswith("confluentinc/cp-kafka:")
    assert "control-center" in services["control-center"]["image"]
    assert services["mongo"]["image"] == "mongo:7"


def test_a_command_naming_a_missing_module_is_caught(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["producers"]["command"] = ["python", "-m", "producerz", "all", "sim"]
    assert any("producerz" in problem for problem in compose_problems(broken))


def test_a_host_port_collision_is_caught(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["dashboard"]["ports"] = ["127.0.0.1:9092:8050"]
    assert any("9092" in problem and "already used" in problem for problem in compose_problems(broken))


def test_an_app_pointing_at_the_host_listener_is_caught(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["streaming"]["environment"]["SKYRISK_KAFKA_BOOTSTRAP_SERVERS"] = "localhost:9092"
    assert any("streaming" in p and "internal listener" in p for p in compose_problems(broken))


def test_control_center_pointing_elsewhere_is_caught(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["control-center"]["environment"]["CONTROL_CENTER_BOOTSTRAP_SERVERS"] = "localhost:9092"
    assert any(p.startswith("control-center") for p in compose_problems(broken))


def test_waiting_on_a_service_without_healthcheck_is_caught(compose):
    broken = copy.deepcopy(compose)
    del broken["services"]["mongo"]["healthcheck"]
    assert any("mongo" in p and "no healthcheck" in p for p in compose_problems(broken))


# --- security: credentials from .env, the placeholder guard, the read-only dashboard user ---------
def example_values() -> dict[str, str]:
    """Every `# NAME=value` line of .env.example, as if the user had uncommented them all."""
    values = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"# ([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def run_guard(compose, credentials: dict[str, str]) -> subprocess.CompletedProcess:
    """The guard service's own command, run as compose would (its environment holds the credentials)."""
    command = compose["services"][GUARD]["command"]
    assert command[0] == "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SKYRISK_", "MONGO_"))} | credentials
    return subprocess.run([sys.executable, *command[1:]], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)


def test_every_credential_is_a_required_variable_from_env(compose):
    for service in ("mongo", "minio", "minio-init", GUARD):
        environment = compose["services"][service]["environment"]
        for key, value in environment.items():
            if key in compose_credentials() or "PASSWORD" in key or key.endswith("_USER"):
                assert value.startswith("${") and ":?" in value, (service, key, value)
    assert set(compose_credentials()) >= {"MONGO_ROOT_USER", "MONGO_ROOT_PASSWORD", "MONGO_APP_USER",
                                          "MONGO_APP_PASSWORD", "MONGO_READER_USER", "MONGO_READER_PASSWORD",
                                          "SKYRISK_S3_ACCESS_KEY", "SKYRISK_S3_SECRET_KEY"}


def test_an_optional_or_literal_credential_is_caught(compose):
    optional = copy.deepcopy(compose)
    optional["services"]["mongo"]["environment"]["MONGO_APP_PASSWORD"] = "${MONGO_APP_PASSWORD:-secret}"
    assert any("MONGO_APP_PASSWORD" in p and "not required" in p for p in compose_problems(optional))
    literal = copy.deepcopy(compose)
    literal["services"]["minio"]["environment"]["MINIO_ROOT_PASSWORD"] = "minio-password"
    assert any(p.startswith("minio: MINIO_ROOT_PASSWORD") for p in compose_problems(literal))


def test_every_service_waits_for_the_credentials_guard(compose):
    assert compose["services"][GUARD]["restart"] == "no"
    early = copy.deepcopy(compose)
    del early["services"]["mongo"]["depends_on"]
    assert any(p.startswith("mongo: can start before") for p in compose_problems(early))
    missing = copy.deepcopy(compose)
    del missing["services"][GUARD]
    assert any("no credentials-guard" in p for p in compose_problems(missing))


def test_the_guard_refuses_the_env_example_placeholders(compose):
    example = example_values()
    credentials = {name: example[name] for name in compose_credentials()}  # all of them are in the example
    result = run_guard(compose, credentials)
    assert result.returncode != 0
    for name in credentials:
        assert f"{name} still has the .env.example placeholder" in result.stdout, result.stdout
    assert "refusing to start" in result.stdout
    for value in set(credentials.values()):  # names the variables, never echoes a value
        assert f"={value}" not in result.stdout


def test_the_guard_refuses_one_placeholder_or_an_empty_value(compose):
    real = {name: f"{name.lower()}-Xq7{i}vR9p2" for i, name in enumerate(compose_credentials())}
    one_left = real | {"MONGO_READER_PASSWORD": example_values()["MONGO_READER_PASSWORD"]}
    result = run_guard(compose, one_left)
    assert result.returncode != 0 and "MONGO_READER_PASSWORD still has" in result.stdout
    assert "MONGO_APP_PASSWORD" not in result.stdout
    result = run_guard(compose, real | {"SKYRISK_S3_SECRET_KEY": " "})
    assert result.returncode != 0 and "SKYRISK_S3_SECRET_KEY is not set" in result.stdout


def test_the_guard_passes_real_looking_credentials(compose):
    real = {name: f"{name.lower()}-Xq7{i}vR9p2" for i, name in enumerate(compose_credentials())}
    result = run_guard(compose, real)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(value not in result.stdout for value in real.values())


def test_the_dashboard_reads_as_the_read_only_user(compose):
    environment = compose["services"]["dashboard"]["environment"]
    for key in ("SKYRISK_MONGO_URI", "SKYRISK_DASHBOARD_MONGO_URI"):
        assert environment[key].startswith("mongodb://${MONGO_READER_USER:?"), key
        assert "${MONGO_READER_PASSWORD:?" in environment[key]
    assert not compose["services"]["dashboard"].get("env_file")
    for writer in ("streaming", "batch-scheduler", "init"):
        assert compose["services"][writer]["environment"]["SKYRISK_MONGO_URI"].startswith("mongodb://${MONGO_APP_USER:?")


def test_the_mongo_init_script_grants_the_reader_only_read(compose):
    mounts = [v for v in compose["services"]["mongo"]["volumes"] if "/docker-entrypoint-initdb.d/" in v]
    assert len(mounts) == 1
    script = (REPO / mounts[0].split(":")[0]).read_text()
    assert init_script_users(script) == {"MONGO_APP_USER": ["readWrite"], "MONGO_READER_USER": ["read"]}


def test_a_dashboard_with_write_rights_is_caught(compose, tmp_path):
    writer = copy.deepcopy(compose)
    writer["services"]["dashboard"]["environment"]["SKYRISK_DASHBOARD_MONGO_URI"] = (
        compose["services"]["streaming"]["environment"]["SKYRISK_MONGO_URI"])
    problems = compose_problems(writer)
    assert any("SKYRISK_DASHBOARD_MONGO_URI does not connect as ${MONGO_READER_USER}" in p for p in problems)
    assert any("MONGO_APP_USER" in p and "more rights" in p for p in problems)
    whole_env = copy.deepcopy(compose)
    whole_env["services"]["dashboard"]["env_file"] = [".env"]
    assert any("env_file" in p for p in compose_problems(whole_env))
    # an init script that lets the reader write
    mount = next(v for v in compose["services"]["mongo"]["volumes"] if "/docker-entrypoint-initdb.d/" in v)
    script = mount.split(":")[0]
    (tmp_path / script).parent.mkdir(parents=True)
    (tmp_path / script).write_text((REPO / script).read_text().replace('role: "read"', 'role: "readWrite"'))
    assert any("must get the read role only" in p for p in database_user_problems(compose, repo=tmp_path))


# --- the dashboard's read-only MinIO user -------------------------------------------------------------
def test_the_dashboard_reads_the_lake_as_its_read_only_minio_user(compose):
    environment = compose["services"]["dashboard"]["environment"]
    for key in ("SKYRISK_DASHBOARD_S3_ACCESS_KEY", "SKYRISK_DASHBOARD_S3_SECRET_KEY"):
        assert environment[key].startswith(f"${{{key}:?"), key
    assert "SKYRISK_S3_ACCESS_KEY" not in environment and "SKYRISK_S3_SECRET_KEY" not in environment
    assert "SKYRISK_S3_ACCESS_KEY" not in str(environment) and "SKYRISK_S3_SECRET_KEY" not in str(environment)
    init = compose["services"]["init"]
    assert init["command"] == ["python", "-m", "infra", "bootstrap"]  # creates the user (infra.stack.create_lake_reader)
    for key in ("SKYRISK_S3_ACCESS_KEY", "SKYRISK_S3_SECRET_KEY", "SKYRISK_DASHBOARD_S3_ACCESS_KEY",
                "SKYRISK_DASHBOARD_S3_SECRET_KEY"):
        assert init["environment"][key].startswith(f"${{{key}:?"), key
    assert {"SKYRISK_DASHBOARD_S3_ACCESS_KEY", "SKYRISK_DASHBOARD_S3_SECRET_KEY"} <= set(compose_credentials())


def test_a_dashboard_with_the_minio_root_keys_is_caught(compose):
    root = copy.deepcopy(compose)
    root["services"]["dashboard"]["environment"]["SKYRISK_S3_SECRET_KEY"] = "${SKYRISK_S3_SECRET_KEY:?set it}"
    problems = compose_problems(root)
    assert any("dashboard: gets SKYRISK_S3_SECRET_KEY, MinIO's root credential" in p for p in problems)
    assert any("dashboard: sets SKYRISK_S3_SECRET_KEY" in p for p in problems)
    swapped = copy.deepcopy(compose)
    swapped["services"]["dashboard"]["environment"]["SKYRISK_DASHBOARD_S3_ACCESS_KEY"] = "${SKYRISK_S3_ACCESS_KEY:?x}"
    assert any("SKYRISK_DASHBOARD_S3_ACCESS_KEY is not its read-only user's" in p for p in compose_problems(swapped))
    no_user = copy.deepcopy(compose)
    del no_user["services"]["init"]["environment"]["SKYRISK_DASHBOARD_S3_SECRET_KEY"]
    assert any(p.startswith("init: needs SKYRISK_DASHBOARD_S3_SECRET_KEY") for p in compose_problems(no_user))
