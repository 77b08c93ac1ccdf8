"""A local OpenID Connect issuer on 127.0.0.1 that signs tokens the way GitHub Actions does.

Owns: an HTTPS server (its certificate from gitops_bot.testing.pki, trusted
through the CA file) serving the discovery document, the JWKS of its
current keys and GitHub Actions' token request endpoint (the bearer
checked, the audience from the query); RSA keys made here with
cryptography; tokens signed RS256 with a `kid`, carrying the claims GitHub
documents; and the knobs the tests turn: rotating keys, the JWKS endpoint
down, answers padded past any sane size. Refuses: being anything but a test
double (one process, no persistence).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gitops_bot.testing import pki

REPOSITORY = "octo-org/octo-repo"
SHA = "a" * 40


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """The issuer; `url` is its `iss`, `ca_file` what a client must trust."""

    def __init__(self, folder: Path) -> None:
        certs = pki.create(folder)
        self.ca_file = certs.ca_cert
        self.request_token = secrets.token_urlsafe(24)
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.served: Counter[str] = Counter()
        self.jwks_down = False
        self.padding = 0  # bytes of filler added to every JSON answer
        self.declare_length = True
        self.rotate()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs.server_cert, certs.server_key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def new_key(self, *, bits: int = 2048) -> str:
        kid = secrets.token_hex(8)
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        return kid

    def rotate(self) -> str:
        """A new key, published alone (the old one withdrawn); its kid."""
        kid = self.new_key()
        self.published = [kid]
        return kid

    @property
    def kid(self) -> str:
        return self.published[-1]

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            keys.append({**entry, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def public_pem(self, kid: str | None = None) -> bytes:
        return (
            self.keys[kid or self.kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def claims(self, audience: str, **overrides: Any) -> dict[str, Any]:
        """What GitHub puts in a pull_request job's token (docs: OIDC token claims)."""
        now = int(time.time())
        ref = overrides.get("ref", "refs/pull/7/merge")
        claims: dict[str, Any] = {
            "jti": secrets.token_hex(8),
            "sub": f"repo:{REPOSITORY}:pull_request",
            "aud": audience,
            "ref": ref,
            "sha": SHA,
            "repository": REPOSITORY,
            "repository_owner": "octo-org",
            "repository_owner_id": "65",
            "repository_id": "74",
            "repository_visibility": "private",
            "run_id": "5001",
            "run_number": "7",
            "run_attempt": "1",
            "actor": "octocat",
            "actor_id": "12",
            "workflow": "plan",
            "head_ref": "feature",
            "base_ref": "main",
            "event_name": "pull_request",
            "ref_type": "branch",
            "workflow_ref": f"{REPOSITORY}/.github/workflows/plan.yml@{ref}",
            "job_workflow_ref": f"{REPOSITORY}/.github/workflows/plan.yml@{ref}",
            "runner_environment": "github-hosted",
            "iss": self.url,
            "nbf": now - 5,
            "iat": now - 5,
            "exp": now + 300,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, audience: str, *, kid: str | None = None, **overrides: Any) -> str:
        kid = kid or self.kid
        return jwt.encode(
            self.claims(audience, **overrides),
            self.keys[kid],
            algorithm="RS256",
            headers={"kid": kid},
        )

    def forged(self, audience: str, *, alg: str, secret: bytes = b"") -> str:
        """A token with another algorithm, made by hand (PyJWT rightly refuses to
        HMAC with a PEM key): alg none, or HS256 with `secret`."""
        header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": self.kid}).encode())
        payload = _b64(json.dumps(self.claims(audience)).encode())
        signing_input = f"{header}.{payload}".encode()
        if alg == "none":
            return f"{header}.{payload}."
        signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"


def _handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def _json(self, status: int, document: dict[str, Any]) -> None:
            if issuer.padding:
                document = {**document, "padding": "x" * issuer.padding}
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if issuer.declare_length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            issuer.served[url.path] += 1
            if url.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": issuer.url,
                        "jwks_uri": f"{issuer.url}/.well-known/jwks",
                        "subject_types_supported": ["public", "pairwise"],
                        "response_types_supported": ["id_token"],
                        "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "scopes_supported": ["openid"],
                    },
                )
            elif url.path == "/.well-known/jwks":
                if issuer.jwks_down:
                    self._json(503, {"message": "unavailable"})
                else:
                    self._json(200, issuer.jwks())
            elif url.path == "/token":
                self._token(url.query)
            else:
                self._json(404, {"message": "not found"})

        def _token(self, query: str) -> None:
            if self.headers.get("Authorization") != f"Bearer {issuer.request_token}":
                self._json(401, {"message": "bad request token"})
                return
            # Without an audience GitHub uses the owner's URL.
            audience = dict(urllib.parse.parse_qsl(query)).get(
                "audience", "https://github.com/octo-org"
            )
            self._json(200, {"count": 1, "value": issuer.token(audience)})

    return Handler
