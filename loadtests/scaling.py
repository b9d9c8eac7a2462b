"""The scaling benchmark (`make bench`): does doubling the replicas double the throughput?

In one run, on a private fleet (temp dir, free ports) it measures, each as a ratio:
  * scaling efficiency  rps(N) / (N * rps(1))  for N in --replicas, every replica in its own
                        cgroup with the same CPU quota (nginx, Redis and Locust outside);
  * hot path            a cached redirect (cookieless and logged in) against a bare Flask
                        redirect on the same gunicorn settings, whole stack on one core, wrk
                        on the other (loadtests/hotpath.py; alone: --hot-path-only);
  * load-balancer cost  1 - rps through nginx / rps direct to the replica, one replica;
  * capacity per core   redirects per CPU-second of one nginx worker and click events per
                        CPU-second of Redis (loadtests/capacity.py), and the analytics worker's
                        events/s against the fleet's highest redirect rate; from these, the
                        replica count at which nginx or Redis would become the bottleneck.
For each point it steps Locust users (per replica) until throughput stops rising, then
measures the steady state --repeats times in rounds over the points (1, 2, 4, 1, 2, 4, ...)
and keeps the median of the ratios within each round. Results go to loadtests/results/.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from loadtests import hotpath
from loadtests.capacity import NginxCapacity, RedisCapacity, nginx_capacity
from loadtests.cgroups import CpuQuota, is_v2
from loadtests.worker_bench import measure as measure_worker

console = Console()


@dataclass
class Measurement:
    users: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    failures: int
    #: CPU the replicas used over what their quotas allowed (1.0: every replica saturated).
    quota_use: float | None = None
    #: Share of the whole machine's CPU time that was busy (Locust, nginx, Redis included).
    machine_busy: float | None = None
    #: The rps of each run behind a median, in the order they ran (one per round).
    runs: list[float] = field(default_factory=list)


@dataclass
class Settings:
    replicas: list[int]
    cpus_per_replica: float
    repeats: int
    step_seconds: int
    measure_seconds: int
    #: Locust users per replica to step through when looking for saturation.
    user_steps: list[int]
    links: int
    locust_processes: int
    capacity_seconds: int
    worker_events: int
    #: Seconds of each wrk run of the hot-path comparison.
    hot_path_seconds: int = 10
    #: Extra adjacent (cookieless, logged-in) pairs of hot-path runs after the rounds: the two
    #: differ by one header, less than one run's noise, so their ratio needs more pairs.
    cookie_pairs: int = 4


#: Locust runs of one measurement tried before a run that records no request is an error.
EMPTY_RUN_ATTEMPTS = 3
#: The bench fleet's L1 lifetime: longer than any bench run (see BenchFleet).
BENCH_L1_TTL_S = 4 * 3600


class Load:
    """Runs Locust against the bench fleet and reads what the replicas' CPU did meanwhile."""

    def __init__(self, settings: Settings, env: dict[str, str], fleet: BenchFleet) -> None:
        self.settings = settings
        self.env = env
        self.fleet = fleet

    def run(self, host: str, user_class: str, users: int, seconds: int) -> Measurement:
        """One headless Locust run; statistics are reset once all users are spawned."""
        quota = self.fleet.quota_cpus()
        with tempfile.TemporaryDirectory() as tmp:
            prefix = Path(tmp) / "run"
            command = [
                str(Path(sys.executable).parent / "locust"),
                "-f", str(HERE / "locustfile.py"), "--headless", "--host", host,
                "-u", str(users), "-r", str(users), "--run-time", f"{seconds}s",
                "--reset-stats", "--json-file", str(prefix), "--only-summary",
                "--loglevel", "ERROR", "--stop-timeout", "2",
            ]  # fmt: skip
            if self.settings.locust_processes > 1:
                command += ["--processes", str(self.settings.locust_processes)]
            command.append(user_class)
            # On a busy machine a short run can end before Locust has spawned its users (the
            # statistics are reset then): such a run measured nothing, so it is run again.
            for _attempt in range(EMPTY_RUN_ATTEMPTS):
                cpu_before = self.fleet.replica_cpu_seconds()
                machine_before = machine_cpu_times()
                locust = subprocess.run(
                    command, env=self.env, capture_output=True, text=True, check=False,
                    timeout=seconds + 60,
                )  # fmt: skip
                stats_file = prefix.with_name("run.json")
                if not stats_file.exists():
                    raise RuntimeError(f"locust wrote no statistics for {user_class} at {host}")
                totals = locust_totals(json.loads(stats_file.read_text()))
                if totals.requests:
                    break
                said = (locust.stderr or locust.stdout).strip()[-600:]
                console.log(
                    f"{user_class} at {host}: Locust recorded no request (exit "
                    f"{locust.returncode}: {said or 'nothing printed'}), running again"
                )
            else:
                raise RuntimeError(
                    f"{EMPTY_RUN_ATTEMPTS} Locust runs of {user_class} at {host} recorded nothing"
                )
        used = self.fleet.replica_cpu_seconds() - cpu_before
        machine_after = machine_cpu_times()
        busy = machine_after[0] - machine_before[0]
        total = machine_after[1] - machine_before[1]
        return Measurement(
            users=users,
            rps=totals.rps,
            p50_ms=totals.percentile(0.50),
            p95_ms=totals.percentile(0.95),
            p99_ms=totals.percentile(0.99),
            requests=totals.requests,
            failures=totals.failures,
            quota_use=round(used / (quota * seconds), 3) if quota else None,
            machine_busy=round(busy / total, 3) if total else None,
        )

    def find_users(self, label: str, host: str, user_class: str, replicas: int) -> int:
        """Step the users (--user-steps per replica) until throughput stops rising: the
        saturating count. One step that gains less than 3% may be noise; two in a row end it."""
        best: Measurement | None = None
        flat = 0
        for per_replica in self.settings.user_steps:
            users = per_replica * replicas
            step = self.run(host, user_class, users, self.settings.step_seconds)
            console.log(
                f"{label}: {users:>4} users -> {step.rps:8.0f} rps p99 {step.p99_ms:.0f} ms"
            )
            if best is None or step.rps >= best.rps * 1.03:
                best, flat = step, 0
                continue
            flat += 1
            if flat == 2:
                break  # saturated: more users only add queueing
        assert best is not None
        return best.users

    def saturate(self, label: str, host: str, user_class: str, replicas: int) -> Measurement:
        """The median of --repeats runs at the saturating user count."""
        users = self.find_users(label, host, user_class, replicas)
        runs = [
            self.run(host, user_class, users, self.settings.measure_seconds)
            for _ in range(self.settings.repeats)
        ]
        return summarise(label, runs)

    def compare(self, series: dict[str, tuple[str, str]], users: int) -> dict[str, Measurement]:
        """Several (host, user class) series at the same users, their runs interleaved
        (A B C A B C ...), so that drift in the machine's speed hits every series alike."""
        runs: dict[str, list[Measurement]] = {name: [] for name in series}
        for _ in range(self.settings.repeats):
            for name, (host, user_class) in series.items():
                runs[name].append(self.run(host, user_class, users, self.settings.measure_seconds))
        return {name: summarise(name, measured) for name, measured in runs.items()}


