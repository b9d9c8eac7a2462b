"""Unit tests of event building: fields, privacy (DNT, GPC, switches), IP hashing, bots."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request

from service import create_app
from service.analytics.capture import (
    CaptureSettings,
    build_event,
    daily_salt,
    encode_event,
    parse_user_agent,
    referrer_host,
    visitor_hash,
)
from service.analytics.extension import analytics
from service.config import ConfigError, Settings
from tests.analytics.conftest import (
    ANDROID_PHONE,
    CHROME,
    FIREFOX_LINUX,
    GOOGLEBOT,
    IPHONE,
    SAFARI_MAC,
)
from tests.fixtures.services import RedisServer

DAY = 86400
NOW = 1_780_000_000.0  # 2026-05-28 UTC


@pytest.fixture
def bare_app(redis_server: RedisServer) -> Flask:
    """An app that is never served: build_event needs a request context (and Redis, where
    the day's visitor-hash salt lives)."""
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "capture-secret",
            "REDIS_URL": redis_server.url,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "ANALYTICS_COUNTRY_HEADER": "CF-IPCountry",
        }
    )


@pytest.fixture
def settings(bare_app: Flask) -> CaptureSettings:
    return CaptureSettings.from_config(bare_app.config)


@pytest.fixture
def click(bare_app: Flask, settings: CaptureSettings) -> Any:
    """Builds the event of a click with the given headers and client address, as our proxy
    (nginx on loopback) forwards it; ``proxy=None``: the client connected directly."""

    def build(
        headers: dict[str, str] | None = None,
        *,
        remote: str = "203.0.113.7",
        proxy: str | None = "127.0.0.1",
        now: float = NOW,
        capture: CaptureSettings | None = None,
    ) -> dict[str, Any]:
        sent = dict(headers or {})
        if proxy is not None:
            sent["X-Forwarded-For"] = remote
        with bare_app.test_request_context(
            "/promo", headers=sent, environ_base={"REMOTE_ADDR": proxy or remote}
        ):
            return build_event(request, "promo", capture or settings, now=now)

    return build


FULL = {
    "User-Agent": IPHONE,
    "Referer": "https://www.news.example/article?id=7",
    "CF-IPCountry": "de",
}


def test_event_has_every_field(click: Any) -> None:
    event = click(FULL)
    assert re.fullmatch(r"[0-9a-f]{32}", event["id"])
    assert event["slug"] == "promo"
    assert event["ts"] == NOW
    assert event["ref"] == "news.example"  # host only, no path or query, without www.
    assert (event["br"], event["os"], event["dev"]) == ("Mobile Safari", "iOS", "iPhone")
    assert event["bot"] == 0
    assert event["cc"] == "DE"
    assert re.fullmatch(r"[0-9a-f]{32}", event["ip"])
    assert "203.0.113.7" not in json.dumps(event)


def test_event_ids_are_unique(click: Any) -> None:
    assert len({click(FULL)["id"] for _ in range(100)}) == 100


@pytest.mark.parametrize("header", [{"DNT": "1"}, {"Sec-GPC": "1"}])
def test_do_not_track_drops_everything_personal_but_counts_the_click(
    click: Any, header: dict[str, str]
) -> None:
    event = click({**FULL, **header})
    assert {key: event[key] for key in ("ref", "br", "os", "dev", "cc", "ip")} == {
        "ref": "",
        "br": "",
        "os": "",
        "dev": "",
        "cc": "",
        "ip": "",
    }
    assert event["slug"] == "promo"
    assert event["ts"] == NOW
    assert re.fullmatch(r"[0-9a-f]{32}", event["id"])


def test_dnt_0_is_not_an_opt_out(click: Any) -> None:
    assert click({**FULL, "DNT": "0"})["ref"] == "news.example"


@pytest.mark.parametrize(
    ("switch", "dropped"),
    [
        ("referrer", ("ref",)),
        ("user_agent", ("br", "os", "dev")),
        ("country", ("cc",)),
    ],
)
def test_privacy_switches(
    click: Any, settings: CaptureSettings, switch: str, dropped: tuple[str, ...]
) -> None:
    values = {"referrer": True, "user_agent": True, "country": True, switch: False}
    capture = CaptureSettings(
        salts=settings.salts,
        country_header=settings.country_header,
        trusted_proxies=settings.trusted_proxies,
        **values,
    )
    event = click(FULL, capture=capture)
    for key in dropped:
        assert event[key] == ""
    kept = {"ref", "br", "os", "dev", "cc"} - set(dropped)
    assert all(event[key] for key in kept)
    assert event["ip"]


