"""The emulator's HTTP side: serving on 127.0.0.1, checking, dispatching, logging.

Owns: the GitHubServer (a context manager on a free port, made of the
store and the payloads), one exchange at a time under one lock (so every
check-and-create, such as creating a ref that must not exist, is atomic),
the contract check of every request and response against GitHub's OpenAPI
description (tests.fakes.openapi_check; violations are collected, and
`checked()` fails its user when there are any), queued faults (429 with
Retry-After, 5xx, rate-limit 403s), authentication (a user's token; an App
installation's token, which reaches only that installation's repositories
and is 401 Bad credentials once expired on the store's clock; an App's JWT
on the App endpoints, checked as GitHub checks one), and the request
log. Refuses: any endpoint's logic (the ep_* modules register those).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt

from tests.fakes import openapi_check
from tests.fakes.github_server.ep_apps import APP_PATHS
from tests.fakes.github_server.git_payloads import GitPayloads
from tests.fakes.github_server.payloads import Payloads
from tests.fakes.github_server.routing import ROUTES
from tests.fakes.github_server.state import EPOCH, HttpError, Request
from tests.fakes.github_server.store import Store


class GitHubServer(GitPayloads, Payloads, Store):
    """The emulator; a context manager that serves on 127.0.0.1 at a free port.

    Tests arrange state with the store's methods (`add_*`, `push`, `mirror`,
    `attach_git`), talk to `url` through PyGithub, and read `log`,
    `violations` and the records afterwards.
    """

    def __init__(self) -> None:
        super().__init__()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------

    def __enter__(self) -> GitHubServer:
        openapi_check.description()  # fail here, before serving, when the package is missing
        server = self

        class _Handler(_HttpHandler):
            emulator = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def log(self) -> list[str]:
        """Every request, in order, as "METHOD /path" (query strings left out)."""
        return [str(r) for r in self.requests]

    # -- one exchange ---------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        path, query = parts.path, dict(parse_qsl(parts.query))
        with self._lock:
            self._check(
                openapi_check.request_violations,
                method=method,
                path=path,
                query=query,
                body=raw,
                content_type=headers.get("Content-Type", ""),
            )
            status, extra, payload = self._dispatch(method, path, query, headers, raw)
            out = {
                "Content-Type": "application/json; charset=utf-8",
                "X-GitHub-Request-Id": f"E{len(self.requests):04d}",
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": "4999",
                "X-RateLimit-Reset": str(int(EPOCH.timestamp()) + 3600),
                "X-RateLimit-Used": "1",
                "X-RateLimit-Resource": "core",
                **extra,
            }
            body = b"" if status == 204 else json.dumps(payload).encode()
            self._check(
                openapi_check.response_violations,
                method=method,
                path=path,
                query=query,
                status=status,
                headers=out,
                body=body,
            )
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = None
            self.requests.append(Request(method, path, query, data, status))
            return status, out, body

    def _check(self, check: Callable[..., list[str]], **exchange: Any) -> None:
        try:
            self.violations += check(**exchange)
        except Exception as err:  # a checker bug must fail the test, not drop the connection
            self.violations.append(f"checking {exchange['method']} {exchange['path']}: {err!r}")

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                extra = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                if fault.status == 429 or fault.reset_in is not None:
                    extra["X-RateLimit-Remaining"] = "0"
                if fault.reset_in is not None:
                    extra["X-RateLimit-Reset"] = str(int(time.time()) + fault.reset_in)
                return fault.status, extra, HttpError(fault.status, fault.message).body
        try:
            caller = self._authenticate(path, headers)
            body = json.loads(raw) if raw else {}
            for verb, pattern, handler in ROUTES:
                found = pattern.match(path)
                if verb == method and found:
                    self.routes_hit.add(f"{verb} {pattern.pattern}")
                    params = {k: unquote(v) for k, v in found.groupdict().items()}
                    repo = None
                    if "owner" in params:
                        repo = self.repos.get(f"{params['owner']}/{params['repo']}")
                        if repo is None or not caller.reaches(self, repo.full_name):
                            raise HttpError(404, "Not Found")
                    params["login"], params["app"] = caller.login, "yes" if caller.app else ""
                    params["app_id"] = str(caller.app_id or "")
                    result = handler(self, repo, params, query, body)
                    return result if isinstance(result, tuple) else (200, {}, result)
            self.violations.append(f"no emulated endpoint for {method} {path}")
            raise HttpError(404, "Not Found")
        except HttpError as err:
            return err.status, {}, err.body
        except Exception as err:
            self.violations.append(f"emulator crashed on {method} {path}: {err!r}")
            return 500, {}, HttpError(500, "Server Error").body

    def _authenticate(self, path: str, headers: dict[str, str]) -> _Caller:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if any(re.fullmatch(pattern, path) for pattern in APP_PATHS):
            if scheme.lower() != "bearer":
                raise HttpError(401, "A JSON web token could not be decoded")
            return _Caller(login="", app=True, app_id=self._app_of(token))
        if scheme.lower() not in ("token", "bearer"):
            raise HttpError(401, "Bad credentials")
        issued = self.installation_tokens.get(token)
        if issued is not None:
            if issued.expires_at <= self.clock():
                raise HttpError(401, "Bad credentials")
            installation = self.installations[issued.installation]
            bot = self.apps[installation.app_id].bot
            return _Caller(login=bot, app=True, installation=installation.id)
        if token not in self.tokens:
            raise HttpError(401, "Bad credentials")
        login, app = self.tokens[token]
        return _Caller(login=login, app=app)

    def _app_of(self, token: str) -> int:
        """The App whose JWT this is, as GitHub checks one: RS256 signed with the
        App's registered key, iss its id, issued not in the future (a minute of
        drift allowed) and expiring within ten minutes."""
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
            app = self.apps.get(int(claims["iss"]))
            if app is None or header.get("alg") != "RS256":
                raise HttpError(401, "A JSON web token could not be decoded")
            jwt.decode(
                token,
                app.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
            issued_at, expires = int(claims["iat"]), int(claims["exp"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            raise HttpError(401, "A JSON web token could not be decoded") from None
        now = self.clock()
        if expires <= now:
            raise HttpError(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing "
                "the future time at which the assertion expires",
            )
        if expires > now + 600 + 60:
            raise HttpError(401, "'Expiration time' claim ('exp') is too far in the future")
        if issued_at > now + 60:
            raise HttpError(
                401,
                "'Issued at' claim ('iat') must be an Integer representing the time "
                "that the assertion was issued",
            )
        return app.id


@dataclass(frozen=True)
class _Caller:
    """Who a request comes from: a user's token, an installation's token
    (`installation`: reaches only its repositories) or an App's JWT (`app_id`)."""

    login: str
    app: bool
    installation: int | None = None
    app_id: int | None = None

    def reaches(self, server: GitHubServer, full_name: str) -> bool:
        if self.installation is None:
            return True
        return full_name in server.installations[self.installation].repos


@contextlib.contextmanager
def checked() -> Iterator[GitHubServer]:
    """A running emulator that fails its user, on leaving, if any request or
    response broke GitHub's OpenAPI description (the base of a pytest fixture)."""
    with GitHubServer() as server:
        yield server
    assert not server.violations, "\n".join(server.violations)


class _HttpHandler(BaseHTTPRequestHandler):
    emulator: GitHubServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, headers, body = self.emulator.handle(
            self.command, self.path, dict(self.headers.items()), raw
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: Any) -> None:
        """The emulator keeps its own request log; stderr stays quiet."""
