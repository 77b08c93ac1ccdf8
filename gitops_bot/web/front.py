"""The HTTP front shared by the webhook server and the puller's endpoint.

Owns: accepting connections on one asyncio event loop in its own thread,
parsing HTTP/1.1 with h11 (python-hyper's sans-I/O parser: framing, header
size cap, Host and Content-Length rules), and the limits that keep slow or
many clients from holding the server:

- one deadline per request, counted from the accept to the body's last
  byte: request line, headers and body together (408 and closed past it),
  however slowly the bytes arrive;
- a cap on open connections: at the cap, the oldest connection still
  sending its request is closed to make room (a request that is sent in time
  is almost never the oldest one), and 503 when every open connection is
  being answered;
- the body's declared size checked before it is read (gitops_bot.web.bodysize);
- one request per connection (Connection: close), answered by a synchronous
  route handler on a small thread pool, so the loop never waits on one.

Refuses: deciding anything about a request's content (routes do), keeping
connections alive between requests, and chunked request bodies.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http
import logging
import resource
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from gitops_bot.web import bodysize

REQUEST_DEADLINE_S = 10.0  # GitHub and GitLab send a whole delivery in well under a second
MAX_CONNECTIONS = 1024
HANDLER_THREADS = 8
_FD_HEADROOM = 128  # files the rest of the process needs besides connections
_READ_CHUNK = 1 << 16
_MAX_HEADER_BYTES = 16 << 10
_HEADER_READ = 1 << 12
_LINGER_S = 1.0  # to write an answer, then to drain what the client still sends


@dataclass(frozen=True)
class Limits:
    deadline_s: float = REQUEST_DEADLINE_S  # accept to the last byte of the request
    max_connections: int = MAX_CONNECTIONS
    max_body_bytes: int = 1 << 20


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query
    headers: Mapping[str, str]  # lower-case names; the first of repeated ones
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    retry_after: int | None = None

    @classmethod
    def text(cls, status: int, text: str, *, retry_after: int | None = None) -> Response:
        return cls(status, (text + "\n").encode(), retry_after=retry_after)


@dataclass(frozen=True)
class Route:
    handle: Callable[[Request], Response]
    body: str | None = None  # names the body in messages; None: the route reads no body


@dataclass(frozen=True)
class App:
    routes: Mapping[tuple[str, str], Route]  # (method, path)
    missing: Callable[[str], Response]  # the answer to a method and path with no route
    refuse: Callable[[int, str], Response]  # the answer to a body refused before reading


@dataclass
class _Conn:
    evictable: bool = True  # not being answered: may be closed to make room


@dataclass
class Counts:
    timed_out: int = 0  # requests not complete within the deadline
    evicted: int = 0  # connections closed at the cap to make room
    refused_full: int = 0  # connections answered 503 at the cap
    open: int = 0
    peak: int = 0  # most connections open at once


def fit_fd_limit(max_connections: int, log: logging.Logger) -> int:
    """Raise the soft limit on open files so `max_connections` fit (each costs a
    file); the connections that fit when the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max_connections + _FD_HEADROOM
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        if raised > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            log.info("raised the open-files limit from %d to %d", soft, raised)
            soft = raised
    if soft != resource.RLIM_INFINITY and soft < need:
        fitted = max(16, soft - _FD_HEADROOM)
        log.warning(
            "the open-files limit (%d) allows %d connections, not %d", soft, fitted, max_connections
        )
        return fitted
    return max_connections


