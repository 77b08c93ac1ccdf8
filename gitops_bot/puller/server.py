"""The puller's HTTP endpoint: pokes in; metrics, liveness and readiness out.

Owns: POST /poke (the body's size checked against a cap before it is
read, then its HMAC-SHA256 checked in constant time with core.pr.deliveries:
in X-Gitops-Bot-Signature-256 as the bot's gitops_bot.web.poke sends
it, or in X-Hub-Signature-256, so a GitHub push webhook can wake the
puller too; the body is otherwise ignored: a poke is a hint, the puller
fetches the branch itself), GET /metrics (Prometheus text), GET /healthz
(the process answers) and GET /readyz (the callback says ready), through
the same HTTP front as the webhook server (gitops_bot.web.front: one deadline
per request, a cap on connections). Refuses: anything else, reusing a
connection, and pokes when no secret is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from gitops_bot.core.pr import deliveries
from gitops_bot.web import front

MAX_BODY_BYTES = 1 << 20  # a GitHub push payload is usually far smaller
SIGNATURE_HEADERS = ("X-Gitops-Bot-Signature-256", "X-Hub-Signature-256")


@dataclass(frozen=True)
class Handlers:
    poke: Callable[[], None]  # wake the loop
    ready: Callable[[], tuple[bool, str]]  # (ready?, why) for /readyz
    metrics: Callable[[], bytes]
    metrics_type: str = "text/plain; version=0.0.4; charset=utf-8"


class Server:
    """Serves until close(); `url` says where."""

    def __init__(
        self,
        handlers: Handlers,
        *,
        secret: bytes,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int = MAX_BODY_BYTES,
        request_deadline_s: float = front.REQUEST_DEADLINE_S,
        max_connections: int = front.MAX_CONNECTIONS,
        log: logging.Logger | None = None,
    ) -> None:
        self.handlers, self.secret, self.max_body_bytes = handlers, secret, max_body_bytes
        self.log = log or logging.getLogger(__name__)
        self.refused = 0
        self._http = front.Server(
            front.App(
                routes={
                    ("GET", "/healthz"): front.Route(lambda _: front.Response.text(200, "ok")),
                    ("GET", "/readyz"): front.Route(self._ready),
                    ("GET", "/metrics"): front.Route(self._metrics),
                    ("POST", "/poke"): front.Route(self._poke, body="the poke"),
                },
                missing=lambda _: front.Response.text(404, "no such page"),
                refuse=self._refuse,
            ),
            limits=front.Limits(
                deadline_s=request_deadline_s,
                max_connections=max_connections,
                max_body_bytes=max_body_bytes,
            ),
            host=host,
            port=port,
            name="puller-http",
            log=self.log,
        )
        self.url = self._http.url

    @property
    def connections(self) -> front.Counts:
        """What the HTTP front did with slow and surplus connections."""
        return self._http.counts

    def close(self) -> None:
        self._http.close(timeout=5.0)

    def poke(self, signature: str | None, body: bytes) -> tuple[int, str]:
        try:
            deliveries.verify_github(body, signature, secret=self.secret)
        except deliveries.WebhookError as err:
            self.refused += 1
            reason = str(err).replace("the GitHub signature", "the poke's signature")
            return 401, reason
        self.handlers.poke()
        return 202, "fetching"

    def _refuse(self, status: int, text: str) -> front.Response:
        self.refused += 1
        return front.Response.text(status, text)

    def _ready(self, _: front.Request) -> front.Response:
        ready, why = self.handlers.ready()
        return front.Response.text(200 if ready else 503, why)

    def _metrics(self, _: front.Request) -> front.Response:
        return front.Response(200, self.handlers.metrics(), content_type=self.handlers.metrics_type)

    def _poke(self, request: front.Request) -> front.Response:
        signature = next(
            (v for h in SIGNATURE_HEADERS if (v := request.header(h)) is not None), None
        )
        return front.Response.text(*self.poke(signature, request.body))
