"""The pub/sub listener: messages reach the owner, and stopping does not wait for the poll."""

from __future__ import annotations

import weakref

import redis

from service.extensions.pubsub import ChannelListener
from tests.fixtures.services import RedisServer, wait_until


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []


class _Recorder(ChannelListener[Inbox]):
    #: Far longer than the join below: only the wake-up can end the wait in time.
    poll_interval = 60.0

    def on_message(self, owner: Inbox, data: bytes) -> None:
        owner.messages.append(data)


def test_stop_ends_a_listener_blocked_in_its_poll(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=120)
    inbox = Inbox()
    listener = _Recorder("test listener", "test-channel", weakref.ref(inbox), client)
    listener.start()
    wait_until(listener.subscribed.is_set, 10, "subscribed")
    client.publish("test-channel", b"hello")
    wait_until(lambda: inbox.messages == [b"hello"], 10, "the message delivered")

    listener.stop(timeout=10)

    assert not listener.is_alive()  # the 60 s poll would still be waiting
    assert inbox.messages == [b"hello"]  # the wake-up is not a message of the channel
    client.close()
