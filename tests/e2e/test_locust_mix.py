"""`make loadtest`'s realistic mix, headless against a real fleet: every task runs, none fails."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.fleets import Fleet

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.e2e


def _exports(env_file: Path) -> dict[str, str]:
    """``export KEY=value`` lines as a dict."""
    lines = env_file.read_text().splitlines()
    return dict(line.removeprefix("export ").split("=", 1) for line in lines)


def test_mixed_user_exercises_redirects_api_and_dashboard(fleet: Fleet, tmp_path: Path) -> None:
    env_file = tmp_path / "bench.env"
    subprocess.run(
        [sys.executable, str(ROOT / "loadtests" / "seed.py"), "--links", "300",
         "--slugs-file", str(tmp_path / "slugs.txt"), "--env-file", str(env_file)],
        env=fleet.env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    settings = _exports(env_file)
    assert settings["LINKFLEET_BENCH_API_KEY"].startswith("lf_")
    assert env_file.stat().st_mode & 0o077 == 0, "the env file holds a key: owner only"

    subprocess.run(
        [str(BIN / "locust"), "-f", str(ROOT / "loadtests" / "locustfile.py"), "--headless",
         "--host", fleet.url, "-u", "8", "-r", "8", "--run-time", "12s", "--csv",
         str(tmp_path / "mix"), "--only-summary", "--loglevel", "ERROR", "MixedUser"],
        env={**fleet.env, **settings}, check=False, capture_output=True, timeout=90,
    )  # fmt: skip
    with (tmp_path / "mix_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    for name in ("/login", "/<slug>", "/api/v1/links", "POST /api/v1/links", "/dashboard"):
        assert int(rows[name]["Request Count"]) > 0, name
    assert int(rows["Aggregated"]["Failure Count"]) == 0, (
        tmp_path / "mix_failures.csv"
    ).read_text()
    redirects = int(rows["/<slug>"]["Request Count"])
    assert redirects > 0.8 * int(rows["Aggregated"]["Request Count"])
