"""The puller's HTTP endpoint, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import threading
from collections.abc import Iterator

import pytest

from gitops_bot.core.report.plan import Plan
from gitops_bot.puller.metrics import Metrics
from gitops_bot.puller.server import Handlers, PlanHandlers, Server
from gitops_bot.web.callers import Callers
from gitops_bot.web.planwire import PlanAsk

SECRET = b"poke-secret"


class _App:
    def __init__(self) -> None:
        self.pokes = 0
        self.is_ready = False
        self.metrics = Metrics()

    def handlers(self) -> Handlers:
        return Handlers(
            poke=self._poke,
            ready=lambda: (self.is_ready, "leader, synced" if self.is_ready else "not synced yet"),
            metrics=self.metrics.exposition,
        )

    def _poke(self) -> None:
        self.pokes += 1


@pytest.fixture
def app() -> _App:
    return _App()


@pytest.fixture
def server(app: _App) -> Iterator[Server]:
    s = Server(app.handlers(), secret=SECRET, max_body_bytes=1024)
    yield s
    s.close()


def _request(
    server: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("signature", "status"),
    [
        (_sign(b'{"ref":"refs/heads/main"}'), 202),
        (_sign(b'{"ref":"refs/heads/main"}', b"wrong"), 401),
        (_sign(b"another body"), 401),
        (None, 401),
        ("sha1=abc", 401),
    ],
    ids=["signed", "wrong-secret", "other-body", "unsigned", "not-sha256"],
)
def test_a_poke_counts_only_when_signed_with_the_secret(
    server: Server, app: _App, signature: str | None, status: int
) -> None:
    headers = {"X-Hub-Signature-256": signature} if signature else {}
    got, text = _request(server, "POST", "/poke", b'{"ref":"refs/heads/main"}', headers)
    assert got == status
    assert app.pokes == (1 if status == 202 else 0)
    if status == 401:
        assert "poke's signature" in text


def test_the_bots_own_poke_is_taken(server: Server, app: _App) -> None:
    from gitops_bot.web.poke import SIGNATURE_HEADER  # noqa: PLC0415

    body = b'{"ref":"refs/heads/main","sha":"abc"}'
    got, _ = _request(server, "POST", "/poke", body, {SIGNATURE_HEADER: _sign(body)})
    assert (got, app.pokes) == (202, 1)


def test_an_oversized_poke_is_refused_before_it_is_read(server: Server, app: _App) -> None:
    body = b"x" * 2048
    got, text = _request(server, "POST", "/poke", body, {"X-Hub-Signature-256": _sign(body)})
    assert (got, app.pokes) == (413, 0)
    assert "too large" in text


def test_without_a_secret_every_poke_is_refused(app: _App) -> None:
    s = Server(app.handlers(), secret=b"")
    try:
        got, _ = _request(s, "POST", "/poke", b"{}", {"X-Hub-Signature-256": _sign(b"{}", b"")})
        assert (got, app.pokes) == (401, 0)
    finally:
        s.close()


def test_health_readiness_and_metrics(server: Server, app: _App) -> None:
    assert _request(server, "GET", "/healthz") == (200, "ok\n")
    assert _request(server, "GET", "/readyz") == (503, "not synced yet\n")
    app.is_ready = True
    assert _request(server, "GET", "/readyz") == (200, "leader, synced\n")
    app.metrics.applies.labels(env="prod", outcome="applied").inc()
    status, text = _request(server, "GET", "/metrics")
    assert status == 200
    assert 'gitops_bot_applies_total{env="prod",outcome="applied"} 1.0' in text
    assert "# TYPE gitops_bot_apply_duration_seconds histogram" in text
    assert _request(server, "GET", "/nope")[0] == 404
    assert _request(server, "POST", "/nope", b"")[0] == 404


def test_a_handler_that_raises_is_answered_500_and_the_server_goes_on(app: _App) -> None:
    def broken() -> bytes:
        raise RuntimeError("the registry is gone")

    s = Server(Handlers(poke=app._poke, ready=lambda: (True, "ok"), metrics=broken), secret=SECRET)
    try:
        status, text = _request(s, "GET", "/metrics")
        assert status == 500
        assert "registry" not in text
        assert _request(s, "GET", "/healthz") == (200, "ok\n")
    finally:
        s.close()


def _blocking_server(gate: threading.Event, started: threading.Semaphore, **kw: int) -> Server:
    def poke() -> None:
        started.release()
        assert gate.wait(5), "the test never opened the gate"

    handlers = Handlers(poke=poke, ready=lambda: (True, "ok"), metrics=lambda: b"")
    return Server(handlers, secret=SECRET, **kw)


def _poke_in_background(s: Server, results: list[tuple[int, str]]) -> threading.Thread:
    body = b"{}"
    thread = threading.Thread(
        target=lambda: results.append(
            _request(s, "POST", "/poke", body, {"X-Hub-Signature-256": _sign(body)})
        )
    )
    thread.start()
    return thread


def test_at_the_cap_with_every_connection_being_answered_a_new_one_gets_503() -> None:
    gate, started, results = threading.Event(), threading.Semaphore(0), []
    s = _blocking_server(gate, started, max_connections=2)
    try:
        threads = [_poke_in_background(s, results) for _ in range(2)]
        for _ in threads:
            assert started.acquire(timeout=5)
        status, text = _request(s, "GET", "/healthz")
        assert (status, text) == (503, "too many connections\n")
        gate.set()
        for thread in threads:
            thread.join(5)
        assert results == [(202, "fetching\n")] * 2
        assert _request(s, "GET", "/healthz") == (200, "ok\n")
    finally:
        gate.set()
        s.close()


def test_close_lets_a_request_being_answered_finish() -> None:
    gate, started, results = threading.Event(), threading.Semaphore(0), []
    s = _blocking_server(gate, started)
    thread = _poke_in_background(s, results)
    assert started.acquire(timeout=5)
    closing = threading.Thread(target=s.close)
    closing.start()
    gate.set()
    closing.join(10)
    thread.join(5)
    assert results == [(202, "fetching\n")]


def test_plan_requests_are_counted_by_answer_and_refused_unless_served(app: _App) -> None:
    plans = PlanHandlers(
        callers=Callers(secret=b"plan-secret"),
        plan=lambda ask: Plan(base=ask.base, head=ask.head),
        answered=lambda status: app.metrics.plan_requests.labels(answer=str(status)).inc(),
    )
    served = Server(app.handlers(), secret=SECRET, plans=plans)
    unserved = Server(app.handlers(), secret=SECRET)
    try:
        body = PlanAsk.new("a" * 40, "b" * 40, ("dev",)).body()
        signed = {"X-Gitops-Bot-Signature-256": _sign(body, b"plan-secret")}
        assert _request(served, "POST", "/plan", body, signed)[0] == 200
        assert _request(served, "POST", "/plan", body, signed)[0] == 401  # replayed
        assert _request(served, "POST", "/plan", body, {})[0] == 401
        status, text = _request(unserved, "POST", "/plan", body, signed)
        assert (status, "serves no plans" in text) == (404, True)
    finally:
        served.close()
        unserved.close()
    exposed = app.metrics.exposition().decode()
    assert 'gitops_bot_plan_requests_total{answer="200"} 1.0' in exposed
    assert 'gitops_bot_plan_requests_total{answer="401"} 2.0' in exposed
