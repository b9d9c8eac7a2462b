"""Every reliability drill of ``make drills`` (loadtests/drills.py), at test size: the same
functions on the same kind of fleet, with smaller numbers. Each must fail no request, lose
and double no click, and meet its own expectations (``Result.problems``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadtests.drills import DRILLS, SIZES, DrillFleet, drill_fleet, run_drill
from tests.reliability import record

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def drills(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrillFleet]:
    with drill_fleet(SIZES["test"], tmp_path_factory.mktemp("drills")) as ctx:
        yield ctx


@pytest.mark.parametrize("name", list(DRILLS))
def test_drill(drills: DrillFleet, name: str) -> None:
    result = run_drill(drills, name)
    record(
        f"drill-{name}",
        sent=result.requests_sent,
        failed=result.failed,
        lost=result.lost,
        doubled=result.doubled,
        clicks_sent=result.clicks_sent,
        clicks_counted=result.clicks_counted,
        seconds=result.seconds,
        problems=result.problems,
        **result.figures,
    )
    assert result.failed == 0, result.figures
    assert not result.lost, result
    assert not result.doubled, result
    assert result.problems == [], result.figures