@dataclass
class LocustTotals:
    """Every request of one Locust run (its ``--json-file``: the final statistics, the ones
    it prints; its CSV is written on a timer and can miss the last seconds of a short run)."""

    requests: int
    failures: int
    rps: float
    #: Response time (ms, as Locust rounds it) -> requests.
    times: dict[int, int]

    def percentile(self, share: float) -> float:
        """Locust's own reading: the smallest time at least ``share`` of requests took."""
        wanted, seen = share * sum(self.times.values()), 0
        for ms in sorted(self.times):
            seen += self.times[ms]
            if seen >= wanted:
                return float(ms)
        return 0.0


def locust_totals(entries: list[dict[str, Any]]) -> LocustTotals:
    """The entries of Locust's ``--json-file`` (one per request name) added up."""
    times: dict[int, int] = {}
    for entry in entries:
        for ms, count in entry["response_times"].items():
            times[int(float(ms))] = times.get(int(float(ms)), 0) + int(count)
    requests = sum(int(entry["num_requests"]) for entry in entries)
    started = min((entry["start_time"] for entry in entries), default=0.0)
    last = max((entry["last_request_timestamp"] or 0.0 for entry in entries), default=0.0)
    return LocustTotals(
        requests=requests,
        failures=sum(int(entry["num_failures"]) for entry in entries),
        rps=requests / (last - started) if requests and last > started else 0.0,
        times=times,
    )


def machine_cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def summarise(label: str, runs: list[Measurement]) -> Measurement:
    """Medians of the runs (failures and requests summed)."""
    uses = [m.quota_use for m in runs if m.quota_use is not None]
    busy = [m.machine_busy for m in runs if m.machine_busy is not None]
    result = Measurement(
        users=runs[0].users,
        rps=statistics.median(m.rps for m in runs),
        p50_ms=statistics.median(m.p50_ms for m in runs),
        p95_ms=statistics.median(m.p95_ms for m in runs),
        p99_ms=statistics.median(m.p99_ms for m in runs),
        requests=sum(m.requests for m in runs),
        failures=sum(m.failures for m in runs),
        quota_use=statistics.median(uses) if uses else None,
        machine_busy=statistics.median(busy) if busy else None,
        runs=[round(m.rps, 1) for m in runs],
    )
    use = f", replicas used {result.quota_use:.0%} of their quota" if result.quota_use else ""
    console.log(
        f"[bold]{label}[/]: {result.rps:.0f} rps at {result.users} users "
        f"(runs: {', '.join(f'{m.rps:.0f}' for m in runs)}{use})"
    )
    return result


