"""Command-line parsing of ``python -m batch`` (no services)."""

from __future__ import annotations

from datetime import date

import pytest

from batch.__main__ import parse_args, requested_days


def test_default_day_is_yesterday_utc():
    assert requested_days(parse_args(["consolidate"]), date(2026, 3, 1)) == ["2026-02-28"]


def test_one_date_and_an_inclusive_range():
    assert requested_days(parse_args(["consolidate", "--date", "2026-11-20"]), date(2026, 12, 1)) == ["2026-11-20"]
    days = requested_days(parse_args(["consolidate", "--from", "2026-11-29", "--to", "2026-12-02"]), date(2026, 12, 5))
    assert days == ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]


@pytest.mark.parametrize(
    "argv",
    [
        ["consolidate", "--date", "2026-11-20", "--from", "2026-11-19", "--to", "2026-11-20"],
        ["consolidate", "--from", "2026-11-19"],
        ["consolidate", "--from", "2026-11-21", "--to", "2026-11-20"],
        ["consolidate", "--date", "20-11-2026"],
        [],
    ],
)
def test_contradictory_or_malformed_arguments_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def one_line_error_of_batch(argv: list[str], tmp_path, **settings: str) -> list[str]:
    """``python -m batch ARGV`` with only these SKYRISK_* settings: exit 2 and its stderr lines."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(repo), **settings}
    result = subprocess.run([sys.executable, "-m", "batch", *argv], cwd=repo, capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 2
    return result.stderr.strip().splitlines()


@pytest.mark.parametrize("argv", [["consolidate", "--date", "2026-01-01"], ["schedule"], ["expire"]])
def test_with_the_lake_down_each_command_says_so_in_one_line(argv, tmp_path):
    from infra.ports import free_port

    closed = free_port()  # nothing listens on it
    assert one_line_error_of_batch(argv, tmp_path, SKYRISK_S3_ENDPOINT=f"http://127.0.0.1:{closed}") == [
        f"error: MinIO (S3) is not reachable at 127.0.0.1:{closed}; "
        "start the services with `make up` (or run everything with `make run`)"]


@pytest.mark.integration
@pytest.mark.parametrize("argv", [["consolidate", "--date", "2026-01-01"], ["schedule"], ["expire", "--dry-run"]])
def test_with_the_lake_up_and_mongodb_down_each_command_names_mongodb_in_one_line(stack, argv, tmp_path):
    from infra.ports import free_port

    closed = free_port()
    lines = one_line_error_of_batch(argv, tmp_path, **{**stack.as_environment(),
                                                       "SKYRISK_MONGO_URI": f"mongodb://127.0.0.1:{closed}/"})
    assert lines == [f"error: MongoDB (FerretDB) is not reachable at 127.0.0.1:{closed}; "
                     "start the services with `make up` (or run everything with `make run`)"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--help"], ["usage: python -m batch [-h] {consolidate,schedule,expire}", "consolidate one day or a range",
                      "exit status: 0 done; 2 ", "3 a day was being consolidated by another run"]),
        (["consolidate", "--help"], ["usage: python -m batch consolidate [-h] [--date DATE]",
                                     "Consolidate one UTC day (default: yesterday)", "--no-model",
                                     "does not\nwait for it", "exit status: 0 done"]),
        (["schedule", "--help"], ["usage: python -m batch schedule [-h]", "Run until SIGINT/SIGTERM",
                                  "late rows", "exit status: 0 stopped by a signal"]),
        (["expire", "--help"], ["usage: python -m batch expire [-h] [--dry-run]",
                                "batch_enriched_retention_days", "--dry-run", "exit status: 0 done"]),
    ],
)
def test_help_of_the_command_and_each_subcommand_prints_its_usage(argv, says, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-m", "batch", *argv], cwd=repo, capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(repo)})
    assert result.returncode == 0 and result.stderr == ""
    for text in says:
        assert text in result.stdout, f"{text!r} not in:\n{result.stdout}"
