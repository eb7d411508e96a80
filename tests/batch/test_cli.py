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
