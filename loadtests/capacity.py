"""What one core of nginx and of Redis carries, so the replica count where each saturates can be
projected beyond this 2-core machine.

Both figures are work per CPU-second of the component alone (its own /proc or INFO counters),
so they hold whether or not the load generator could saturate it on a shared machine:
  * nginx: our ``nginx.conf`` with one worker pinned to core 1, proxying to a static upstream
    (a second nginx that answers every path with a 302), driven by ``wrk`` on core 0;
  * Redis: the commands a click costs Redis (the shipper's pipelined XADD, the worker's
    XREADGROUP and XACK), counted while the analytics worker benchmark drains a stream.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import redis

from loadtests.cgroups import process_cpu_seconds
from service.config import FleetSettings
from service.fleet.render import write_nginx_conf
from service.fleet.spec import FleetSpec


@dataclass
class NginxCapacity:
    requests: int
    seconds: float
    rps: float
    worker_cpu_seconds: float
    requests_per_cpu_second: float


@dataclass
class RedisCapacity:
    events: int
    commands: int
    cpu_seconds: float
    events_per_cpu_second: float
    commands_per_cpu_second: float


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()]


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _nginx(conf: Path, cpu: int) -> Any:
    """An nginx in the foreground pinned to ``cpu``; yields its single worker's pid."""
    process = subprocess.Popen(
        ["taskset", "-c", str(cpu), "nginx", "-c", str(conf), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not _children(process.pid):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {process.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.05)
        time.sleep(0.2)
        yield _children(process.pid)[0]
    finally:
        process.terminate()
        process.wait(10)


def _static_upstream_conf(workdir: Path, port: int) -> Path:
    conf = workdir / "static-upstream.conf"
    conf.write_text(
        f"""worker_processes 1;
pid {workdir}/static.pid;
error_log {workdir}/static-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/static-body;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ return 302 https://example.org/; }}
    }}
}}
"""
    )
    return conf


def nginx_capacity(seconds: int, connections: int = 64) -> NginxCapacity:
    """Redirects per CPU-second of one nginx worker running our nginx.conf."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (make bench installs it)")
    with tempfile.TemporaryDirectory(prefix="linkfleet-nginx-capacity-") as tmp:
        workdir = Path(tmp)
        upstream_port, proxy_port = free_port(), free_port()
        spec = FleetSpec(run_dir=workdir, port=proxy_port, replicas={"static": upstream_port})
        spec.log_dir.mkdir(parents=True, exist_ok=True)
        one_worker = replace(FleetSettings.from_env(), nginx_workers="1")
        proxy_conf = write_nginx_conf(spec, one_worker)
        with (
            _nginx(_static_upstream_conf(workdir, upstream_port), cpu=0),
            _nginx(proxy_conf, cpu=1) as proxy_worker,
        ):
            before = process_cpu_seconds(proxy_worker)
            started = time.monotonic()
            out = subprocess.run(
                [
                    "taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
                    f"http://127.0.0.1:{proxy_port}/bench-slug",
                ],
                capture_output=True, text=True, check=True, timeout=seconds + 30,
            ).stdout  # fmt: skip
            elapsed = time.monotonic() - started
            used = process_cpu_seconds(proxy_worker) - before
    match = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    if match is None or errors is not None:
        raise RuntimeError(f"wrk against nginx failed:\n{out}")
    requests = int(match.group(1))
    return NginxCapacity(
        requests=requests,
        seconds=round(elapsed, 2),
        rps=round(requests / elapsed),
        worker_cpu_seconds=round(used, 2),
        requests_per_cpu_second=round(requests / used) if used else 0,
    )


def redis_counters(url: str) -> tuple[float, int]:
    """(CPU seconds, commands processed) of a Redis server so far."""
    client = redis.Redis.from_url(url)
    try:
        cpu = client.info("cpu")
        stats = client.info("stats")
    finally:
        client.close()
    return (
        float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
        int(stats["total_commands_processed"]),
    )


def redis_capacity(
    events: int, before: tuple[float, int], after: tuple[float, int]
) -> RedisCapacity:
    cpu = after[0] - before[0]
    commands = after[1] - before[1]
    return RedisCapacity(
        events=events,
        commands=commands,
        cpu_seconds=round(cpu, 2),
        events_per_cpu_second=round(events / cpu) if cpu else 0,
        commands_per_cpu_second=round(commands / cpu) if cpu else 0,
    )
