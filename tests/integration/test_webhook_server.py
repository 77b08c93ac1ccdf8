"""The webhook server over real HTTP on 127.0.0.1: refusals, de-duplication,
the bounded queue, one handler call per pull request at a time, and close()."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import itertools
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from gitops_bot.core.pr import events
from gitops_bot.web import webhooks
from tests.waiting import until

SECRET = b"It's a Secret to Everybody"
TOKEN = "gitlab-token"
WAIT = 5.0
_ids = itertools.count(1)


def _pull(number: int, sha: str = "a" * 40, *, action: str = "opened") -> dict[str, Any]:
    return {
        "action": action,
        "repository": {"full_name": "org/shop"},
        "pull_request": {"number": number, "head": {"sha": sha}},
        "sender": {"login": "alice"},
    }


def _gitlab_mr(iid: int) -> dict[str, Any]:
    return {
        "object_kind": "merge_request",
        "project": {"path_with_namespace": "org/shop"},
        "user": {"username": "alice"},
        "object_attributes": {"iid": iid, "action": "open", "last_commit": {"id": "b" * 40}},
    }


def _sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _open(request: urllib.request.Request) -> tuple[int, str, str | None]:
    """(status, text, Retry-After) of one request."""
    try:
        # The URL is always the server under test, http://127.0.0.1:<port>.
        with urllib.request.urlopen(request, timeout=WAIT) as response:  # noqa: S310
            return response.status, response.read().decode(), response.headers["Retry-After"]
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode(), err.headers["Retry-After"]


def _get(url: str) -> tuple[int, str, str | None]:
    return _open(urllib.request.Request(url))  # noqa: S310 (see _open)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, str | None]:
    return _open(urllib.request.Request(url, data=body, headers=headers, method="POST"))  # noqa: S310


def _github(
    server: webhooks.WebhookServer,
    payload: dict[str, Any] | bytes,
    *,
    event: str = "pull_request",
    delivery: str | None = None,
    signature: str | None = "sign",
) -> tuple[int, str, str | None]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or f"delivery-{next(_ids)}",
    }
    if signature is not None:
        headers["X-Hub-Signature-256"] = _sign(body) if signature == "sign" else signature
    return _post(server.url + "/webhooks/github", body, headers)


class Recorder:
    """A handler that records events and can hold PR numbers until released."""

    def __init__(self, *, hold: frozenset[int] = frozenset()) -> None:
        self.hold = hold
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.started: list[events.Event] = []
        self.finished: list[events.Event] = []
        self.active: set[int] = set()
        self.overlap = False  # two calls for the same PR at once

    def __call__(self, event: events.Event) -> None:
        number = getattr(event, "number", -1)
        with self.lock:
            self.overlap |= number in self.active
            self.active.add(number)
            self.started.append(event)
        try:
            if number in self.hold:
                assert self.gate.wait(WAIT), "the test never released the gate"
        finally:
            with self.lock:
                self.active.discard(number)
                self.finished.append(event)

    def shas(self, number: int) -> list[str]:
        with self.lock:
            pulls = [e for e in self.started if isinstance(e, events.PullEvent)]
        return [e.head_sha for e in pulls if e.number == number]


@contextmanager
def serving(handler: webhooks.Handler, **settings: Any) -> Iterator[webhooks.WebhookServer]:
    settings.setdefault("secrets", {"github": SECRET, "gitlab": TOKEN.encode()})
    with webhooks.WebhookServer(handler=handler, settings=webhooks.Settings(**settings)) as server:
        yield server


def test_a_signed_pull_request_reaches_the_handler_once() -> None:
    recorder = Recorder()
    with serving(recorder) as server:
        assert _github(server, _pull(7))[:2] == (202, "queued\n")
        until(lambda: recorder.finished, what="the handler call", timeout=WAIT)
    assert recorder.started == [
        events.PullEvent("org/shop", 7, events.PullAction.OPENED, "a" * 40, "alice")
    ]
    assert server.counters == webhooks.Counters(handled=1)


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ("sha256=" + "0" * 64, "it does not match the body"),
        (_sign(b"another body"), "it does not match the body"),
        (None, "X-Hub-Signature-256 is missing"),
    ],
)
def test_an_unsigned_or_wrongly_signed_delivery_is_refused(
    signature: str | None, reason: str
) -> None:
    recorder = Recorder()
    with serving(recorder) as server:
        status, text, _ = _github(server, _pull(7), signature=signature)
    assert status == 401
    assert reason in text
    assert "org/shop" not in text  # the body is never echoed
    assert recorder.started == []
    assert server.counters == webhooks.Counters(refused=1)


def test_without_a_secret_github_deliveries_are_refused() -> None:
    recorder = Recorder()
    with serving(recorder, secrets={"gitlab": TOKEN.encode()}) as server:
        status, text, _ = _github(server, _pull(7))
    assert (status, recorder.started) == (401, [])
    assert "no webhook secret is configured" in text


def test_an_oversized_delivery_is_refused_before_its_body_is_read() -> None:
    with serving(Recorder(), max_body_bytes=1024) as server:
        address = urlsplit(server.url)
        assert address.hostname
        # Only the headers are sent: a server that waited for the body would time out.
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=WAIT)
        try:
            connection.putrequest("POST", "/webhooks/github")
            connection.putheader("Content-Length", str(10 << 20))
            connection.putheader("X-Hub-Signature-256", _sign(b""))
            connection.endheaders()
            response = connection.getresponse()
            status, text = response.status, response.read().decode()
        finally:
            connection.close()
    assert status == 413
    assert "too large" in text
    assert server.counters.refused == 1


def test_a_replayed_delivery_is_handled_once() -> None:
    recorder = Recorder()
    with serving(recorder) as server:
        assert _github(server, _pull(7), delivery="d-1")[0] == 202
        assert _github(server, _pull(7), delivery="d-1")[:2] == (
            200,
            "duplicate delivery, ignored\n",
        )
        until(lambda: recorder.finished, what="the handler call", timeout=WAIT)
    assert len(recorder.started) == 1
    assert server.counters == webhooks.Counters(handled=1, duplicates=1)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[1, 2]", "the body is not an object"),
        (json.dumps({"action": "opened"}).encode(), "the payload has no repository.full_name"),
    ],
)
def test_a_signed_but_malformed_delivery_is_refused(body: bytes, reason: str) -> None:
    recorder = Recorder()
    with serving(recorder) as server:
        status, text, _ = _github(server, body)
    assert status == 400
    assert reason in text
    assert recorder.started == []


@pytest.mark.parametrize(("token", "status"), [(TOKEN, 202), ("wrong", 401), (None, 401)])
def test_gitlab_deliveries_need_the_token(token: str | None, status: int) -> None:
    recorder = Recorder()
    headers = {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Event-UUID": "u-1"}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    with serving(recorder) as server:
        url = server.url + "/webhooks/gitlab"
        assert _post(url, json.dumps(_gitlab_mr(3)).encode(), headers)[0] == status
        if status == 202:
            assert _post(url, json.dumps(_gitlab_mr(3)).encode(), headers)[0] == 200
            until(lambda: recorder.finished, what="the handler call", timeout=WAIT)
    expected = [events.PullEvent("org/shop", 3, events.PullAction.OPENED, "b" * 40, "alice")]
    assert recorder.started == (expected if status == 202 else [])


def test_an_ignored_event_is_answered_and_not_handled() -> None:
    recorder = Recorder()
    with serving(recorder) as server:
        status, text, _ = _github(server, _pull(7, action="labeled"))
        assert _github(server, {"zen": "hi"}, event="ping")[0] == 200
    assert status == 200
    assert text == "ignored: pull_request action 'labeled' changes nothing the bot plans\n"
    assert recorder.started == []
    assert server.counters == webhooks.Counters()


def test_health_and_unknown_paths() -> None:
    with serving(Recorder()) as server:
        assert _get(server.url + "/healthz")[:2] == (200, "ok\n")
        assert _get(server.url + "/")[0] == 404
        assert _get(server.url + "/webhooks/github")[0] == 404
        assert _post(server.url + "/webhooks/bitbucket", b"{}", {})[0] == 404


def test_a_full_queue_answers_503_and_forgets_the_delivery() -> None:
    recorder = Recorder(hold=frozenset({1}))
    with serving(recorder, queue_size=1) as server:
        assert _github(server, _pull(1, "1" * 40))[0] == 202
        until(lambda: recorder.started, what="PR 1 to start", timeout=WAIT)
        assert _github(server, _pull(1, "2" * 40))[0] == 202  # waits behind the running call
        status, text, retry_after = _github(server, _pull(2), delivery="d-full")
        assert (status, retry_after) == (503, "5")
        assert "the queue is full" in text
        recorder.gate.set()
        until(lambda: len(recorder.finished) == 2, what="PR 1 twice", timeout=WAIT)
        assert _github(server, _pull(2), delivery="d-full")[0] == 202  # not a duplicate
        until(lambda: len(recorder.finished) == 3, what="PR 2", timeout=WAIT)
    assert server.counters == webhooks.Counters(handled=3, refused=1)


def test_one_call_at_a_time_per_pull_request_and_the_newest_head_wins() -> None:
    recorder = Recorder(hold=frozenset({1}))
    with serving(recorder) as server:
        assert _github(server, _pull(1, "1" * 40))[0] == 202
        until(lambda: recorder.shas(1), what="PR 1 to start", timeout=WAIT)
        assert _github(server, _pull(2, "2" * 40))[0] == 202
        until(lambda: recorder.shas(2), what="PR 2 to run beside PR 1", timeout=WAIT)
        assert _github(server, _pull(1, "3" * 40))[0] == 202  # waits
        assert _github(server, _pull(1, "4" * 40))[0] == 202  # supersedes the third
        assert recorder.shas(1) == ["1" * 40]
        recorder.gate.set()
        until(lambda: len(recorder.finished) == 3, what="the newest PR 1 event", timeout=WAIT)
    assert recorder.shas(1) == ["1" * 40, "4" * 40]
    assert not recorder.overlap
    assert server.counters == webhooks.Counters(handled=3, dropped_as_superseded=1)


def _comment(number: int, body: str) -> dict[str, Any]:
    return {
        "action": "created",
        "repository": {"full_name": "org/shop"},
        "issue": {"number": number, "pull_request": {"url": "https://x"}},
        "comment": {"id": next(_ids), "body": body, "user": {"login": "bob", "type": "User"}},
    }


def test_a_newer_push_never_drops_a_waiting_command_and_order_is_kept() -> None:
    recorder = Recorder(hold=frozenset({1}))
    with serving(recorder) as server:
        assert _github(server, _pull(1, "1" * 40))[0] == 202
        until(lambda: recorder.shas(1), what="PR 1 to start", timeout=WAIT)
        assert _github(server, _pull(1, "2" * 40, action="synchronize"))[0] == 202
        assert _github(server, _comment(1, "/gitops plan"), event="issue_comment")[0] == 202
        assert _github(server, _pull(1, "3" * 40, action="synchronize"))[0] == 202
        recorder.gate.set()
        until(lambda: len(recorder.finished) == 3, what="the waiting events", timeout=WAIT)
    kinds = [type(e).__name__ for e in recorder.started]
    assert kinds == ["PullEvent", "CommentEvent", "PullEvent"]
    assert recorder.shas(1) == ["1" * 40, "3" * 40]  # the head pushed in between was superseded
    assert server.counters == webhooks.Counters(handled=3, dropped_as_superseded=1)


def test_a_handler_that_raises_does_not_stop_later_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []

    def handler(event: events.Event) -> None:
        assert isinstance(event, events.PullEvent)
        seen.append(event.number)
        if event.number == 1:
            raise RuntimeError("the forge is down")

    with serving(handler, workers=1) as server:
        assert _github(server, _pull(1))[0] == 202
        until(lambda: server.counters.failed, what="the failing call", timeout=WAIT)
        assert _github(server, _pull(2))[0] == 202
        until(lambda: server.counters.handled, what="the next call", timeout=WAIT)
    assert seen == [1, 2]
    assert server.counters == webhooks.Counters(handled=1, failed=1)
    assert "the handler raised" in caplog.text
    assert "alice" not in caplog.text  # no payload contents in the log


def test_close_lets_the_running_call_finish_and_joins_the_threads() -> None:
    recorder = Recorder(hold=frozenset({1}))
    server = webhooks.WebhookServer(
        handler=recorder, settings=webhooks.Settings(secrets={"github": SECRET})
    )
    assert _github(server, _pull(1, "1" * 40))[0] == 202
    until(lambda: recorder.started, what="PR 1 to start", timeout=WAIT)
    assert _github(server, _pull(1, "2" * 40))[0] == 202  # waiting: dropped by close()
    closed: list[bool] = []
    closing = threading.Thread(target=lambda: closed.append(server.close(timeout=WAIT)))
    closing.start()
    closing.join(0.2)
    assert closing.is_alive()  # waiting for the running call
    recorder.gate.set()
    closing.join(WAIT)
    assert closed == [True]
    assert recorder.shas(1) == ["1" * 40]
    assert len(recorder.finished) == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("webhook-")]
    with pytest.raises(urllib.error.URLError):
        _get(server.url + "/healthz")


def test_close_gives_up_on_a_stuck_handler_after_its_timeout() -> None:
    recorder = Recorder(hold=frozenset({1}))
    server = webhooks.WebhookServer(
        handler=recorder, settings=webhooks.Settings(secrets={"github": SECRET})
    )
    try:
        assert _github(server, _pull(1))[0] == 202
        until(lambda: recorder.started, what="PR 1 to start", timeout=WAIT)
        assert server.close(timeout=0.1) is False
    finally:
        recorder.gate.set()
