"""deploy/nginx/upstreams.sh with real nginx: the container's upstream follows the app
service's addresses, and keeps the last ones while the name does not resolve.

The name is resolved through a hosts file bind-mounted over /etc/hosts in a mount namespace of
the test's own (``unshare``, root), so the test can move the service between two addresses
and make it unresolvable, as a container network's DNS would.
"""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.deploy.test_compose import render_container_nginx
from tests.fixtures.services import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "nginx" / "upstreams.sh"
SERVICE = "linkfleet-app.test"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root for a mount namespace"
)


def run_once(tmp_path: Path, service: str) -> str:
    servers = tmp_path / "servers.conf"
    env = {**os.environ, "LINKFLEET_APP_SERVICE": service, "LINKFLEET_UPSTREAM_CONF": str(servers)}
    subprocess.run(["sh", str(SCRIPT), "once"], env=env, check=True, timeout=30)
    return servers.read_text()


def test_once_writes_the_addresses_or_a_placeholder(tmp_path: Path) -> None:
    assert run_once(tmp_path, "localhost:8123") == (
        "server 127.0.0.1:8123 max_fails=1 fail_timeout=2s;\n"
    )
    assert run_once(tmp_path, "linkfleet-no-such-host.invalid:8000") == (
        "server 127.0.0.1:9 down;\n"
    )


def backend(address: str, port: int, name: str) -> http.server.ThreadingHTTPServer:
    """An upstream that answers its name (HTTP/1.0: no connection outlives its request)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def container_nginx(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Container nginx + the watch loop in a mount namespace; (its URL, the hosts file)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / name).mkdir()
    hosts, nsswitch = tmp_path / "hosts", tmp_path / "nsswitch.conf"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.2 {SERVICE}\n")
    nsswitch.write_text("hosts: files\n")  # no DNS server is asked: the hosts file decides
    port, servers = free_port(), tmp_path / "servers.conf"
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        render_container_nginx(
            worker_user="", run_dir=tmp_path, log_dir=tmp_path, nginx_temp=tmp_path,
            upstream_conf=servers, bind_host="127.0.0.1", port=port,
        )
    )  # fmt: skip
    env = {
        **os.environ,
        "LINKFLEET_APP_SERVICE": f"{SERVICE}:{port + 1}",
        "LINKFLEET_UPSTREAM_CONF": str(servers),
        "LINKFLEET_UPSTREAM_REFRESH": "0.2",
        "LINKFLEET_NGINX_PID": str(tmp_path / "nginx.pid"),
    }
    inside = (
        f'mount --bind "{hosts}" /etc/hosts && mount --bind "{nsswitch}" /etc/nsswitch.conf'
        f' && sh "{SCRIPT}" once'
        f' && "{nginx}" -p "{tmp_path}" -c "{conf}" -e "{tmp_path / "error.log"}"'
        f' && exec sh "{SCRIPT}" watch'
    )
    watch = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", inside], env=env
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        yield url, hosts
    finally:
        watch.terminate()
        watch.wait(timeout=10)
        pid = tmp_path / "nginx.pid"
        if pid.exists():
            os.kill(int(pid.read_text()), signal.SIGQUIT)


def answers(url: str, expected: str, timeout: float = 10) -> None:
    """Wait until ``url`` answers ``expected`` (the refresh runs every 0.2 s)."""
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            last = requests.get(url, timeout=2).text
        except requests.RequestException as error:
            last = repr(error)
        if last == expected:
            return
        time.sleep(0.1)
    pytest.fail(f"{url} still answers {last!r}, not {expected!r}")


def test_the_upstream_follows_the_service_and_outlives_a_failed_lookup(
    container_nginx: tuple[str, Path],
) -> None:
    url, hosts = container_nginx
    port = int(url.rsplit(":", 1)[1].strip("/")) + 1
    first, second = backend("127.0.0.2", port, "first"), backend("127.0.0.3", port, "second")
    try:
        answers(url, "first")
        hosts.write_text(f"127.0.0.1 localhost\n127.0.0.3 {SERVICE}\n")  # the service moved
        answers(url, "second")
        hosts.write_text("127.0.0.1 localhost\n")  # the name resolves no more
        time.sleep(1)  # five refreshes
        for _ in range(20):
            assert requests.get(url, timeout=2).text == "second"
    finally:
        for server in (first, second):
            server.shutdown()
            server.server_close()
