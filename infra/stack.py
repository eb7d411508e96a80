"""The local service stack: Kafka (KRaft), MinIO and FerretDB as plain background processes.

Data, logs and pid files live under ``settings.data_dir`` (default ``.data/``), so the stack
survives ``down``/``up``. ``up`` is idempotent: a service already running is left alone, a
port held by a foreign process is reported by name, and the pipeline's topics, bucket,
collections and indexes are (re)created safely every time.
"""

from __future__ import annotations

import base64
import contextlib
import json
import tempfile
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from infra import logs
from infra.logs import LogLimits, start_writer
from infra.ports import free_port, port_holder, port_is_free
from infra.setup import binary
from skyrisk import contracts
from skyrisk.s3 import s3_client
from skyrisk.services import is_listening
from skyrisk.settings import Settings, load_settings

Echo = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


class StackError(RuntimeError):
    """A problem the user can act on; printed without a stack trace."""


@dataclass
class Service:
    name: str
    ports: dict[str, int]  # role -> port, checked before start
    command: list[str]
    health: Callable[[], bool]
    address: str  # what `status` prints
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[], None] | None = None
    startup_timeout: float = 60.0


# --- per-service configuration ---------------------------------------------------------------
def _service_dir(settings: Settings, name: str) -> Path:
    path = (settings.data_dir / name).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


KAFKA_LOG4J = """\
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRefs = stdout
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def kafka_server_properties(settings: Settings, log_dirs: Path) -> str:
    host, port = settings.kafka_host_port
    controller = settings.kafka_controller_port
    bind = settings.bind_host
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers={bind}:{controller}",
            f"listeners=PLAINTEXT://{bind}:{port},CONTROLLER://{bind}:{controller}",
            f"advertised.listeners=PLAINTEXT://{host}:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={log_dirs}",
            "num.partitions=3",
            "auto.create.topics.enable=false",
            # One node: every internal topic has one replica.
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.check.interval.ms=60000",
            "",
        ]
    )


def new_cluster_id() -> str:
    """A KRaft cluster id; never starting with '-', which the storage tool would read as an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def kafka_service(settings: Settings) -> Service:
    home = _service_dir(settings, "kafka")
    config = home / "server.properties"
    log4j = home / "log4j2.properties"
    log_dirs = home / "logs"
    classpath = str(settings.cache_dir / "jars" / "kafka" / "*")
    # The heap is fixed and touched at start (AlwaysPreTouch): the broker's memory is what it will
    # be from the first minute, and growth seen later (the soak) is not the heap filling in.
    java = ["java", f"-Xmx{settings.kafka_heap}", f"-Xms{settings.kafka_heap}", "-XX:+AlwaysPreTouch", "-XX:+UseG1GC",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={home}", "-cp", classpath]

    def prepare() -> None:
        if not (settings.cache_dir / "jars" / "kafka").exists():
            raise StackError("Kafka jars are missing: run `make setup` first")
        config.write_text(kafka_server_properties(settings, log_dirs))
        log4j.write_text(KAFKA_LOG4J)
        if not (log_dirs / "meta.properties").exists():
            # Format the KRaft storage once; the cluster id is kept so data survives restarts.
            cluster_file = home / "cluster.id"
            if not cluster_file.exists():
                cluster_file.write_text(new_cluster_id())
            result = subprocess.run(
                [*java, "kafka.tools.StorageTool", "format", "--standalone",
                 "-t", cluster_file.read_text().strip(), "-c", str(config)],
                capture_output=True, text=True,
            )
            if result.returncode != 0:
                raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

    host, port = settings.kafka_host_port
    return Service(
        name="kafka",
        ports={"broker": port, "controller": settings.kafka_controller_port},
        command=[*java, "kafka.Kafka", str(config)],
        health=lambda: kafka_healthy(settings),
        address=f"{host}:{port} (PLAINTEXT), controller {settings.bind_host}:{settings.kafka_controller_port}",
        prepare=prepare,
        startup_timeout=90.0,
    )


def kafka_healthy(settings: Settings) -> bool:
    from confluent_kafka.admin import AdminClient

    host, port = settings.kafka_host_port
    if not is_listening(host, port):
        return False
    try:
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers, "socket.timeout.ms": 2000})
        metadata = admin.list_topics(timeout=3)
        return bool(metadata.brokers)
    except Exception:
        return False