class BenchFleet:
    """A private fleet for the benchmark, driven through the same code as `make up`."""

    def __init__(self, run_dir: Path) -> None:
        from service.config import FleetSettings
        from service.fleet.spec import port_in_use

        self.run_dir = run_dir
        base = 30000
        while any(port_in_use(p) for p in range(base, base + 20)):
            base += 50
        caller = FleetSettings.from_env()
        inherited = {
            key: value
            for key, value in caller.environment.items()
            if key not in {"LINKFLEET_REDIS_URL", "LINKFLEET_DATABASE_URL"}
        }
        #: What `make up` would read from the environment, set here instead of exported.
        self.settings = replace(
            caller,
            environment={
                **inherited,
                "LINKFLEET_LOG_LEVEL": "WARNING",
                # The runs measure hot links: every bench link stays in the L1 its warm-up
                # filled for the whole bench. With the default (300 s) each process's entries
                # expire mid-bench and the tail of the Zipf set is answered from L2 through
                # Flask's full dispatch: measured, a fifth of the requests after 300 s.
                "LINKFLEET_LINK_CACHE_L1_TTL_S": str(BENCH_L1_TTL_S),
            },
            port=base,
            redis_port=base + 1,
            replica_base_port=base + 2,
            # One nginx worker: the hot path pins the stack to one core, where a second
            # worker splits the connections into a fast and a slow half (measured: a
            # bimodal latency distribution), and one worker carries several times the
            # bench's highest rate (see the capacity figures).
            nginx_workers="1",
        )
        self.quotas: dict[str, CpuQuota] = {}
        self.slugs_file = run_dir / "bench-slugs.txt"

    def child_env(self) -> dict[str, str]:
        """The environment of the bench's own processes (locust, gunicorn, the click count):
        the caller's, then the fleet's settings as its replicas see them."""
        from dotenv import dotenv_values

        written = dotenv_values(self.run_dir / "linkfleet.env")
        return {**os.environ, **{k: v for k, v in written.items() if v is not None}}

    def up(self, replicas: int) -> None:
        from service.fleet import control

        control.up(
            self.run_dir, replicas, None, lambda line: console.log(line.strip()), self.settings
        )

    def scale(self, replicas: int, cpus: float | None) -> None:
        """``replicas`` replicas, each under a quota of ``cpus`` (None: no quota at all).

        A replica that is new is warmed before its quota applies (see :meth:`warm`).
        """
        from service.fleet import control
        from service.fleet.supervisor import Supervisor

        control.scale(self.run_dir, replicas, lambda line: console.log(line.strip()), self.settings)
        spec = self.spec
        for name in list(self.quotas):
            if name not in spec.replicas or cpus is None:
                self.quotas.pop(name).remove()
        if cpus is None:
            return
        processes = Supervisor(spec).processes()
        for name in spec.replicas:
            if name not in self.quotas:
                self.warm(name)
                quota = CpuQuota(f"linkfleet-bench/{name}", cpus)
                quota.add_tree(int(processes[name]["pid"]))
                self.quotas[name] = quota

    def quota_cpus(self) -> float:
        """The CPUs all replica quotas allow together (0 without quotas)."""
        return sum(quota.cpus for quota in self.quotas.values())

    def replica_cpu_seconds(self) -> float:
        """CPU seconds used so far by the processes of every quota'd replica."""
        return sum(quota.cpu_seconds() for quota in self.quotas.values())

    @property
    def spec(self) -> Any:
        from service.fleet.spec import FleetSpec

        spec = FleetSpec.load(self.run_dir)
        assert spec is not None
        return spec

    def warm(self, name: str) -> None:
        """Every bench link once, straight to the replica: its L1 and the shared L2 then hold
        the whole set, so no measurement pays for database reads of a cold start."""
        port = self.spec.replicas[name]
        slugs = self.slugs_file.read_text().split()
        started = time.monotonic()

        def visit(part: list[str]) -> int:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            redirects = 0
            for slug in part:
                connection.request("GET", f"/{slug}", headers={"User-Agent": "linkfleet-warmup"})
                response = connection.getresponse()
                response.read()
                redirects += response.status == HTTPStatus.FOUND
            connection.close()
            return redirects

        with ThreadPoolExecutor(8) as pool:
            redirected = sum(pool.map(visit, [slugs[i::8] for i in range(8)]))
        if redirected != len(slugs):
            raise RuntimeError(f"warming {name}: {redirected} of {len(slugs)} links redirected")
        console.log(f"warmed {name}: {len(slugs):,} links in {time.monotonic() - started:.1f} s")

    def down(self) -> None:
        from service.fleet import control

        for quota in self.quotas.values():
            quota.remove()
        control.down(self.run_dir, lambda line: console.log(line.strip()))


