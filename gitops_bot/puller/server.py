"""The puller's HTTP endpoint: pokes and plan requests in; metrics, liveness and readiness out.

Owns: POST /poke (the body's size checked against a cap before it is
read, then its HMAC-SHA256 checked in constant time with core.pr.deliveries:
in X-Gitops-Bot-Signature-256 as the bot's gitops_bot.web.poke sends
it, or in X-Hub-Signature-256, so a GitHub push webhook can wake the
puller too; the body is otherwise ignored: a poke is a hint, the puller
fetches the branch itself), GET /metrics (Prometheus text), GET /healthz
(the process answers) and GET /readyz (the callback says ready), through
the same HTTP front as the webhook server (gitops_bot.web.front: one deadline
per request, a cap on connections). And POST /plan, when plans are
served: the caller identified (gitops_bot.web.callers: the body signed with
the plan secret, or a GitHub Actions OIDC token), the request read
(gitops_bot.web.planwire), refused when issued outside the replay window
or when its nonce, or its token's jti, was used before (gitops_bot.web.replay),
then planned (puller.plans) and answered with the plan JSON
(core.report.json). Refuses: anything else, reusing a connection, pokes
when no secret is configured, and plan requests when plans are not served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from gitops_bot.core.pr import deliveries
from gitops_bot.core.report import json as plan_json
from gitops_bot.core.report.plan import Plan
from gitops_bot.puller.plans import BusyError, UnfetchableError
from gitops_bot.web import callers as callers_mod
from gitops_bot.web import front, planwire, replay

MAX_BODY_BYTES = 1 << 20  # a GitHub push payload is usually far smaller
SIGNATURE_HEADERS = ("X-Gitops-Bot-Signature-256", "X-Hub-Signature-256")


@dataclass(frozen=True)
class Handlers:
    poke: Callable[[], None]  # wake the loop
    ready: Callable[[], tuple[bool, str]]  # (ready?, why) for /readyz
    metrics: Callable[[], bytes]
    metrics_type: str = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class PlanHandlers:
    """What POST /plan needs: who may ask, what was asked before, and the planner."""

    callers: callers_mod.Callers
    plan: Callable[[planwire.PlanAsk], Plan]
    replays: replay.Replays = field(default_factory=replay.Replays)
    answered: Callable[[int], None] = lambda _status: None  # each answer's status, for metrics


class Server:
    """Serves until close(); `url` says where."""

    def __init__(
        self,
        handlers: Handlers,
        *,
        secret: bytes,
        plans: PlanHandlers | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int = MAX_BODY_BYTES,
        request_deadline_s: float = front.REQUEST_DEADLINE_S,
        max_connections: int = front.MAX_CONNECTIONS,
        log: logging.Logger | None = None,
    ) -> None:
        self.handlers, self.secret, self.max_body_bytes = handlers, secret, max_body_bytes
        self.plans = plans
        self.log = log or logging.getLogger(__name__)
        self.refused = 0
        self._http = front.Server(
            front.App(
                routes={
                    ("GET", "/healthz"): front.Route(lambda _: front.Response.text(200, "ok")),
                    ("GET", "/readyz"): front.Route(self._ready),
                    ("GET", "/metrics"): front.Route(self._metrics),
                    ("POST", "/poke"): front.Route(self._poke, body="the poke"),
                    ("POST", "/plan"): front.Route(self._plan, body="the plan request"),
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

    def _plan(self, request: front.Request) -> front.Response:
        status, answer = self.plan(request.header, request.body)
        if self.plans is not None:
            self.plans.answered(status)
        if isinstance(answer, Plan):
            return front.Response(
                200, plan_json.render(answer).encode(), content_type="application/json"
            )
        if status == 429:
            return front.Response.text(status, answer, retry_after=5)
        return front.Response.text(status, answer)

    def plan(self, header: Callable[[str], str | None], body: bytes) -> tuple[int, Plan | str]:
        """(200, the plan) or (status, why not): the caller first, then the request."""
        if self.plans is None:
            return 404, (
                "this puller serves no plans: start it with --plan-secret-file or --oidc-audience"
            )
        ask = self._admit(self.plans, header, body)
        if not isinstance(ask, planwire.PlanAsk):
            return ask
        try:
            return 200, self.plans.plan(ask)
        except BusyError as err:
            return 429, str(err)
        except UnfetchableError as err:
            return 422, str(err)

    def _admit(
        self, plans: PlanHandlers, header: Callable[[str], str | None], body: bytes
    ) -> planwire.PlanAsk | tuple[int, str]:
        """The request, once its caller is allowed and it is fresh; else (status, why not)."""
        caller = plans.callers.identify(header, body)
        if isinstance(caller, callers_mod.Refused):
            self.refused += 1
            return caller.status, f"refused: {caller.reason}"
        try:
            ask = planwire.parse(body)
        except planwire.AskError as err:
            return 400, f"reading the plan request: {err}"
        why = _replayed(plans.replays, caller, ask)
        if why is not None:
            self.refused += 1
            return 401, f"refused: {why}"
        self.log.info(
            "plan of %s..%s for %s asked by %s",
            ask.base[:12],
            ask.head[:12],
            ",".join(ask.envs),
            caller.who,
        )
        return ask


def _replayed(
    replays: replay.Replays, caller: callers_mod.Caller, ask: planwire.PlanAsk
) -> str | None:
    """Why `ask` is refused as stale or seen before; its single-use values remembered."""
    why = replays.fresh(ask.issued_at)
    if why is not None:
        return why
    until = ask.issued_at + replays.window_s
    if caller.bound is not None:  # a token is good until it expires, whatever the body says
        if not caller.bound.jti or caller.bound.expires_at is None:
            return "the OIDC token has no jti or exp: it cannot be checked for replays"
        why = replays.first_use("OIDC token (jti)", caller.bound.jti, until=caller.bound.expires_at)
        if why is not None:
            return why
    return replays.first_use("nonce", ask.nonce, until=until)
