"""Static validation of docker-compose.yml (no Docker engine runs on our machines).

Checks what a `docker compose up` would trip over: every service has an image or a build;
every app command names an entry point that exists in this code; host ports are unique and
bound to 127.0.0.1; dependencies name real services with the health check or one-shot
behaviour their condition needs; every Kafka client points at the broker's internal listener.
Security: every credential is a required variable from .env, a guard that refuses the .env.example
placeholders runs before every other service, the dashboard connects to MongoDB as a user with the
`read` role only (created by the mongo init script), the writers as a readWrite user, and the
dashboard reads the lake as the read-only MinIO user the bootstrap creates, never with the root keys.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from infra.env_example import compose_credentials

REPO = Path(__file__).resolve().parent.parent
SPARK_DAEMONS = {"org.apache.spark.deploy.master.Master", "org.apache.spark.deploy.worker.Worker"}
KAFKA_CLIENT_VARS = ("SKYRISK_KAFKA_BOOTSTRAP_SERVERS", "CONTROL_CENTER_BOOTSTRAP_SERVERS")
GUARD = "credentials-guard"
GUARD_COMMAND = ["python", "-m", "infra", "check-credentials"]
READER_USER, WRITER_USER = "MONGO_READER_USER", "MONGO_APP_USER"
INITDB_DIR = "/docker-entrypoint-initdb.d/"
VARIABLE = re.compile(r"\$\{(\w+)(:?[-?+]?)")
URI_USER = re.compile(r"^mongodb://\$\{(\w+)")
CREDENTIAL_KEY = re.compile(r"PASSWORD|SECRET|USERNAME|_USER$|ACCESS_KEY")
REQUIRED_ONLY = re.compile(r"\$\{\w+:\?[^}]*\}")


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
        if name != GUARD and "build" in service and service.get("command", [None])[0] == "python" and (
            environment.get("SKYRISK_KAFKA_BOOTSTRAP_SERVERS") != internal
        ):
            problems.append(f"{name}: app service does not point at the internal listener {internal}")
    if "control-center" in services and not services["control-center"].get("environment", {}).get(
        "CONTROL_CENTER_BOOTSTRAP_SERVERS"
    ):
        problems.append("control-center: no CONTROL_CENTER_BOOTSTRAP_SERVERS")
    return problems + credential_problems(doc) + database_user_problems(doc) + lake_user_problems(doc)


# --- credentials -----------------------------------------------------------------------------------
def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _depends_on(service: dict[str, Any]) -> list[str]:
    dependencies = service.get("depends_on") or {}
    return list(dependencies) if isinstance(dependencies, dict | list) else []


def _reaches(services: dict[str, dict[str, Any]], start: str, target: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name == target:
            return True
        if name not in seen and name in services:
            seen.add(name)
            todo += _depends_on(services[name])
    return False


def credential_problems(doc: dict[str, Any]) -> list[str]:
    """Every credential is `${VAR:?...}` (compose refuses to start without it) wherever it is used,
    and the guard that refuses the example placeholders runs before every other service."""
    services: dict[str, dict[str, Any]] = doc.get("services") or {}
    credentials = compose_credentials()
    problems = []
    used: set[str] = set()
    for text in _strings(doc):
        for variable, operator in VARIABLE.findall(text):
            if variable in credentials:
                used.add(variable)
                if operator != ":?":
                    problems.append(f"${{{variable}}} is not required (`${{{variable}:?...}}`) in {text!r}")
    problems += [f"credential {v} is never taken from .env" for v in credentials if v not in used]
    for name, service in services.items():  # no password written into the file itself
        for key, value in (service.get("environment") or {}).items():
            if CREDENTIAL_KEY.search(key) and not REQUIRED_ONLY.fullmatch(str(value)):
                problems.append(f"{name}: {key} is not a required variable from .env")
    guard = services.get(GUARD)
    if guard is None:
        return problems + [f"no {GUARD} service refusing the .env.example placeholders"]
    if guard.get("command") != GUARD_COMMAND or guard.get("restart", "no") != "no":
        problems.append(f"{GUARD}: must be the one-shot {' '.join(GUARD_COMMAND)}")
    environment = guard.get("environment") or {}
    for variable in credentials:
        if not str(environment.get(variable, "")).startswith(f"${{{variable}:?"):
            problems.append(f"{GUARD}: does not check {variable}")
    for name in services:
        if name != GUARD and not _reaches(services, name, GUARD):
            problems.append(f"{name}: can start before {GUARD} has passed")
    return problems


# --- MinIO users ------------------------------------------------------------------------------------
ROOT_S3 = ("SKYRISK_S3_ACCESS_KEY", "SKYRISK_S3_SECRET_KEY")
READER_S3 = ("SKYRISK_DASHBOARD_S3_ACCESS_KEY", "SKYRISK_DASHBOARD_S3_SECRET_KEY")
BOOTSTRAP_COMMAND = ["python", "-m", "infra", "bootstrap"]


def lake_user_problems(doc: dict[str, Any]) -> list[str]:
    """The dashboard reads the lake as the read-only MinIO user the bootstrap creates, never as root."""
    services: dict[str, dict[str, Any]] = doc.get("services") or {}
    problems = []
    dashboard = (services.get("dashboard") or {}).get("environment") or {}
    for text in _strings(dashboard):
        for variable, _ in VARIABLE.findall(text):
            if variable in ROOT_S3 or variable.startswith("MINIO_ROOT"):
                problems.append(f"dashboard: gets {variable}, MinIO's root credential")
    for key in ROOT_S3:
        if key in dashboard:
            problems.append(f"dashboard: sets {key}; it reads the lake with {READER_S3[0]} only")
    for key in READER_S3:
        if not str(dashboard.get(key, "")).startswith(f"${{{key}:?"):
            problems.append(f"dashboard: {key} is not its read-only user's ${{{key}}}")
    bootstraps = [name for name, service in services.items() if service.get("command") == BOOTSTRAP_COMMAND]
    if not bootstraps:
        problems.append("no service runs `python -m infra bootstrap`, which creates the dashboard's MinIO user")
    for name in bootstraps:
        environment = services[name].get("environment") or {}
        for key in (*ROOT_S3, *READER_S3):
            if not str(environment.get(key, "")).startswith(f"${{{key}:?"):
                problems.append(f"{name}: needs {key} to create the dashboard's read-only MinIO user")
    return problems


# --- MongoDB users ---------------------------------------------------------------------------------
def _uri_user(uri: Any) -> str | None:
    match = URI_USER.match(str(uri or ""))
    return match.group(1) if match else None


def init_script_users(script: str) -> dict[str, list[str]]:
    """The user variable of each ``createUser({...})`` of a mongo init script -> the roles it grants."""
    users: dict[str, list[str]] = {}
    for call in script.split("createUser(")[1:]:
        depth, end = 0, len(call)
        for index, char in enumerate(call):  # the call's argument ends at its closing parenthesis
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:
                end = index
                break
        body = call[:end]
        user = re.search(r"user:\s*process\.env\.(\w+)", body)
        users[user.group(1) if user else "?"] = re.findall(r"role:\s*[\"'](\w+)[\"']", body)
    return users


def database_user_problems(doc: dict[str, Any], repo: Path = REPO) -> list[str]:
    services: dict[str, dict[str, Any]] = doc.get("services") or {}
    problems = []
    for name, service in services.items():
        environment = service.get("environment") or {}
        if name == GUARD or "SKYRISK_MONGO_URI" not in environment:
            continue
        uris = {k: environment[k] for k in ("SKYRISK_MONGO_URI", "SKYRISK_DASHBOARD_MONGO_URI") if k in environment}
        wanted = READER_USER if name == "dashboard" else WRITER_USER
        for key, uri in uris.items():
            if _uri_user(uri) != wanted:
                problems.append(f"{name}: {key} does not connect as ${{{wanted}}}")
    dashboard = services.get("dashboard") or {}
    if dashboard.get("env_file"):
        problems.append("dashboard: env_file hands it every credential of .env; list its variables instead")
    for text in _strings(dashboard.get("environment") or {}):
        for variable, _ in VARIABLE.findall(text):
            if variable.startswith("MONGO_") and not variable.startswith("MONGO_READER_"):
                problems.append(f"dashboard: gets {variable}, a credential with more rights than `read`")
    mongo = services.get("mongo") or {}
    scripts = [str(v).split(":")[0] for v in mongo.get("volumes", []) if INITDB_DIR in str(v)]
    if not scripts:
        return problems + [f"mongo: no init script in {INITDB_DIR} creates the app's users"]
    users: dict[str, list[str]] = {}
    for script in scripts:
        path = (repo / script).resolve()
        if not path.is_file():
            problems.append(f"mongo: init script {script} does not exist")
            continue
        users |= init_script_users(path.read_text())
    if users.get(READER_USER) != ["read"]:
        problems.append(f"mongo init: ${READER_USER} must get the read role only, gets {users.get(READER_USER)}")
    if users.get(WRITER_USER) != ["readWrite"]:
        problems.append(f"mongo init: ${WRITER_USER} must get readWrite, gets {users.get(WRITER_USER)}")
    mongo_env = mongo.get("environment") or {}
    for variable in (READER_USER, WRITER_USER, "MONGO_READER_PASSWORD", "MONGO_APP_PASSWORD"):
        if variable not in mongo_env:
            problems.append(f"mongo: the init script needs {variable} in its environment")
    return problems
