"""The application's signals, in one private namespace as Flask keeps its own.

Signals decouple the redirect hot path from its side effects: the view only sends
``link_visited``; analytics, metrics and visit accounting subscribe to it.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent after a link was created and committed.
#: Sender: the app. Keyword arguments: ``link`` (the Link model).
link_created = _signals.signal("link-created")

#: Sent after a link was changed and committed; the cache evicts it on every replica.
#: Sender: the app. Keyword arguments: ``slug`` (str: the slug *before* the change, which
#: differs from ``link.slug`` when the slug was renamed), ``link`` (the Link model).
link_updated = _signals.signal("link-updated")

#: Sent after a batch of links (an import) was created or changed and committed, once per
#: batch rather than once per link; the cache evicts them on every replica in one message.
#: Sender: the app. Keyword arguments: ``created`` and ``updated`` (lists of slugs).
links_written = _signals.signal("links-written")

#: Sent after a link was deleted and committed; the cache evicts it on every replica.
#: Sender: the app. Keyword arguments: ``slug`` (str), ``link_id`` and ``owner_id`` (int:
#: the deleted row's, which can no longer be read).
link_deleted = _signals.signal("link-deleted")

#: Sent by the redirect view for every served redirect; subscribers must not block.
#: Sender: the app. Keyword arguments: ``slug`` (str), ``link_id`` (int: the link's id, what
#: clicks are counted under), ``request`` (the LinkFleetRequest).
link_visited = _signals.signal("link-visited")
