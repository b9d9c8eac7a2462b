"""loadtests/openloop.py measures from the schedule: a server stall shows in every request
that was due during it, not only in the few that were in flight (coordinated omission)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from loadtests import openloop


async def _stalling_server(stall_at: float, stall: float) -> tuple[asyncio.Server, int]:
    """A keep-alive HTTP server answering 302 at once, except that it answers nothing for
    ``stall`` seconds from ``stall_at`` (monotonic time)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                now = time.monotonic()
                if stall_at <= now < stall_at + stall:
                    await asyncio.sleep(stall_at + stall - now)
                writer.write(b"HTTP/1.1 302 FOUND\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_a_stall_counts_for_every_request_due_during_it() -> None:
    async def scenario() -> dict[str, Any]:
        server, port = await _stalling_server(time.monotonic() + 0.6, 0.3)
        async with server:
            return await openloop.run(f"http://127.0.0.1:{port}/x", 200, 2, 1.5)

    summary = asyncio.run(scenario())
    assert summary["errors"] == 0
    assert summary["non_2xx_3xx"] == 0
    # 200/s for 1.5 s; a 0.3 s stall holds back ~60 requests that were due during it: each
    # is late by up to 0.3 s. Closed loop, only the 2 in flight would have looked slow.
    assert summary["requests"] >= 290
    percentiles = summary["percentiles"]
    assert percentiles["90"] >= 50.0
    assert percentiles["50"] < 50.0
