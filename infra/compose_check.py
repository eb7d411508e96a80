"""Static validation of docker-compose.yml (no Docker engine runs on our machines).

Checks what a `docker compose up` would trip over: every service has an image or a build;
every app command names an entry point that exists in this code; host ports are unique and
bound to 127.0.0.1; dependencies name real services with the health check or one-shot
behaviour their condition needs; every Kafka client points at the broker's internal listener.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SPARK_DAEMONS = {"org.apache.spark.deploy.master.Master", "org.apache.spark.deploy.worker.Worker"}
KAFKA_CLIENT_VARS = ("SKYRISK_KAFKA_BOOTSTRAP_SERVERS", "CONTROL_CENTER_BOOTSTRAP_SERVERS")


def load_compose(path: Path = REPO / "docker-compose.yml") -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def module_has_main(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None and importlib.util.find_spec(f"{module}.__main__") is not None
    except (ImportError, ValueError):
        return False


def _command_problems(name: str, command: Any) -> list[str]:
    if not isinstance(command, list) or not command:
        return [f"{name}: an app service needs its command as a list"]
    if command[:2] == ["python", "-m"] and len(command) > 2:
        module = command[2]
        return [] if module_has_main(module) else [f"{name}: `python -m {module}` names no module with a __main__"]
    if command[0] == "spark-class":
        if len(command) < 2 or command[1] not in SPARK_DAEMONS:
            return [f"{name}: spark-class runs an unknown class {command[1:2]}"]
        return []
    return [f"{name}: command {command!r} is not an entry point of this project"]


def _host_ports(service: dict[str, Any]) -> list[tuple[str, str]]:
    result = []
    for mapping in service.get("ports", []):
        parts = str(mapping).split(":")
        host_ip, host_port = (parts[0], parts[1]) if len(parts) == 3 else ("0.0.0.0", parts[0])
        result.append((host_ip, host_port))
    return result


def _internal_listener(kafka: dict[str, Any]) -> str | None:
    advertised = kafka.get("environment", {}).get("KAFKA_ADVERTISED_LISTENERS", "")
    for listener in advertised.split(","):
        name, _, address = listener.partition("://")
        if name == kafka.get("environment", {}).get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT"):
            return address
    return None


def compose_problems(doc: dict[str, Any]) -> list[str]:
    services: dict[str, dict[str, Any]] = doc.get("services") or {}
    problems: list[str] = []
    if "kafka" not in services:
        return ["no kafka service"]
    internal = _internal_listener(services["kafka"])
    seen_ports: dict[str, str] = {}
    for name, service in services.items():
        if "image" not in service and "build" not in service:
            problems.append(f"{name}: neither image nor build")
        if "build" in service:  # our own image: the command must be one of our entry points
            problems += _command_problems(name, service.get("command"))
        for host_ip, host_port in _host_ports(service):
            if host_ip != "127.0.0.1":
                problems.append(f"{name}: host port {host_port} is not bound to 127.0.0.1")
            if host_port in seen_ports:
                problems.append(f"{name}: host port {host_port} already used by {seen_ports[host_port]}")
            seen_ports[host_port] = name
        for dependency, rule in (service.get("depends_on") or {}).items():
            target = services.get(dependency)
            condition = (rule or {}).get("condition")
            if target is None:
                problems.append(f"{name}: depends on unknown service {dependency}")
            elif condition == "service_healthy" and "healthcheck" not in target:
                problems.append(f"{name}: waits for {dependency} to be healthy but it has no healthcheck")
            elif condition == "service_completed_successfully" and target.get("restart", "no") != "no":
                problems.append(f"{name}: waits for {dependency} to complete but it restarts")
        environment = service.get("environment") or {}
        for variable in KAFKA_CLIENT_VARS:
            if variable in environment and environment[variable] != internal:
                problems.append(f"{name}: {variable}={environment[variable]} is not the internal listener {internal}")
        if "build" in service and service.get("command", [None])[0] == "python" and (
            environment.get("SKYRISK_KAFKA_BOOTSTRAP_SERVERS") != internal
        ):
            problems.append(f"{name}: app service does not point at the internal listener {internal}")
    if "control-center" in services and not services["control-center"].get("environment", {}).get(
        "CONTROL_CENTER_BOOTSTRAP_SERVERS"
    ):
        problems.append("control-center: no CONTROL_CENTER_BOOTSTRAP_SERVERS")
    return problems
