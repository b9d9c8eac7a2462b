"""`make compose-test`: run the real docker-compose.yml with podman + podman-compose, end to end.

What it proves, on a host with no Docker engine and no image registry (only Debian and PyPI):

1. builds stand-ins for the public base images with ``debootstrap --variant=minbase`` +
   ``podman import`` (python:3.11-slim-bookworm -> Debian's python3; debian:bookworm-slim ->
   a minbase root), and stand-ins for the official redis and postgres images
   (deploy/standin/Dockerfile); then the project's own images from deploy/Dockerfile and
   deploy/nginx/Dockerfile. Every image is labelled with a hash of its inputs and rebuilt
   only when that hash changes, so a warm run builds nothing;
2. brings the stack up with 3 app replicas, checks that requests through nginx reach all 3
   (``X-Served-By`` is each container's host name) and that a link created through the API
   redirects through nginx;
3. scales the app service to 5 and waits until nginx reaches all 5, without a config change;
4. runs Locust (master + 2 workers, headless, bounded in time) against nginx inside the
   compose network and requires zero failed requests;
5. reads /metrics through nginx, and waits until the analytics worker has counted clicks of
   that load (Redis Stream -> PostgreSQL);
6. tears everything down (containers, network, volumes) whatever happened.

podman facts this relies on (checked on Debian 12 hosts, see docs/DEPLOYMENT.md): runc as the
runtime and ``default_ulimits = []`` in a containers.conf passed through ``CONTAINERS_CONF``
(crun fails on this host's hybrid cgroups); healthchecks are not scheduled without systemd, so
this script runs the compose file's healthchecks itself with ``podman healthcheck run``;
podman-compose 1.0.3 ignores ``depends_on`` conditions, ``profiles`` and ``--scale``, so
services are started in dependency order by name and scaling changes ``deploy.replicas``
through ``LINKFLEET_APP_REPLICAS``.

Run as root (apt-get installs podman, podman-compose, runc, debootstrap and iptables when
missing). Timings go to stdout and .run/compose-test/timings.json.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".run" / "compose-test"
PROJECT = "linkfleet-ct"
HASH_LABEL = "org.linkfleet.inputs-hash"
#: Extra certificate authorities this host trusts (copied into the stand-in bases).
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
DEBIAN_MIRROR = os.environ.get("LINKFLEET_DEBIAN_MIRROR", "http://deb.debian.org/debian")
APT_PACKAGES = (
    "podman",
    "podman-compose",
    "runc",
    "debootstrap",
    "iptables",
    "netavark",
    "aardvark-dns",
)
CONTAINERS_CONF = """\
# Written by deploy/compose_test.py. crun fails on this host's hybrid cgroups; runc works.
[containers]
default_ulimits = []
[engine]
runtime = "runc"
events_logger = "file"
"""


@dataclass(frozen=True)
class Base:
    """A stand-in for a public base image: a Debian minbase root with some packages."""

    tag: str
    packages: tuple[str, ...]
    stands_for: str


@dataclass(frozen=True)
class Image:
    """An image built from a Dockerfile of this repository."""

    tag: str
    dockerfile: str
    inputs: tuple[str, ...]
    target: str | None = None
    bases: tuple[str, ...] = ()


PYTHON_BASE = Base(
    "localhost/linkfleet-standin/python:3.11-bookworm",
    ("python3", "python3-venv", "ca-certificates"),
    "python:3.11-slim-bookworm",
)
DEBIAN_BASE = Base(
    "localhost/linkfleet-standin/debian:bookworm", ("ca-certificates",), "debian:bookworm-slim"
)
APP_INPUTS = (
    "deploy/Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "README.md",
    "service",
    "deploy/gunicorn.conf.py",
)
IMAGES = {
    "app": Image(
        "localhost/linkfleet/app:compose-test",
        "deploy/Dockerfile",
        APP_INPUTS,
        "runtime",
        ("PYTHON_BASE",),
    ),
    "loadtest": Image(
        "localhost/linkfleet/loadtest:compose-test",
        "deploy/Dockerfile",
        (*APP_INPUTS, "loadtests"),
        "loadtest",
        ("PYTHON_BASE",),
    ),
    "nginx": Image(
        "localhost/linkfleet/nginx:compose-test",
        "deploy/nginx/Dockerfile",
        ("deploy/nginx", "nginx.conf", ".dockerignore"),
        None,
        ("PYTHON_BASE", "DEBIAN_BASE"),
    ),
    "redis": Image(
        "localhost/linkfleet-standin/redis:7-bookworm",
        "deploy/standin/Dockerfile",
        ("deploy/standin",),
        "redis",
        ("DEBIAN_BASE",),
    ),
    "postgres": Image(
        "localhost/linkfleet-standin/postgres:15-bookworm",
        "deploy/standin/Dockerfile",
        ("deploy/standin",),
        "postgres",
        ("DEBIAN_BASE",),
    ),
}


class Failure(Exception):
    """A check failed; the message says which and why."""


@dataclass
class Clock:
    started: float = field(default_factory=time.monotonic)
    phases: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        log(f"--- {name}")
        try:
            yield
        finally:
            self.phases[name] = round(time.monotonic() - began, 1)
            log(f"    {name}: {self.phases[name]:.1f}s")

    @property
    def total(self) -> float:
        return round(time.monotonic() - self.started, 1)


def log(message: str) -> None:
    print(message, flush=True)


def run(
    cmd: Sequence[str],
    *,
    check: bool = True,
    capture: bool = False,
    timeout: float | None = 900,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; its output goes to the log file unless captured."""
    with (STATE / "commands.log").open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        result = subprocess.run(
            list(cmd),
            text=True,
            timeout=timeout,
            env=env,
            input=stdin,
            stdout=subprocess.PIPE if capture else out,
            stderr=subprocess.PIPE if capture else subprocess.STDOUT,
        )
        if capture:
            out.write(result.stdout + result.stderr)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-2000:] if capture else ""
        raise Failure(
            f"{' '.join(cmd[:4])} ... exited {result.returncode} "
            f"(see {STATE / 'commands.log'}) {detail}"
        )
    return result


