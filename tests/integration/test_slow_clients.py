"""Slow clients cannot hold the webhook server or the puller's endpoint (both on
gitops_bot.web.front), over real sockets on 127.0.0.1: while many connections
dribble a byte at a time, /healthz and a signed delivery are answered within
2 s, and every slow connection is closed once its request deadline passes;
past the connection cap the oldest unfinished ones make room."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_bot.core.pr import events
from gitops_bot.puller.metrics import Metrics
from gitops_bot.puller.server import Handlers
from gitops_bot.puller.server import Server as PullerServer
from gitops_bot.testing.slowclients import Kind, SlowClients
from gitops_bot.web import front, webhooks
from tests.waiting import until

SECRET = b"slow-clients-secret"
SLOW = 150  # per test on 2 shared cores; bench/slowclients.py measures 500
WITHIN = 2.0  # the promise: answered (and a delivery processed) this fast


@dataclass
class Served:
    """One of the two servers, as a slow-client test sees it."""

    url: str
    post_path: str  # where a delivery goes
    deliver: Callable[[], int]  # sends a signed delivery; its HTTP status
    processed: Callable[[], int]  # deliveries acted on so far
    connections: Callable[[], front.Counts]


def _request(url: str, method: str, path: str, body: bytes = b"", **headers: str) -> int:
    address = urlsplit(url)
    assert address.hostname
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=WITHIN)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()


@contextmanager
def _webhook(*, deadline: float, max_connections: int) -> Iterator[Served]:
    handled: list[events.Event] = []
    lock = threading.Lock()
    numbers = iter(range(1, 10_000))

    def handler(event: events.Event) -> None:
        with lock:
            handled.append(event)

    def deliver() -> int:
        number = next(numbers)
        body = json.dumps(
            {
                "action": "opened",
                "repository": {"full_name": "org/shop"},
                "pull_request": {"number": number, "head": {"sha": "a" * 40}},
                "sender": {"login": "alice"},
            }
        ).encode()
        return _request(
            server.url,
            "POST",
            "/webhooks/github",
            body,
            **{
                "Content-Type": "application/json",
                "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": f"slow-{number}",
                "X-Hub-Signature-256": _sign(body),
            },
        )

    settings = webhooks.Settings(
        secrets={"github": SECRET}, request_deadline_s=deadline, max_connections=max_connections
    )
    with webhooks.WebhookServer(handler=handler, settings=settings) as server:
        yield Served(
            server.url,
            "/webhooks/github",
            deliver,
            lambda: len(handled),
            lambda: server.connections,
        )


@contextmanager
def _puller(*, deadline: float, max_connections: int) -> Iterator[Served]:
    pokes: list[float] = []
    metrics = Metrics()
    server = PullerServer(
        Handlers(
            poke=lambda: pokes.append(time.monotonic()),
            ready=lambda: (True, "ready"),
            metrics=metrics.exposition,
        ),
        secret=SECRET,
        request_deadline_s=deadline,
        max_connections=max_connections,
    )

    def deliver() -> int:
        body = b'{"ref":"refs/heads/main"}'
        return _request(server.url, "POST", "/poke", body, **{"X-Hub-Signature-256": _sign(body)})

    try:
        yield Served(server.url, "/poke", deliver, lambda: len(pokes), lambda: server.connections)
    finally:
        server.close()


SERVERS = {"webhook": _webhook, "puller": _puller}


def _timed(call: Callable[[], int]) -> tuple[int, float]:
    started = time.monotonic()
    status = call()
    return status, time.monotonic() - started


@pytest.mark.parametrize("kind", list(Kind), ids=[k.value for k in Kind])
@pytest.mark.parametrize("name", list(SERVERS))
def test_slow_clients_do_not_hold_the_server_and_are_closed_at_their_deadline(
    name: str, kind: Kind
) -> None:
    deadline = 2.5
    with SERVERS[name](deadline=deadline, max_connections=1024) as served:
        path = "/healthz" if kind is Kind.HEADERS else served.post_path
        with SlowClients(served.url, count=SLOW, every=0.2, kind=kind, path=path) as slow:
            until(lambda: served.connections().open >= SLOW, what="the slow ones", timeout=5)
            started = time.monotonic()
            assert _timed(lambda: _request(served.url, "GET", "/healthz"))[0] == 200
            status, _ = _timed(served.deliver)
            assert status == 202
            until(served.processed, what="the delivery acted on", timeout=WITHIN)
            assert time.monotonic() - started < WITHIN
            assert slow.report().still_open == SLOW, "a slow client was closed before its deadline"
            until(lambda: not slow.report().still_open, what="the deadline", timeout=deadline + 2)
            report = slow.report()
    assert min(report.ended_after) >= deadline - 0.1
    assert max(report.ended_after) < deadline + 1.5
    assert report.statuses == {408: SLOW}
    assert served.connections().timed_out == SLOW


@pytest.mark.parametrize("name", list(SERVERS))
def test_past_the_cap_the_oldest_unfinished_connections_make_room(name: str) -> None:
    cap = 40
    with SERVERS[name](deadline=30.0, max_connections=cap) as served:
        with SlowClients(served.url, count=2 * cap, every=0.5, kind=Kind.HEADERS) as slow:
            until(lambda: served.connections().evicted >= cap, what="evictions", timeout=5)
            status, took = _timed(lambda: _request(served.url, "GET", "/healthz"))
            assert (status, took < WITHIN) == (200, True)
            assert _timed(served.deliver)[0] == 202
            until(served.processed, what="the delivery acted on", timeout=WITHIN)
            report = slow.report()
        counts = served.connections()
    assert counts.peak <= cap
    # The first ones were closed to make room, in accept order; the newest stayed.
    assert report.still_open >= cap - 2
    assert counts.evicted >= cap


def _raw(url: str, data: bytes, *, shut: bool = False, wait: float = 5.0) -> tuple[int, float]:
    """Send `data` on a raw connection (then end our side if `shut`); the status the
    server answers with and how long until it closed the connection."""
    address = urlsplit(url)
    assert address.hostname
    assert address.port
    started = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=wait) as sock:
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    took = time.monotonic() - started
    return (int(answer[9:12]) if answer.startswith(b"HTTP/1.1 ") else 0), took


_HEAD = b"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.mark.parametrize(
    ("data", "shut", "status", "at_deadline"),
    [
        (b"", False, 408, True),  # connects and says nothing
        (b"GET /healthz HTTP/1.1\r\n", False, 408, True),  # never ends its headers
        (_HEAD + b"Content-Length: 10\r\n\r\n12345", False, 408, True),  # half a body
        (_HEAD + b"Content-Length: 10\r\n\r\n12345", True, 400, False),  # a body ended early
        (_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n0\r\n\r\n", False, 411, False),
        (_HEAD + b"Content-Length: 99999999\r\n\r\n", False, 413, False),  # before it is sent
        (_HEAD + b"X-Big: " + b"x" * (20 << 10) + b"\r\n\r\n", False, 431, False),
        (b"NOT HTTP\r\n\r\n", False, 400, False),
        (b"GET /healthz HTTP/1.1\r\n\r\n", False, 400, False),  # HTTP/1.1 needs Host
    ],
    ids=[
        "silent",
        "endless-headers",
        "half-body",
        "body-ended-early",
        "chunked",
        "too-large",
        "huge-header",
        "not-http",
        "no-host",
    ],
)
@pytest.mark.parametrize("name", list(SERVERS))
def test_every_unfinished_or_bad_request_gets_an_answer_and_a_close(
    name: str, data: bytes, shut: bool, status: int, at_deadline: bool
) -> None:
    deadline = 0.8
    if name == "puller":
        data = data.replace(b"/webhooks/github", b"/poke")
    with SERVERS[name](deadline=deadline, max_connections=64) as served:
        got, took = _raw(served.url, data, shut=shut)
        until(lambda: served.connections().open == 0, what="the server's close", timeout=2)
    assert got == status
    if at_deadline:
        assert deadline - 0.05 <= took < deadline + 1.0
    else:
        assert took < deadline


@pytest.fixture(scope="module")
def patient() -> Iterator[Served]:
    with _webhook(deadline=0.6, max_connections=64) as served:
        yield served


@settings(max_examples=10, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=6),
    pauses=st.lists(st.floats(min_value=0.0, max_value=0.05), min_size=6, max_size=6),
    late=st.booleans(),
)
def test_a_request_in_pieces_counts_by_when_its_last_byte_arrives(
    patient: Served, cuts: list[int], pauses: list[float], late: bool
) -> None:
    """However a request is cut and paused, it is taken when its last byte comes
    before the deadline (0.6 s here) and answered 408 when it comes after."""
    body = json.dumps({"action": "opened", "repository": {"full_name": "org/shop"}}).encode()
    data = (
        _HEAD + b"Content-Type: application/json\r\nX-GitHub-Event: ping\r\n"
        b"X-GitHub-Delivery: " + str(time.monotonic_ns()).encode() + b"\r\n"
        b"X-Hub-Signature-256: " + _sign(body).encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    points = sorted({min(c, len(data) - 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    address = urlsplit(patient.url)
    assert address.hostname
    assert address.port
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        for n, piece in enumerate(pieces):
            if late and n == len(pieces) - 1:
                time.sleep(0.7)
            sock.sendall(piece)
            time.sleep(pauses[n % len(pauses)])
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408 " if late else b"HTTP/1.1 200 "), answer[:40]
