"""Settings parsing: every bad value is a one-line ConfigError naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import (
    ConfigError,
    FleetSettings,
    Settings,
    build_config,
    normalise_database_url,
)


def test_defaults_are_valid() -> None:
    settings = Settings.from_env({})
    config = settings.to_flask()
    assert config["REDIS_URL"] == "redis://127.0.0.1:6390/0"
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert config["SQLALCHEMY_DATABASE_URI"].endswith("/linkfleet.db")
    assert config["TRUSTED_PROXIES"] == ("127.0.0.1", "::1")
    assert config["SIGNUP_OPEN"] is True


def test_values_are_typed() -> None:
    settings = Settings.from_env(
        {
            "LINKFLEET_SESSION_COOKIE_SECURE": "true",
            "LINKFLEET_SESSION_LIFETIME_DAYS": "3",
            "LINKFLEET_REPLICA_NAME": "replica-9",
            "LINKFLEET_SIGNUP": "closed",
            "LINKFLEET_LINK_CACHE_L1_TTL_S": "7200",
        }
    )
    config = settings.to_flask()
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["PERMANENT_SESSION_LIFETIME"] == 3 * 86400
    assert config["REPLICA_NAME"] == "replica-9"
    assert config["SIGNUP_OPEN"] is False
    assert config["LINK_CACHE_L1_TTL"] == 7200.0


def test_postgres_urls_use_psycopg3() -> None:
    url = normalise_database_url("postgresql://postgres@127.0.0.1:5432/test")
    assert url == "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "not a url", "is not a database URL"),
        ("DATABASE_URL", "mysql://root@localhost/db", "supports sqlite and postgresql"),
        ("REDIS_URL", "http://127.0.0.1:6390", "is not a Redis URL"),
        ("REDIS_URL", "redis://127.0.0.1:notaport/0", "invalid port"),
        ("REDIS_URL", "redis:///0", "names no host"),
        ("SESSION_COOKIE_SECURE", "maybe", "is not a boolean"),
        ("SESSION_LIFETIME_DAYS", "ten", "is not an integer"),
        ("SESSION_LIFETIME_DAYS", "0", "at least 1"),
        ("SIGNUP", "sometimes", "must be open or closed"),
        ("LINK_CACHE_L1_TTL_S", "0", "at least 1"),
        ("API_WRITE_RATE_LIMIT", "lots", "is not a rate limit"),
    ],
)
def test_bad_values_are_one_line_errors(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        Settings.from_env({f"LINKFLEET_{variable}": value})
    assert "\n" not in str(caught.value)
    assert f"LINKFLEET_{variable}" in str(caught.value)


def test_missing_secret_is_refused_outside_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINKFLEET_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="LINKFLEET_SECRET_KEY is not set"):
        build_config()
    assert build_config({"TESTING": True})["SECRET_KEY"] == ""


def test_environment_is_read_by_build_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKFLEET_SECRET_KEY", "from-env")
    monkeypatch.setenv("LINKFLEET_REPLICA_NAME", "replica-7")
    config = build_config({"REPLICA_NAME": "override"})
    assert config["SECRET_KEY"] == "from-env"
    assert config["REPLICA_NAME"] == "override"


def test_api_key_budgets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKFLEET_API_READ_RATE_LIMIT", "6000 per minute")
    monkeypatch.setenv("LINKFLEET_API_WRITE_RATE_LIMIT", "50 per second")
    config = build_config({"TESTING": True})
    assert config["API_READ_RATE_LIMIT"] == "6000 per minute"
    assert config["API_WRITE_RATE_LIMIT"] == "50 per second"


def test_fleet_settings_are_read_once_into_a_value() -> None:
    environ = {
        "LINKFLEET_PORT": "9100",
        "LINKFLEET_NGINX_WORKERS": "3",
        "LINKFLEET_GRACEFUL_TIMEOUT": "7",
        "LINKFLEET_LOG_LEVEL": "WARNING",
        "HOME": "/root",
    }
    fleet = FleetSettings.from_env(environ)
    assert (fleet.port, fleet.nginx_workers, fleet.graceful_timeout) == (9100, "3", 7)
    assert fleet.redis_port is None  # unset: the fleet's default
    assert dict(fleet.environment) == {k: v for k, v in environ.items() if k != "HOME"}
    with pytest.raises(ConfigError, match="LINKFLEET_REDIS_PORT"):
        FleetSettings.from_env({"LINKFLEET_REDIS_PORT": "six"})


def test_nginx_conf_is_rendered_from_the_settings_passed(tmp_path: Path) -> None:
    """The benchmarks pass their own nginx knobs instead of exporting them."""
    from service.fleet.render import write_nginx_conf
    from service.fleet.spec import FleetSpec

    spec = FleetSpec(run_dir=tmp_path, port=9100, replicas={"replica-1": 9101})
    spec.log_dir.mkdir(parents=True)
    conf = write_nginx_conf(spec, FleetSettings(nginx_workers="1", nginx_max_inflight=17))
    text = conf.read_text()
    assert "worker_processes 1;" in text
    assert "limit_conn linkfleet_inflight 17;" in text
