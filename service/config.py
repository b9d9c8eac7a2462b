"""Settings: every ``LINKFLEET_*`` environment variable is read here and nowhere else.

Each setting is validated once at start-up so that a bad value is a one-line error
(:class:`ConfigError`) instead of a traceback in the middle of a request.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "LINKFLEET_"

#: The checkout this package lives in; ``.run/`` beside it holds the local fleet's state.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and is shown as is."""


def metrics_multiproc_dir() -> str:
    """prometheus-client's ``PROMETHEUS_MULTIPROC_DIR`` (the library reads it itself too);
    empty: single-process metrics."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def default_run_dir() -> Path:
    """Where the local fleet keeps configs, pids, logs, the SQLite file and the secret key."""
    return Path(os.environ.get(f"{ENV_PREFIX}RUN_DIR") or PROJECT_ROOT / ".run").resolve()


def _as_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not a boolean (use true or false)")


def _as_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not an integer") from None


def split_list(raw: str) -> list[str]:
    """The non-empty, stripped entries of a comma-separated setting."""
    return [entry.strip() for entry in raw.split(",") if entry.strip()]


def normalise_database_url(url: str) -> str:
    """Check a SQLAlchemy URL and pin PostgreSQL to psycopg 3, the driver we ship."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ConfigError(
            f"{ENV_PREFIX}DATABASE_URL={url!r} is not a database URL "
            "(expected sqlite:///path or postgresql://user@host/db)"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return url
    raise ConfigError(
        f"{ENV_PREFIX}DATABASE_URL uses {backend!r}; LinkFleet supports sqlite and postgresql"
    )


def check_redis_url(url: str) -> str:
    """Refuse anything redis-py would only reject at the first request."""
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError(
            f"{ENV_PREFIX}REDIS_URL={url!r} is not a Redis URL (expected redis://host:port/db)"
        )
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}REDIS_URL={url!r} has an invalid port") from None
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError(f"{ENV_PREFIX}REDIS_URL={url!r} names no host")
    return url


