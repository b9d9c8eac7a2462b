"""Running the peers' npm clients (installed in tests/clients by `make client-deps`) unchanged,
from a script of ours or an example of the docs, against a live fleet."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
DOCS = CLIENTS.parents[1] / "docs"


def run_node(script: Path, package: str, env: dict[str, str], *, timeout: float = 120) -> str:
    """``node script`` with ``env`` (and only a PATH besides), where it finds the npm
    ``package``; its stdout. Fails the test when node, the package or the script fails."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed")
    modules = CLIENTS / "node_modules"
    if not (modules / package / "package.json").is_file():
        pytest.fail(f"the npm client {package} is not installed: run make test-deps")
    if script.parent != CLIENTS and not (script.parent / "node_modules").exists():
        (script.parent / "node_modules").symlink_to(modules)
    completed = subprocess.run(
        [node, str(script)],
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def run_client(name: str, package: str, env: dict[str, str]) -> dict[str, Any]:
    """tests/clients/<name>: a script that drives ``package`` and prints what it got as JSON."""
    output: dict[str, Any] = json.loads(run_node(CLIENTS / name, package, env))
    return output


def run_docs_example(
    doc: str, package: str, placeholder: str, address: str, key: str, tmp_path: Path
) -> None:
    """The first ```js block of docs/<doc>, as written but for ``placeholder`` -> ``address``
    (the key in LINKFLEET_KEY, as the example reads it)."""
    example = (DOCS / doc).read_text().split("```js\n", 1)[1].split("```", 1)[0]
    assert placeholder in example
    script = tmp_path / "example.mjs"
    script.write_text(example.replace(placeholder, address))
    run_node(script, package, {"LINKFLEET_KEY": key}, timeout=60)
