"""The stack manager: idempotent up, clean down, a clear message for a taken port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from infra import stack as stack_manager
from infra.ports import free_port

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_up_again_is_harmless(stack):
    before = {s.name: s.pid for s in stack_manager.status(stack)}
    messages: list[str] = []
    stack_manager.up(stack, echo=messages.append, owned=True)
    after = stack_manager.status(stack)
    assert all(s.healthy for s in after)
    assert {s.name: s.pid for s in after} == before  # nothing restarted
    assert any("already running" in m for m in messages)
    assert any("0 created" in m for m in messages)


def test_taken_port_is_reported_with_the_port_and_the_process(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        env = {
            **os.environ,
            "SKYRISK_DATA_DIR": str(tmp_path),
            "SKYRISK_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
            "SKYRISK_KAFKA_CONTROLLER_PORT": str(free_port()),
        }
        result = subprocess.run(
            [sys.executable, "-m", "infra", "up"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 1
    assert f"port {port} (kafka broker) is already in use by pid {os.getpid()}" in result.stderr
    assert "Traceback" not in result.stderr


def test_down_leaves_no_process_behind(tmp_path):
    settings = stack_manager.throwaway_settings(tmp_path, kafka_heap="256m")
    try:
        stack_manager.up(settings, echo=lambda _m: None, owned=True)
        pids = [s.pid for s in stack_manager.status(settings)]
        assert all(pids)
    finally:
        stack_manager.down(settings, echo=lambda _m: None)
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    assert [s.pid for s in stack_manager.status(settings)] == [None, None, None]
    assert not any(path.exists() for path in tmp_path.glob("*/*.pid"))


def test_bootstrap_indexes_the_id_lookups_of_ferretdb_updates(stack):
    """FerretDB's updates/deletes by _id use ``sjson->'$._id'``; without a matching index they scan."""
    import sqlite3

    from skyrisk import contracts

    path = stack.data_dir / "ferretdb" / "data" / f"{stack.mongo_database}.sqlite"
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
        tables = dict(connection.execute("SELECT name, table_name FROM _ferretdb_collections").fetchall())
        assert set(contracts.COLLECTIONS) <= set(tables)
        for name in contracts.COLLECTIONS:
            plan = connection.execute(
                f"""EXPLAIN QUERY PLAN UPDATE "{tables[name]}" SET _ferretdb_sjson = '{{}}' """
                f"""WHERE _ferretdb_sjson->'$._id' = ?""", ("x",)
            ).fetchall()
            assert "USING INDEX" in " ".join(str(step) for step in plan), (name, plan)
    assert stack_manager.index_ferretdb_id_lookups(stack, stack.mongo_database) == 0  # idempotent
