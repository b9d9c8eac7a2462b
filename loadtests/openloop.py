"""An open-loop load generator: requests sent on a fixed schedule, latency from that schedule.

``wrk`` is closed-loop: a connection sends its next request only after the previous answer
(plus ``delay()``), so a stall of the server delays the requests that would have been sent
meanwhile and they are never measured as slow (coordinated omission). Paced that way the rate
is not even fixed: a delay computed from the saturated latency leaves a much higher rate once
latency drops. Here, as in wrk2, each of ``connections`` keep-alive connections has its own
schedule (``connections / rate`` apart, staggered), and a request's latency runs from when it
*should* have been sent to when its answer is complete; a late answer makes the next request
of that connection go at once and carry the wait. The offered rate is then what is asked,
whatever the server does, and ``achieved_rps`` shows whether the server kept up.

Timers: asyncio's loop wakes with millisecond granularity, so a send may lag its slot by up to
about 1 ms, which is counted in the latency (a bias against the server, never for it). Run
it on a core of its own (``taskset``): at a few thousand requests per second it uses a
fraction of one.

``python -m loadtests.openloop URL --rate R --connections C --seconds S [--cookie C]`` prints
one ``OPENLOOP_JSON`` line in the shape of ``latency.lua``'s summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: The percentiles reported, as latency.lua reports them.
PERCENTILES = (1, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97, 98, 99, 99.5, 99.9)


@dataclass
class Tally:
    """What the connections measured together."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    non_2xx_3xx: int = 0


async def _connection(
    host: str,
    port: int,
    request: bytes,
    first: float,
    interval: float,
    end: float,
    tally: Tally,
) -> None:
    """One keep-alive connection sending on its schedule until ``end``."""
    reader, writer = await asyncio.open_connection(host, port)
    loop = asyncio.get_running_loop()
    intended = first
    try:
        while intended < end:
            wait = intended - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    lowered = name.strip().lower()
                    if lowered == b"content-length":
                        length = int(value)
                    elif lowered == b"transfer-encoding":
                        raise ValueError("chunked answers are not supported")
                if length:
                    await reader.readexactly(length)
            except (OSError, ValueError, asyncio.IncompleteReadError):
                tally.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            else:
                tally.latencies.append(loop.time() - intended)
                if not 200 <= status < 400:
                    tally.non_2xx_3xx += 1
            intended += interval
    finally:
        writer.close()


def percentile(ordered: list[float], p: float) -> float:
    """The ``p`` th percentile of an ascending list (nearest rank), 0 for none."""
    if not ordered:
        return 0.0
    rank = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]


async def run(
    url: str, rate: float, connections: int, seconds: float, cookie: str = ""
) -> dict[str, Any]:
    """Offer ``rate`` requests per second of ``GET url`` for ``seconds``; the summary."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "User-Agent: linkfleet-openloop"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    tally = Tally()
    loop = asyncio.get_running_loop()
    interval = connections / rate
    start = loop.time() + 0.2  # the connections are open before the first slot
    end = start + seconds
    await asyncio.gather(
        *(
            _connection(host, port, request, start + i * interval / connections, interval, end,
                        tally)
            for i in range(connections)
        )
    )  # fmt: skip
    duration = loop.time() - start
    ordered = sorted(tally.latencies)
    return {
        "requests": len(ordered),
        "duration_s": round(duration, 3),
        "offered_rps": rate,
        "achieved_rps": round(len(ordered) / duration, 1) if duration > 0 else 0.0,
        "errors": tally.errors,
        "non_2xx_3xx": tally.non_2xx_3xx,
        "max_ms": round(ordered[-1] * 1000, 3) if ordered else 0.0,
        "percentiles": {str(p): round(percentile(ordered, p) * 1000, 3) for p in PERCENTILES},
    }


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description="open-loop HTTP load, latency from schedule")
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--cookie", default="")
    args = parser.parse_args(argv)
    started = time.monotonic()
    summary = asyncio.run(run(args.url, args.rate, args.connections, args.seconds, args.cookie))
    summary["wall_s"] = round(time.monotonic() - started, 3)
    print("OPENLOOP_JSON " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