def minio_service(settings: Settings) -> Service:
    home = _service_dir(settings, "minio")
    host, port = settings.s3_host_port
    console = settings.s3_console_port
    return Service(
        name="minio",
        ports={"s3": port, "console": console},
        command=[str(binary(settings, "minio")), "server", str(home / "data"), "--quiet",
                 "--address", f"{settings.bind_host}:{port}",
                 "--console-address", f"{settings.bind_host}:{console}"],
        env={
            "MINIO_ROOT_USER": settings.s3_access_key,
            "MINIO_ROOT_PASSWORD": settings.s3_secret_key.get_secret_value(),
            "MINIO_BROWSER": "on",
            "MINIO_UPDATE": "off",
        },
        health=lambda: http_ok(f"{settings.s3_endpoint.rstrip('/')}/minio/health/live"),
        address=f"{settings.s3_endpoint} (S3), console http://{settings.bind_host}:{console}",
    )


def http_ok(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def ferretdb_service(settings: Settings) -> Service:
    home = _service_dir(settings, "ferretdb")
    host, port = settings.mongo_host_port
    return Service(
        name="ferretdb",
        ports={"mongodb": port},
        command=[str(binary(settings, "skyrisk-ferretdb")), "-listen", f"{settings.bind_host}:{port}",
                 "-data-dir", str(home / "data")],
        health=lambda: mongo_healthy(settings),
        address=f"mongodb://{host}:{port}/ (FerretDB, SQLite)",
    )


def mongo_healthy(settings: Settings) -> bool:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    host, port = settings.mongo_host_port
    if not is_listening(host, port):
        return False
    client = MongoClient(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=1500)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def services(settings: Settings) -> list[Service]:
    return [kafka_service(settings), minio_service(settings), ferretdb_service(settings)]


# --- process bookkeeping -------------------------------------------------------------------------
def _pid_file(settings: Settings, name: str) -> Path:
    return _service_dir(settings, name) / f"{name}.pid"


def log_file(settings: Settings, name: str) -> Path:
    return _service_dir(settings, name) / f"{name}.log"


def running_process(settings: Settings, name: str) -> psutil.Process | None:
    """Our process for a service, if it is alive (guards against pid reuse by create time)."""
    pid_file = _pid_file(settings, name)
    if not pid_file.exists():
        return None
    try:
        record = json.loads(pid_file.read_text())
        process = psutil.Process(record["pid"])
        if abs(process.create_time() - record["created"]) > 1 or process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process
    except (ValueError, KeyError, psutil.Error):
        return None


def _check_ports(settings: Settings, service: Service) -> None:
    for role, port in service.ports.items():
        if port_is_free(settings.bind_host, port):
            continue
        holder = port_holder(port)
        who = holder.describe() if holder else "another process"
        raise StackError(
            f"port {port} ({service.name} {role}) is already in use by {who}. "
            f"Stop that process or configure another port (see .env.example)."
        )


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the starting process dies (Linux only)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_service(settings: Settings, service: Service, echo: Echo, *, owned: bool = False) -> None:
    existing = running_process(settings, service.name)
    if existing is not None:
        if service.health():
            echo(f"  {service.name:9s} already running (pid {existing.pid}) on {service.address}")
            return
        echo(f"  {service.name:9s} pid {existing.pid} is not healthy; restarting it")
        _terminate(existing)
    _check_ports(settings, service)
    if service.prepare:
        service.prepare()
    log = log_file(settings, service.name)
    # The service writes into a pipe; a small writer process (it outlives `make up`, as the service
    # does) appends it to the log and rotates it by size.
    out, writer = start_writer(log, LogLimits.of(settings))
    try:
        process = subprocess.Popen(
            service.command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **service.env},
            cwd=_service_dir(settings, service.name),
            start_new_session=True,  # Ctrl-C in the terminal is handled by us, not sent to services
            # A throw-away stack must not outlive a test run that is killed.
            preexec_fn=_die_with_parent if owned else None,
        )
    finally:
        os.close(out)  # the service holds it now; the writer ends when the service does
    _pid_file(settings, service.name).write_text(
        json.dumps({"pid": process.pid, "created": psutil.Process(process.pid).create_time()})
    )
    deadline = time.monotonic() + service.startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                writer.wait(timeout=10)  # the service's last lines reach the log
            tail = logs.tail(log, 20)
            raise StackError(f"{service.name} exited with code {process.returncode} at start; {log}:\n{tail}")
        if service.health():
            echo(f"  {service.name:9s} up (pid {process.pid}) on {service.address}")
            return
        time.sleep(0.3)
    raise StackError(f"{service.name} not healthy after {service.startup_timeout:.0f}s; see {log}")


