"""Logs are rotated: a size cap per file and a few files kept, for the services ``make up`` starts
(infra.stack), the platform processes of chaos/bench (infra.processes) and ``make run``'s
components (infra.run). Each writer is driven past a small cap by a real chatty process."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from infra import stack as stack_manager
from infra.logs import LogLimits, RotatingLog, read_all, tail

REPO = Path(__file__).resolve().parents[2]
CAP = 50_000  # bytes per file
BACKUPS = 2
LINES = 5_000  # 100 bytes each: 500 kB, ten times the cap


def log_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + "*"))


def assert_rotated(path: Path, lines: int = LINES) -> None:
    """At most cap bytes per file, ``BACKUPS`` old files, whole lines, the newest ones, in order."""
    files = log_files(path)
    assert [f.name for f in files] == [path.name, f"{path.name}.1", f"{path.name}.{BACKUPS}"]
    assert all(f.stat().st_size <= CAP for f in files), [f.stat().st_size for f in files]
    kept = [line for line in read_all(path, BACKUPS).splitlines() if line.startswith("line ")]
    assert all(len(line) == 99 for line in kept)  # no line cut in two
    numbers = [int(line.split()[1]) for line in kept]
    assert numbers == list(range(lines - len(numbers), lines))  # the newest lines, none missing between
    assert len(numbers) > CAP * BACKUPS // 100 * 0.9
    assert read_all(path, BACKUPS).rstrip().endswith("done")


def settings_with_small_logs(tmp_path: Path):
    return stack_manager.throwaway_settings(tmp_path, log_max_mb=CAP / 1024 / 1024, log_backups=BACKUPS)


def wait_until(check, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


# --- the file itself -----------------------------------------------------------------------------------
def test_rotating_log_caps_each_file_and_keeps_the_newest(tmp_path):
    path = tmp_path / "x.log"
    with RotatingLog(path, LogLimits(CAP, BACKUPS)) as log:
        for i in range(LINES):
            log.write(f"line {i:08d} {'x' * 85}\n".encode())
        log.write(b"done\n")
    assert_rotated(path)
    assert tail(path, 3, BACKUPS).splitlines()[-1] == "done"
    assert len(tail(path, 1000, BACKUPS).splitlines()) == 1000  # across the rotated files


def test_a_line_longer_than_a_file_is_cut_and_nothing_is_lost_or_grows(tmp_path):
    path = tmp_path / "x.log"
    with RotatingLog(path, LogLimits(1000, 3)) as log:
        log.write(b"y" * 2500 + b"\nz\n")
    assert all(f.stat().st_size <= 1000 for f in log_files(path))
    assert read_all(path, 3) == "y" * 2500 + "\nz\n"


# --- the services of `make up` (infra.stack) ----------------------------------------------------------
def test_a_service_log_is_rotated(tmp_path):
    settings = settings_with_small_logs(tmp_path)
    service = stack_manager.Service(name="chatty", ports={}, command=[sys.executable, "-m", "tests.infra.chatty",
                                                                      str(LINES), "60"],
                                    health=lambda: True, address="-", env={"PYTHONPATH": str(REPO)})
    stack_manager.start_service(settings, service, echo=lambda _m: None, owned=True)
    path = stack_manager.log_file(settings, "chatty")
    try:
        wait_until(lambda: read_all(path, BACKUPS).rstrip().endswith("done"))
    finally:
        process = stack_manager.running_process(settings, "chatty")
        assert process is not None
        stack_manager._terminate(process)
    assert_rotated(path)


# --- the platform processes of chaos and the benchmarks (infra.processes) -------------------------------
def test_a_platform_process_log_is_rotated_and_its_last_run_is_read_across_files(tmp_path):
    from infra.processes import PlatformProcess

    settings = settings_with_small_logs(tmp_path)
    path = tmp_path / "chatty.log"
    process = PlatformProcess(settings, "chatty", ["tests.infra.chatty", str(LINES)], path, echo=lambda _m: None)
    process.start()
    assert process.process.wait(timeout=60) == 0
    wait_until(lambda: read_all(path, BACKUPS).rstrip().endswith("done"))
    assert_rotated(path)
    assert process.last_run_log().rstrip().endswith("done")
    assert f"line {LINES - 1:08d}" in process.last_run_log()


# --- `make run`'s components (infra.run) ---------------------------------------------------------------
def test_a_make_run_component_log_is_rotated(tmp_path, capsys):
    from infra import run

    settings = settings_with_small_logs(tmp_path)
    component = run.Component("chatty", "tests.infra.chatty", [str(LINES)], log_limits=LogLimits.of(settings))
    run.start(component, tmp_path)
    assert component.process.wait(timeout=60) == 0
    path = tmp_path / "chatty.log"
    wait_until(lambda: read_all(path, BACKUPS).rstrip().endswith("done"))
    assert_rotated(path)
    assert f"[chatty] line {LINES - 1:08d}" in capsys.readouterr().out  # still shown in the terminal


@pytest.mark.parametrize("name", ["kafka", "minio", "ferretdb"])
def test_logs_command_tails_across_a_rotation(tmp_path, name):
    settings = settings_with_small_logs(tmp_path)
    path = stack_manager.log_file(settings, name)
    with RotatingLog(path, LogLimits.of(settings)) as log:
        for i in range(LINES):
            log.write(f"line {i:08d} {'x' * 85}\n".encode())
    assert stack_manager.tail(path, 600).splitlines()[-1].startswith(f"line {LINES - 1:08d}")
    assert len(stack_manager.tail(path, 600).splitlines()) == 600  # more than the current file holds


def test_the_writer_process_keeps_writing_until_the_pipe_closes(tmp_path):
    """A service's last words after SIGTERM still reach its log: the writer ignores the signal."""
    import os
    import signal

    from infra.logs import start_writer

    path = tmp_path / "w.log"
    write_end, writer = start_writer(path, LogLimits(CAP, BACKUPS))
    os.write(write_end, b"before\n")
    wait_until(lambda: path.exists() and read_all(path) == "before\n")  # it is reading its pipe
    os.killpg(writer.pid, signal.SIGTERM)
    os.write(write_end, b"after the signal\n")
    os.close(write_end)
    assert writer.wait(timeout=30) == 0
    assert read_all(path) == "before\nafter the signal\n"


def test_logs_follow_goes_on_after_a_rotation(tmp_path):
    import os
    import subprocess

    settings = settings_with_small_logs(tmp_path)
    path = stack_manager.log_file(settings, "kafka")
    log = RotatingLog(path, LogLimits(1000, BACKUPS))
    log.write(b"first\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYRISK_")} | {"SKYRISK_DATA_DIR": str(tmp_path)}
    follower = subprocess.Popen([sys.executable, "-m", "infra", "logs", "kafka", "-f", "-n", "1"], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2.5)  # it has read the file once
        log.write(b"z" * 990 + b"\n")  # does not fit: rotated first
        log.write(b"after the rotation\n")
        time.sleep(2.5)
    finally:
        follower.terminate()
        output = follower.communicate(timeout=30)[0]
        log.close()
    assert (tmp_path / "kafka" / "kafka.log.1").exists()
    assert "[kafka] after the rotation" in output, output
