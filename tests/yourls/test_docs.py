"""docs/YOURLS.md's ShareX custom uploader, posted exactly as ShareX posts it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flask.testing import FlaskClient

from tests.fixtures.accounts import Account

COMPAT = Path(__file__).resolve().parents[2] / "docs" / "YOURLS.md"


def _sharex_uploader() -> dict[str, object]:
    """The JSON block of the ShareX section."""
    section = COMPAT.read_text().split("### ShareX", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block, "docs/YOURLS.md lost its ShareX uploader"
    return json.loads(block.group(1))  # type: ignore[no-any-return]


def test_the_sharex_uploader_of_the_docs(client: FlaskClient, alice: Account) -> None:
    uploader = _sharex_uploader()
    assert uploader["DestinationType"] == "URLShortener"
    assert uploader["Body"] == "MultipartFormData"
    assert uploader["URL"] == "{response}"
    path = str(uploader["RequestURL"]).removeprefix("https://lnk.example")
    arguments = dict(uploader["Arguments"])  # type: ignore[call-overload]
    arguments["signature"] = alice.key
    arguments = {name: str(value).replace("{input}", "https://example.com/shared")
                 for name, value in arguments.items()}  # fmt: skip
    response = client.open(
        path,
        method=str(uploader["RequestMethod"]),
        data=arguments,
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    short_url = response.get_data(as_text=True)  # what ShareX puts in the clipboard
    slug = short_url.removeprefix("http://localhost/")
    redirect = client.get(f"/{slug}")
    assert (redirect.status_code, redirect.headers["Location"]) == (
        302,
        "https://example.com/shared",
    )
