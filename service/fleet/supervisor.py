"""A small client for the fleet's supervisord over its unix socket (XML-RPC)."""

from __future__ import annotations

import os
import subprocess
import time
import xmlrpc.client  # nosec B411  # only talks to our own supervisord over its 0700 unix socket
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport

from .spec import FleetError, FleetSpec, venv_bin


class Supervisor:
    """The supervisord of one fleet."""

    def __init__(self, spec: FleetSpec) -> None:
        self.spec = spec
        self.rpc = _Namespace(spec.socket_path, "supervisor")

    def is_running(self) -> bool:
        """True when supervisord answers on its socket."""
        if not self.spec.socket_path.exists():
            return False
        try:
            return cast(str, self.rpc.getState()["statename"]) == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def start(self, environment: dict[str, str]) -> None:
        """Start supervisord as a daemon with the fleet's settings in its environment."""
        env = {**os.environ, **environment}
        config = self.spec.run_dir / "supervisord.conf"
        result = subprocess.run(
            [str(venv_bin() / "supervisord"), "-c", str(config)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            reason = (result.stderr or result.stdout).strip().splitlines()
            raise FleetError(f"supervisord did not start: {reason[-1] if reason else 'no output'}")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.is_running():
                return
            time.sleep(0.1)
        raise FleetError(f"supervisord did not answer on {self.spec.socket_path}")

    def processes(self) -> dict[str, dict[str, Any]]:
        """Process info by name (state, pid, uptime description)."""
        return {info["name"]: info for info in self.rpc.getAllProcessInfo()}

    def reload_config(self) -> tuple[list[str], list[str], list[str]]:
        """Re-read supervisord.conf; returns (added, changed, removed) program names."""
        added, changed, removed = self.rpc.reloadConfig()[0]
        return added, changed, removed

    def add(self, name: str) -> None:
        self.rpc.addProcessGroup(name)

    def remove(self, name: str) -> None:
        """Stop a program (gracefully, within its stopwaitsecs) and forget it."""
        try:
            self.rpc.stopProcessGroup(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise
        self.rpc.removeProcessGroup(name)

    def signal(self, name: str, signal_name: str) -> None:
        self.rpc.signalProcess(name, signal_name)

    def start_stopped(self) -> None:
        """Start every program that is not running (e.g. after a manual stop)."""
        for name, info in self.processes().items():
            if info["statename"] in {"STOPPED", "EXITED", "FATAL", "BACKOFF"}:
                self.rpc.startProcess(name, False)

    def shutdown(self, timeout: float = 90) -> None:
        """Stop every program gracefully, then supervisord itself, and wait for it to exit."""
        pid = read_pid(self.spec.run_dir / "supervisord.pid")
        self.rpc.shutdown()
        deadline = time.monotonic() + timeout
        while pid and time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.1)
        if pid and pid_alive(pid):
            raise FleetError(f"supervisord (pid {pid}) did not exit within {timeout:.0f}s")


class _Namespace:
    """An XML-RPC namespace whose every call opens and closes its own socket connection,
    so no connection outlives the call that needed it."""

    def __init__(self, socket_path: Path, name: str) -> None:
        self._socket_path = socket_path
        self._name = name

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any) -> Any:
            transport = SupervisorTransport(None, None, f"unix://{self._socket_path}")
            proxy: Any = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
            try:
                return getattr(getattr(proxy, self._name), method)(*args)
            finally:
                transport.close()

        return call


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
