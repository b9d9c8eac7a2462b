"""The redirect against bare Flask, in one run on this machine (part of ``make bench``).

The whole server stack of a one-replica fleet (nginx, the replica, its Redis, the analytics
worker) and the bare Flask app of :mod:`loadtests.baseline` (same gunicorn settings, behind
its own nginx with our nginx.conf) are pinned to core 0; ``wrk`` runs on core 1. Series, run
interleaved in rounds (A B C ... A B C ...) so that the machine's drift hits all alike
(the cookieless and the logged-in redirect swap places every other round, and their ratio
is reported per pair of adjacent runs, with extra pairs after the rounds: one 10 s run moves
by tens of percent here):

  bare          bare Flask ``GET /r`` (302) through nginx
  redirect      LinkFleet cached redirect through nginx, click capture on
  logged_in     the same redirect from a client holding a logged-in session cookie
  rules         a link with five redirect rules of which the last matches
                (:data:`loadtests.seed.RULES`): every condition type evaluated per request
  healthz       LinkFleet ``/healthz`` through nginx
  bare_direct / redirect_direct   the same two straight to the gunicorn port

Each series reports rps, p50/p99 and the replica's CPU-seconds per request (from /proc, far
less sensitive to what else the machine does than rps), and how busy it kept the stack (CPU
seconds per second: 1.0 is the whole pinned core). Then the tail below saturation, in every
round right after that round's saturated redirect: the redirect offered at 70 % of the rate
it reached there, open loop (:mod:`loadtests.openloop`: a fixed schedule, latency counted from
when each request was due, so a stall is not hidden by the requests it held back, which
``wrk`` with ``delay()`` did, and the rate stays 70 % whatever the latency). Every run starts
on a quiet core (:func:`settle`: the analytics worker has counted the clicks of the run
before, so the next series, bare Flask's included, does not pay for them), and what the
stack spends after a run until it is quiet again is that run's catch-up, reported with the
run's own CPU as the *all-in* cost per request. Last, every click served (the replica's own
metrics) must have been counted by the analytics worker.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import requests

from loadtests.capacity import free_port
from loadtests.cgroups import process_cpu_seconds, process_tree

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "latency.lua"
SERVER_CPU = 0
LOAD_CPU = 1


@dataclass
class Series:
    """One series' runs and their medians."""

    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_seconds_per_request: float = 0.0
    #: Every server process of the series (nginx, gunicorn; for LinkFleet also its Redis
    #: and the analytics worker, which count the clicks) per request.
    stack_cpu_seconds_per_request: float = 0.0
    #: The same plus what the stack spent after the run until it was quiet again: the
    #: analytics worker counting the clicks it had not reached during the run.
    stack_cpu_all_in_seconds_per_request: float = 0.0
    #: Seconds the stack's threads were runnable but waited for a CPU, per request
    #: (``/proc/<pid>/task/*/schedstat``): the machine's other load on the pinned core.
    stack_runqueue_seconds_per_request: float = 0.0
    #: The stack's CPU seconds per wall second (1.0: the pinned core was busy all the time).
    stack_cpu_busy: float = 0.0
    #: Requests per second asked of an open-loop series (0: closed loop, as fast as it goes).
    offered_rps: float = 0.0
    requests: int = 0
    errors: int = 0
    runs: list[float] = field(default_factory=list)
    #: Percentile -> ms of the median run (the latency plot).
    percentiles: dict[str, float] = field(default_factory=dict)


def pin(pids: list[int], cpus: int | str) -> None:
    """Every thread of ``pids`` onto ``cpus`` (a core, or a list such as ``0-1``)."""
    for pid in pids:
        subprocess.run(
            ["taskset", "-a", "-p", "-c", str(cpus), str(pid)], capture_output=True, check=False
        )


def fleet_pids(fleet: Any) -> list[int]:
    """supervisord and everything it runs (nginx, replicas, Redis, the worker)."""
    supervisord = int((fleet.run_dir / "supervisord.pid").read_text().strip())
    return process_tree(supervisord)


