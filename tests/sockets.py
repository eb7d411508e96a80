"""Listening sockets of processes (psutil) and clean environments for entry points, for the
security tests: every socket the platform opens must be on the loopback interface."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import time
from pathlib import Path

import psutil

from skyrisk.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[1]


def is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a JVM reports 127.0.0.1 as ::ffff:127.0.0.1
    return address.is_loopback


def listening(process: psutil.Process) -> list[tuple[str, str, int]]:
    """(process name, ip, port) of every LISTEN socket of a process and its children."""
    found = []
    for member in [process, *process.children(recursive=True)]:
        try:
            for connection in member.net_connections(kind="inet"):
                if connection.status == psutil.CONN_LISTEN:
                    found.append((member.name(), connection.laddr.ip, connection.laddr.port))
        except psutil.NoSuchProcess:
            continue
    return found


def exposed(sockets: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    return [s for s in sockets if not is_loopback(s[1])]


def child_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """A clean environment for an entry point: no inherited SKYRISK_*/SPARK_LOCAL_IP, the stack's addresses."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX) and k != "SPARK_LOCAL_IP"}
    env |= {
        "PYTHONPATH": str(REPO),
        f"{ENV_PREFIX}MONGO_URI": settings.mongo_uri.get_secret_value(),
        f"{ENV_PREFIX}MONGO_DATABASE": settings.mongo_database,
        f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        f"{ENV_PREFIX}S3_ENDPOINT": settings.s3_endpoint,
        f"{ENV_PREFIX}CACHE_DIR": str(settings.cache_dir),
    }
    return env | extra


def wait_for(check, timeout_s: float, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if process.poll() is not None:
            raise AssertionError(f"{what}: process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not ready within {timeout_s} s")
        time.sleep(0.3)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class FreezableProxy:
    """A TCP forwarder to ``target`` on a free loopback port that can be frozen: after ``freeze()`` it keeps
    every connection open but passes no byte either way, as a wedged server does (the port still accepts)."""

    def __init__(self, host: str, port: int) -> None:
        import socket
        import threading

        self._target = (host, port)
        self._frozen = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source, sink) -> None:
        while True:
            try:
                chunk = source.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            if not self._frozen.is_set():
                try:
                    sink.sendall(chunk)
                except OSError:
                    return

    def freeze(self) -> None:
        self._frozen.set()

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            sock.close()

    def __enter__(self) -> "FreezableProxy":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
