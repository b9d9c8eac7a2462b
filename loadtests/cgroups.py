"""Equal CPU quotas for replicas, so that N replicas vs 1 is measured honestly on a small host.

cgroup v1 (``/sys/fs/cgroup/cpu/<group>/cpu.cfs_quota_us``) as on this machine, and v2
(``cpu.max``) where the unified hierarchy is mounted.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: A short CFS period: a 0.25-CPU replica runs 2.5 ms of every 10 ms instead of 25 ms of
#: every 100 ms, so throttling shows as throughput, not as 75 ms stalls in the latency tail.
PERIOD_US = 10_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def is_v2() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def _base() -> Path:
    return CGROUP_ROOT if is_v2() else CGROUP_ROOT / "cpu"


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (OSError once it is gone)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (a gunicorn master and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


class CpuQuota:
    """A cgroup limited to ``cpus`` CPUs (e.g. 0.25) holding the processes added to it."""

    def __init__(self, group: str, cpus: float) -> None:
        self.path = _base() / group
        self.cpus = cpus
        if is_v2():
            parent = self.path.parent
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text("+cpu")
        self.path.mkdir(parents=True, exist_ok=True)
        quota = int(cpus * PERIOD_US)
        if is_v2():
            (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def add_tree(self, pid: int) -> None:
        """Move a process and its children; children forked later inherit the group."""
        for member in process_tree(pid):
            try:
                (self.path / "cgroup.procs").write_text(str(member))
            except ProcessLookupError:
                continue

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the group's current processes."""
        total = 0.0
        for pid in (self.path / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):  # exited meanwhile
                total += process_cpu_seconds(int(pid))
        return total

    def throttled_seconds(self) -> float:
        for line in (self.path / "cpu.stat").read_text().splitlines():
            key, value = line.split()
            if key == "throttled_time":  # v1, nanoseconds
                return int(value) / 1e9
            if key == "throttled_usec":  # v2
                return int(value) / 1e6
        return 0.0

    def remove(self) -> None:
        """Move members back to the root group and delete the group."""
        root_procs = _base() / "cgroup.procs"
        for line in (self.path / "cgroup.procs").read_text().split():
            try:
                root_procs.write_text(line)
            except (ProcessLookupError, OSError):
                continue
        with contextlib.suppress(OSError):
            self.path.rmdir()