# --- host preparation ------------------------------------------------------------------------


def ensure_tools() -> None:
    missing = [
        name
        for name in APT_PACKAGES
        if subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True
        ).stdout.strip()
        != "install ok installed"
    ]
    if not missing:
        return
    if os.geteuid() != 0:
        raise Failure(f"missing Debian packages {missing}: run as root to install them")
    log(f"installing {' '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)


def podman_env() -> dict[str, str]:
    conf = STATE / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def image_hash(tag: str) -> str | None:
    result = subprocess.run(
        ["podman", "image", "inspect", "--format", f'{{{{index .Labels "{HASH_LABEL}"}}}}', tag],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def image_id(tag: str) -> str:
    return run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", tag], capture=True
    ).stdout.strip()


def ensure_base(base: Base) -> str:
    """debootstrap + podman import, unless an image with the same inputs exists."""
    extra_cas = sorted(HOST_CA_DIR.glob("*.crt"))
    digest = hashlib.sha256(
        json.dumps(
            ["minbase", "bookworm", DEBIAN_MIRROR, sorted(base.packages), 3]
            + [ca.read_text() for ca in extra_cas]
        ).encode()
    ).hexdigest()[:16]
    if image_hash(base.tag) == digest:
        log(f"    {base.tag}: cached")
        return image_id(base.tag)
    if shutil.which("debootstrap") is None:
        raise Failure("debootstrap is not installed")
    with tempfile.TemporaryDirectory(prefix="linkfleet-rootfs-") as tmp:
        rootfs = Path(tmp) / "root"
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(base.packages)}",
                "bookworm",
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            timeout=900,
        )
        if extra_cas:
            # This host reaches PyPI through a proxy with its own CA: let the stand-in trust
            # what the host trusts (a public base image on a normal host needs nothing).
            for ca in extra_cas:
                shutil.copy(ca, rootfs / "usr/local/share/ca-certificates" / ca.name)
            run(["chroot", str(rootfs), "update-ca-certificates"])
            (rootfs / "etc/pip.conf").write_text(
                "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n"
            )
        # What slim images leave out: downloaded packages and package lists.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / junk).glob("*"):
                if path.is_file():
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        _import(tar, digest, base)
        if tar.wait() != 0:
            raise Failure(f"tar of the {base.tag} root failed")
    log(f"    {base.tag}: built (stands for {base.stands_for})")
    return image_id(base.tag)


