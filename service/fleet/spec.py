"""What a fleet is: its run dir, ports and replicas, persisted as ``fleet.json``."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import PROJECT_ROOT, ConfigError

DEFAULT_PORT = 8080
DEFAULT_REPLICA_BASE_PORT = 8101
DEFAULT_REDIS_PORT = 6390
DEFAULT_REPLICAS = 2


class FleetError(RuntimeError):
    """A fleet operation cannot go on; the message is shown as one line."""


@dataclass
class FleetSpec:
    """A fleet's layout. ``replicas`` maps replica name to its port, in start order."""

    run_dir: Path
    port: int = DEFAULT_PORT
    bind_host: str = "127.0.0.1"
    replica_base_port: int = DEFAULT_REPLICA_BASE_PORT
    redis_port: int = DEFAULT_REDIS_PORT
    #: Set when LINKFLEET_REDIS_URL points at a Redis we do not run ourselves.
    external_redis_url: str = ""
    replicas: dict[str, int] = field(default_factory=dict)

    @property
    def spec_file(self) -> Path:
        return self.run_dir / "fleet.json"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def env_file(self) -> Path:
        return self.run_dir / "linkfleet.env"

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "supervisor.sock"

    @property
    def redis_url(self) -> str:
        """The URL replicas, the worker and the CLI use, with the fleet Redis's password."""
        if self.external_redis_url:
            return self.external_redis_url
        return f"redis://:{redis_password(self.run_dir)}@127.0.0.1:{self.redis_port}/0"

    @property
    def url(self) -> str:
        return f"http://{self.bind_host}:{self.port}"

    def replica_port(self, index: int) -> int:
        """Replica ``replica-<index>`` listens on base port + index - 1 (8101, 8102, ...)."""
        return self.replica_base_port + index - 1

    def with_replica_count(self, count: int) -> dict[str, int]:
        """The replica map for ``count`` replicas, keeping the existing ones' names and ports."""
        if count < 1:
            raise FleetError("a fleet needs at least one replica")
        return {f"replica-{i}": self.replica_port(i) for i in range(1, count + 1)}

    def save(self) -> None:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        self.spec_file.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> FleetSpec | None:
        path = run_dir / "fleet.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["run_dir"] = Path(data["run_dir"])
        return cls(**data)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already accepts connections or holds the address."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def require_free_ports(ports: dict[str, int], host: str = "127.0.0.1") -> None:
    """Refuse to start when a port is taken, naming what wanted it."""
    for what, port in ports.items():
        if port_in_use(port, host):
            raise FleetError(f"port {port} ({what}) is already in use; stop that process first")


def find_binary(name: str) -> str:
    """A system binary, also from /usr/sbin which a non-root PATH may lack."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if found is None:
        raise FleetError(f"{name} is not installed (run `make up`, which installs it with apt)")
    return found


def venv_bin() -> Path:
    """The bin dir of the Python running us (the project's .venv when run from the checkout)."""
    return Path(sys.executable).parent


def _generated_secret(path: Path, what: str) -> str:
    """The secret kept in ``path`` (owner-only), generated on first use."""
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48) + "\n")
    value = path.read_text().strip()
    if not value:
        raise ConfigError(f"{path} is empty; delete it to generate a new {what}")
    return value


def secret_key(run_dir: Path, configured: str = "") -> str:
    """The fleet's secret: ``configured`` (LINKFLEET_SECRET_KEY), else one generated once
    into the run dir."""
    if configured.strip():
        return configured.strip()
    return _generated_secret(run_dir / "secret_key", "secret key")


def redis_password(run_dir: Path) -> str:
    """The password of the fleet's own Redis (``requirepass``), generated once into the run
    dir: URL-safe, so it goes into ``redis://`` URLs as it is."""
    return _generated_secret(run_dir / "redis_password", "Redis password")


__all__ = ["PROJECT_ROOT", "FleetError", "FleetSpec"]
