"""The problem+json assertion of the API tests.

Users with keys and the API client are in ``tests/fixtures/accounts.py``; the live server
in ``tests/fixtures/app.py``.
"""

from __future__ import annotations

from typing import Any


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``; returns its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json(force=True)
    assert body["status"] == status
    assert {"type", "title", "detail", "instance", "request_id"} <= set(body)
    return body  # type: ignore[no-any-return]
