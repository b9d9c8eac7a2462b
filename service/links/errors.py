"""The errors of the links domain, each carrying an HTTP status and per-field messages.

They live apart from :mod:`.services` so that validation can raise them without importing
the write API; :mod:`.services` re-exports them, which is where callers should take them from.
"""

from __future__ import annotations

from collections.abc import Mapping


class LinkError(Exception):
    """A link could not be written; ``errors`` maps each offending field to a message.

    ``status`` is the HTTP status the REST API answers with; the dashboard shows ``errors``
    next to its form fields.
    """

    #: The HTTP status this error stands for.
    status: int = 400

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors: dict[str, str] = dict(errors)
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.errors.items()))


class ValidationError(LinkError):
    """One or more fields are malformed (422 Unprocessable Content)."""

    status = 422


class SlugTaken(LinkError):
    """The requested slug belongs to another link already (409 Conflict)."""

    status = 409

    def __init__(self, slug: str) -> None:
        self.slug = slug
        super().__init__({"slug": f"The short name “{slug}” is already taken."})
