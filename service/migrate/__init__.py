"""Moving from a peer shortener (YOURLS, Kutt, Shlink) through the peer's own API.

One concern per module: :mod:`.fetch` (HTTP to a checked public address, no redirects),
:mod:`.peers` (each peer's API as pages of :class:`~.peers.PeerLink`), :mod:`.runner`
(writing the pages through the links service, idempotently) and :mod:`.commands`
(``linkfleet migrate``). The guide is docs/MIGRATING.md.
"""

from __future__ import annotations