def _terminate(process: psutil.Process, timeout: float = 30.0) -> None:
    try:
        process.terminate()
        process.wait(timeout=timeout)
    except psutil.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    except psutil.NoSuchProcess:
        pass


# --- bootstrap: what the pipeline needs -----------------------------------------------------------
def bootstrap(settings: Settings, echo: Echo = _print) -> None:
    create_topics(settings, echo)
    create_bucket(settings, echo)
    create_lake_reader(settings, echo)
    create_collections(settings, echo)


GIB = 1024**3
MIB = 1024**2
# A byte cap per partition (retention.bytes) for every topic with time retention, so that a flood
# (a runaway producer, 10x the aircraft, a storm of dead letters) costs retention time, not the
# disk. Each cap holds the topic's retention time at the design load (2,000 aircraft at 1 Hz,
# the simulator's weather) with some margin; beyond that load the oldest segments go first.
#   flights.states: 2,000 msg/s x 86,400 s x 110 B (measured on the broker: simulator, lz4) = 19.0 GB
#                   a day = 3.2 GB per partition -> 4 GiB (x1.36)
#   weather.current: 4,752 cells a minute (79 msg/s, the 0.5° grid) x 48 h x 76 B (measured) = 1.04 GB =
#                   0.35 GB per partition -> 512 MiB (x1.5); at the default 1° grid a quarter of that
#   alerts:         6.2 msg/s at 2,000 aircraft (bench/results/2026-11-21.json) x 7 days x ~200 B
#                   (estimated, zstd) = 0.75 GB = 0.25 GB per partition -> 1 GiB (x4: stormy days)
#   deadletter:     ~0 in normal operation; a flood of 64 KiB letters -> 2 GiB (32,768 of them)
# Compacted topics (lufthansa.*) are bounded by their keys; retention.bytes does not apply to them.
# Worst case on disk: the caps (30.5 GiB) plus one open segment per partition (segment.bytes = cap/8).
RETENTION_BYTES = {
    contracts.FLIGHT_STATES.name: 4 * GIB,
    contracts.WEATHER.name: 512 * MIB,
    contracts.ALERTS.name: 1 * GIB,
    contracts.DEAD_LETTER.name: 2 * GIB,
}
DEFAULT_RETENTION_BYTES = 1 * GIB


