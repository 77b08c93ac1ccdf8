"""Is a bearer token a GitHub Actions OIDC token from our repository and an allowed ref?

Owns: verifying the JWT with PyJWT against the issuer's keys
(gitops_bot.web.jwks): RS256 only, named by a `kid` header; `iss` exactly
the configured issuer; `aud` the configured audience; `exp`, `nbf` and
`iat` within a small leeway; then the repository and ref claims
(gitops_bot.core.pr.claims). The answer is a Bound caller or a refusal
whose reason is ours, never PyJWT's text and never the token. Refuses:
`none`, HS* and every other algorithm (an HS256 token signed with the
public key as its secret is the classic confusion), and tokens over 16 KiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gitops_bot.core.pr import claims
from gitops_bot.errors import BotError
from gitops_bot.web import jwks

if TYPE_CHECKING:  # PyJWT (and cryptography under it) load at the first token
    import jwt

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
LEEWAY_S = 60
_MAX_TOKEN_CHARS = 16 * 1024
_REQUIRED = ["iss", "aud", "exp", "nbf", "iat", "repository", "ref", "sha"]


@dataclass(frozen=True)
class OidcSettings:
    """What the puller accepts: tokens from `issuer` for `audience`, bound to a repository."""

    audience: str
    binding: claims.Binding
    issuer: str = GITHUB_ISSUER
    ca_file: Path | None = None
    leeway_s: int = LEEWAY_S


@dataclass(frozen=True)
class TokenRefused:
    """Why a token is refused; `unavailable` when the issuer's keys could not be had."""

    reason: str
    unavailable: bool = False


def _reason(err: jwt.PyJWTError) -> str:
    import jwt  # noqa: PLC0415 - a puller without --oidc-audience never loads it

    # Our words for PyJWT's errors, most specific first: its messages are not shown.
    reasons: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
        (jwt.ExpiredSignatureError, "the token has expired"),
        (jwt.ImmatureSignatureError, "the token is not valid yet (nbf or iat in the future)"),
        (jwt.InvalidAudienceError, "the token is for another audience"),
        (jwt.InvalidIssuerError, "the token is from another issuer"),
        (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
        (jwt.InvalidSignatureError, "the token's signature does not verify"),
        (jwt.InvalidAlgorithmError, "the token is not signed with RS256"),
        (jwt.DecodeError, "the token is not a well-formed JWT"),
    )
    for kind, reason in reasons:
        if isinstance(err, kind):
            if isinstance(err, jwt.MissingRequiredClaimError):
                return f"{reason} ({err.claim})"
            return reason
    return "the token does not verify"


class OidcVerifier:
    """Checks bearer tokens against one issuer and one binding."""

    def __init__(self, settings: OidcSettings, *, keys: jwks.IssuerKeys | None = None) -> None:
        if not settings.audience:
            raise BotError("checking OIDC tokens: the audience is empty")
        self.settings = settings
        self.keys = keys or jwks.IssuerKeys(settings.issuer, ca_file=settings.ca_file)

    def verify(self, token: str) -> claims.Bound | TokenRefused:
        """The token's verified claims bound to our repository, or why not."""
        import jwt  # noqa: PLC0415 - a puller without --oidc-audience never loads it

        key = self._key(token)
        if isinstance(key, TokenRefused):
            return key
        try:
            verified = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_s,
                options={"require": _REQUIRED},
            )
        except jwt.PyJWTError as err:
            return TokenRefused(_reason(err))
        bound = claims.bind(verified, self.settings.binding)
        if isinstance(bound, claims.NotBound):
            return TokenRefused(bound.reason)
        return bound

    def _key(self, token: str) -> jwt.PyJWK | TokenRefused:
        """The issuer's key the token names, once its header passes."""
        kid = _kid(token)
        if isinstance(kid, TokenRefused):
            return kid
        try:
            return self.keys.key(kid)
        except jwks.IssuerUnreachableError as err:
            return TokenRefused(str(err), unavailable=True)
        except jwks.UnknownKeyError as err:
            return TokenRefused(str(err))


def _kid(token: str) -> str | TokenRefused:
    """The key id of an RS256 token, read before anything is verified."""
    import jwt  # noqa: PLC0415 - a puller without --oidc-audience never loads it

    if len(token) > _MAX_TOKEN_CHARS:
        return TokenRefused("the token is too long")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return TokenRefused("the token is not a well-formed JWT")
    if header.get("alg") != "RS256":
        return TokenRefused("the token is not signed with RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        return TokenRefused("the token names no key id (kid)")
    return kid
