"""Security defaults of the local stack: every service listens on the loopback interface only."""

from __future__ import annotations

import pytest

from infra import stack as stack_manager
from skyrisk.settings import load_settings
from tests.sockets import exposed, listening

pytestmark = pytest.mark.integration


def test_defaults_are_loopback():
    settings = load_settings(_env_file=None)
    assert settings.bind_host == "127.0.0.1"
    assert settings.dashboard_host == "127.0.0.1"


def test_every_stack_service_listens_on_loopback_only(stack):
    for name in stack_manager.SERVICE_NAMES:
        process = stack_manager.running_process(stack, name)
        assert process is not None, f"{name} is not running"
        sockets = listening(process)
        assert sockets, f"{name} listens nowhere (psutil cannot see its sockets?)"
        assert exposed(sockets) == [], f"{name} listens beyond loopback: {exposed(sockets)}"
    # the ports clients use are among them (the Kafka controller included)
    kafka = {port for _, _, port in listening(stack_manager.running_process(stack, "kafka"))}
    assert {stack.kafka_host_port[1], stack.kafka_controller_port} <= kafka
    minio = {port for _, _, port in listening(stack_manager.running_process(stack, "minio"))}
    assert {stack.s3_host_port[1], stack.s3_console_port} <= minio