def _import(tar: subprocess.Popen[bytes], digest: str, base: Base) -> None:
    with (STATE / "commands.log").open("a") as out:
        result = subprocess.run(
            [
                "podman",
                "import",
                "--change",
                f"LABEL {HASH_LABEL}={digest}",
                "--change",
                f"LABEL org.linkfleet.stands-for={base.stands_for}",
                "--change",
                'CMD ["/bin/bash"]',
                "-",
                base.tag,
            ],
            stdin=tar.stdout,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    if result.returncode != 0:
        raise Failure(f"podman import of {base.tag} failed (see {STATE / 'commands.log'})")


def inputs_digest(paths: Sequence[str], extra: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for item in extra:
        digest.update(item.encode() + b"\0")
    for name in paths:
        path = ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            rel = file.relative_to(ROOT)
            if "__pycache__" in rel.parts or "results" in rel.parts:
                continue
            digest.update(str(rel).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def ensure_image(image: Image, base_args: dict[str, str], base_ids: dict[str, str]) -> None:
    args = {name: base_args[name] for name in image.bases}
    digest = inputs_digest(
        image.inputs,
        [
            image.dockerfile,
            image.target or "",
            repr(sorted(args.items())),
            *(base_ids[name] for name in image.bases),
        ],
    )
    if image_hash(image.tag) == digest:
        log(f"    {image.tag}: cached")
        return
    cmd = [
        "podman",
        "build",
        "--format",
        "docker",
        "--layers",
        "--label",
        f"{HASH_LABEL}={digest}",
        "-f",
        image.dockerfile,
        "-t",
        image.tag,
    ]
    if image.target:
        cmd += ["--target", image.target]
    for name, value in args.items():
        cmd += ["--build-arg", f"{name}={value}"]
    began = time.monotonic()
    run([*cmd, "."], timeout=1200)
    log(f"    {image.tag}: built in {time.monotonic() - began:.0f}s")


# --- compose -----------------------------------------------------------------------------------


class Stack:
    """podman-compose on docker-compose.yml with this run's environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> None:
        run(
            ["podman-compose", "-p", PROJECT, "-f", str(ROOT / "docker-compose.yml"), *args],
            env=self.env,
            timeout=timeout,
            check=check,
        )

    def up(self, *services: str, **env: str) -> None:
        self.env.update(env)
        self.compose("up", "-d", "--no-build", *services)

    def containers(self, service: str | None = None, *, running: bool = True) -> list[str]:
        cmd = [
            "podman",
            "ps",
            "--format",
            "{{.Names}}",
            "--filter",
            f"label=io.podman.compose.project={PROJECT}",
        ]
        if service:
            cmd += ["--filter", f"label=com.docker.compose.service={service}"]
        if not running:
            cmd.append("-a")
        out = run(cmd, capture=True, env=self.env).stdout
        return sorted(line for line in out.split() if line)

    def healthy(self, name: str) -> bool:
        result = subprocess.run(
            ["podman", "healthcheck", "run", name],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
        )
        return result.returncode == 0

    def wait_healthy(self, service: str, count: int, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        names: list[str] = []
        while time.monotonic() < deadline:
            names = self.containers(service)
            if len(names) >= count and all(self.healthy(name) for name in names):
                return names
            time.sleep(1)
        raise Failure(
            f"{service}: {len(names)} of {count} containers healthy after {timeout:.0f}s"
            f"\n{self.logs(names[-1]) if names else ''}"
        )

    def hostname(self, name: str) -> str:
        return run(
            ["podman", "inspect", "--format", "{{.Config.Hostname}}", name],
            capture=True,
            env=self.env,
        ).stdout.strip()

    def exit_code(self, name: str, timeout: float) -> int:
        result = run(["podman", "wait", name], capture=True, env=self.env, timeout=timeout)
        return int(result.stdout.strip().splitlines()[-1])

    def logs(self, name: str, tail: int = 40) -> str:
        result = run(
            ["podman", "logs", "--tail", str(tail), name], capture=True, env=self.env, check=False
        )
        return result.stdout + result.stderr

    def exec(self, name: str, *cmd: str, stdin: str | None = None) -> str:
        args = ["podman", "exec", *(["-i"] if stdin is not None else []), name, *cmd]
        return run(args, capture=True, env=self.env, stdin=stdin).stdout

    def purge(self) -> None:
        """Remove every container, network and volume of the project (also a crashed run's)."""
        self.compose("down", "-v", "-t", "5", timeout=300, check=False)
        leftovers = self.containers(running=False)
        if leftovers:
            run(["podman", "rm", "-f", "-t", "5", *leftovers], env=self.env, check=False)
        volumes = run(
            [
                "podman",
                "volume",
                "ls",
                "-q",
                "--filter",
                f"label=io.podman.compose.project={PROJECT}",
            ],
            capture=True,
            env=self.env,
            check=False,
        ).stdout.split()
        if volumes:
            run(["podman", "volume", "rm", "-f", *volumes], env=self.env, check=False)
        run(["podman", "network", "rm", "-f", f"{PROJECT}_default"], env=self.env, check=False)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirect())


def http(
    url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with OPENER.open(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def served_by(base: str, expected: set[str], timeout: float) -> set[str]:
    """Send requests through nginx until every expected replica has answered."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    requests = 0
    while time.monotonic() < deadline and not expected <= seen:
        try:
            status, headers, _ = http(f"{base}/healthz")
        except OSError:
            time.sleep(0.2)
            continue
        requests += 1
        if status == 200:
            seen.add(headers.get("X-Served-By", ""))
        else:
            time.sleep(0.1)
    log(
        f"    {requests} requests through nginx reached {len(seen & expected)} of "
        f"{len(expected)} replicas"
    )
    if not expected <= seen:
        raise Failure(
            f"replicas never reached through nginx: {sorted(expected - seen)} (seen {sorted(seen)})"
        )
    unexpected = seen - expected
    if unexpected:
        raise Failure(f"X-Served-By names that are no app container: {sorted(unexpected)}")
    return seen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_link_roundtrip(stack: Stack, base: str) -> None:
    """A user and an API key made with the CLI in a replica; a link made through the API
    redirects through nginx (database, Redis and every layer in between)."""
    app = stack.containers("app")[0]
    email = "compose-test@example.com"
    stack.exec(
        app,
        "linkfleet",
        "user",
        "create",
        email,
        "--password-stdin",
        stdin="compose-test-password\n",
    )
    output = stack.exec(app, "linkfleet", "apikey", "create", email, "--name", "compose-test")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        raise Failure("`linkfleet apikey create` printed no key")
    key = lines[-1]
    status, _, body = http(
        f"{base}/api/v1/links",
        data=json.dumps({"url": "https://example.org/compose"}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    if status != 201:
        raise Failure(f"POST /api/v1/links answered {status}: {body[:300]!r}")
    slug = json.loads(body)["slug"]
    status, headers, _ = http(f"{base}/{slug}")
    if status != 302 or headers.get("Location") != "https://example.org/compose":
        raise Failure(f"GET /{slug} answered {status} {headers.get('Location')}")
    log(f"    link /{slug} created through the API redirects through nginx")


def run_locust(stack: Stack, users: int, seconds: int) -> dict[str, int]:
    stack.up(
        "locust-master",
        "locust-worker",
        LOCUST_HEADLESS="true",
        LOCUST_USER_CLASSES="RedirectUser",
        LOCUST_USERS=str(users),
        LOCUST_SPAWN_RATE=str(users),
        LOCUST_RUN_TIME=f"{seconds}s",
        LOCUST_SEED_LINKS="500",
        LOCUST_WORKERS="2",
    )
    master = stack.containers("locust-master", running=False)[0]
    code = stack.exit_code(master, timeout=seconds + 180)
    logs = stack.logs(master, tail=60)
    (STATE / "locust-master.log").write_text(logs)
    match = re.search(r"Aggregated\s+(\d+)\s+(\d+)\(", logs)
    if not match:
        raise Failure(f"no Locust summary (exit {code}):\n{logs[-3000:]}")
    stats = {"requests": int(match.group(1)), "failures": int(match.group(2)), "exit": code}
    rps = re.search(r"Aggregated(?:\s+\S+){8}\s+([\d.]+)", logs)
    log(
        f"    Locust: {stats['requests']} requests, {stats['failures']} failures in {seconds}s"
        + (f" ({rps.group(1)} req/s)" if rps else "")
    )
    if code != 0 or stats["failures"] or stats["requests"] == 0:
        raise Failure(f"Locust run failed: {stats}\n{logs[-3000:]}")
    return stats


def metric_value(text: str, name: str, labels: str = "") -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+]+)"
    match = re.search(pattern, text)
    return float(match[1]) if match else 0.0


def check_metrics_and_analytics(stack: Stack, base: str, timeout: float = 60) -> float:
    """/metrics answers through nginx, and the worker counts the load's clicks from the stream
    into the database (its own metrics endpoint, read inside its container)."""
    status, _, body = http(f"{base}/metrics")
    if status != 200 or b"linkfleet_http_requests_total" not in body:
        raise Failure(f"/metrics through nginx answered {status}")
    worker = stack.containers("worker")[0]
    probe = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9100/metrics').read().decode())"
    deadline = time.monotonic() + timeout
    counted = 0.0
    while time.monotonic() < deadline:
        text = stack.exec(worker, "python3", "-c", probe)
        counted = metric_value(text, "linkfleet_analytics_worker_events_total", 'outcome="counted"')
        if counted > 0:
            log(f"    the analytics worker has counted {counted:.0f} clicks so far")
            return counted
        time.sleep(2)
    raise Failure(f"the analytics worker counted no click within {timeout:.0f}s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--scale-to", type=int, default=5)
    parser.add_argument("--locust-seconds", type=int, default=20)
    parser.add_argument("--locust-users", type=int, default=30)
    args = parser.parse_args(argv)

    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "commands.log").write_text("")
    clock = Clock()
    result: dict[str, object] = {"ok": False}
    stack: Stack | None = None
    try:
        with clock.phase("tools"):
            ensure_tools()
            env = podman_env()
            os.environ["CONTAINERS_CONF"] = env["CONTAINERS_CONF"]
        with clock.phase("base images"):
            base_ids = {
                "PYTHON_BASE": ensure_base(PYTHON_BASE),
                "DEBIAN_BASE": ensure_base(DEBIAN_BASE),
            }
        base_args = {"PYTHON_BASE": PYTHON_BASE.tag, "DEBIAN_BASE": DEBIAN_BASE.tag}
        with clock.phase("project images"):
            for image in IMAGES.values():
                ensure_image(image, base_args, base_ids)
            # Untagged layers of older builds (build-stage caches) pile up otherwise.
            run(["podman", "image", "prune", "-f", "--filter", "until=72h"], check=False)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env.update(
            {
                "LINKFLEET_SECRET_KEY": secrets.token_urlsafe(32),
                "LINKFLEET_POSTGRES_PASSWORD": secrets.token_urlsafe(16),
                "LINKFLEET_REDIS_PASSWORD": secrets.token_hex(24),
                "LINKFLEET_APP_IMAGE": IMAGES["app"].tag,
                "LINKFLEET_LOADTEST_IMAGE": IMAGES["loadtest"].tag,
                "LINKFLEET_NGINX_IMAGE": IMAGES["nginx"].tag,
                "LINKFLEET_REDIS_IMAGE": IMAGES["redis"].tag,
                "LINKFLEET_POSTGRES_IMAGE": IMAGES["postgres"].tag,
                "LINKFLEET_PYTHON_BASE": PYTHON_BASE.tag,
                "LINKFLEET_DEBIAN_BASE": DEBIAN_BASE.tag,
                "LINKFLEET_BIND_HOST": "127.0.0.1",
                "LINKFLEET_PORT": str(port),
                "LINKFLEET_PUBLIC_URL": base,
                "LOCUST_WEB_PORT": str(free_port()),
                "LINKFLEET_APP_REPLICAS": str(args.replicas),
            }
        )
        stack = Stack(env)
        stack.purge()
        with clock.phase(f"up with {args.replicas} replicas"):
            stack.up("redis", "postgres")
            stack.wait_healthy("redis", 1, 60)
            stack.wait_healthy("postgres", 1, 90)
            stack.up("migrate")
            migrate = stack.containers("migrate", running=False)[0]
            if stack.exit_code(migrate, timeout=120) != 0:
                raise Failure(f"migrate failed:\n{stack.logs(migrate)}")
            stack.up("app", "worker", "nginx")
            apps = stack.wait_healthy("app", args.replicas, 120)
            stack.wait_healthy("worker", 1, 60)
            stack.wait_healthy("nginx", 1, 60)
        with clock.phase("requests reach every replica"):
            served_by(base, {stack.hostname(name) for name in apps}, 60)
            status, _, body = http(f"{base}/readyz")
            if status != 200:
                raise Failure(f"/readyz through nginx answered {status}: {body[:300]!r}")
            check_link_roundtrip(stack, base)
        with clock.phase(f"scale to {args.scale_to}"):
            stack.up("app", LINKFLEET_APP_REPLICAS=str(args.scale_to))
            apps = stack.wait_healthy("app", args.scale_to, 120)
            served_by(base, {stack.hostname(name) for name in apps}, 60)
        with clock.phase("locust"):
            result["locust"] = run_locust(stack, args.locust_users, args.locust_seconds)
        with clock.phase("metrics and click analytics"):
            result["clicks_counted"] = check_metrics_and_analytics(stack, base)
        result["ok"] = True
    except Failure as failure:
        log(f"FAILED: {failure}")
        result["error"] = str(failure)[:2000]
    finally:
        if stack is not None and not args.keep:
            with clock.phase("tear down"):
                stack.purge()
        result.update(phases=clock.phases, total_seconds=clock.total)
        (STATE / "timings.json").write_text(json.dumps(result, indent=2) + "\n")
        log(
            f"compose-test {'passed' if result['ok'] else 'FAILED'} in {clock.total:.0f}s "
            f"({', '.join(f'{k} {v:.0f}s' for k, v in clock.phases.items())})"
        )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
