"""The README's API examples (curl and Python), run as written against a live server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.fixtures.accounts import Account

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Using the API\n"


def blocks(language: str) -> list[str]:
    """The ``language`` code blocks of the README's API section."""
    text = README.read_text()
    assert SECTION in text, "the README lost its API examples"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def environment(live_server: str, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKFLEET_")}
    env.update(LINKFLEET_URL=live_server, LINKFLEET_KEY=key)
    return env


def test_the_doc_has_both_kinds_of_examples() -> None:
    assert len(blocks("sh")) == 1
    assert len(blocks("python")) == 1


def test_curl_examples(live_server: str, alice: Account, tmp_path: Path) -> None:
    script = "set -euo pipefail\n" + blocks("sh")[0]
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=environment(live_server, alice.key),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"slug": "curl-demo"' in result.stdout or '"slug":"curl-demo"' in result.stdout
    assert "Made with curl" in result.stdout
    assert (tmp_path / "curl-demo.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "links.csv").read_text().startswith("slug,short_url,url,")
    # what the examples left behind
    check = requests.get(
        f"{live_server}/api/v1/links/curl-imported", headers=alice.auth, timeout=10
    )
    assert check.json()["title"] == "From a file"
    gone = requests.get(f"{live_server}/api/v1/links/curl-demo", headers=alice.auth, timeout=10)
    assert gone.status_code == 404


@pytest.mark.parametrize("database_config", ["sqlite"], indirect=True)
def test_curl_example_is_idempotent(live_server: str, alice: Account, tmp_path: Path) -> None:
    """The create call carries an Idempotency-Key, so running it twice is harmless."""
    create = blocks("sh")[0].split("# Read it")[0]
    for _ in range(2):
        result = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + create],
            cwd=tmp_path,
            env=environment(live_server, alice.key),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    listed = requests.get(f"{live_server}/api/v1/links", headers=alice.auth, timeout=10).json()
    assert [link["slug"] for link in listed] == ["curl-demo"]


def test_python_examples(live_server: str, alice: Account, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", blocks("python")[0]],
        cwd=tmp_path,
        env=environment(live_server, alice.key),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{live_server}/py-demo"
    assert "Unknown field." in lines[1]
    assert "url" in lines[1]
    assert lines[2] == "links: 1"
    assert lines[3] == "1 created, 0 failed"
    imported = requests.get(
        f"{live_server}/api/v1/links/py-imported", headers=alice.auth, timeout=10
    )
    assert imported.status_code == 200
