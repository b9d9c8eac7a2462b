"""Where ``make test``'s time goes: seconds per test module from the run's JUnit report.

``make test`` writes ``.run/test-report.xml``; this prints the modules by the time their
tests took (setup, call and teardown, so a module's fleet start counts), longest first, and
what share of all test time each is. With four xdist processes, a module longer than a
quarter of the total is the run's floor whatever the order.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree  # nosec B405 - our own pytest's report

DEFAULT_REPORT = Path(".run/test-report.xml")


def module_seconds(report: Path) -> Counter[str]:
    """Seconds per test module (``tests/x/test_y.py``) in a JUnit report."""
    totals: Counter[str] = Counter()
    for case in ElementTree.parse(report).iter("testcase"):  # noqa: S314  # nosec B314
        module = case.get("classname", "").split("[")[0]
        path = "/".join(part for part in module.split(".") if not part[:1].isupper())
        totals[f"{path}.py"] += float(case.get("time", 0))
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--top", type=int, default=25, help="modules to list (default 25)")
    args = parser.parse_args(argv)
    if not args.report.exists():
        parser.error(f"{args.report} does not exist: run make test first")
    totals = module_seconds(args.report)
    everything = sum(totals.values()) or 1.0
    print(f"{len(totals)} modules, {everything:,.0f} s of test time")
    for module, seconds in totals.most_common(args.top):
        print(f"{seconds:8.1f} s  {seconds / everything:6.1%}  {module}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