def test_privacy_switches_come_from_linkfleet_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKFLEET_ANALYTICS_CAPTURE_REFERRER", "false")
    monkeypatch.setenv("LINKFLEET_ANALYTICS_CAPTURE_USER_AGENT", "no")
    monkeypatch.setenv("LINKFLEET_ANALYTICS_COUNTRY_HEADER", "X-Country")
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    capture = CaptureSettings.from_config(app.config)
    assert (capture.referrer, capture.user_agent, capture.country) == (False, False, True)
    assert capture.country_header == "X-Country"


def test_ip_is_hashed_and_the_salt_rotates_daily(click: Any, settings: CaptureSettings) -> None:
    today = click(FULL)["ip"]
    assert click(FULL, now=NOW + 60)["ip"] == today  # same visitor, same day
    assert click(FULL, now=NOW + DAY)["ip"] != today  # next UTC day: another pseudonym
    assert click(FULL, remote="203.0.113.8")["ip"] != today
    assert daily_salt(settings.salts, int(NOW // DAY)) != daily_salt(
        settings.salts, int(NOW // DAY) + 1
    )
    assert visitor_hash(settings.salts, "203.0.113.7", NOW) == today


def test_the_day_boundary_is_utc_midnight(click: Any) -> None:
    midnight = (NOW // DAY + 1) * DAY
    assert click(FULL, now=midnight - 1)["ip"] != click(FULL, now=midnight)["ip"]
    assert click(FULL, now=midnight)["ip"] == click(FULL, now=midnight + DAY - 1)["ip"]


def test_client_ip_behind_the_trusted_proxy_is_the_forwarded_one(click: Any) -> None:
    direct = click(FULL, remote="198.51.100.4", proxy=None)["ip"]
    proxied = click(FULL, remote="198.51.100.4")["ip"]
    assert proxied == direct
    spoofed = click({**FULL, "X-Forwarded-For": "198.51.100.4"}, remote="192.0.2.9", proxy=None)[
        "ip"
    ]
    assert spoofed != direct  # an untrusted peer cannot choose its pseudonym


@pytest.mark.parametrize(
    ("user_agent", "bot"),
    [
        (CHROME, False),
        (IPHONE, False),
        (GOOGLEBOT, True),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", True),
        ("curl/8.5.0", True),
        ("python-requests/2.32.3", True),
        ("facebookexternalhit/1.1", True),
        ("", True),
    ],
)
def test_bot_flag(click: Any, user_agent: str, bot: bool) -> None:
    assert click({"User-Agent": user_agent})["bot"] == int(bot)


@pytest.mark.parametrize(
    ("user_agent", "system", "device"),
    [
        pytest.param(CHROME, "Windows", "Desktop", id="chrome-windows"),
        pytest.param(SAFARI_MAC, "Mac OS X", "Desktop", id="safari-macos"),
        pytest.param(FIREFOX_LINUX, "Linux", "Desktop", id="firefox-linux"),
        pytest.param(
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
            "Ubuntu",
            "Desktop",
            id="firefox-ubuntu",
        ),
        pytest.param(
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36",
            "Chrome OS",
            "Desktop",
            id="chrome-chromeos",
        ),
        pytest.param(
            "Mozilla/5.0 (X11; FreeBSD amd64; rv:127.0) Gecko/20100101 Firefox/127.0",
            "FreeBSD",
            "Desktop",
            id="firefox-freebsd",
        ),
        pytest.param(IPHONE, "iOS", "iPhone", id="iphone"),
        pytest.param(ANDROID_PHONE, "Android", "Samsung SM-S911B", id="android-phone"),
        pytest.param(GOOGLEBOT, "Other", "Spider", id="googlebot"),
        pytest.param(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/126.0.0.0 Safari/537.36",
            "Linux",
            "Other",
            id="headless-bot-on-linux",
        ),
        pytest.param("curl/8.5.0", "Other", "Other", id="curl"),
        pytest.param("", "Other", "Other", id="no-user-agent"),
    ],
)
def test_desktop_browsers_are_desktop_devices(
    click: Any, user_agent: str, system: str, device: str
) -> None:
    """ua-parser names no device for desktop browsers; a person on a desktop OS is counted
    as "Desktop", bots and clients without a user agent stay as ua-parser has them."""
    event = click({"User-Agent": user_agent})
    assert (event["os"], event["dev"]) == (system, device)


def test_bots_are_flagged_even_when_they_send_dnt(click: Any) -> None:
    assert click({"User-Agent": GOOGLEBOT, "DNT": "1"})["bot"] == 1


@pytest.mark.parametrize("value", ["", "Germany", "D1", "xx1", "<b>"])
def test_bad_country_values_are_ignored(click: Any, value: str) -> None:
    assert click({**FULL, "CF-IPCountry": value})["cc"] == ""


def test_no_country_without_a_configured_header(click: Any, settings: CaptureSettings) -> None:
    capture = CaptureSettings(salts=settings.salts)
    assert click(FULL, capture=capture)["cc"] == ""


@pytest.mark.parametrize(
    ("referrer", "host"),
    [
        ("https://www.Example.COM/path", "example.com"),
        ("http://sub.example.org:8080/x?y=1", "sub.example.org"),
        ("android-app://com.google.android.gm/", "com.google.android.gm"),
        ("not a url", ""),
        ("http://[::1", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_referrer_host(referrer: str | None, host: str) -> None:
    assert referrer_host(referrer) == host


def test_user_agents_are_parsed_once() -> None:
    parse_user_agent.cache_clear()
    for _ in range(50):
        parse_user_agent(CHROME)
    info = parse_user_agent.cache_info()
    assert (info.misses, info.hits) == (1, 49)


def test_user_agents_are_cut_before_parsing(click: Any) -> None:
    event = click({"User-Agent": CHROME + "x" * 100_000})
    assert event["br"] == "Chrome"


def test_encoded_event_is_one_json_line(click: Any) -> None:
    line = encode_event(click(FULL))
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert json.loads(line)["slug"] == "promo"


def test_bad_worker_metrics_port_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="LINKFLEET_ANALYTICS_WORKER_METRICS_PORT"):
        Settings.from_env({"LINKFLEET_ANALYTICS_WORKER_METRICS_PORT": "70000"})
    with pytest.raises(ConfigError, match="is not a boolean"):
        Settings.from_env({"LINKFLEET_ANALYTICS_CAPTURE_REFERRER": "perhaps"})


def test_settings_defaults_capture_everything() -> None:
    config = Settings.from_env({}).to_flask()
    assert config["ANALYTICS_CAPTURE_REFERRER"] is True
    assert config["ANALYTICS_CAPTURE_USER_AGENT"] is True
    assert config["ANALYTICS_CAPTURE_COUNTRY"] is True
    assert config["ANALYTICS_COUNTRY_HEADER"] == ""
    assert config["ANALYTICS_SPOOL_DIR"] == ""
    assert config["ANALYTICS_WORKER_METRICS_PORT"] == 0


def test_spool_dir_defaults_to_the_run_dir_per_replica(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LINKFLEET_RUN_DIR", str(tmp_path))
    app = create_app(
        {"SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": "sqlite://", "REPLICA_NAME": "replica-2"}
    )
    state = analytics.state_of(app)
    assert state is not None
    assert state.enabled
    assert state.settings.spool_dir == tmp_path.resolve() / "spool" / "replica-2"
    assert state.settings.adopt_root == tmp_path.resolve() / "spool"
    assert not (tmp_path / "spool").exists()  # nothing is created before the first request


def test_tests_without_a_spool_dir_capture_nothing(bare_app: Flask) -> None:
    state = analytics.state_of(bare_app)
    assert state is not None
    assert not state.enabled


def test_a_forked_process_draws_its_own_event_ids() -> None:
    """gunicorn forks its workers: a child must not repeat its parent's id sequence."""
    from service.analytics.capture import _event_ids

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave without running pytest's exit
        os.write(write_end, _event_ids.next().encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    parent_id = _event_ids.next()
    assert re.fullmatch(r"[0-9a-f]{32}", child_id)
    assert child_id[:16] != parent_id[:16]
