"""The quick chaos scenarios, each on its own throw-away stack (they stop services, so never on the
shared session stack): real broker, object store, database, simulator and streaming job."""

from __future__ import annotations

import pytest

from chaos.core import run_scenario
from chaos.scenarios.services import SCENARIOS

QUICK = [s for s in SCENARIOS if s.quick]  # the service faults; other modules' scenarios have their own tests


def test_the_kill9_and_an_outage_scenario_are_quick():
    # `make test` must cover a crash of the job and at least one service outage
    names = {s.name for s in QUICK}
    assert "kill9-streaming" in names and any(name.endswith("-outage") for name in names)


@pytest.mark.integration
@pytest.mark.timeout(1800)  # Spark start, the fault and convergence deadlines on a shared 2-core machine
@pytest.mark.parametrize("scenario", QUICK, ids=[s.name for s in QUICK])
def test_quick_scenario_passes(scenario):
    verdict, took = run_scenario(scenario)
    print(f"{scenario.name}: {'PASS' if verdict.passed else 'FAIL'} in {took:.0f}s, counts {verdict.counts}")
    assert verdict.passed, verdict.detail
    assert verdict.counts["missing"] == 0 and verdict.counts["duplicates"] == 0
    assert verdict.counts["sent"] > 0 and verdict.counts["parquet_rows"] == verdict.counts["sent"]