def code_version() -> dict[str, Any]:
    """The commit the benchmark ran, and whether the tree had changes beyond it (the
    results it is rewriting do not count)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "HEAD") or "unknown",
        "dirty": bool(git("status", "--porcelain", "--", ".", ":!loadtests/results")),
    }


def keep_history(out: Path) -> None:
    """Copy the summary.json about to be replaced into history/, named after when its run
    finished, so that drift between runs stays visible."""
    path = out / "summary.json"
    if not path.exists():
        return
    earlier = json.loads(path.read_text())
    finished = max(str(earlier.get(key, "")) for key in ("finished", "hot_path_finished"))
    name = finished or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(path.stat().st_mtime))
    (out / "history").mkdir(exist_ok=True)
    shutil.copyfile(path, out / "history" / f"summary-{name.replace(':', '')}.json")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break

    def version(*command: str) -> str:
        try:
            out = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError:
            return "missing"
        return (out.stdout or out.stderr).strip().splitlines()[0]

    from importlib.metadata import version as package_version

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        **{name: package_version(name) for name in ("flask", "gunicorn", "gevent", "locust")},
        "nginx": version("nginx", "-v"),
        "redis": version("redis-server", "--version"),
        "cgroup": "v2" if is_v2() else "v1",
    }


@dataclass
class Capacity:
    nginx: NginxCapacity
    redis: RedisCapacity
    worker: dict[str, Any]
    #: The fleet as `make up` runs it (2 replicas, no CPU quota): its highest redirect rate.
    fleet_max: Measurement


def _listed(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def round_ratios(measured: Measurement, baseline: Measurement, scale: int = 1) -> list[float]:
    """``measured / (scale * baseline)`` within each round: runs of one round ran minutes
    apart at most, so the drift of the machine's speed cancels out of each ratio."""
    return [
        round(m / (scale * b), 3) for m, b in zip(measured.runs, baseline.runs, strict=True) if b
    ]


def project(
    settings: Settings, scaling: dict[int, Measurement], capacity: Capacity
) -> dict[str, Any]:
    """Where nginx and Redis stop keeping up, in replicas of one full core each."""
    one = scaling[min(scaling)]
    replica_per_core = one.rps / (min(scaling) * settings.cpus_per_replica)
    fleet_max = capacity.fleet_max.rps
    return {
        "replica_redirects_per_core_second": round(replica_per_core),
        "nginx_redirects_per_core_second": capacity.nginx.requests_per_cpu_second,
        "redis_events_per_core_second": capacity.redis.events_per_cpu_second,
        "replicas_per_nginx_core": round(
            capacity.nginx.requests_per_cpu_second / replica_per_core, 1
        ),
        "replicas_per_redis_core": round(
            capacity.redis.events_per_cpu_second / replica_per_core, 1
        ),
        "fleet_max_redirects_per_second": round(fleet_max),
        "worker_events_per_second": capacity.worker["events_per_second"],
        "worker_headroom": round(capacity.worker["events_per_second"] / fleet_max, 2),
    }


