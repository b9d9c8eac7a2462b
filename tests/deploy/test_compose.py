"""docker-compose.yml and the container nginx config, checked without containers.

`make compose-test` (deploy/compose_test.py) runs the stack for real with podman.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)s", value)
    assert match, value
    return int(match[1])


def test_the_stack_has_every_service_of_the_contract(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "nginx",
        "app",
        "worker",
        "redis",
        "postgres",
        "migrate",
        "locust-master",
        "locust-worker",
    }
    assert services["locust-master"]["profiles"] == ["loadtest"]
    assert services["locust-worker"]["profiles"] == ["loadtest"]
    for name in ("nginx", "app", "worker", "redis", "postgres", "migrate"):
        assert "profiles" not in services[name]


def test_app_replicas_resources_and_graceful_stop(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    assert re.fullmatch(r"\$\{LINKFLEET_APP_REPLICAS:-\d+\}", str(app["deploy"]["replicas"]))
    assert app["deploy"]["resources"]["limits"]["cpus"]
    assert app["deploy"]["resources"]["limits"]["memory"]
    graceful = load_module(ROOT / "deploy" / "gunicorn.conf.py").graceful_timeout
    assert app["environment"]["LINKFLEET_GRACEFUL_TIMEOUT"] == str(graceful)
    assert seconds(app["stop_grace_period"]) > graceful
    assert seconds(compose["services"]["worker"]["stop_grace_period"]) > 10
    assert "ports" not in app, "replicas are reached through nginx only"


def test_start_order_waits_for_health_and_the_migration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("app", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["app"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["linkfleet", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    for name in ("nginx", "app", "worker", "redis", "postgres"):
        test = services[name]["healthcheck"]["test"]
        # A string is CMD-SHELL; services with replicas need it (see docker-compose.yml).
        assert isinstance(test, str) or test[0] == "CMD", name
    assert isinstance(services["app"]["healthcheck"]["test"], str)
    assert "/readyz" in services["app"]["healthcheck"]["test"]
    for name in ("migrate", "locust-master", "locust-worker"):
        assert services[name]["healthcheck"] == {"disable": True}


def test_redis_keeps_an_append_only_file_and_postgres_a_volume(compose: dict[str, Any]) -> None:
    redis_command = compose["services"]["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert redis_command[redis_command.index("--appendfsync") + 1] == "everysec"
    assert "redis-data:/data" in compose["services"]["redis"]["volumes"]
    assert "postgres-data:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    assert {"redis-data", "postgres-data"} <= set(compose["volumes"])


def test_redis_requires_the_password_the_app_connects_with(compose: dict[str, Any]) -> None:
    redis_service = compose["services"]["redis"]
    command = redis_service["command"]
    password = command[command.index("--requirepass") + 1]
    assert password.startswith("${LINKFLEET_REDIS_PASSWORD:?")  # required, no default
    assert "--protected-mode" not in command
    url = compose["services"]["app"]["environment"]["LINKFLEET_REDIS_URL"]
    assert url == f"redis://:{password}@redis:6379/0"
    assert redis_service["environment"]["REDISCLI_AUTH"] == password  # the healthcheck's


def test_secrets_have_no_default(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "${LINKFLEET_SECRET_KEY:?" in text
    assert "${LINKFLEET_POSTGRES_PASSWORD:?" in text
    assert "${LINKFLEET_REDIS_PASSWORD:?" in text
    assert not re.search(r"LINKFLEET_(SECRET_KEY|POSTGRES_PASSWORD|REDIS_PASSWORD):-", text)


def render_container_nginx(**overrides: Any) -> str:
    render = load_module(ROOT / "deploy" / "nginx" / "render.py")
    return str(render.render(ROOT / "nginx.conf", **overrides))


def test_container_nginx_takes_its_servers_from_the_refreshed_file() -> None:
    conf = render_container_nginx()
    block = conf[conf.index("upstream linkfleet_replicas {") :]
    block = block[: block.index("}")]
    assert "include /etc/nginx/linkfleet-upstream.conf;" in block
    assert "least_conn;" in block
    assert "keepalive 64;" in block
    assert "resolver" not in conf
    assert conf.count("proxy_pass http://linkfleet_replicas;") == 2
    # The proxy settings are the fleet's own (one template).
    for setting in (
        "proxy_next_upstream error timeout;",
        'proxy_set_header Connection "";',
        "proxy_set_header X-Request-ID $request_id;",
        "proxy_http_version 1.1;",
    ):
        assert setting in conf


@pytest.mark.integration
def test_container_nginx_config_is_accepted_by_nginx(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is not installed (make test installs it)")
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / name).mkdir()
    servers = tmp_path / "upstream.conf"
    servers.write_text("server 127.0.0.1:9 down;\n")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        render_container_nginx(
            worker_user="",
            run_dir=tmp_path,
            log_dir=tmp_path,
            nginx_temp=tmp_path,
            upstream_conf=servers,
        )
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
