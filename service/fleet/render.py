"""Writes the configs a fleet runs on into its run dir: env, Redis, nginx, supervisord."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..config import PROJECT_ROOT, FleetSettings
from .privacy import country_headers
from .spec import FleetSpec, find_binary, redis_password, venv_bin

_templates = Environment(
    loader=FileSystemLoader([str(Path(__file__).parent / "templates"), str(PROJECT_ROOT)]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701  # nosec B701  # renders config files, not HTML
)
NGINX_TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def write_env_file(spec: FleetSpec, settings: dict[str, str]) -> None:
    """``linkfleet.env``: the fleet's LINKFLEET_* settings, read by replicas and the CLI alike."""
    lines = [f"{key}={value}" for key, value in sorted(settings.items())]
    spec.env_file.touch(mode=0o600)  # owner-only before it holds the secret and the password
    spec.env_file.chmod(0o600)
    spec.env_file.write_text(
        "# Written by `linkfleet fleet up`; the CLI run from this checkout reads it.\n"
        + "\n".join(lines)
        + "\n"
    )


def write_redis_conf(spec: FleetSpec) -> Path:
    """Redis with AOF (fsync every second) so a crash loses at most about a second, and a
    password (the file is owner-only: it holds it; ``ps`` never shows it)."""
    data_dir = spec.run_dir / "redis"
    data_dir.mkdir(exist_ok=True)
    path = spec.run_dir / "redis.conf"
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(
        _templates.get_template("redis.conf.j2").render(
            port=spec.redis_port,
            data_dir=data_dir,
            log_dir=spec.log_dir,
            password=redis_password(spec.run_dir),
        )
    )
    return path


def _traversable_by_others(path: Path) -> bool:
    """True when every directory above ``path`` lets other users through (``o+x``)."""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)


def nginx_temp_dir(spec: FleetSpec) -> Path:
    """Where nginx buffers request bodies over 16 KiB (and proxied responses).

    Run as root, nginx's workers are ``nobody``: a run dir below a private directory
    (``/root/...``, pytest's ``/tmp/pytest-of-root``) would make every such body a 500. Then
    the buffers live in a directory of their own under the system temp dir instead.
    """
    temp = spec.run_dir / "nginx"
    if os.geteuid() == 0 and not _traversable_by_others(temp):
        digest = hashlib.sha256(str(spec.run_dir).encode()).hexdigest()[:12]
        temp = Path(tempfile.gettempdir()) / f"linkfleet-nginx-{digest}"
    return temp


def write_nginx_conf(
    spec: FleetSpec, fleet: FleetSettings, routed: dict[str, int] | None = None
) -> Path:
    """Render the top-level ``nginx.conf`` routing to ``routed`` (default: every replica)."""
    temp = nginx_temp_dir(spec)
    worker_user = ""
    for name in NGINX_TEMP_DIRS:
        (temp / name).mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # nginx drops its workers to nobody when started as root; they need their temp dirs.
        worker_user = "nobody nogroup"
        for name in NGINX_TEMP_DIRS:
            shutil.chown(temp / name, "nobody", "nogroup")
    path = spec.run_dir / "nginx.conf"
    path.write_text(
        _templates.get_template("nginx.conf").render(
            worker_user=worker_user,
            worker_processes=fleet.nginx_workers,
            run_dir=spec.run_dir,
            log_dir=spec.log_dir,
            nginx_temp=temp,
            replicas=list((spec.replicas if routed is None else routed).items()),
            bind_host=spec.bind_host,
            port=spec.port,
            client_timeout=fleet.nginx_client_timeout,
            max_inflight=fleet.nginx_max_inflight,
            country_headers=country_headers(),
            proxy_read_timeout=fleet.nginx_proxy_read_timeout,
        )
    )
    return path


def write_supervisord_conf(spec: FleetSpec, fleet: FleetSettings) -> Path:
    """One program per replica (so replicas can be added and removed one by one)."""
    path = spec.run_dir / "supervisord.conf"
    bin_dir = venv_bin()
    path.write_text(
        _templates.get_template("supervisord.conf.j2").render(
            spec=spec,
            project_root=PROJECT_ROOT,
            gunicorn=bin_dir / "gunicorn",
            gunicorn_conf=PROJECT_ROOT / "deploy" / "gunicorn.conf.py",
            redis_server=find_binary("redis-server") if not spec.external_redis_url else "",
            nginx=find_binary("nginx"),
            graceful_timeout=fleet.graceful_timeout,
        )
    )
    return path


def write_all(spec: FleetSpec, fleet: FleetSettings) -> None:
    """Everything but the env file, which needs the settings."""
    spec.log_dir.mkdir(parents=True, exist_ok=True)
    if not spec.external_redis_url:
        write_redis_conf(spec)
    write_nginx_conf(spec, fleet)
    write_supervisord_conf(spec, fleet)
    spec.save()
