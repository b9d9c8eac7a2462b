"""Figures of the reliability tests, written where docs/RELIABILITY.md takes them from.

Each scenario writes one JSON file, ``test-artifacts/reliability/<scenario>.json`` (git-ignored):
requests sent, failed, click events lost, and whatever else the scenario measured. Tests
call :func:`record` *before* their final asserts, so a failing run leaves its figures too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "reliability"


def record(scenario: str, *, sent: int, failed: int, lost: int | None, **extra: Any) -> None:
    """Write the figures of ``scenario`` (``lost=None``: clicks not tracked in it)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    data = {
        "scenario": scenario,
        "sent": sent,
        "failed": failed,
        "events_lost": lost,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }
    path = ARTIFACTS / f"{scenario}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    print(f"\nreliability {scenario}: {json.dumps(data, sort_keys=True, default=str)}")
