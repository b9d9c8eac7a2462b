"""Honest faults for the tests: a database that stops answering.

* :class:`TcpProxy` sits between a client and PostgreSQL; :meth:`TcpProxy.cut` resets every
  open connection and refuses new ones, which is what a client sees when the database
  server goes down (or the network to it), until :meth:`TcpProxy.restore`.
* :class:`SqliteWriteLock` holds SQLite's write lock (as a long migration, a backup or a
  stuck writer does) for longer than the busy timeout, so writers get "database is locked".
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import struct
import threading
from pathlib import Path

from tests.fixtures.services import free_port


class TcpProxy:
    """A loopback TCP forwarder to ``target`` that can be cut and restored."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._serving = threading.Event()
        self._acceptor: threading.Thread | None = None

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        server.settimeout(0.05)
        self._serving.set()
        self._acceptor = threading.Thread(target=self._accept, args=(server,), daemon=True)
        self._acceptor.start()

    def _accept(self, server: socket.socket) -> None:
        with server:
            while self._serving.is_set():
                try:
                    downstream, _ = server.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    downstream.close()
                    continue
                downstream.settimeout(None)
                upstream.settimeout(None)
                with self._lock:
                    self._sockets.update((downstream, upstream))
                for source, sink in ((downstream, upstream), (upstream, downstream)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """The database "goes down": open connections reset, new ones refused."""
        self._serving.clear()
        if self._acceptor is not None:
            self._acceptor.join(5)
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # close() alone does not end a connection whose pump thread is blocked in
                # recv() on it: the kernel keeps it open, and the database keeps that
                # session's transaction and locks. shutdown() wakes the pump and ends it.
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()  # linger 0: an RST, as from a crashed server

    def restore(self) -> None:
        self.start()

    def close(self) -> None:
        self.cut()


class SqliteWriteLock:
    """Holds the write lock of a SQLite database from another connection."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def take(self) -> None:
        self.connection.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.connection.execute("COMMIT")
        self.connection.close()
