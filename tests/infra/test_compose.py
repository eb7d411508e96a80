"""docker-compose.yml cannot be started here, so it is validated statically."""

from __future__ import annotations

import copy

import pytest

from infra.compose_check import compose_problems, load_compose


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
