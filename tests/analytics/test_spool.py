"""Spool files and the shipper: offsets, locks, adoption of dead processes' files, rotation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from service.analytics.shipper import Shipper, ShipperSettings
from service.analytics.spool import SpoolCursor, SpoolWriter, claim_orphan, offset_path
from tests.fixtures.services import RedisServer, wait_until


@pytest.fixture
def stream(redis_server: RedisServer) -> Iterator[str]:
    name = f"test:clicks:{uuid.uuid4().hex[:8]}"
    yield name
    redis.Redis.from_url(redis_server.url).delete(name)


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server.url)
    yield connection
    connection.close()


def settings_for(
    redis_server: RedisServer, stream: str, spool: Path, **extra: object
) -> ShipperSettings:
    values: dict[str, object] = {
        "redis_url": redis_server.url,
        "stream": stream,
        "maxlen": 1_000_000,
        "spool_dir": spool,
        "batch_size": 100,
        "interval": 0.02,
    }
    values.update(extra)
    return ShipperSettings(**values)  # type: ignore[arg-type]


def line(number: int) -> bytes:
    return json.dumps({"id": f"{number:032x}", "slug": "promo", "ts": 1.0}).encode() + b"\n"


def shipped_ids(client: redis.Redis, stream: str) -> list[str]:
    return [json.loads(fields[b"e"])["id"] for _, fields in client.xrange(stream)]


def test_the_spool_file_is_locked_while_its_process_lives(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    assert writer.path.name.startswith(f"clicks-{os.getpid()}-")
    assert claim_orphan(writer.path) is None  # alive: nobody else may ship it
    writer.close()
    cursor = claim_orphan(writer.path)
    assert cursor is not None
    assert claim_orphan(writer.path) is None  # one adopter at a time
    cursor.close()


def test_a_killed_process_releases_its_spool(tmp_path: Path) -> None:
    """``kill -9`` leaves the file and its lines; the lock goes with the process."""
    code = (
        "import sys, time; from pathlib import Path\n"
        "from service.analytics.spool import SpoolWriter\n"
        'w = SpoolWriter(Path(sys.argv[1])); w.append(b\'{"id":"x"}\\n\')\n'
        "print(w.path, flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    path = Path(child.stdout.readline().strip())
    assert claim_orphan(path) is None
    child.kill()
    child.wait(10)
    child.stdout.close()
    cursor = claim_orphan(path)
    assert cursor is not None
    assert cursor.read(10).lines == [b'{"id":"x"}']
    cursor.close()


def test_partial_lines_wait_for_their_newline(tmp_path: Path) -> None:
    path = tmp_path / "clicks-1-a.jsonl"
    path.write_bytes(line(1) + b'{"id": "half')
    cursor = SpoolCursor(path)
    batch = cursor.read(10)
    assert batch.lines == [line(1).strip()]
    assert batch.end == len(line(1))
    final = cursor.read(10, final=True)  # the writer is dead: the fragment is dropped
    assert final.skipped == len(b'{"id": "half')
    assert final.end == path.stat().st_size
    cursor.close()


def test_shipper_ships_and_remembers_its_offset(
    tmp_path: Path, redis_server: RedisServer, stream: str, client: redis.Redis
) -> None:
    writer = SpoolWriter(tmp_path)
    for number in range(250):
        writer.append(line(number))
    shipper = Shipper(settings_for(redis_server, stream, tmp_path), writer)
    assert shipper.cursor is not None
    while shipper.ship_own():
        pass
    assert client.xlen(stream) == 250
    assert shipped_ids(client, stream) == [f"{n:032x}" for n in range(250)]
    assert int(offset_path(writer.path).read_text()) == writer.size()
    assert not shipper.ship_own()  # nothing new: nothing shipped twice
    assert client.xlen(stream) == 250
    # A new cursor (a restarted shipper) starts at the saved offset.
    assert SpoolCursor(writer.path).offset == writer.size()
    shipper.stop(flush=False)
    shipper.close()
    writer.close()


def test_running_shipper_follows_appends(
    tmp_path: Path, redis_server: RedisServer, stream: str, client: redis.Redis
) -> None:
    writer = SpoolWriter(tmp_path)
    shipper = Shipper(settings_for(redis_server, stream, tmp_path), writer)
    shipper.start()
    try:
        for number in range(1000):
            writer.append(line(number))
        wait_until(lambda: client.xlen(stream) == 1000, 15, "the shipper did not ship 1000 events")
    finally:
        shipper.stop()
        shipper.close()
        writer.close()
    assert len(set(shipped_ids(client, stream))) == 1000


def test_a_crash_between_xadd_and_offset_save_replays_the_batch(
    tmp_path: Path, redis_server: RedisServer, stream: str, client: redis.Redis
) -> None:
    """The lines are shipped again (the worker de-duplicates them); none is skipped."""
    writer = SpoolWriter(tmp_path)
    for number in range(30):
        writer.append(line(number))
    shipper = Shipper(settings_for(redis_server, stream, tmp_path, batch_size=20), writer)
    assert shipper.cursor is not None
    shipper.ship_batch(shipper.cursor)  # lines 0-19 shipped, offset saved

    def crash(offset: int) -> None:
        raise SystemExit("killed before the offset was written")

    shipper.cursor.save = crash  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        shipper.ship_batch(shipper.cursor)  # lines 20-29 reach Redis, the offset does not
    shipper.cursor.close()
    writer.close()  # the process is gone

    heir = Shipper(settings_for(redis_server, stream, tmp_path))  # the next process
    assert heir.ship_orphans() == 1
    ids = shipped_ids(client, stream)
    assert ids == [f"{n:032x}" for n in range(30)] + [f"{n:032x}" for n in range(20, 30)]
    assert not writer.path.exists()
    assert not offset_path(writer.path).exists()
    heir.stop(flush=False)


def test_adoption_skips_live_files_and_covers_sibling_replicas(
    tmp_path: Path, redis_server: RedisServer, stream: str, client: redis.Redis
) -> None:
    root = tmp_path / "spool"
    dead_sibling = SpoolWriter(root / "replica-3")  # a replica removed by scaling down
    dead_sibling.append(line(1))
    dead_sibling.close()
    alive = SpoolWriter(root / "replica-2")  # another replica, still running
    alive.append(line(2))
    own = SpoolWriter(root / "replica-1")
    own.append(line(3))
    shipper = Shipper(settings_for(redis_server, stream, root / "replica-1", adopt_root=root), own)
    assert shipper.ship_orphans() == 1
    assert shipped_ids(client, stream) == [f"{1:032x}"]
    assert not dead_sibling.path.exists()
    assert alive.path.exists()
    assert own.path.exists()
    shipper.stop(flush=False)
    shipper.close()
    alive.close()
    own.close()


def test_a_fully_shipped_file_is_emptied_past_the_rotation_size(
    tmp_path: Path, redis_server: RedisServer, stream: str, client: redis.Redis
) -> None:
    writer = SpoolWriter(tmp_path)
    shipper = Shipper(settings_for(redis_server, stream, tmp_path, rotate_bytes=1000), writer)
    assert shipper.cursor is not None
    for number in range(20):
        writer.append(line(number))
    assert writer.truncate_if_shipped(shipper.cursor, 1000) is False  # not shipped yet
    while shipper.ship_own():
        pass
    shipper.rotate()
    assert writer.size() == 0
    assert shipper.cursor.offset == 0
    writer.append(line(99))
    while shipper.ship_own():
        pass
    assert client.xlen(stream) == 21
    assert shipped_ids(client, stream)[-1] == f"{99:032x}"
    shipper.stop(flush=False)
    shipper.close()
    writer.close()


def test_redis_down_keeps_the_lines_in_the_file(
    tmp_path: Path, redis_server: RedisServer, stream: str, client: redis.Redis
) -> None:
    writer = SpoolWriter(tmp_path)
    writer.append(line(1))
    dead_redis = settings_for(redis_server, stream, tmp_path)
    dead_redis = ShipperSettings(**{**dead_redis.__dict__, "redis_url": "redis://127.0.0.1:1/0"})
    shipper = Shipper(dead_redis, writer)
    assert shipper.cursor is not None
    with pytest.raises(redis.ConnectionError):
        shipper.ship_own()
    assert shipper.cursor.offset == 0
    assert SpoolCursor(writer.path).offset == 0
    shipper.close()
    writer.close()
