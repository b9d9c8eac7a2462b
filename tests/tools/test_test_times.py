"""tools/test_times.py reads a real JUnit report of pytest, written by a pytest run here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.test_times import main, module_seconds

SLOW_AND_FAST = """
import time

def test_slow():
    time.sleep(0.3)

class TestGroup:
    def test_fast(self):
        pass
"""


def test_a_module_adds_up_its_tests_classes_included(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(SLOW_AND_FAST)
    report = tmp_path / "report.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         f"--junitxml={report}", "--rootdir", str(tmp_path), str(tmp_path / "test_sample.py")],
        cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    totals = module_seconds(report)
    assert list(totals) == ["test_sample.py"]
    assert totals["test_sample.py"] >= 0.3


def test_a_missing_report_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "absent.xml")])
    assert stop.value.code == 2
    assert "run make test first" in capsys.readouterr().err
