"""Fleet operations: up, down, status, scale. Each prints progress and fails with one line."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from ..config import FleetSettings, Settings
from . import render
from .spec import (
    DEFAULT_REPLICAS,
    FleetError,
    FleetSpec,
    find_binary,
    require_free_ports,
    secret_key,
)
from .supervisor import Supervisor, pid_alive

Echo = Callable[[str], None]
READY_TIMEOUT = 60.0


def http_status(url: str, timeout: float = 1.0) -> tuple[int, dict[str, Any]]:
    """GET ``url``; (status, JSON body or {}); status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  # nosec B310  # our own http:// loopback URLs
            return response.status, _json(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _json(error.read())
    except (OSError, ValueError):
        return 0, {}


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def fleet_settings(spec: FleetSpec, fleet: FleetSettings) -> dict[str, str]:
    """The LINKFLEET_* environment of every replica: the caller's, plus the fleet's own."""
    settings = dict(fleet.environment)
    for private in ("LINKFLEET_REPLICA_NAME", "LINKFLEET_RUN_DIR"):
        settings.pop(private, None)
    settings["LINKFLEET_SECRET_KEY"] = secret_key(spec.run_dir, fleet.secret_key)
    settings["LINKFLEET_REDIS_URL"] = spec.redis_url
    settings.setdefault("LINKFLEET_DATABASE_URL", f"sqlite:///{spec.run_dir / 'linkfleet.db'}")
    settings["LINKFLEET_RUN_DIR"] = str(spec.run_dir)
    Settings.from_env(settings)  # ConfigError names a bad value before anything starts
    return settings


def check_redis(url: str) -> None:
    """An external Redis must answer before replicas that depend on it start."""
    import redis

    from ..extensions.redis_client import make_redis

    try:
        make_redis(url, timeout=2).ping()
    except redis.RedisError as error:
        raise FleetError(f"cannot reach Redis at {url}: {error}") from None


def migrate_database(settings: dict[str, str], echo: Echo) -> None:
    """Bring the schema up to date with Alembic before any replica serves."""
    from flask_migrate import upgrade

    from .. import create_app
    from ..extensions import migrations

    app = create_app(Settings.from_env(settings).to_flask())
    migrations.ready(app)
    echo("Migrating the database ...")
    try:
        with app.app_context():
            upgrade()
    except OperationalError as error:
        reason = str(error.orig or error).strip().splitlines()[0]
        raise FleetError(f"cannot reach the database: {reason}") from None


def wait_ready(spec: FleetSpec, names: list[str], echo: Echo) -> None:
    """Wait until each named replica's /readyz is 200, then the fleet URL's."""
    deadline = time.monotonic() + READY_TIMEOUT
    for name in names:
        url = f"http://127.0.0.1:{spec.replicas[name]}/readyz"
        while http_status(url)[0] != 200:
            if time.monotonic() > deadline:
                raise FleetError(
                    f"{name} is not ready after {READY_TIMEOUT:.0f}s; see "
                    f"{spec.log_dir / (name + '.log')}"
                )
            time.sleep(0.2)
        echo(f"  {name} ready on 127.0.0.1:{spec.replicas[name]}")


def wait_fleet_ready(spec: FleetSpec) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while http_status(f"{spec.url}/readyz")[0] != 200:
        if time.monotonic() > deadline:
            raise FleetError(f"{spec.url}/readyz is not green; see {spec.log_dir}")
        time.sleep(0.2)


def up(
    run_dir: Path, replicas: int | None, port: int | None, echo: Echo, fleet: FleetSettings
) -> FleetSpec:
    """Start the fleet, or bring a running one to the wanted shape (idempotent)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    existing = FleetSpec.load(run_dir)
    if existing is not None and Supervisor(existing).is_running():
        supervisor = Supervisor(existing)
        echo(f"The fleet in {run_dir} is already running.")
        supervisor.start_stopped()
        if replicas is not None and replicas != len(existing.replicas):
            scale_spec(existing, supervisor, replicas, echo, fleet)
        wait_ready(existing, list(existing.replicas), echo)
        wait_fleet_ready(existing)
        return existing

    spec = FleetSpec(run_dir=run_dir)
    if port is not None:
        spec.port = port
    elif fleet.port is not None:
        spec.port = fleet.port
    spec.bind_host = fleet.bind_host or spec.bind_host
    if fleet.replica_base_port is not None:
        spec.replica_base_port = fleet.replica_base_port
    if fleet.redis_port is not None:
        spec.redis_port = fleet.redis_port
    spec.external_redis_url = fleet.redis_url
    spec.replicas = spec.with_replica_count(replicas or DEFAULT_REPLICAS)

    find_binary("nginx")
    if not spec.external_redis_url:
        find_binary("redis-server")
    ports = {"nginx": spec.port, **spec.replicas}
    if not spec.external_redis_url:
        ports["redis"] = spec.redis_port
    require_free_ports(ports)
    settings = fleet_settings(spec, fleet)
    if spec.external_redis_url:
        check_redis(spec.external_redis_url)
    migrate_database(settings, echo)
    render.write_env_file(spec, settings)
    render.write_all(spec, fleet)
    check_nginx_config(spec)

    echo(f"Starting redis, {len(spec.replicas)} replicas and nginx under supervisord ...")
    supervisor = Supervisor(spec)
    supervisor.start(settings)
    wait_ready(spec, list(spec.replicas), echo)
    wait_fleet_ready(spec)
    return spec


def down(run_dir: Path, echo: Echo) -> None:
    """Stop everything the fleet started (replicas finish their requests first)."""
    spec = FleetSpec.load(run_dir)
    if spec is None or not Supervisor(spec).is_running():
        echo(f"The fleet in {run_dir} is not running.")
        return
    echo("Stopping the fleet (in-flight requests finish first) ...")
    Supervisor(spec).shutdown()
    echo("Stopped.")


def running_spec(run_dir: Path) -> tuple[FleetSpec, Supervisor]:
    spec = FleetSpec.load(run_dir)
    if spec is None or not Supervisor(spec).is_running():
        raise FleetError(f"the fleet in {run_dir} is not running; start it with `make up`")
    return spec, Supervisor(spec)


def status(run_dir: Path) -> list[dict[str, str]]:
    """One row per process: name, state, pid, port, health."""
    spec, supervisor = running_spec(run_dir)
    rows = []
    for name, info in supervisor.processes().items():
        port = spec.replicas.get(name)
        if name == "nginx":
            port = spec.port
        elif name == "redis":
            port = spec.redis_port
        health = "-"
        if port is not None and name != "redis":
            code, body = http_status(f"http://127.0.0.1:{port}/readyz")
            health = {200: "ready", 0: "down"}.get(
                code, "unready: " + ",".join(body.get("failed", [])) or str(code)
            )
        rows.append(
            {
                "name": name,
                "state": info["statename"],
                "pid": str(info["pid"] or "-"),
                "port": str(port or "-"),
                "health": health,
                "uptime": info["description"],
            }
        )
    return rows


def check_nginx_config(spec: FleetSpec) -> None:
    """``nginx -t`` on the rendered config, so a bad one never reaches a running nginx."""
    import subprocess

    result = subprocess.run(
        [
            find_binary("nginx"),
            "-t",
            "-q",
            "-p",
            str(spec.run_dir / "nginx"),
            "-c",
            str(spec.run_dir / "nginx.conf"),
            "-e",
            str(spec.log_dir / "nginx-error.log"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise FleetError(f"nginx rejected its config: {lines[0] if lines else 'no output'}")


def _nginx_workers(master_pid: int) -> set[int]:
    workers = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == master_pid:
            workers.add(int(entry.name))
    return workers


def reload_nginx(
    spec: FleetSpec,
    supervisor: Supervisor,
    fleet: FleetSettings,
    routed: dict[str, int] | None = None,
) -> None:
    """Graceful reload routing to ``routed`` (default: every replica); returns once the old
    workers have finished their requests."""
    render.write_nginx_conf(spec, fleet, routed)
    check_nginx_config(spec)
    master = int(supervisor.processes()["nginx"]["pid"])
    old_workers = _nginx_workers(master)
    supervisor.signal("nginx", "HUP")
    deadline = time.monotonic() + 35
    while time.monotonic() < deadline:
        if not any(pid_alive(pid) for pid in old_workers):
            return
        time.sleep(0.05)


def scale(run_dir: Path, count: int, echo: Echo, fleet: FleetSettings) -> FleetSpec:
    """Add or remove replicas live; nginx only ever routes to replicas that are ready."""
    spec, supervisor = running_spec(run_dir)
    return scale_spec(spec, supervisor, count, echo, fleet)


def scale_spec(
    spec: FleetSpec, supervisor: Supervisor, count: int, echo: Echo, fleet: FleetSettings
) -> FleetSpec:
    """:func:`scale` on a spec already loaded (and updated in place and saved)."""
    target = spec.with_replica_count(count)
    added = [name for name in target if name not in spec.replicas]
    removed = [name for name in spec.replicas if name not in target]
    if added:
        require_free_ports({name: target[name] for name in added})
        spec.replicas = {**spec.replicas, **{name: target[name] for name in added}}
        render.write_supervisord_conf(spec, fleet)
        supervisor.reload_config()
        for name in added:
            echo(f"Starting {name} ...")
            supervisor.add(name)
        wait_ready(spec, added, echo)
    spec.replicas = target
    reload_nginx(spec, supervisor, fleet)  # new replicas join, removed ones are drained
    if removed:
        render.write_supervisord_conf(spec, fleet)
        supervisor.reload_config()
        for name in removed:
            echo(f"Stopping {name} (drained from nginx) ...")
            supervisor.remove(name)
    spec.save()
    echo(f"The fleet now runs {len(spec.replicas)} replica(s).")
    return spec


def restart(run_dir: Path, echo: Echo, fleet: FleetSettings) -> None:
    """Rolling restart: one replica at a time is drained from nginx, stopped gracefully
    (in-flight requests finish within gunicorn's graceful_timeout), started, checked with
    /readyz and routed to again. The others serve meanwhile, so no request fails."""
    spec, supervisor = running_spec(run_dir)
    if len(spec.replicas) == 1:
        name = next(iter(spec.replicas))
        echo(f"One replica: reloading {name}'s workers in place (gunicorn HUP) ...")
        supervisor.signal(name, "HUP")
        return
    for name in spec.replicas:
        echo(f"Restarting {name}: draining ...")
        others = {k: v for k, v in spec.replicas.items() if k != name}
        reload_nginx(spec, supervisor, fleet, others)
        supervisor.rpc.stopProcess(name, True)
        supervisor.rpc.startProcess(name, True)
        wait_ready(spec, [name], echo)
        reload_nginx(spec, supervisor, fleet)
    echo(f"Restarted {len(spec.replicas)} replicas.")
