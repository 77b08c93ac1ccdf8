"""cluster.wire, the keep-alive connections straight to the API server: what
goes over which connection when the server keeps, closes or drops them (a
local TCP server that speaks just enough HTTP/1.1 stands in, so each
connection and each request it sees is counted)."""

from __future__ import annotations

import gc
import http.client
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from gitops_bot.cluster import wire
from gitops_bot.cluster.kube import Kube, ThrottledError
from gitops_bot.cluster.kubeconfig import Connection
from gitops_bot.errors import ClusterError

THROTTLED = (
    b'{"kind": "Status", "status": "Failure", "reason": "TooManyRequests", '
    b'"message": "too many requests, please try again later", "code": 429}'
)


@dataclass
class Server:
    """Answers each request by `policy(connection number, request number on
    it)`: "answer"; "throttle" (429 with Retry-After: 3); "answer-close"
    (saying Connection: close, then closing); "answer-hangup" (closing
    without saying so); "drop" (closing unanswered)."""

    policy: Callable[[int, int], str]
    seen: list[tuple[int, str, bytes]] = field(default_factory=list)
    connections: int = 0
    url: str = ""


def _read_request(stream: socketserver.StreamRequestHandler) -> tuple[str, bytes] | None:
    line = stream.rfile.readline()
    if not line:
        return None
    length = 0
    while (header := stream.rfile.readline()) not in (b"\r\n", b""):
        name, _, value = header.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return line.decode().strip(), stream.rfile.read(length)


