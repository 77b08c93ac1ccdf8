"""Slow HTTP clients (slowloris and slow bodies), for tests and bench/slowclients.py.

Owns: opening many connections to a server on 127.0.0.1 that each send a
request one byte at a time, from one thread with an epoll selector (select()
stops at 1,024 descriptors), and recording when and how the server ended
each one. Refuses: anything but 127.0.0.1-style addresses given to it, and
running on after stop().
"""

from __future__ import annotations

import enum
import itertools
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit


class Kind(enum.Enum):
    HEADERS = "headers"  # the request line, then header bytes forever
    BODY = "body"  # whole headers announcing a body, then body bytes


@dataclass
class _Conn:
    sock: socket.socket
    script: itertools.cycle[int] | bytes
    opened: float
    sent: int = 0
    ended: float | None = None  # seconds after opening when the server closed it
    answer: bytes = b""


@dataclass(frozen=True)
class Report:
    ended_after: tuple[float, ...]  # of the connections the server closed, seconds after opening
    still_open: int
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status answered: connections


class SlowClients:
    """`count` connections to `url`, each sending one byte every `every` seconds
    until the server closes it or stop() is called."""

    def __init__(
        self, url: str, *, count: int, every: float = 1.0, kind: Kind, path: str = "/healthz"
    ) -> None:
        address = urlsplit(url)
        self._address = (address.hostname or "127.0.0.1", address.port or 80)
        self._count, self._every, self._kind, self._path = count, every, kind, path
        self._conns: list[_Conn] = []
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def __enter__(self) -> SlowClients:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        for n in range(self._count):
            sock = socket.create_connection(self._address, timeout=5)
            head, script = self._script(n)
            sock.sendall(head)
            sock.setblocking(False)
            conn = _Conn(sock, script, time.monotonic())
            self._conns.append(conn)
            self._selector.register(sock, selectors.EVENT_READ, conn)
        self._thread.start()

    def _script(self, n: int) -> tuple[bytes, itertools.cycle[int] | bytes]:
        if self._kind is Kind.HEADERS:
            head = f"GET {self._path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
            return head, itertools.cycle(f"X-Slow-{n}: 1\r\n".encode())
        body = b'{"zen": "' + b"." * 4000 + b'"}'
        head = (
            f"POST {self._path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head, body

    def _run(self) -> None:
        next_send = time.monotonic() + self._every
        while not self._stop.is_set() and any(c.ended is None for c in self._conns):
            now = time.monotonic()
            if now >= next_send:
                for conn in self._conns:
                    if conn.ended is None:
                        self._send_one(conn)
                next_send = now + self._every
            for key, _ in self._selector.select(timeout=min(0.05, max(0.0, next_send - now))):
                self._read(key.data)

    def _send_one(self, conn: _Conn) -> None:
        if isinstance(conn.script, bytes):
            if conn.sent >= len(conn.script):
                return
            byte = conn.script[conn.sent : conn.sent + 1]
        else:
            byte = bytes([next(conn.script)])
        try:
            conn.sock.send(byte)
            conn.sent += 1
        except BlockingIOError:
            pass
        except OSError:
            self._end(conn)

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            conn.answer += data
        else:
            self._end(conn)

    def _end(self, conn: _Conn) -> None:
        if conn.ended is None:
            conn.ended = time.monotonic() - conn.opened
            self._selector.unregister(conn.sock)
            conn.sock.close()

    def stop(self) -> Report:
        """Stop sending, close what is still open, and say what the server did."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        report = self.report()
        for conn in self._conns:
            if conn.ended is None:
                self._selector.unregister(conn.sock)
                conn.sock.close()
                conn.ended = -1.0
        self._selector.close()
        return report

    def report(self) -> Report:
        statuses: dict[int, int] = {}
        for conn in self._conns:
            if conn.answer.startswith(b"HTTP/1.1 "):
                status = int(conn.answer[9:12])
                statuses[status] = statuses.get(status, 0) + 1
        ended = tuple(c.ended for c in self._conns if c.ended is not None and c.ended >= 0)
        return Report(
            ended_after=ended, still_open=len(self._conns) - len(ended), statuses=statuses
        )
