"""A benchmark run keeps the summary it replaces, and records the code it measured."""

from __future__ import annotations

import json
from pathlib import Path

from loadtests.scaling import code_version, keep_history


def test_the_replaced_summary_goes_to_history(tmp_path: Path) -> None:
    keep_history(tmp_path)  # nothing to keep yet
    assert not (tmp_path / "history").exists()
    earlier = {"finished": "2026-11-26T10:00:00Z", "hot_path_finished": "2026-12-02T02:13:00Z"}
    (tmp_path / "summary.json").write_text(json.dumps(earlier))
    keep_history(tmp_path)
    kept = tmp_path / "history" / "summary-2026-12-02T021300Z.json"
    assert json.loads(kept.read_text()) == earlier


def test_the_code_version_is_this_checkout() -> None:
    version = code_version()
    assert len(version["commit"]) == 40
    assert isinstance(version["dirty"], bool)