def topic_config(spec: contracts.TopicSpec) -> dict[str, str]:
    """The topic's contract config plus its byte cap (and segments small enough for the cap to bite)."""
    config = dict(spec.config)
    if config.get("cleanup.policy") == "delete":
        # A new topic without its own entry gets 1 GiB (tests/infra/test_topic_caps.py asks for an entry).
        cap = RETENTION_BYTES.get(spec.name, DEFAULT_RETENTION_BYTES)
        config |= {"retention.bytes": str(cap), "segment.bytes": str(max(16 * MIB, cap // 8))}
    return config


def create_topics(settings: Settings, echo: Echo) -> None:
    from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    existing = admin.list_topics(timeout=10).topics
    new = [
        NewTopic(spec.name, num_partitions=spec.partitions, replication_factor=1, config=topic_config(spec))
        for spec in contracts.TOPICS
        if spec.name not in existing
    ]
    for topic, future in (admin.create_topics(new, operation_timeout=30) if new else {}).items():
        future.result()
    grow = [
        NewPartitions(spec.name, spec.partitions)
        for spec in contracts.TOPICS
        if spec.name in existing and len(existing[spec.name].partitions) < spec.partitions
    ]
    for future in (admin.create_partitions(grow) if grow else {}).values():
        future.result()
    capped = cap_existing_topics(admin, [spec for spec in contracts.TOPICS if spec.name in existing])
    echo(f"  topics    {len(new)} created, {len(contracts.TOPICS) - len(new)} already there"
         + (f" ({capped} given their byte cap)" if capped else ""))


def cap_existing_topics(admin, specs: list[contracts.TopicSpec]) -> int:
    """Topics created before the byte caps (or with other values) get them; returns how many changed."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    wanted = {spec.name: {k: v for k, v in topic_config(spec).items() if k in ("retention.bytes", "segment.bytes")}
              for spec in specs}
    wanted = {name: entries for name, entries in wanted.items() if entries}
    if not wanted:
        return 0
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in wanted]
    current = {resource.name: future.result() for resource, future in admin.describe_configs(resources).items()}
    changes = []
    for name, entries in wanted.items():
        if any(current[name][key].value != value for key, value in entries.items()):
            changes.append(ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET) for key, value in entries.items()]))
    for future in (admin.incremental_alter_configs(changes) if changes else {}).values():
        future.result()
    return len(changes)


def create_bucket(settings: Settings, echo: Echo) -> None:
    client = s3_client(settings)
    if client.bucket_exists(settings.lake_bucket):
        echo(f"  bucket    s3://{settings.lake_bucket} already there")
        return
    client.make_bucket(settings.lake_bucket)
    echo(f"  bucket    s3://{settings.lake_bucket} created")


LAKE_READ_POLICY = "skyrisk-lake-read"


def lake_read_policy(bucket: str) -> dict:
    """List the lake bucket and read its objects; nothing else (no put, delete, bucket changes)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
             "Resource": [f"arn:aws:s3:::{bucket}"]},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{bucket}/*"]},
        ],
    }


def create_lake_reader(settings: Settings, echo: Echo) -> None:
    """The dashboard's MinIO user: the read-only policy on the lake, and that policy only.

    Idempotent through MinIO's admin API (as the root user): the policy is (re)written, the user
    (re)created with the configured secret (so a changed secret takes effect), and its policies set
    to exactly this one.
    """
    from minio import MinioAdmin
    from minio.credentials import StaticProvider
    from minio.error import MinioAdminException
    from urllib3 import PoolManager, Retry, Timeout

    user, secret = settings.dashboard_s3_access_key, settings.dashboard_s3_secret_key.get_secret_value()
    if user == settings.s3_access_key:
        raise StackError("SKYRISK_DASHBOARD_S3_ACCESS_KEY must differ from SKYRISK_S3_ACCESS_KEY (MinIO's root user): "
                         "the dashboard gets its own read-only user")
    if len(user) < 3 or len(secret) < 8:
        raise StackError("SKYRISK_DASHBOARD_S3_ACCESS_KEY needs at least 3 characters and "
                         "SKYRISK_DASHBOARD_S3_SECRET_KEY at least 8 (MinIO's minimum)")
    host, port = settings.s3_host_port
    admin = MinioAdmin(
        endpoint=f"{host}:{port}",
        credentials=StaticProvider(settings.s3_access_key, settings.s3_secret_key.get_secret_value()),
        region=settings.s3_region,
        secure=settings.s3_endpoint.startswith("https"),
        http_client=PoolManager(timeout=Timeout(connect=5, read=30), retries=Retry(total=3, backoff_factor=0.5)),
    )
    try:
        admin.policy_add(LAKE_READ_POLICY, policy=lake_read_policy(settings.lake_bucket))
        admin.user_add(user, secret)
        admin.policy_set(LAKE_READ_POLICY, user=user)
    except MinioAdminException as error:
        # The message is MinIO's answer (code and text), never the credentials.
        raise StackError(f"creating the dashboard's read-only MinIO user failed: {error}") from None
    echo(f"  minio     user {user}: read-only on s3://{settings.lake_bucket} (policy {LAKE_READ_POLICY}; the dashboard's)")


def index_ferretdb_id_lookups(settings: Settings, database: str) -> int:
    """Give FerretDB's SQLite tables the index its updates and deletes by ``_id`` need.

    FerretDB 1.24 (SQLite) finds a document by ``_id`` with ``_ferretdb_sjson->'$._id'`` but
    indexes ``_id`` as ``_ferretdb_sjson->'_id'``; SQLite only uses an expression index for the
    same expression, so every update or delete scanned the whole table (0.5 s per upsert at
    20,000 flights_live documents; see bench/streaming/bench_mongo_writes.py). This adds an index
    on the expression FerretDB queries. FerretDB keeps its own index list, so it never sees this
    one; dropping the collection drops the table and the index with it. Does nothing when the
    database is not the local FerretDB's (e.g. a real MongoDB). Returns the indexes created.
    """
    import sqlite3

    path = (settings.data_dir / "ferretdb" / "data" / f"{database}.sqlite").resolve()
    if not path.exists():
        return 0
    created = 0
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
        tables = [row[0] for row in connection.execute("SELECT table_name FROM _ferretdb_collections")]
        present = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        for table in tables:
            if f"{table}_id_path" not in present:
                connection.execute(f"""CREATE INDEX "{table}_id_path" ON "{table}" (_ferretdb_sjson->'$._id')""")
                created += 1
        connection.commit()
    return created


def create_collections(settings: Settings, echo: Echo) -> None:
    from pymongo import MongoClient

    client = MongoClient(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=10_000)
    try:
        db = client[settings.mongo_database]
        present = set(db.list_collection_names())
        created = 0
        for name, indexes in contracts.COLLECTIONS.items():
            if name not in present:
                db.create_collection(name)
                created += 1
            for keys, unique in indexes:
                db[name].create_index(list(keys), unique=unique)
        echo(f"  mongodb   {created} collections created, {len(contracts.COLLECTIONS) - created} already there "
             f"(database {settings.mongo_database})")
        index_ferretdb_id_lookups(settings, settings.mongo_database)
    finally:
        client.close()


# --- the commands ---------------------------------------------------------------------------------
def up(settings: Settings, echo: Echo = _print, *, owned: bool = False) -> None:
    """Start every service and bootstrap; ``owned`` ties the services' lives to this process."""
    echo(f"Starting the stack (data: {settings.data_dir.resolve()})")
    for service in services(settings):
        start_service(settings, service, echo, owned=owned)
    bootstrap(settings, echo)


# down/status work even when binaries are missing, so they go by name, not by Service.
SERVICE_NAMES = ("kafka", "minio", "ferretdb")


def down(settings: Settings, echo: Echo = _print) -> None:
    for name in reversed(SERVICE_NAMES):
        process = running_process(settings, name)
        if process is None:
            echo(f"  {name:9s} not running")
        else:
            _terminate(process)
            echo(f"  {name:9s} stopped (pid {process.pid})")
        _pid_file(settings, name).unlink(missing_ok=True)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    healthy: bool
    address: str


def status(settings: Settings) -> list[ServiceStatus]:
    checks = {
        "kafka": (lambda: kafka_healthy(settings), settings.kafka_bootstrap_servers),
        "minio": (lambda: http_ok(f"{settings.s3_endpoint.rstrip('/')}/minio/health/live"), settings.s3_endpoint),
        "ferretdb": (lambda: mongo_healthy(settings), "mongodb://%s:%d/" % settings.mongo_host_port),
    }
    result = []
    for name in SERVICE_NAMES:
        process = running_process(settings, name)
        health, address = checks[name]
        result.append(ServiceStatus(name, process.pid if process else None,
                                    bool(process) and health(), address))
    return result


def tail(path: Path, lines: int) -> str:
    if not path.exists():
        return f"(no log yet at {path})"
    return logs.tail(path, lines)


# --- throw-away stacks (tests, benchmarks, chaos) ----------------------------------------------------
def throwaway_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings of a private stack: every port free, data in ``data_dir``, nothing from ``.env``."""
    kafka, controller, s3, console, mongo, dashboard = (free_port() for _ in range(6))
    values: dict[str, object] = {
        "data_dir": Path(data_dir),
        "kafka_bootstrap_servers": f"127.0.0.1:{kafka}",
        "kafka_controller_port": controller,
        "kafka_heap": "512m",
        "s3_endpoint": f"http://127.0.0.1:{s3}",
        "s3_console_port": console,
        "mongo_uri": f"mongodb://127.0.0.1:{mongo}/",
        "dashboard_port": dashboard,
        "spark_ui_port": 0,
    }
    values.update(overrides)
    return load_settings(_env_file=None, **values)


@contextlib.contextmanager
def throwaway_stack(prefix: str = "skyrisk-stack-", echo: Echo = _print, **overrides: object) -> Iterator[Settings]:
    """Start a private stack in a temporary directory; always stopped (and deleted) on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix) as data_dir:
        settings = throwaway_settings(Path(data_dir), **overrides)
        try:
            up(settings, echo, owned=True)
            yield settings
        finally:
            down(settings, echo)
