"""The bot's side of a live plan made by the puller: ask, and read the answer.

Owns: POST {url}/plan with a fresh plan request (gitops_bot.web.planwire:
the SHAs, the environments, a nonce and the time) authenticated one of two
ways: signed with the plan secret (X-Gitops-Bot-Signature-256), or with a
GitHub Actions job's OIDC token (Authorization: Bearer; a fresh token per
request, since the puller takes each token once); https with an optional
CA file, or http; no redirects; a timeout that outlasts the puller's own
deadline; the answer read strictly as gitops-bot/plan/v1 (core.report.json),
and every way of not getting one (unreachable, refused, busy, unreadable)
as one sentence that names the puller and never the secret or the token.
Refuses: deciding what a missing live plan means (planner.plan and the
policy do) and retrying (a busy puller is said so; the next run asks again).
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from gitops_bot.core.pr.deliveries import sign
from gitops_bot.core.report import json as plan_json
from gitops_bot.core.report.plan import Plan
from gitops_bot.errors import BotError
from gitops_bot.forges import httpsget
from gitops_bot.web.planwire import PlanAsk
from gitops_bot.web.poke import SIGNATURE_HEADER

TIMEOUT_S = 300.0  # the puller's deadline (120 s by default) to start, then the plan itself
_MAX_ANSWER_BYTES = 64 << 20
_MAX_SHOWN = 300


class PullerPlans:
    """Asks one puller for live plans (planner.plan.LivePlans)."""

    def __init__(
        self,
        url: str,
        *,
        secret: bytes = b"",
        token: Callable[[], str] | None = None,  # a fresh OIDC token per call
        ca_file: Path | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise BotError(f"asking the puller for a plan: {url!r} is not an http(s) URL")
        if "@" in urllib.parse.urlsplit(url).netloc:
            # Every message names the URL: a password in it would be shown.
            raise BotError(
                "asking the puller for a plan: the URL carries a user name or password; "
                "authenticate with the plan secret or the job's OIDC token instead"
            )
        if bool(secret) == (token is not None):
            raise BotError(
                "asking the puller for a plan: give exactly one of the plan secret "
                "and the OIDC audience"
            )
        self.url = url.rstrip("/") + "/plan"
        self._secret, self._token, self._timeout_s = secret, token, timeout_s
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._open = urllib.request.build_opener(
            httpsget.NoRedirects, urllib.request.HTTPSHandler(context=context)
        ).open

    def live(self, base: str, head: str, envs: tuple[str, ...]) -> Plan | str:
        """The puller's live plan of base..head for `envs`, or why there is none."""
        ask = PlanAsk.new(base, head, envs)
        body = ask.body()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        try:
            if self._token is not None:
                headers["Authorization"] = f"Bearer {self._token()}"
            else:
                headers[SIGNATURE_HEADER] = sign(body, secret=self._secret)
        except BotError as err:
            return f"the job could not authenticate to the puller: {err}"
        request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)  # noqa: S310
        answer = self._send(request)
        if isinstance(answer, str):
            return answer
        if (answer.base, answer.head) != (base, head):
            return f"the puller at {self.url} answered with a plan of other commits"
        return answer

    def _send(self, request: urllib.request.Request) -> Plan | str:
        try:
            with self._open(request, timeout=self._timeout_s) as reply:
                text = reply.read(_MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as err:
            why = _first_line(err.read(_MAX_SHOWN * 2))
            return f"the puller at {self.url} answered HTTP {err.code}: {why}"
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            reason = getattr(err, "reason", err)
            return f"the puller at {self.url} could not be reached: {reason}"
        if len(text) > _MAX_ANSWER_BYTES:
            return f"the puller at {self.url} answered more than {_MAX_ANSWER_BYTES} bytes"
        try:
            return plan_json.parse(text.decode())
        except (ValueError, BotError) as err:
            return f"the puller at {self.url} answered something that is not a plan: {err}"


def _first_line(data: bytes) -> str:
    text = data.decode(errors="replace").strip().splitlines()
    line = text[0] if text else "(no reason given)"
    return line if len(line) <= _MAX_SHOWN else line[:_MAX_SHOWN] + "…"
