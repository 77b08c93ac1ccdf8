"""An OIDC issuer's signing keys, as the puller trusts them.

Owns: finding the keys through the issuer's discovery document
({issuer}/.well-known/openid-configuration, whose `issuer` must be the
configured one, and its `jwks_uri`), keeping the RS256 signing keys by key
id, and refetching them at most once per interval when a token names a key
id we do not know (the issuer rotated its keys). A failed fetch is
remembered for the same interval, so a down issuer fails every request
closed, with its reason, without being hammered. Refuses: plain http, keys
of any other type or algorithm, RSA keys under 2048 bits, and keeping a
key the issuer no longer publishes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops_bot.errors import BotError
from gitops_bot.forges import httpsget

if TYPE_CHECKING:  # PyJWT and cryptography load at the first key fetched
    import jwt

REFETCH_AFTER_S = 60.0
MIN_RSA_BITS = 2048  # what NIST and GitHub use; shorter keys can be factored


class IssuerUnreachableError(BotError):
    """The issuer's keys could not be had: the request cannot be checked, so it is refused."""


class UnknownKeyError(BotError):
    """The token names a key id the issuer does not publish."""


def _signing_keys(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    import jwt  # noqa: PLC0415 - a puller without --oidc-audience never loads it
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    keys: dict[str, jwt.PyJWK] = {}
    entries = document.get("keys")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            key = jwt.PyJWK(entry, algorithm="RS256")
        except jwt.PyJWTError:
            continue  # one malformed key does not spoil the others
        if isinstance(key.key, rsa.RSAPublicKey) and key.key.key_size >= MIN_RSA_BITS:
            keys[kid] = key
    return keys


class IssuerKeys:
    """The signing keys of one issuer, fetched when first needed and on rotation."""

    def __init__(
        self,
        issuer: str,
        *,
        ca_file: Path | None = None,
        refetch_after_s: float = REFETCH_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not issuer.startswith("https://"):
            raise BotError(f"checking OIDC tokens: the issuer {issuer!r} is not an https:// URL")
        self.issuer, self.ca_file = issuer, ca_file
        self.refetch_after_s, self._clock = refetch_after_s, clock
        self.fetches = 0
        self._keys: dict[str, jwt.PyJWK] = {}
        self._tried_at: float | None = None
        self._failure: str | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> jwt.PyJWK:
        """The key with this id; UnknownKeyError or IssuerUnreachableError otherwise."""
        with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            now = self._clock()
            if self._tried_at is None or now - self._tried_at >= self.refetch_after_s:
                self._tried_at = now
                self._refresh()
            if self._failure is not None:
                raise IssuerUnreachableError(self._failure)
            if kid not in self._keys:
                raise UnknownKeyError(
                    f"the token's key id is not one of {self.issuer}'s keys "
                    f"(fetched at most every {self.refetch_after_s:g} s)"
                )
            return self._keys[kid]

    def _refresh(self) -> None:
        self.fetches += 1
        try:
            self._keys = self._fetch()
            self._failure = None
        except httpsget.FetchError as err:
            self._failure = f"checking OIDC tokens: {err}"

    def _fetch(self) -> dict[str, jwt.PyJWK]:
        discovery = httpsget.get_json(
            self.issuer.rstrip("/") + "/.well-known/openid-configuration",
            what="the OIDC discovery document",
            ca_file=self.ca_file,
        )
        if discovery.get("issuer") != self.issuer:
            raise httpsget.FetchError(
                f"the discovery document of {self.issuer} names another issuer"
            )
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise httpsget.FetchError(f"the discovery document of {self.issuer} has no jwks_uri")
        keys = _signing_keys(
            httpsget.get_json(jwks_uri, what="the issuer's keys", ca_file=self.ca_file)
        )
        if not keys:
            raise httpsget.FetchError(f"{self.issuer} publishes no RS256 signing key")
        return keys