@pytest.fixture
def server() -> Iterator[Callable[[Callable[[int, int], str]], Server]]:
    servers: list[socketserver.ThreadingTCPServer] = []

    def start(policy: Callable[[int, int], str]) -> Server:
        state = Server(policy)
        lock = threading.Lock()

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                with lock:
                    state.connections += 1
                    number = state.connections
                for i in range(1, 100):
                    request = _read_request(self)
                    if request is None:
                        return
                    state.seen.append((number, *request))
                    what = state.policy(number, i)
                    if what == "drop":
                        return
                    body = b'{"kind": "ConfigMap"}'
                    status = b"HTTP/1.1 200 OK\r\n"
                    if what == "throttle":
                        body = THROTTLED
                        status = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n"
                    close = b"Connection: close\r\n" if what == "answer-close" else b""
                    self.wfile.write(
                        status
                        + b"Content-Type: application/json\r\n"
                        + close
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    if close or what == "answer-hangup":
                        return

        tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        tcp.daemon_threads = True
        servers.append(tcp)
        threading.Thread(target=tcp.serve_forever, daemon=True).start()
        state.url = f"http://127.0.0.1:{tcp.server_address[1]}"
        return state

    yield start
    for tcp in servers:
        tcp.shutdown()
        tcp.server_close()


@pytest.fixture
def connect() -> Iterator[Callable[..., wire.Direct]]:
    made: list[wire.Direct] = []

    def make(url: str, *, keep: int = 4) -> wire.Direct:
        made.append(wire.Direct(url, None, None, keep=keep))
        return made[-1]

    yield make
    for direct in made:
        direct.close()


def _get(direct: wire.Direct, path: str = "/api") -> wire.Answer:
    return direct.exchange("GET", path, headers={}, body=None, timeout=5)


def test_requests_one_after_another_share_one_connection(server, connect) -> None:
    s = server(lambda _conn, _i: "answer")
    direct = connect(s.url, keep=4)
    answers = [_get(direct, f"/api/{i}") for i in range(5)]
    assert [a.status for a in answers] == [200] * 5
    assert answers[0].data == b'{"kind": "ConfigMap"}'
    assert s.connections == 1
    assert [(c, line) for c, line, _ in s.seen] == [(1, f"GET /api/{i} HTTP/1.1") for i in range(5)]


def test_a_connection_the_server_closed_while_idle_is_not_used_again(server, connect) -> None:
    s = server(lambda _conn, _i: "answer-close")
    direct = connect(s.url, keep=4)
    for _ in range(3):
        assert _get(direct).status == 200
    assert s.connections == 3


def test_an_idle_connection_the_server_hung_up_is_noticed_before_use(server, connect) -> None:
    # The server closes the connection after its first answer without saying
    # so (no Connection: close), as an idle timeout does: the client sees the
    # close before reusing the connection and sends on a new one, once.
    s = server(lambda conn, _i: "answer-hangup" if conn == 1 else "answer")
    direct = connect(s.url, keep=4)
    assert _get(direct).status == 200
    kept = direct._idle[0].sock
    assert kept is not None
    deadline = time.monotonic() + 5
    while not wire._dropped(kept) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _get(direct, "/api/again").status == 200
    assert [(c, line) for c, line, _ in s.seen] == [
        (1, "GET /api HTTP/1.1"),
        (2, "GET /api/again HTTP/1.1"),
    ]


@pytest.mark.parametrize(
    ("method", "sent_again"), [("GET", True), ("DELETE", True), ("PATCH", False), ("POST", False)]
)
def test_a_kept_connection_dropped_in_the_exchange_resends_only_what_is_idempotent(
    server, connect, method: str, sent_again: bool
) -> None:
    # The first connection answers its first request, then drops the second
    # unanswered (the race the idle check cannot see); later connections answer.
    s = server(lambda conn, i: "drop" if (conn, i) == (1, 2) else "answer")
    direct = connect(s.url, keep=4)
    assert _get(direct).status == 200
    if sent_again:
        answer = direct.exchange(method, "/api/x", headers={}, body=b"{}", timeout=5)
        assert answer.status == 200
        assert [(c, line.split()[0]) for c, line, _ in s.seen] == [
            (1, "GET"),
            (1, method),
            (2, method),
        ]
    else:
        with pytest.raises(http.client.RemoteDisconnected):
            direct.exchange(method, "/api/x", headers={}, body=b"{}", timeout=5)
        assert [(c, line.split()[0]) for c, line, _ in s.seen] == [(1, "GET"), (1, method)]


def test_no_more_idle_connections_are_kept_than_asked(server, connect) -> None:
    s = server(lambda _conn, _i: "answer")
    direct = connect(s.url, keep=2)
    conns = [direct._take(5)[0] for _ in range(4)]
    for conn in conns:
        conn.connect()
        direct._give(conn)
    assert len(direct._idle) == 2
    assert [c.sock is None for c in conns] == [False, False, True, True]
    direct.close()
    assert direct._idle == []


def test_a_refused_connection_is_a_cluster_error_that_says_so() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    kube = Kube(Connection(server=f"http://127.0.0.1:{port}"))
    with pytest.raises(
        ClusterError, match=r"^discovering the API: ConnectionRefusedError: .*refused"
    ):
        kube.get("v1", "ConfigMap", "x", namespace="default")


def test_a_client_nobody_closed_closes_its_connections_when_collected(server) -> None:
    s = server(lambda _conn, _i: "answer")
    direct = wire.Direct(s.url, None, None, keep=4)
    assert _get(direct).status == 200
    kept = direct._idle[0]
    del direct
    gc.collect()
    assert kept.sock is None  # closed, and no ResourceWarning for it


def test_a_429_with_retry_after_is_a_throttle_the_caller_can_wait_out(server) -> None:
    s = server(lambda _conn, i: "throttle" if i == 1 else "answer")
    kube = Kube(Connection(server=s.url))
    try:
        with pytest.raises(
            ThrottledError, match=r"^reading x: HTTP 429 TooManyRequests: too many"
        ) as e:
            kube._request("GET", "/api/v1/x", doing="reading x")
        assert e.value.retry_after == 3.0
        # The connection is kept (the whole answer was read) and carries the next request.
        assert kube._request("GET", "/api/v1/x", doing="reading x")[0] == 200
    finally:
        kube.close()
    assert s.connections == 1
