"""Every topic with time retention also has a byte cap (retention.bytes) on the real broker, set at
creation and given to topics bootstrapped before the caps existed."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from infra import stack as stack_manager
from skyrisk import contracts

pytestmark = pytest.mark.integration

TIMED = [spec for spec in contracts.TOPICS if not spec.compacted]


def topic_configs(settings, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    return {resource.name: {key: entry.value for key, entry in future.result().items()}
            for resource, future in admin.describe_configs(resources).items()}


def test_every_timed_topic_has_a_byte_cap(stack):
    configs = topic_configs(stack, [spec.name for spec in TIMED])
    for spec in TIMED:
        config = configs[spec.name]
        assert int(config["retention.bytes"]) > 0, (spec.name, config["retention.bytes"])  # -1: unbounded
        assert int(config["retention.ms"]) == spec.retention_ms
        assert int(config["retention.bytes"]) == stack_manager.RETENTION_BYTES[spec.name]
        assert int(config["segment.bytes"]) <= int(config["retention.bytes"]) // 8 or int(config["segment.bytes"]) == 16 * 2**20


def test_the_caps_hold_a_day_of_flights_at_the_design_load():
    """2,000 states/s x 24 h x 110 B (measured on the broker) over 6 partitions fits the cap."""
    needed = 2_000 * 86_400 * 110 / contracts.FLIGHT_STATES.partitions
    assert stack_manager.RETENTION_BYTES[contracts.FLIGHT_STATES.name] >= needed
    total = sum(stack_manager.RETENTION_BYTES[s.name] * s.partitions for s in TIMED)
    assert total <= 32 * 2**30  # the whole broker stays bounded (plus one open segment per partition)


def test_compacted_topics_keep_compaction_only(stack):
    compacted = [spec.name for spec in contracts.TOPICS if spec.compacted]
    for name, config in topic_configs(stack, compacted).items():
        assert config["cleanup.policy"] == "compact", name


def test_bootstrap_gives_the_cap_to_a_topic_created_before_it(stack):
    name = contracts.FLIGHT_STATES.name
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
    uncapped = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.bytes", "-1", incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([uncapped]).values():
        future.result()
    assert topic_configs(stack, [name])[name]["retention.bytes"] == "-1"
    messages: list[str] = []
    stack_manager.bootstrap(stack, echo=messages.append)
    assert topic_configs(stack, [name])[name]["retention.bytes"] == str(stack_manager.RETENTION_BYTES[name])
    assert any("1 given their byte cap" in m for m in messages), messages
    messages.clear()
    stack_manager.bootstrap(stack, echo=messages.append)  # nothing left to change
    assert not any("byte cap" in m for m in messages)