@dataclass(frozen=True)
class Settings:
    """Typed settings; field names are the env var names without the ``LINKFLEET_`` prefix."""

    secret_key: str = ""
    database_url: str = ""
    #: Comma-separated URLs of read replicas for read-only queries (stats, listings);
    #: empty means every query goes to ``database_url``.
    database_read_urls: str = ""
    redis_url: str = "redis://127.0.0.1:6390/0"
    replica_name: str = field(default_factory=socket.gethostname)
    #: Proxies whose ``X-Forwarded-For`` we believe (one hop); nginx runs on loopback.
    trusted_proxies: str = "127.0.0.1,::1"
    session_cookie_secure: bool = False
    session_lifetime_days: int = 14
    log_level: str = "INFO"
    #: Port where gunicorn's master serves the replica's Prometheus metrics, and then the
    #: app's own ``/metrics`` answers 404 (Kubernetes: no Ingress can reach it); 0: off.
    metrics_port: int = 0
    #: The public base URL short links are built on; empty means "the host of the request".
    public_url: str = ""
    #: Other host names of the default domain, comma-separated (with a port where it is not
    #: 80/443): what other machines send as ``Host``, e.g. ``nginx:8080`` in a compose
    #: network. Any host that is neither these, ``public_url``'s nor an added domain's gets
    #: a 404 page once ``public_url`` is set.
    default_host_aliases: str = ""
    signup: str = "open"
    #: Where each process appends its click events before shipping them to Redis;
    #: empty means ``<run dir>/spool/<replica name>``.
    analytics_spool_dir: str = ""
    #: Privacy switches of click capture (``DNT: 1`` / ``Sec-GPC: 1`` turn all three off).
    analytics_capture_referrer: bool = True
    analytics_capture_user_agent: bool = True
    analytics_capture_country: bool = True
    #: A header set by a trusted proxy/CDN with the visitor's country (e.g. CF-IPCountry).
    analytics_country_header: str = ""
    #: Port of the ``linkfleet worker`` Prometheus endpoint; 0 turns it off.
    analytics_worker_metrics_port: int = 0
    #: Most stream entries not yet acknowledged by the worker; beyond it events wait in
    #: the replicas' spools (back-pressure), never trimmed unread.
    analytics_stream_maxlen: int = 1_000_000
    #: How long a caught-up shipper waits before shipping the next batch, in milliseconds.
    analytics_ship_interval_ms: int = 200
    #: Distinct referrer hosts (and hosts) of orphan visits kept per UTC hour; the rest
    #: count as "other" (a flood adds bounded rows).
    analytics_orphan_referrer_cap: int = 100
    analytics_orphan_host_cap: int = 20
    #: Seconds a link stays in a process's L1 cache after it was filled. Changes evict it
    #: at once (by message); this bounds only what a lost message could leave stale, and a
    #: link visited less often than this per process is answered from L2 (Redis).
    link_cache_l1_ttl_s: int = 300
    #: Live statistics: open event streams per replica process (beyond: 503), the
    #: heartbeat period and a stream's lifetime before the browser reconnects, in seconds.
    live_max_streams: int = 100
    live_heartbeat_s: int = 15
    live_max_lifetime_s: int = 300
    #: Per-API-key budgets shared by every replica (Flask-Limiter notation).
    api_read_rate_limit: str = "600 per minute"
    api_write_rate_limit: str = "120 per minute"
    #: Webhooks (docs/WEBHOOKS.md): allow loopback/private targets and http:// (tests only).
    webhooks_allow_private: bool = False
    #: Attempts per delivery, and failed attempts in a row that disable an endpoint.
    webhooks_max_attempts: int = 8
    webhooks_disable_after: int = 20
    #: First retry's wait and the longest wait between attempts, in milliseconds.
    webhooks_backoff_base_ms: int = 10_000
    webhooks_backoff_max_ms: int = 3_600_000
    #: Connect and read timeout of one attempt, in milliseconds.
    webhooks_timeout_ms: int = 5000
    #: Clicks are announced once per window per endpoint (``link.clicked``), in seconds.
    webhooks_click_window_s: int = 60
    #: Finished deliveries are kept in the log this long.
    webhooks_log_retention_days: int = 7

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every ``LINKFLEET_*`` variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = env.get(ENV_PREFIX + spec.name.upper())
            if raw is None:
                continue
            name = spec.name.upper()
            if spec.type == "bool":
                values[spec.name] = _as_bool(name, raw)
            elif spec.type == "int":
                values[spec.name] = _as_int(name, raw)
            else:
                values[spec.name] = raw.strip()
        settings = cls(**values)
        settings.validate()
        return settings

    @classmethod
    def raw(cls, name: str) -> str:
        """One setting as written, else its default, unvalidated: for gunicorn's config
        file, which loads before ``on_starting`` can report a bad value in one line."""
        default = next(spec.default for spec in fields(cls) if spec.name == name)
        return os.environ.get(ENV_PREFIX + name.upper(), str(default))

    def validate(self) -> None:
        """Raise :class:`ConfigError` for the first invalid value."""
        if self.database_url:
            normalise_database_url(self.database_url)
        for url in split_list(self.database_read_urls):
            try:
                normalise_database_url(url)
            except ConfigError as error:
                raise ConfigError(
                    str(error).replace("DATABASE_URL", "DATABASE_READ_URLS", 1)
                ) from None
        check_redis_url(self.redis_url)
        for entry in split_list(self.trusted_proxies):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(
                    f"{ENV_PREFIX}TRUSTED_PROXIES: {entry!r} is not an IP address or network"
                ) from None
        if self.signup not in {"open", "closed"}:
            raise ConfigError(f"{ENV_PREFIX}SIGNUP={self.signup!r} must be open or closed")
        if self.session_lifetime_days < 1:
            raise ConfigError(f"{ENV_PREFIX}SESSION_LIFETIME_DAYS must be at least 1")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"{ENV_PREFIX}METRICS_PORT must be 0 to 65535")
        if not 0 <= self.analytics_worker_metrics_port <= 65535:
            raise ConfigError(f"{ENV_PREFIX}ANALYTICS_WORKER_METRICS_PORT must be 0 to 65535")
        for name in (
            "link_cache_l1_ttl_s",
            "webhooks_max_attempts",
            "webhooks_disable_after",
            "webhooks_backoff_base_ms",
            "webhooks_backoff_max_ms",
            "webhooks_timeout_ms",
            "webhooks_click_window_s",
            "webhooks_log_retention_days",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be at least 1")
        for name in ("api_read_rate_limit", "api_write_rate_limit"):
            try:
                parse_many(getattr(self, name))
            except ValueError:
                raise ConfigError(
                    f"{ENV_PREFIX}{name.upper()}={getattr(self, name)!r} is not a rate limit "
                    "such as '600 per minute'"
                ) from None

    def to_flask(self) -> dict[str, Any]:
        """The Flask config keys these settings stand for."""
        database_url = self.database_url or f"sqlite:///{default_run_dir() / 'linkfleet.db'}"
        return {
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
            "SQLALCHEMY_READ_URIS": tuple(
                normalise_database_url(url) for url in split_list(self.database_read_urls)
            ),
            "REDIS_URL": self.redis_url,
            "REPLICA_NAME": self.replica_name,
            "TRUSTED_PROXIES": tuple(p.strip() for p in self.trusted_proxies.split(",") if p),
            "SESSION_COOKIE_SECURE": self.session_cookie_secure,
            "PERMANENT_SESSION_LIFETIME": self.session_lifetime_days * 86400,
            "LOG_LEVEL": self.log_level.upper(),
            "METRICS_PORT": self.metrics_port,
            "PUBLIC_URL": self.public_url.rstrip("/"),
            "DEFAULT_HOST_ALIASES": tuple(split_list(self.default_host_aliases)),
            "SIGNUP_OPEN": self.signup == "open",
            "ANALYTICS_SPOOL_DIR": self.analytics_spool_dir,
            "ANALYTICS_CAPTURE_REFERRER": self.analytics_capture_referrer,
            "ANALYTICS_CAPTURE_USER_AGENT": self.analytics_capture_user_agent,
            "ANALYTICS_CAPTURE_COUNTRY": self.analytics_capture_country,
            "ANALYTICS_COUNTRY_HEADER": self.analytics_country_header,
            "ANALYTICS_WORKER_METRICS_PORT": self.analytics_worker_metrics_port,
            "ANALYTICS_STREAM_MAXLEN": self.analytics_stream_maxlen,
            "ANALYTICS_SHIP_INTERVAL": self.analytics_ship_interval_ms / 1000,
            "ANALYTICS_ORPHAN_REFERRER_CAP": self.analytics_orphan_referrer_cap,
            "ANALYTICS_ORPHAN_HOST_CAP": self.analytics_orphan_host_cap,
            "LINK_CACHE_L1_TTL": float(self.link_cache_l1_ttl_s),
            "LIVE_MAX_STREAMS": self.live_max_streams,
            "LIVE_HEARTBEAT_S": self.live_heartbeat_s,
            "LIVE_MAX_LIFETIME_S": self.live_max_lifetime_s,
            "API_READ_RATE_LIMIT": self.api_read_rate_limit,
            "API_WRITE_RATE_LIMIT": self.api_write_rate_limit,
            "WEBHOOKS_ALLOW_PRIVATE": self.webhooks_allow_private,
            "WEBHOOKS_MAX_ATTEMPTS": self.webhooks_max_attempts,
            "WEBHOOKS_DISABLE_AFTER": self.webhooks_disable_after,
            "WEBHOOKS_BACKOFF_BASE": self.webhooks_backoff_base_ms / 1000,
            "WEBHOOKS_BACKOFF_MAX": self.webhooks_backoff_max_ms / 1000,
            "WEBHOOKS_TIMEOUT": self.webhooks_timeout_ms / 1000,
            "WEBHOOKS_CLICK_WINDOW": self.webhooks_click_window_s,
            "WEBHOOKS_LOG_RETENTION_DAYS": self.webhooks_log_retention_days,
            "WEBHOOKS_POLL_INTERVAL": 1.0,
            "WEBHOOKS_MAX_ENDPOINTS": 10,
        }


def build_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Settings from the environment, then ``overrides`` (tests pass Flask keys directly)."""
    config = Settings.from_env().to_flask()
    config.update(overrides or {})
    if not config.get("SECRET_KEY") and not config.get("TESTING"):
        raise ConfigError(
            f"{ENV_PREFIX}SECRET_KEY is not set (`make up` generates one in .run/secret_key)"
        )
    return config


@dataclass(frozen=True)
class FleetSettings:
    """What ``linkfleet up`` and the benchmarks read from ``LINKFLEET_*`` once and then pass
    as a value: the fleet's ports, nginx and gunicorn knobs, and the environment the
    replicas inherit. Field names are the env var names without the prefix; None and ""
    mean "the fleet's default" (see :class:`~service.fleet.spec.FleetSpec`)."""

    #: Every ``LINKFLEET_*`` variable of the caller, handed on to the replicas.
    environment: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None
    bind_host: str = ""
    replica_base_port: int | None = None
    redis_port: int | None = None
    nginx_workers: str = "auto"
    nginx_client_timeout: str = "15s"
    nginx_max_inflight: int = 2048
    nginx_proxy_read_timeout: str = "35s"
    workers: int = 1
    worker_connections: int = 1000
    graceful_timeout: int = 20

    @property
    def redis_url(self) -> str:
        """An external Redis (``LINKFLEET_REDIS_URL``); empty: the fleet starts its own."""
        return self.environment.get(f"{ENV_PREFIX}REDIS_URL", "").strip()

    @property
    def secret_key(self) -> str:
        """``LINKFLEET_SECRET_KEY``; empty: the fleet generates one into its run dir."""
        return self.environment.get(f"{ENV_PREFIX}SECRET_KEY", "").strip()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FleetSettings:
        """Read the fleet's variables; a malformed number is a :class:`ConfigError`."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "environment": {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
        }
        for spec in fields(cls):
            raw = env.get(ENV_PREFIX + spec.name.upper(), "").strip()
            if spec.name == "environment" or not raw:
                continue
            if spec.type in {"int", "int | None"}:
                values[spec.name] = _as_int(spec.name.upper(), raw)
            else:
                values[spec.name] = raw
        return cls(**values)


def config_with_env_file(path: Path) -> dict[str, Any]:
    """Flask settings from the environment over the ``KEY=value`` file at ``path`` (the
    fleet's ``linkfleet.env``): what a replica sees, without editing ``os.environ``."""
    from dotenv import dotenv_values

    values = {key: value for key, value in dotenv_values(path).items() if value is not None}
    values.update(os.environ)
    return Settings.from_env(values).to_flask()