class Server:
    """Serves `app` on host:port until close(); `url` says where."""

    def __init__(
        self,
        app: App,
        *,
        limits: Limits,
        host: str,
        port: int,
        name: str,
        log: logging.Logger,
    ) -> None:
        self._app, self._limits, self._log = app, limits, log
        self._cap = fit_fd_limit(limits.max_connections, log)
        self._conns: dict[asyncio.Task[None], _Conn] = {}  # in accept order
        self.counts = Counts()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=HANDLER_THREADS, thread_name_prefix=f"{name}-handler"
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(
                self._serve, host, port, backlog=min(self._cap, 4096), limit=_READ_CHUNK
            ),
            self._loop,
        ).result()
        bound_host, bound_port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{bound_host!s}:{bound_port}"
        self._closed = False

    def close(self, *, timeout: float = 5.0) -> None:
        """Stop accepting, close connections still sending a request, let the ones
        being answered finish within `timeout` seconds, and stop the loop."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(concurrent.futures.TimeoutError):
            asyncio.run_coroutine_threadsafe(self._shutdown(timeout), self._loop).result(
                timeout + 1
            )
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout + 1)
        if not self._thread.is_alive():
            self._loop.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _shutdown(self, grace: float) -> None:
        self._server.close()
        for task, conn in list(self._conns.items()):
            if conn.evictable:
                task.cancel()
        answering = list(self._conns)
        if answering:
            await asyncio.wait(answering, timeout=grace)
        for task in answering:
            task.cancel()
        if answering:
            await asyncio.wait(answering, timeout=0.5)

    def _make_room(self) -> bool:
        """At the cap, close the oldest connection still sending its request; False
        when every open connection is being answered."""
        if len(self._conns) < self._cap:
            return True
        for task, conn in self._conns.items():
            if conn.evictable:
                del self._conns[task]
                task.cancel()
                self.counts.evicted += 1
                return True
        return False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None:  # a stream callback always runs in a task
            return
        deadline = time.monotonic() + self._limits.deadline_s
        parser = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADER_BYTES)
        try:
            if not self._make_room():
                # Not tracked, so not kept: no lingering for the client to read it.
                self.counts.refused_full += 1
                reply = Response.text(503, "too many connections", retry_after=1)
                await self._answer(reader, writer, parser, reply, conn=None)
                return
            conn = self._conns[task] = _Conn()
            self.counts.open = len(self._conns)
            self.counts.peak = max(self.counts.peak, self.counts.open)
            try:
                async with asyncio.timeout_at(self._at(deadline)):
                    got = await self._read(reader, parser)
            except TimeoutError:
                self.counts.timed_out += 1
                got = Response.text(
                    408,
                    "reading the request: it was not complete within "
                    f"{self._limits.deadline_s:g} s",
                )
            if got is None:
                return
            conn.evictable = False
            reply = await self._handle(*got) if isinstance(got, tuple) else got
            await self._answer(reader, writer, parser, reply, conn=conn)
        except asyncio.CancelledError:
            # Only this server cancels a connection (to make room, or closing), and
            # asyncio's stream callback would report the cancellation as an error.
            pass
        finally:
            self._conns.pop(task, None)
            self.counts.open = len(self._conns)
            writer.transport.abort()

    async def _handle(self, route: Route, request: Request) -> Response:
        try:
            return await self._loop.run_in_executor(self._pool, route.handle, request)
        except Exception:
            self._log.exception("answering %s %s: the handler raised", request.method, request.path)
            return Response.text(500, "answering the request: the server failed, see its log")

    def _at(self, deadline: float) -> float:
        return self._loop.time() + (deadline - time.monotonic())

    async def _next(
        self, reader: asyncio.StreamReader, parser: h11.Connection, *, size: int = _READ_CHUNK
    ) -> object:
        while True:
            event = parser.next_event()
            if event is not h11.NEED_DATA:
                return event
            parser.receive_data(await reader.read(size))

    async def _read(
        self, reader: asyncio.StreamReader, parser: h11.Connection
    ) -> tuple[Route, Request] | Response | None:
        """The route and its whole request, a refusal, or None when the client left."""
        try:
            # h11 caps only what it buffers unparsed, so headers are fed in small
            # reads: a header block over the cap is refused however it arrives.
            event = await self._next(reader, parser, size=_HEADER_READ)
        except h11.RemoteProtocolError as err:
            # h11's message quotes the request: it is not echoed.
            return Response.text(err.error_status_hint, "reading the request: not valid HTTP/1.1")
        if not isinstance(event, h11.Request):
            return None
        headers: dict[str, str] = {}
        for name, value in event.headers:
            headers.setdefault(name.decode("ascii").lower(), value.decode("latin-1"))
        method = event.method.decode("ascii")
        path = urlsplit(event.target.decode("ascii", "replace")).path
        route = self._app.routes.get((method, path))
        if route is None:
            return self._app.missing(method)
        if route.body is None:
            return route, Request(method, path, headers, b"")
        body = await self._read_body(reader, parser, headers, what=route.body)
        if isinstance(body, Response):
            return body
        return route, Request(method, path, headers, body)

    async def _read_body(
        self,
        reader: asyncio.StreamReader,
        parser: h11.Connection,
        headers: Mapping[str, str],
        *,
        what: str,
    ) -> bytes | Response:
        if "transfer-encoding" in headers:
            return self._app.refuse(411, f"reading {what}: only a Content-Length body is taken")
        length = bodysize.declared_length(
            lambda name: headers.get(name.lower()), limit=self._limits.max_body_bytes, what=what
        )
        if isinstance(length, tuple):
            return self._app.refuse(*length)
        chunks: list[bytes] = []
        try:
            while not isinstance(event := await self._next(reader, parser), h11.EndOfMessage):
                if isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
        except h11.RemoteProtocolError:
            return self._app.refuse(400, f"reading {what}: the body ended early")
        return b"".join(chunks)

    async def _answer(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        parser: h11.Connection,
        reply: Response,
        *,
        conn: _Conn | None,
    ) -> None:
        """Send `reply` and end the connection; a client that does not take it
        within a second is cut off. A tracked `conn` lingers (evictable) while the
        client reads it."""
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            ("Connection", "close"),
        ]
        if reply.retry_after is not None:
            headers.append(("Retry-After", str(reply.retry_after)))
        reason = http.HTTPStatus(reply.status).phrase.encode()
        try:
            data = parser.send(
                h11.Response(status_code=reply.status, headers=headers, reason=reason)
            )
            data = (data or b"") + (parser.send(h11.Data(data=reply.body)) or b"")
            data += parser.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            return
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(_LINGER_S):
                writer.write(data)
                await writer.drain()
                if conn is None:
                    return
                # Closing with unread request bytes sends a reset, which can destroy
                # the answer on its way: say we are done, and read until the client is.
                conn.evictable = True
                writer.write_eof()
                while await reader.read(_READ_CHUNK):
                    pass
