"""Who is asking the puller for a plan: a holder of the plan secret, or a GitHub Actions job.

Owns: deciding, from a request's headers and raw body, whether it comes
from an allowed caller, in one of two ways: the body signed like a poke
(X-Gitops-Bot-Signature-256: sha256=HMAC(plan secret, body), checked by
gitops_bot.core.pr.deliveries in constant time, with a secret of its own,
never the poke's), or `Authorization: Bearer <GitHub Actions OIDC token>`
(gitops_bot.web.oidc). The answer is a Caller or a Refused with a reason
and an HTTP status (401; 503 when the issuer's keys cannot be had, so the
request fails closed). Refuses: a request carrying both (which one would
be judged is a guess), echoing the token or the secret, and anything about
what the body asks (the plan endpoint reads it after this says yes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gitops_bot.core.pr import claims, deliveries
from gitops_bot.web import oidc
from gitops_bot.web.poke import SIGNATURE_HEADER


@dataclass(frozen=True)
class Caller:
    """An allowed caller: `who` is for logs ("hmac", "github-oidc owner/name@ref sha")."""

    kind: Literal["hmac", "github-oidc"]
    who: str
    bound: claims.Bound | None = None  # the verified claims, for github-oidc


@dataclass(frozen=True)
class Refused:
    """Not an allowed caller, and why (never the token or the secret)."""

    reason: str
    status: int = 401


class Callers:
    """The ways in the puller accepts: either, both or none configured."""

    def __init__(self, *, secret: bytes | None = None, verifier: oidc.OidcVerifier | None = None):
        self.secret, self.verifier = secret or b"", verifier

    def identify(self, header: Callable[[str], str | None], body: bytes) -> Caller | Refused:
        authorization, signature = header("Authorization"), header(SIGNATURE_HEADER)
        if authorization is not None and signature is not None:
            return Refused(f"the request carries both a bearer token and {SIGNATURE_HEADER}")
        if authorization is not None:
            return self._bearer(authorization)
        if signature is not None:
            return self._signed(signature, body)
        return Refused(
            f"the request carries no credentials: sign its body ({SIGNATURE_HEADER}) "
            "or send the job's OIDC token (Authorization: Bearer)"
        )

    def _bearer(self, authorization: str) -> Caller | Refused:
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return Refused("the Authorization header is not 'Bearer <token>'")
        if self.verifier is None:
            return Refused("OIDC tokens are not accepted: no OIDC audience is configured")
        verified = self.verifier.verify(token)
        if isinstance(verified, oidc.TokenRefused):
            status = 503 if verified.unavailable else 401
            return Refused(f"checking the OIDC token: {verified.reason}", status)
        return Caller("github-oidc", verified.who, verified)

    def _signed(self, signature: str, body: bytes) -> Caller | Refused:
        try:
            deliveries.verify_github(
                body,
                signature,
                secret=self.secret,
                what="the plan request's signature",
                header=SIGNATURE_HEADER,
                unset="no plan secret is configured",
            )
        except deliveries.WebhookError as err:
            return Refused(str(err))
        return Caller("hmac", "hmac")