def wrk(url: str, seconds: int, connections: int, *, cookie: str = "") -> dict[str, Any]:
    """One closed-loop wrk run on the load core (saturation); its JSON summary (see
    latency.lua). Not for a rate below saturation: see :mod:`loadtests.openloop`."""
    env = {**os.environ, "WRK_COOKIE": cookie}
    out = subprocess.run(
        ["taskset", "-c", str(LOAD_CPU), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
         "-s", str(LUA), url],
        capture_output=True, text=True, env=env, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    match = re.search(r"^WRK_JSON (.*)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    result: dict[str, Any] = json.loads(match.group(1))
    return result


def openloop(
    url: str, rate: float, seconds: int, connections: int, *, cookie: str = ""
) -> dict[str, Any]:
    """One open-loop run (:mod:`loadtests.openloop`) on the load core; its summary."""
    out = subprocess.run(
        ["taskset", "-c", str(LOAD_CPU), sys.executable, "-m", "loadtests.openloop", url,
         "--rate", f"{rate:.1f}", "--connections", str(connections), "--seconds", str(seconds),
         "--cookie", cookie],
        capture_output=True, text=True, check=True, timeout=seconds + 60, cwd=ROOT,
    ).stdout  # fmt: skip
    match = re.search(r"^OPENLOOP_JSON (.*)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"openloop printed no summary:\n{out}")
    result: dict[str, Any] = json.loads(match.group(1))
    return result


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants so far."""
    return pids_cpu(process_tree(pid))


def runqueue_seconds(pids: list[int]) -> float:
    """Seconds the threads of ``pids`` spent waiting on a run queue so far (schedstat)."""
    total = 0
    for pid in pids:
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                total += int((task / "schedstat").read_text().split()[1])
        except OSError:
            continue
    return total / 1e9


def pids_cpu(pids: list[int]) -> float:
    """CPU seconds of ``pids`` so far (those gone meanwhile count nothing)."""
    total = 0.0
    for member in pids:
        try:
            total += process_cpu_seconds(member)
        except OSError:
            continue
    return total


@contextmanager
def bare_flask(nginx_port: int, environment: dict[str, str]) -> Any:
    """The bare app on the replica's gunicorn settings, behind our nginx.conf; yields
    (gunicorn pid, nginx pid, direct URL, through-nginx URL), all pinned to the server core."""
    from service.config import FleetSettings
    from service.fleet.render import write_nginx_conf
    from service.fleet.spec import FleetSpec

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="linkfleet-bare-") as tmp:
        workdir = Path(tmp)
        env = {k: v for k, v in environment.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        gunicorn = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--config",
             str(ROOT / "deploy" / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
             "--chdir", str(ROOT), "loadtests.baseline:create_app()"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        spec = FleetSpec(run_dir=workdir, port=nginx_port, replicas={"bare": port})
        spec.log_dir.mkdir(parents=True, exist_ok=True)
        conf = write_nginx_conf(spec, FleetSettings.from_env())
        nginx = subprocess.Popen(
            ["nginx", "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if requests.get(f"http://127.0.0.1:{nginx_port}/hello", timeout=1).ok:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the bare Flask app did not start")
                time.sleep(0.2)
            pin(process_tree(gunicorn.pid) + process_tree(nginx.pid), SERVER_CPU)
            yield (
                gunicorn.pid,
                nginx.pid,
                f"http://127.0.0.1:{port}",
                f"http://127.0.0.1:{nginx_port}",
            )
        finally:
            nginx.terminate()
            gunicorn.terminate()
            nginx.wait(10)
            gunicorn.wait(30)


def log_in(base: str, email: str, password: str) -> str:
    """A logged-in session cookie (``name=value``), through the real login form."""
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("no CSRF token on the login page")
    answer = session.post(
        f"{base}/login",
        data={"csrf_token": token.group(1), "email": email, "password": password},
        timeout=10,
        allow_redirects=False,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"login failed: {answer.status_code}")
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


def redirects_served(replica_url: str, slug_status: str = "302") -> float:
    """GET redirects the replica counted (its /metrics, exact within a second)."""
    text = requests.get(f"{replica_url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if (
            line.startswith("linkfleet_http_requests_total{")
            and 'endpoint="redirect.follow"' in line
            and 'method="GET"' in line
            and f'status="{slug_status}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def clicks_counted(env: dict[str, str]) -> int:
    """Visits the analytics worker wrote to the database, over every link."""
    code = (
        "from sqlalchemy import func, select\n"
        "from service import create_app\n"
        "from service.extensions import db\n"
        "from service.analytics.models import HourlyVisits\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    print(db.session.scalar(select(func.coalesce(func.sum(HourlyVisits.visits), 0))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
        cwd=ROOT,
    )  # fmt: skip
    return int(out.stdout.strip().splitlines()[-1])


@dataclass
class Run:
    """One load run: the load generator's summary and what the server side spent on it."""

    result: dict[str, Any]
    #: CPU seconds of the series' server process (the replica or the bare app, their tree).
    cpu: float
    #: CPU seconds of the series' whole stack during the run.
    stack_cpu: float
    #: Run-queue wait of the stack's threads during the run.
    wait: float
    #: CPU seconds of the stack after the run until it was quiet (:func:`settle`).
    catch_up_cpu: float

    @property
    def requests(self) -> int:
        return int(self.result["requests"])


def summarise(runs: list[Run]) -> Series:
    """Medians over the runs; CPU per request from each run's CPU and request count."""
    rates = [r.requests / r.result["duration_s"] for r in runs]
    counted = [r for r in runs if r.requests]
    median_run = sorted(runs, key=lambda run: run.requests)[len(runs) // 2].result
    return Series(
        rps=round(statistics.median(rates), 1),
        p50_ms=statistics.median(r.result["percentiles"]["50"] for r in runs),
        p99_ms=statistics.median(r.result["percentiles"]["99"] for r in runs),
        cpu_seconds_per_request=statistics.median(r.cpu / r.requests for r in counted),
        stack_cpu_seconds_per_request=statistics.median(r.stack_cpu / r.requests for r in counted),
        stack_cpu_all_in_seconds_per_request=statistics.median(
            (r.stack_cpu + r.catch_up_cpu) / r.requests for r in counted
        ),
        stack_runqueue_seconds_per_request=statistics.median(r.wait / r.requests for r in counted),
        stack_cpu_busy=round(
            statistics.median(r.stack_cpu / r.result["duration_s"] for r in runs), 3
        ),
        offered_rps=round(statistics.median(r.result.get("offered_rps", 0.0) for r in runs), 1),
        requests=sum(r.requests for r in runs),
        errors=sum(r.result["errors"] + r.result["non_2xx_3xx"] for r in runs),
        runs=[round(rate, 1) for rate in rates],
        percentiles=median_run["percentiles"],
    )


def measure(
    fleet: Any,
    *,
    seconds: int,
    repeats: int,
    connections: int,
    email: str,
    password: str,
    cookie_pairs: int = 4,
    profile: Path | None = None,
) -> dict[str, Any]:
    """The hot-path comparison on a running one-replica ``fleet`` (see the module docstring)."""
    from service.fleet.supervisor import Supervisor

    spec = fleet.spec
    replica_pid = int(Supervisor(spec).processes()["replica-1"]["pid"])
    pin(fleet_pids(fleet), SERVER_CPU)
    try:
        return _measure(
            fleet,
            spec,
            replica_pid,
            seconds,
            repeats,
            cookie_pairs,
            connections,
            email,
            password,
            profile,
        )
    finally:
        pin(fleet_pids(fleet), f"0-{(os.cpu_count() or 2) - 1}")


def _measure(
    fleet: Any,
    spec: Any,
    replica_pid: int,
    seconds: int,
    repeats: int,
    cookie_pairs: int,
    connections: int,
    email: str,
    password: str,
    profile: Path | None,
) -> dict[str, Any]:
    from loadtests.seed import RULES_QUERY, seed_rules_link

    slug = fleet.slugs_file.read_text().split()[0]
    rules_url = f"{spec.url}/{seed_rules_link(fleet.run_dir)}?{RULES_QUERY}"
    direct = f"http://127.0.0.1:{spec.replicas['replica-1']}"
    cookie = log_in(spec.url, email, password)
    for url in (f"{spec.url}/{slug}", rules_url):  # into L1
        requests.get(url, timeout=10, allow_redirects=False)
    env = fleet.child_env()
    served_before = redirects_served(direct)
    clicks_before = clicks_counted(env)
    stack = fleet_pids(fleet)
    with bare_flask(free_port(), env) as (bare_pid, bare_nginx_pid, bare_direct, bare_nginx):
        bare_stack = process_tree(bare_pid) + process_tree(bare_nginx_pid)
        series: dict[str, tuple[str, str, int, list[int]]] = {
            "bare": (f"{bare_nginx}/r", "", bare_pid, bare_stack),
            "redirect": (f"{spec.url}/{slug}", "", replica_pid, stack),
            "logged_in": (f"{spec.url}/{slug}", cookie, replica_pid, stack),
            "rules": (rules_url, "", replica_pid, stack),
            "healthz": (f"{spec.url}/healthz", "", replica_pid, stack),
            "bare_direct": (f"{bare_direct}/r", "", bare_pid, bare_stack),
            "redirect_direct": (f"{direct}/{slug}", "", replica_pid, stack),
        }
        for url, sent_cookie, _, _ in series.values():  # warm every path once
            wrk(url, 1, connections, cookie=sent_cookie)
        quiet = stack + bare_stack
        runs: dict[str, list[Run]] = {name: [] for name in series}
        runs["redirect_at_70pct"] = []
        pairs: dict[str, list[Run]] = {"redirect": [], "logged_in": []}

        def saturated(name: str) -> Run:
            """One closed-loop wrk run of series ``name``, started on a quiet core."""
            url, sent_cookie, pid, pids = series[name]
            return _run(
                pid, pids, quiet, partial(wrk, url, seconds, connections, cookie=sent_cookie)
            )

        for round_number in range(repeats):
            order = list(series)
            if round_number % 2:  # the cookie pair in turn first and second: drift cancels
                first, second = order.index("redirect"), order.index("logged_in")
                order[first], order[second] = order[second], order[first]
            for name in order:
                runs[name].append(saturated(name))
                if name == "redirect":
                    # The tail below saturation, at 70 % of what this round just saturated at.
                    url, _, pid, pids = series[name]
                    saturated_run = runs[name][-1].result
                    rate = 0.7 * saturated_run["requests"] / saturated_run["duration_s"]
                    runs["redirect_at_70pct"].append(
                        _run(pid, pids, quiet, partial(openloop, url, rate, seconds, connections))
                    )
        # The cookie pair once more, alone, in turn first and second: one pair of adjacent
        # runs differs by a single header, so its ratio is read per pair (median of pairs).
        for pair_number in range(cookie_pairs):
            pair = ["redirect", "logged_in"][:: -1 if (repeats + pair_number) % 2 else 1]
            for name in pair:
                pairs[name].append(saturated(name))
        if profile is not None:
            profile_replica(replica_pid, f"{spec.url}/{slug}", seconds, connections, profile)
    measured = {name: summarise(r) for name, r in runs.items()}
    # Every click served was counted: the worker drains the stream within seconds.
    served = redirects_served(direct) - served_before
    deadline = time.monotonic() + 60
    counted = clicks_counted(env) - clicks_before
    while counted < served and time.monotonic() < deadline:
        time.sleep(2)
        counted = clicks_counted(env) - clicks_before
    base = measured["bare"]
    return {
        "redirect_vs_bare_flask": round(measured["redirect"].rps / base.rps, 3),
        "redirect_vs_bare_flask_rounds": [
            round(a / b, 3) for a, b in zip(measured["redirect"].runs, base.runs, strict=True)
        ],
        "redirect_vs_bare_flask_cpu": round(
            base.cpu_seconds_per_request / measured["redirect"].cpu_seconds_per_request, 3
        ),
        "redirect_vs_bare_flask_all_in_cpu": round(
            base.stack_cpu_all_in_seconds_per_request
            / measured["redirect"].stack_cpu_all_in_seconds_per_request,
            3,
        ),
        "redirect_vs_bare_flask_stack_cpu": round(
            base.stack_cpu_seconds_per_request
            / measured["redirect"].stack_cpu_seconds_per_request,
            3,
        ),
        **cookie_ratios(
            runs["redirect"] + pairs["redirect"], runs["logged_in"] + pairs["logged_in"]
        ),
        **rules_ratios(measured),
        "tail": {
            "saturated_p99_over_p50": round(
                measured["redirect"].p99_ms / measured["redirect"].p50_ms, 2
            ),
            "at_70pct_rps": measured["redirect_at_70pct"].rps,
            "at_70pct_offered_rps": measured["redirect_at_70pct"].offered_rps,
            "at_70pct_stack_cpu_busy": measured["redirect_at_70pct"].stack_cpu_busy,
            "saturated_stack_cpu_busy": measured["redirect"].stack_cpu_busy,
            "at_70pct_method": "open loop, latency from the schedule (loadtests/openloop.py)",
            "at_70pct_p99_ms": measured["redirect_at_70pct"].p99_ms,
        },
        "clicks": {"served": int(served), "counted": counted, "lost": int(served) - counted},
        "series": {name: asdict(s) for name, s in measured.items()},
        "settings": {"seconds": seconds, "repeats": repeats, "cookie_pairs": cookie_pairs,
                     "connections": connections,
                     "server_cpu": SERVER_CPU, "load_cpu": LOAD_CPU},
    }  # fmt: skip


def cookie_ratios(cookieless: list[Run], logged_in: list[Run]) -> dict[str, Any]:
    """The logged-in client against the cookieless one, as the median of the ratios of
    adjacent pairs of runs (each round's pair and the extra ones): rps and per replica CPU."""
    pairs = list(zip(logged_in, cookieless, strict=True))
    rps = [(a.requests / a.result["duration_s"]) / (b.requests / b.result["duration_s"])
           for a, b in pairs]  # fmt: skip
    cpu = [(b.cpu / b.requests) / (a.cpu / a.requests) for a, b in pairs]
    return {
        "logged_in_vs_cookieless": round(statistics.median(rps), 3),
        "logged_in_vs_cookieless_rounds": [round(ratio, 3) for ratio in rps],
        "logged_in_vs_cookieless_cpu": round(statistics.median(cpu), 3),
    }


def rules_ratios(measured: dict[str, Series]) -> dict[str, Any]:
    """The five-rule link against the plain cached redirect: rps, per round, CPU."""
    rules, plain = measured["rules"], measured["redirect"]
    return {
        "rules_vs_redirect": round(rules.rps / plain.rps, 3),
        "rules_vs_redirect_rounds": [
            round(a / b, 3) for a, b in zip(rules.runs, plain.runs, strict=True)
        ],
        "rules_vs_redirect_cpu": round(
            plain.cpu_seconds_per_request / rules.cpu_seconds_per_request, 3
        ),
    }


def settle(
    pids: list[int], *, window: float = 0.5, quiet: float = 0.05, limit: float = 120
) -> float:
    """Wait until ``pids`` use less than ``quiet`` of a CPU over ``window`` seconds (the
    analytics worker has counted the clicks of the last run); the CPU seconds they used
    meanwhile. So no run pays for the clicks of the one before: both stacks share a core."""
    started, deadline = pids_cpu(pids), time.monotonic() + limit
    while time.monotonic() < deadline:
        before = pids_cpu(pids)
        time.sleep(window)
        if pids_cpu(pids) - before < quiet * window:
            break
    return pids_cpu(pids) - started


def _run(pid: int, pids: list[int], quiet: list[int], load: Any) -> Run:
    """``load()`` on a quiet core (``quiet``: every process pinned there), with the CPU of
    ``pid``'s tree and of ``pids`` and their run-queue wait during it, and the CPU ``pids``
    spent after it until they were quiet again."""
    settle(quiet)
    before, stack_before, wait_before = tree_cpu(pid), pids_cpu(pids), runqueue_seconds(pids)
    result: dict[str, Any] = load()
    cpu, stack_cpu = tree_cpu(pid) - before, pids_cpu(pids) - stack_before
    wait = runqueue_seconds(pids) - wait_before
    return Run(result, cpu, stack_cpu, wait, catch_up_cpu=settle(pids))


def profile_replica(pid: int, url: str, seconds: int, connections: int, out: Path) -> None:
    """py-spy on the replica's worker during one more redirect run: a flame graph
    (``redirect-profile.svg``) and the functions by share of samples (``redirect-profile.txt``)."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    worker = max(process_tree(pid))  # the gevent worker: the master's only child
    raw = out / "redirect-profile.raw"
    spies = [
        subprocess.Popen(
            [
                str(py_spy),
                "record",
                "-p",
                str(worker),
                "-d",
                str(seconds),
                "-r",
                "250",
                "--nonblocking",
                "-f",
                fmt,
                "-o",
                str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fmt, path in (("flamegraph", out / "redirect-profile.svg"), ("raw", raw))
    ]
    wrk(url, seconds, connections)
    for spy in spies:
        spy.wait(60)
    self_samples: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        samples = int(count)
        total += samples
        self_samples[frames[-1]] = self_samples.get(frames[-1], 0) + samples
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + samples
    lines = [f"py-spy record of the replica worker (pid {worker}), {total} samples", ""]
    for title, table in (("self", self_samples), ("inclusive", inclusive)):
        lines.append(f"## top 30 by {title} samples")
        for frame, samples in sorted(table.items(), key=lambda kv: -kv[1])[:30]:
            lines.append(f"{samples / total:6.1%}  {frame}")
        lines.append("")
    (out / "redirect-profile.txt").write_text("\n".join(lines))
    raw.unlink()


def plot(out: Path, hot: dict[str, Any], before: dict[str, Any] | None = None) -> None:
    """The latency distribution of each series (percentile against ms, log scale); with
    ``before`` (an earlier summary's hot path), the redirect before and after as well."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in ("bare", "redirect", "rules", "logged_in", "healthz", "redirect_at_70pct"):
        if name not in hot["series"]:
            continue  # a summary from before the series existed
        points = hot["series"][name]["percentiles"]
        ax.plot([points[p] for p in points], [float(p) for p in points], "o-", ms=3, label=name)
    if before is not None:
        points = before["series"]["redirect"]["percentiles"]
        ax.plot([points[p] for p in points], [float(p) for p in points], "x--", ms=3,
                color="grey", label="redirect, before")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log)")
    ax.set_ylabel("percentile")
    ax.set_title("Latency distribution through nginx (stack on core 0, load on core 1)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "hotpath_latency.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Redraw ``hotpath_latency.png`` from summary files (``scaling.py`` measures)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("summary", type=Path, help="summary.json with a hot_path key")
    parser.add_argument("--before", type=Path, help="an earlier summary.json to compare with")
    args = parser.parse_args(argv)
    hot = json.loads(args.summary.read_text())["hot_path"]
    before = json.loads(args.before.read_text())["hot_path"] if args.before else None
    plot(args.summary.parent, hot, before)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
