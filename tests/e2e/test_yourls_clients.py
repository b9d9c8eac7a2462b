"""The PyPI YOURLS clients, unchanged, against a live fleet through nginx: ``yourls``
(RazerM's) and ``pyourls3``, every public method that maps to an action of
``/yourls-api.php``, with each way of authenticating they know."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass

import pyourls3
import pytest
import requests
import yourls
from pyourls3 import exceptions as pyourls3_errors
from yourls import exceptions as yourls_errors

from tests.fixtures.fleets import Fleet

pytestmark = pytest.mark.e2e

EMAIL = "e2e-yourls@example.com"
PASSWORD = "an e2e yourls password"


@dataclass
class Credentials:
    key: str
    read_key: str
    token: str
    api: str


@pytest.fixture(scope="module")
def credentials(fleet: Fleet) -> Credentials:
    """An account made with the CLI, a read-write and a read key, and the write key's token."""
    fleet.create_user(EMAIL, PASSWORD)
    key = fleet.cli("apikey", "create", EMAIL, "--name", "yourls").stdout.strip()
    read_key = fleet.cli(
        "apikey", "create", EMAIL, "--name", "yourls read", "--scope", "read"
    ).stdout.strip()
    listed = fleet.cli("apikey", "list", EMAIL).stdout.splitlines()
    key_id = next(line.split("\t")[0] for line in listed if "\tyourls\t" in line)
    token = fleet.cli("yourls", "token", EMAIL, key_id).stdout.strip()
    return Credentials(key, read_key, token, f"{fleet.url}/yourls-api.php")


def _unique(name: str) -> str:
    return f"https://example.org/yourls/{name}/{uuid.uuid4().hex[:8]}"


def test_yourls_client_every_method_with_a_key(fleet: Fleet, credentials: Credentials) -> None:
    client = yourls.YOURLSClient(credentials.api, signature=credentials.key)
    target = _unique("razerm")
    made = client.shorten(target, keyword="razerm-1", title="Through nginx")
    assert (made.keyword, made.url, made.title) == ("razerm-1", target, "Through nginx")
    assert made.shorturl == f"{fleet.url}/razerm-1"
    redirect = requests.get(made.shorturl, allow_redirects=False, timeout=10)
    assert (redirect.status_code, redirect.headers["Location"]) == (302, target)
    assert client.expand("razerm-1") == target
    assert client.expand(made.shorturl) == target
    stats = client.url_stats("razerm-1")
    assert (stats.shorturl, stats.url, stats.title, stats.ip) == (
        made.shorturl, target, "Through nginx", ""
    )  # fmt: skip
    second = client.shorten(_unique("razerm"))
    for filter_ in ("top", "bottom", "rand", "last"):
        links, totals = client.stats(filter_, limit=2)
        assert len(links) == 2
        assert totals.total_links >= 2
    newest, _ = client.stats("last", limit=1)
    assert newest[0].shorturl == second.shorturl
    db_stats = client.db_stats()
    assert db_stats.total_links == totals.total_links
    with pytest.raises(yourls_errors.YOURLSHTTPError) as taken:
        client.shorten(_unique("taken"), keyword="razerm-1")
    assert taken.value.response.status_code == 400
    assert taken.value.response.json()["code"] == "error:keyword"
    with pytest.raises(yourls_errors.YOURLSHTTPError) as again:
        client.shorten(target)
    assert again.value.response.json()["code"] == "error:url"
    with pytest.raises(yourls_errors.YOURLSNoURLError):
        client.shorten("ftp://example.org/file")
    with pytest.raises(yourls_errors.YOURLSNoLoopError):
        client.shorten(made.shorturl)
    with pytest.raises(yourls_errors.YOURLSHTTPError) as missing:
        client.expand("no-such-link-here")
    assert missing.value.response.status_code == 404


def test_yourls_client_with_a_password_a_read_key_and_a_wrong_key(
    credentials: Credentials,
) -> None:
    by_password = yourls.YOURLSClient(credentials.api, username=EMAIL, password=PASSWORD)
    made = by_password.shorten(_unique("password"))
    reader = yourls.YOURLSClient(credentials.api, signature=credentials.read_key)
    assert reader.expand(made.keyword) == made.url
    with pytest.raises(yourls_errors.YOURLSHTTPError) as read_only:
        reader.shorten(_unique("read-only"))
    assert read_only.value.response.status_code == 403
    wrong = yourls.YOURLSClient(credentials.api, signature="lf_AAAAAAAA_" + "A" * 43)
    with pytest.raises(yourls_errors.YOURLSHTTPError, match="Please log in"):
        wrong.db_stats()


def test_pyourls3_every_method(fleet: Fleet, credentials: Credentials) -> None:
    client = pyourls3.Yourls(fleet.url, key=credentials.key)
    target = _unique("pyourls3")
    made = client.shorten(target, keyword="pyourls3-1", title="pyourls3")
    assert (made["status"], made["shorturl"]) == ("success", f"{fleet.url}/pyourls3-1")
    assert client.expand("pyourls3-1") == target
    assert client.url_stats("pyourls3-1")["url"] == target
    assert client.stats()["total_links"] >= 1
    with pytest.raises(pyourls3_errors.Pyourls3URLAlreadyExistsError):
        client.shorten(target)
    with pytest.raises(pyourls3_errors.Pyourls3APIError) as taken:
        client.shorten(_unique("taken"), keyword="pyourls3-1")
    assert taken.value.code == "error:keyword"
    by_password = pyourls3.Yourls(fleet.url, user=EMAIL, passwd=PASSWORD)
    assert by_password.shorten(_unique("pyourls3-password"))["status"] == "success"
    with pytest.raises(pyourls3_errors.Pyourls3APIError) as refused:
        pyourls3.Yourls(fleet.url, key="not-a-key")
    assert refused.value.code == 403


def test_a_signed_timestamp_through_nginx(credentials: Credentials) -> None:
    """No PyPI client signs timestamps; ShareX and scripts do, like this."""
    now = str(int(time.time()))
    for algorithm in ("md5", "sha512"):
        signature = hashlib.new(algorithm, (now + credentials.token).encode()).hexdigest()
        response = requests.post(
            credentials.api,
            data={
                "action": "shorturl",
                "url": _unique(f"signed-{algorithm}"),
                "format": "simple",
                "timestamp": now,
                "signature": signature,
                "hash": algorithm,
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.text.startswith("http://127.0.0.1:")
