"""LINKFLEET_TRUSTED_PROXIES takes networks too: in containers nginx's address is only known
to lie in the network's range."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import request

from service import create_app
from service.app import is_trusted_proxy
from service.config import ConfigError, Settings
from tests.fixtures.services import RedisServer


def test_addresses_and_networks_are_trusted() -> None:
    trusted = ("127.0.0.1", "10.0.0.0/8", "fd00::/8")
    assert is_trusted_proxy("127.0.0.1", trusted)
    assert is_trusted_proxy("10.89.0.7", trusted)
    assert is_trusted_proxy("fd00::1", trusted)
    assert not is_trusted_proxy("192.168.1.1", trusted)
    assert not is_trusted_proxy("", trusted)
    assert not is_trusted_proxy("not-an-ip", trusted)


def test_bad_entries_are_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="LINKFLEET_TRUSTED_PROXIES"):
        Settings.from_env({"LINKFLEET_TRUSTED_PROXIES": "127.0.0.1,nginx"})
    settings = Settings.from_env({"LINKFLEET_TRUSTED_PROXIES": "10.0.0.0/8, 172.16.0.0/12"})
    assert settings.to_flask()["TRUSTED_PROXIES"] == ("10.0.0.0/8", "172.16.0.0/12")


@pytest.mark.parametrize(
    ("peer", "client"), [("10.89.0.5", "203.0.113.9"), ("192.168.0.5", "192.168.0.5")]
)
def test_client_ip_comes_from_a_proxy_inside_a_trusted_network(
    redis_server: RedisServer, tmp_path: Path, peer: str, client: str
) -> None:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "REDIS_URL": redis_server.url,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "TRUSTED_PROXIES": ("127.0.0.1", "10.0.0.0/8"),
        }
    )
    with app.test_request_context(
        "/", environ_base={"REMOTE_ADDR": peer}, headers={"X-Forwarded-For": "203.0.113.9"}
    ):
        assert request.client_ip == client  # type: ignore[attr-defined]