def write_results(
    out: Path,
    settings: Settings,
    scaling: dict[int, Measurement],
    hot: dict[str, Any],
    lb: dict[str, Measurement],
    capacity: Capacity,
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    base = scaling[min(scaling)]
    efficiency_rounds = {str(n): round_ratios(m, base, n) for n, m in scaling.items()}
    efficiency = {n: statistics.median(ratios) for n, ratios in efficiency_rounds.items()}
    lb_rounds = round_ratios(lb["nginx"], lb["direct"])
    with (out / "scaling.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["replicas", "users", "rps", "p50_ms", "p95_ms", "p99_ms", "failures", "quota_use",
             "machine_busy"]
        )  # fmt: skip
        for n, m in sorted(scaling.items()):
            writer.writerow(
                [n, m.users, f"{m.rps:.1f}", m.p50_ms, m.p95_ms, m.p99_ms, m.failures,
                 m.quota_use, m.machine_busy]
            )  # fmt: skip
    summary = {
        "scaling_efficiency": efficiency,
        "redirect_vs_bare_flask": hot["redirect_vs_bare_flask"],
        "logged_in_vs_cookieless": hot["logged_in_vs_cookieless"],
        # Each ratio is the median over rounds of the ratio within a round (see round_ratios).
        "lb_overhead": round(1 - statistics.median(lb_rounds), 3),
        "rounds": {
            "scaling_efficiency": efficiency_rounds,
            "nginx_over_direct": lb_rounds,
        },
        "scaling": {str(n): asdict(m) for n, m in scaling.items()},
        "hot_path": hot,
        "load_balancer": {k: asdict(m) for k, m in lb.items()},
        "capacity": asdict(capacity),
        "projection": (projection := project(settings, scaling, capacity)),
        "failures": sum(m.failures for m in [*scaling.values(), *lb.values()]),
        "settings": asdict(settings),
        "machine": machine(),
        "code": code_version(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    keep_history(out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "# Scaling benchmark",
        "",
        f"Every replica: {settings.cpus_per_replica} CPU (cgroup quota), one gevent worker. "
        f"Load: Locust FastHttpUser, cached redirects over {settings.links} Zipf-distributed "
        f"links, through nginx. Median of {settings.repeats} runs of "
        f"{settings.measure_seconds} s, every replica count at the same users per replica "
        "(the most any count needed to saturate), the replica counts "
        "measured in rounds (1, 2, 4, 1, 2, 4, ...). *Quota used*: CPU the "
        "replicas used over what their quotas allowed (100%: the replicas were the bottleneck); "
        "*machine busy*: all CPU time of the machine in use, load generator included.",
        "",
        "| replicas | users | rps | efficiency | p50 ms | p95 ms | p99 ms | failures "
        "| quota used | machine busy |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, m in sorted(scaling.items()):
        lines.append(
            f"| {n} | {m.users} | {m.rps:.0f} | {efficiency.get(str(n), 0):.2f} | "
            f"{m.p50_ms:.0f} | {m.p95_ms:.0f} | {m.p99_ms:.0f} | {m.failures} | "
            f"{m.quota_use or 0:.0%} | {m.machine_busy or 0:.0%} |"
        )
    lines += [
        "",
        "Efficiency and load-balancer overhead are medians over the rounds of "
        "the ratio within each round (runs of a round are minutes apart at most, so the drift "
        "of this VM's speed cancels out of them). Efficiency in each round: "
        + "; ".join(f"N={n}: {_listed(r)}" for n, r in efficiency_rounds.items() if n != "1")
        + ".",
        "",
        *hot_path_lines(hot),
        f"- load-balancer overhead (1 − through nginx ÷ direct, one replica): "  # noqa: RUF001
        f"**{summary['lb_overhead']:.3f}** (nginx ÷ direct in the rounds: {_listed(lb_rounds)}; "
        f"medians {lb['nginx'].rps:.0f} vs {lb['direct'].rps:.0f} rps)",
        f"- failed requests in the whole run: {summary['failures']}",
        "",
        "## Capacity per core and projection",
        "",
        "| component | work per CPU-second | replicas (1 core each) one core carries |",
        "| --- | ---: | ---: |",
        f"| replica (gunicorn + gevent + Flask) | "
        f"{projection['replica_redirects_per_core_second']:,} redirects | 1 |",
        f"| nginx worker, our nginx.conf | "
        f"{projection['nginx_redirects_per_core_second']:,} redirects | "
        f"{projection['replicas_per_nginx_core']} |",
        f"| Redis, click events (XADD + XREADGROUP + XACK) | "
        f"{projection['redis_events_per_core_second']:,} events | "
        f"{projection['replicas_per_redis_core']} |",
        "",
        f"- analytics worker (one process, {capacity.worker['database']}): "
        f"{projection['worker_events_per_second']:,} events/s = "
        f"**{projection['worker_headroom']}×** the fleet's highest redirect rate "  # noqa: RUF001
        f"({projection['fleet_max_redirects_per_second']:,} rps: 2 replicas without quota, "
        "Locust on the same 2 cores)",
        "",
        "![throughput](throughput.png)",
        "![latency](latency.png)",
        "",
    ]
    (out / "scaling.md").write_text("\n".join(lines))
    write_hot_path_report(out, hot)
    plot(out, scaling)
    return summary


def hot_path_lines(hot: dict[str, Any]) -> list[str]:
    """The hot-path comparison as markdown (see loadtests/hotpath.py)."""
    series = hot["series"]
    tail = hot["tail"]
    lines = [
        f"- **redirect_vs_bare_flask {hot['redirect_vs_bare_flask']:.3f}** (cached redirect, "
        f"click capture on ÷ bare Flask redirect, through nginx; rounds: "
        f"{_listed(hot['redirect_vs_bare_flask_rounds'])}; per replica CPU-second: "
        f"{hot['redirect_vs_bare_flask_cpu']:.3f}; per CPU-second of the whole server stack, "
        f"Redis and the analytics worker counting clicks included: "
        f"{hot['redirect_vs_bare_flask_stack_cpu']:.3f}; the same with what the stack spent "
        f"after each run until quiet, the worker counting the run's remaining clicks: "
        f"{hot.get('redirect_vs_bare_flask_all_in_cpu', 0):.3f})",
        f"- **logged_in_vs_cookieless {hot['logged_in_vs_cookieless']:.3f}** (median of the "
        f"pairs of adjacent runs: "
        f"{_listed(hot.get('logged_in_vs_cookieless_rounds', []))}; per replica CPU-second: "
        f"{hot['logged_in_vs_cookieless_cpu']:.3f})",
        *rules_lines(hot),
        f"- tail: p99/p50 at saturation {tail['saturated_p99_over_p50']} (wrk, closed loop; "
        f"stack busy {tail.get('saturated_stack_cpu_busy', 0):.2f} of its core); at 70% of the "
        f"rate saturated in the same round ({tail.get('at_70pct_offered_rps', 0):.0f} rps "
        f"offered open loop, {tail['at_70pct_rps']:.0f} achieved, stack busy "
        f"{tail.get('at_70pct_stack_cpu_busy', 0):.2f}) p99 {tail['at_70pct_p99_ms']:.1f} ms "
        f"counted from each request's due time",
        f"- clicks: {hot['clicks']['served']:,} redirects served, {hot['clicks']['counted']:,} "
        f"counted by the analytics worker, {hot['clicks']['lost']} lost",
        "",
        "| series | rps | p50 ms | p99 ms | replica CPU µs/request | stack CPU µs/request "
        "| stack CPU µs/request, catch-up included | stack run-queue wait µs/request "
        "| stack busy | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, m in series.items():
        lines.append(
            f"| {name} | {m['rps']:.0f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} | "
            f"{m['cpu_seconds_per_request'] * 1e6:.0f} | "
            f"{m['stack_cpu_seconds_per_request'] * 1e6:.0f} | "
            f"{m.get('stack_cpu_all_in_seconds_per_request', 0) * 1e6:.0f} | "
            f"{m.get('stack_runqueue_seconds_per_request', 0) * 1e6:.0f} | "
            f"{m.get('stack_cpu_busy', 0):.2f} | {m['errors']} |"
        )
    lines += ["", "![hot-path latency](hotpath_latency.png)", ""]
    return lines


def rules_lines(hot: dict[str, Any]) -> list[str]:
    """The five-rule link next to the plain redirect (none in a summary from before it)."""
    if "rules_vs_redirect" not in hot:
        return []
    return [
        f"- **rules_vs_redirect {hot['rules_vs_redirect']:.3f}** (a link with five redirect "
        f"rules, the last matching, ÷ the plain cached redirect, through nginx; rounds: "
        f"{_listed(hot['rules_vs_redirect_rounds'])}; per replica CPU-second: "
        f"{hot['rules_vs_redirect_cpu']:.3f})"
    ]


def write_hot_path(out: Path, hot: dict[str, Any], before: Path | None) -> dict[str, Any]:
    """``--hot-path-only``: the comparison into summary.json (other keys kept) and hotpath.md;
    ``before``: the summary.json of an earlier run, whose redirect the plot shows as well."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "summary.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    summary.pop("hot_path_ratio", None)
    summary.pop("hot_path_cpu_ratio", None)
    summary.get("rounds", {}).pop("hot_path_ratio", None)
    summary.update(
        redirect_vs_bare_flask=hot["redirect_vs_bare_flask"],
        logged_in_vs_cookieless=hot["logged_in_vs_cookieless"],
        hot_path=hot,
        hot_path_machine=machine(),
        hot_path_code=code_version(),
        hot_path_finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    keep_history(out)
    path.write_text(json.dumps(summary, indent=2) + "\n")
    write_hot_path_report(out, hot)
    hotpath.plot(out, hot, json.loads(before.read_text())["hot_path"] if before else None)
    drop_old_hot_path_ratio(out / "scaling.md")
    return summary


def write_hot_path_report(out: Path, hot: dict[str, Any]) -> None:
    """hotpath.md: the comparison with bare Flask (a full run's scaling.md has it too)."""
    (out / "hotpath.md").write_text(
        "\n".join(["# Hot path against bare Flask", "", *hot_path_lines(hot)])
    )


def drop_old_hot_path_ratio(report: Path) -> None:
    """A scaling.md of an earlier full run reported the redirect against ``/healthz``, one of
    our own endpoints: point it at hotpath.md instead."""
    if not report.exists():
        return
    lines = report.read_text().splitlines()
    kept = [
        "- the redirect against bare Flask: [hotpath.md](hotpath.md)"
        if line.startswith("- hot-path ratio")
        else line
        for line in lines
    ]
    report.write_text("\n".join(kept) + "\n")


def plot(out: Path, scaling: dict[int, Measurement]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted(scaling)
    base = scaling[ns[0]].rps / ns[0]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ns, [scaling[n].rps for n in ns], "o-", label="measured")
    ax.plot(ns, [base * n for n in ns], "--", color="grey", label="ideal (N × rps(1))")  # noqa: RUF001
    ax.set_xlabel("replicas")
    ax.set_ylabel("redirects / s")
    ax.set_xticks(ns)
    ax.set_title("Throughput against replicas (equal CPU quota each)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        ax.plot(ns, [getattr(scaling[n], key) for n in ns], "o-", label=label)
    ax.set_xlabel("replicas")
    ax.set_ylabel("latency (ms)")
    ax.set_xticks(ns)
    ax.set_title("Latency at saturation, through nginx")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=120)
    plt.close(fig)


def measure_hot_path(
    fleet: BenchFleet, settings: Settings, profile: Path | None = None
) -> dict[str, Any]:
    """loadtests/hotpath.py on the one-replica fleet, before any CPU quota applies."""
    from loadtests.seed import BENCH_EMAIL, BENCH_PASSWORD

    console.log("hot path: bare Flask vs the redirect, stack on core 0, load on core 1 ...")
    hot = hotpath.measure(
        fleet,
        seconds=settings.hot_path_seconds,
        repeats=settings.repeats,
        cookie_pairs=settings.cookie_pairs,
        connections=50,
        email=BENCH_EMAIL,
        password=BENCH_PASSWORD,
        profile=profile,
    )
    console.log(
        f"redirect_vs_bare_flask {hot['redirect_vs_bare_flask']}  logged_in_vs_cookieless "
        f"{hot['logged_in_vs_cookieless']}  tail {hot['tail']}  clicks {hot['clicks']}"
    )
    return hot


def parse_args(
    argv: list[str] | None = None,
) -> tuple[Settings, Path, bool, bool, Path | None, bool]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicas", default="1,2,4", help="replica counts (default 1,2,4)")
    parser.add_argument(
        "--cpus",
        type=float,
        default=0.15,
        help="CPU quota per replica (default 0.15: at N=4 the replicas take 0.6 of this "
        "machine's 2 cores and leave the rest to Locust, nginx, Redis and the worker)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per point (median)")
    parser.add_argument("--step-seconds", type=int, default=5)
    parser.add_argument("--measure-seconds", type=int, default=15)
    parser.add_argument("--links", type=int, default=10_000)
    parser.add_argument("--locust-processes", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: N in 1,2, one short run per point (about a minute)",
    )
    parser.add_argument("--keep", action="store_true", help="leave the fleet's run dir")
    parser.add_argument(
        "--hot-path-only",
        action="store_true",
        help="only the redirect against bare Flask (a few minutes); updates summary.json",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the replica during one more redirect run (redirect-profile.svg/.txt)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="with --hot-path-only: an earlier summary.json to plot the redirect against",
    )
    args = parser.parse_args(argv)
    settings = Settings(
        replicas=[int(n) for n in args.replicas.split(",")],
        cpus_per_replica=args.cpus,
        repeats=args.repeats,
        step_seconds=args.step_seconds,
        measure_seconds=args.measure_seconds,
        user_steps=[4, 8, 16, 32],
        links=args.links,
        locust_processes=args.locust_processes,
        capacity_seconds=10,
        worker_events=100_000,
    )
    if args.quick:
        settings = Settings(
            replicas=[1, 2],
            cpus_per_replica=args.cpus,
            repeats=1,
            step_seconds=2,
            measure_seconds=3,
            user_steps=[16],
            links=500,
            locust_processes=1,
            capacity_seconds=1,
            worker_events=10_000,
            hot_path_seconds=1,
            cookie_pairs=1,
        )
    if args.hot_path_only:
        settings.links = min(settings.links, 1000)
    return settings, args.out, args.keep, args.hot_path_only, args.before, args.profile


def main(argv: list[str] | None = None) -> int:
    settings, out, keep, hot_only, before, profile = parse_args(argv)
    # A SIGTERM (Ctrl-C's sibling, or a CI timeout) still stops the fleet and its cgroups.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        console.print("[red]the benchmark needs root to create cgroups[/]")
        return 2
    from loadtests.seed import seed

    run_dir = Path(tempfile.mkdtemp(prefix="linkfleet-bench-"))
    fleet = BenchFleet(run_dir)
    started = time.monotonic()
    try:
        fleet.up(1)
        seed(settings.links, fleet.slugs_file, run_dir=run_dir)
        env = {**fleet.child_env(), "LINKFLEET_BENCH_SLUGS": str(fleet.slugs_file)}
        fleet.warm("replica-1")
        hot = measure_hot_path(fleet, settings, out if profile else None)
        if hot_only:
            write_hot_path(out, hot, before)
            console.print(f"results in {out}")
            return 0
        fleet.scale(1, settings.cpus_per_replica)
        spec = fleet.spec
        load = Load(settings, env, fleet)
        users = load.find_users("one replica", spec.url, "RedirectUser", 1)
        one = load.compare(
            {
                "redirect through nginx": (spec.url, "RedirectUser"),
                "redirect direct to replica-1": (
                    f"http://127.0.0.1:{spec.replicas['replica-1']}",
                    "RedirectUser",
                ),
            },
            users,
        )
        lb = {"nginx": one["redirect through nginx"], "direct": one["redirect direct to replica-1"]}
        # Each N's saturating users first, then the N's in rounds (1 2 4 1 2 4 ...): this VM's
        # speed drifts by tens of percent over minutes, and rounds spread that over every N.
        saturating = {1: users}
        for n in settings.replicas:
            if n not in saturating:
                fleet.scale(n, settings.cpus_per_replica)
                saturating[n] = load.find_users(f"{n} replica(s)", spec.url, "RedirectUser", n)
        # Then every N at the same users per replica, the most any N needed to saturate: a
        # gevent replica's CPU per request falls as its queue deepens (more requests per loop
        # wake-up), so unequal queues per replica bias the ratio (runs at 8 users for N = 1
        # and 32 per replica for N = 4 gave efficiencies above 1).
        per_replica = max(count // n for n, count in saturating.items())
        rounds: dict[int, list[Measurement]] = {n: [] for n in settings.replicas}
        for _ in range(settings.repeats):
            for n in settings.replicas:
                fleet.scale(n, settings.cpus_per_replica)
                rounds[n].append(
                    load.run(spec.url, "RedirectUser", per_replica * n, settings.measure_seconds)
                )
        scaling = {n: summarise(f"{n} replica(s)", runs) for n, runs in rounds.items()}
        fleet.scale(2, None)
        fleet_max = load.saturate("fleet max: 2 replicas, no quota", spec.url, "RedirectUser", 2)
    finally:
        fleet.down()
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    console.log("capacity: one nginx worker proxying to a static upstream (wrk) ...")
    nginx = nginx_capacity(settings.capacity_seconds)
    console.log(f"nginx: {nginx.requests_per_cpu_second:,} redirects per CPU-second")
    console.log(f"capacity: analytics worker draining {settings.worker_events:,} events ...")
    worker, redis_cost = measure_worker(settings.worker_events, settings.links, 1000)
    console.log(
        f"worker: {worker['events_per_second']:,} events/s; "
        f"Redis: {redis_cost.events_per_cpu_second:,} events per CPU-second"
    )
    capacity = Capacity(nginx, redis_cost, worker, fleet_max)
    summary = write_results(out, settings, scaling, hot, lb, capacity)
    hotpath.plot(out, hot)
    table = Table(title=f"LinkFleet scaling ({time.monotonic() - started:.0f} s)")
    for column in ("replicas", "rps", "efficiency", "p50 ms", "p99 ms", "failures"):
        table.add_column(column, justify="right")
    for n, m in sorted(scaling.items()):
        table.add_row(
            str(n),
            f"{m.rps:.0f}",
            f"{summary['scaling_efficiency'][str(n)]:.2f}",
            f"{m.p50_ms:.0f}",
            f"{m.p99_ms:.0f}",
            str(m.failures),
        )
    console.print(table)
    projection = summary["projection"]
    console.print(
        f"redirect_vs_bare_flask {summary['redirect_vs_bare_flask']:.3f}   "
        f"logged_in_vs_cookieless {summary['logged_in_vs_cookieless']:.3f}   "
        f"load-balancer overhead {summary['lb_overhead']:.3f}   "
        f"worker headroom {projection['worker_headroom']}x   "
        f"replicas per nginx core {projection['replicas_per_nginx_core']}   "
        f"per Redis core {projection['replicas_per_redis_core']}\n"
        f"results in {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
