"""The webhook server: authentic deliveries in, handler calls out, one per pull request at a time.

Owns: the HTTP mechanics of receiving the webhooks of every forge in
forges.registry, at POST /webhooks/NAME (the size limit checked before the
body is read, the forge's signature check before it is parsed, delivery
ids and what each event is remembered, so a redelivery, or a replay under
a new delivery id, is handled once, 503 with Retry-After when the queue is
full) and handing each actionable event to the
queue (gitops_bot.web.deliveryqueue: one handler call at a time per pull
request; SECURITY.md promises 9 and 10), and the events the sweep finds
(submit) into that same queue. Refuses: deciding anything from the
payload (it only names the event; the handler re-reads state from the API),
logging or echoing payload contents, and handling an event after close()
has begun.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from gitops_bot.core.pr import deliveries, events
from gitops_bot.errors import ForgeError
from gitops_bot.forges import registry
from gitops_bot.forges.forge import Header, Webhook
from gitops_bot.web import front
from gitops_bot.web.deliveryqueue import Actionable, Handler, Key, Workers

__all__ = ["Counters", "Handler", "Settings", "WebhookServer"]

RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class Settings:
    # The webhook secret of each forge, by its registry name (GitHub: the HMAC
    # key; GitLab: the X-Gitlab-Token); a forge without one is refused.
    secrets: Mapping[str, bytes] = field(default_factory=dict)
    max_body_bytes: int = 5 << 20
    queue_size: int = 100  # events accepted and waiting for a worker
    workers: int = 4  # handler calls for different pull requests run in parallel
    # Slow clients (gitops_bot.web.front): the whole request, from the accept to
    # the body's last byte, must arrive within this; and at most this many
    # connections are open at once.
    request_deadline_s: float = front.REQUEST_DEADLINE_S
    max_connections: int = front.MAX_CONNECTIONS


@dataclass(frozen=True)
class Counters:
    handled: int = 0  # handler calls that returned
    failed: int = 0  # handler calls that raised
    dropped_as_superseded: int = 0  # waiting events replaced by a newer one for the same key
    duplicates: int = 0  # deliveries whose id, or whose event, was already seen
    refused: int = 0  # deliveries answered 4xx or 503


@dataclass(frozen=True)
class _Reply:
    status: int
    text: str
    retry_after: int | None = None

    def response(self) -> front.Response:
        return front.Response.text(self.status, self.text, retry_after=self.retry_after)


@dataclass(frozen=True)
class _Forge:
    name: str  # the registry's, and the key of its secret in Settings.secrets
    webhook: Webhook

    @property
    def title(self) -> str:
        return self.webhook.title

    @property
    def delivery_header(self) -> str:
        return self.webhook.delivery_header

    def verify(self, settings: Settings, header: Header, body: bytes) -> None:
        self.webhook.verify(settings.secrets.get(self.name, b""), header, body)

    def read(self, header: Header, payload: Mapping[str, Any]) -> events.Event:
        return self.webhook.read(header, payload)

    def identity(self, header: Header, payload: Mapping[str, Any]) -> str:
        # What the event is, whatever delivery carries it: the delivery
        # header is not signed, so a replay can carry any id.
        return self.webhook.identity(header, payload)


_FORGES: Mapping[str, _Forge] = {
    f"/webhooks/{forge.name}": _Forge(forge.name, forge.webhook) for forge in registry.FORGES
}


def _key(forge: str, event: Actionable) -> Key:
    if isinstance(event, events.PushEvent):
        return (forge, event.repo, event.ref)
    if isinstance(event, events.PromotionCheck):
        return (forge, event.repo, f"promotion:{event.branch}")
    return (forge, event.repo, event.number)


def _parse(forge: _Forge, header: Header, body: bytes) -> tuple[events.Event, str]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise deliveries.WebhookError(
            f"reading the {forge.title} delivery: the body is not JSON"
        ) from err
    if not isinstance(payload, dict):
        raise deliveries.WebhookError(
            f"reading the {forge.title} delivery: the body is not an object"
        )
    return forge.read(header, payload), forge.identity(header, payload)


class WebhookServer:
    """Serves POST /webhooks/NAME for each registered forge and GET /healthz until close()."""

    def __init__(
        self,
        *,
        handler: Handler,
        settings: Settings,
        host: str = "127.0.0.1",
        port: int = 0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.settings = settings
        self.log = logger or logging.getLogger(__name__)
        self._lock = threading.Lock()
        self._deliveries = deliveries.Deliveries()
        self._events = deliveries.Deliveries()  # identities of the events queued
        self._duplicates = 0
        self._refused = 0
        self._closed = False
        self._workers = Workers(
            handler=handler,
            capacity=settings.queue_size,
            workers=settings.workers,
            log=self.log,
        )
        routes = {("GET", "/healthz"): front.Route(self._health)}
        for path, forge in _FORGES.items():
            routes["POST", path] = front.Route(self._delivery(forge), body="the delivery")
        self._http = front.Server(
            front.App(
                routes=routes,
                missing=lambda method: front.Response.text(
                    404, "no such webhook" if method == "POST" else "no such page"
                ),
                refuse=lambda status, text: self.refuse(status, text).response(),
            ),
            limits=front.Limits(
                deadline_s=settings.request_deadline_s,
                max_connections=settings.max_connections,
                max_body_bytes=settings.max_body_bytes,
            ),
            host=host,
            port=port,
            name="webhook-http",
            log=self.log,
        )
        self.url = self._http.url

    def __enter__(self) -> WebhookServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self, *, timeout: float = 30.0) -> bool:
        """Stop accepting, let running handler calls finish (waiting events are dropped) and
        join the threads; True if everything ended within `timeout` seconds."""
        if self._closed:
            return True
        self._closed = True
        self._workers.stop()  # first, so nothing waiting starts while HTTP winds down
        self._http.close(timeout=min(timeout, 5.0))
        return self._workers.join(timeout=timeout)

    @property
    def counters(self) -> Counters:
        with self._lock:
            return Counters(
                duplicates=self._duplicates, refused=self._refused, **self._workers.counts
            )

    @property
    def connections(self) -> front.Counts:
        """What the HTTP front did with slow and surplus connections."""
        return self._http.counts

    def _delivery(self, forge: _Forge) -> Callable[[front.Request], front.Response]:
        return lambda request: self.receive(forge, request.header, request.body).response()

    def _health(self, request: front.Request) -> front.Response:
        return front.Response.text(200, "ok")

    def refuse(self, status: int, text: str, *, retry_after: int | None = None) -> _Reply:
        with self._lock:
            self._refused += 1
        return _Reply(status, text, retry_after)

    def receive(self, forge: _Forge, header: Header, body: bytes) -> _Reply:
        """Answer one delivery whose body was read within the size limit."""
        try:
            forge.verify(self.settings, header, body)
        except deliveries.WebhookError as err:
            return self.refuse(401, str(err))
        delivery = header(forge.delivery_header)
        if not delivery:
            return self.refuse(
                400, f"reading the {forge.title} delivery: {forge.delivery_header} is missing"
            )
        # A place is reserved before the id is remembered, so a 503 leaves the forge's
        # redelivery free to be handled.
        if not self._workers.reserve():
            return self.refuse(
                503, "queueing the delivery: the queue is full", retry_after=RETRY_AFTER_SECONDS
            )
        submitted = False
        try:
            reply, event = self._admit(forge, header, body, delivery=delivery)
            if event is None:
                return reply
            submitted = True
            if not self._workers.submit(_key(forge.title, event), event):
                return self.refuse(503, "queueing the delivery: the server is closing")
            return reply
        finally:
            if not submitted:
                self._workers.release()

    def submit(self, forge: str, event: Actionable) -> bool:
        """Queue an event found without a delivery (the sweep, app.sweep) for the forge
        of that registry name, exactly as a delivery's: same key, same workers. False
        when the queue is full or closing (the next sweep finds it again)."""
        title = _FORGES[f"/webhooks/{forge}"].title
        if not self._workers.reserve():
            return False
        return self._workers.submit(_key(title, event), event)

    def _admit(
        self, forge: _Forge, header: Header, body: bytes, *, delivery: str
    ) -> tuple[_Reply, Actionable | None]:
        with self._lock:
            first = self._deliveries.first_time(f"{forge.title}:{delivery}")
            self._duplicates += not first
        if not first:
            return _Reply(200, "duplicate delivery, ignored"), None
        try:
            event, identity = _parse(forge, header, body)
        except (deliveries.WebhookError, ForgeError) as err:
            return self.refuse(400, str(err)), None
        if isinstance(event, events.Ignored):
            return _Reply(200, f"ignored: {event.reason}"), None
        with self._lock:
            first = not identity or self._events.first_time(identity)
            self._duplicates += not first
        if not first:
            return _Reply(200, "duplicate event (already received under another delivery id)"), None
        return _Reply(202, "queued"), event
