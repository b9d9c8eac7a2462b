"""One Redis pub/sub channel listened to in the background, for as long as its owner lives.

Used by the link cache (invalidations) and the live visits (counted clicks): a daemon thread,
which is a greenlet under gunicorn's gevent worker, started lazily after any fork. It holds
its owner only weakly, so an app that is gone ends its listener too, and it outlives any
Redis trouble: it reconnects with a capped backoff and logs once per outage.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
import weakref
from typing import Generic, TypeVar

import redis

logger = logging.getLogger(__name__)

Owner = TypeVar("Owner")


class ChannelListener(threading.Thread, Generic[Owner]):
    """Hands every message of ``channel`` to :meth:`on_message` of a subclass."""

    #: Seconds between checks of :attr:`stopping` and of the owner while no message comes.
    poll_interval = 0.25
    #: Seconds before the first reconnection, doubled per failure up to :attr:`max_backoff`.
    min_backoff = 0.1
    max_backoff = 5.0
    #: Where an outage is reported: the owner's module logger, for operators to find.
    log = logger

    def __init__(
        self,
        name: str,
        channel: str,
        owner: weakref.ref[Owner],
        client: redis.Redis,
        *,
        owns_client: bool = False,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.channel = channel
        self.owner = owner
        self.client = client
        self.owns_client = owns_client
        self.stopping = threading.Event()
        #: Set while subscribed: what was published before then never reached this process.
        self.subscribed = threading.Event()
        #: This listener's own channel: :meth:`stop` publishes there to end the wait for a
        #: message at once, where the poll would take up to :attr:`poll_interval` to notice.
        self.wake_channel = f"{channel}:wake:{uuid.uuid4().hex}"

    def on_subscribe(self, owner: Owner) -> None:
        """Subscribed (again): messages published meanwhile were lost."""

    def on_message(self, owner: Owner, data: bytes) -> None:
        raise NotImplementedError

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and wait for the thread (at most ``timeout`` seconds)."""
        self.stopping.set()
        if self.subscribed.is_set():
            with contextlib.suppress(redis.RedisError):
                self.client.publish(self.wake_channel, b"")
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        backoff, reported = self.min_backoff, False
        try:
            while not self.stopping.is_set():
                try:
                    self._listen()
                    return
                except Exception as error:  # it must outlive any Redis trouble
                    if self.subscribed.is_set():
                        backoff, reported = self.min_backoff, False
                        self.subscribed.clear()
                    if not reported:  # once per outage, not once per retry
                        self.log.warning("%s lost Redis (%s)", self.name, error)
                        reported = True
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        finally:
            if self.owns_client:
                self.client.close()

    def _listen(self) -> None:
        pubsub = self.client.pubsub()
        try:
            pubsub.subscribe(self.channel, self.wake_channel)
            wake_channel = self.wake_channel.encode()
            while not self.stopping.is_set():
                message = pubsub.get_message(timeout=self.poll_interval)
                owner = self.owner()
                if owner is None:
                    return
                if message is None or message["channel"] == wake_channel:
                    pass
                elif message["type"] == "subscribe":
                    self.on_subscribe(owner)
                    self.subscribed.set()
                elif message["type"] == "message":
                    self.on_message(owner, message["data"])
                del owner  # never hold it while waiting: a dropped app ends the loop
        finally:
            with contextlib.suppress(redis.RedisError):
                pubsub.close()
