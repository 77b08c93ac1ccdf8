"""The puller's HTTP endpoint: pokes in; metrics, liveness and readiness out.

Owns: POST /poke (the body's size checked against a cap before it is
read, then its HMAC-SHA256 checked in constant time with core.webhooks:
in X-Gitops-Bot-Signature-256 as the bot's gitops_bot.puller_client sends
it, or in X-Hub-Signature-256, so a GitHub push webhook can wake the
puller too; the body is otherwise ignored: a poke is a hint, the puller
fetches the branch itself), GET /metrics (Prometheus text), GET /healthz
(the process answers) and GET /readyz (the callback says ready).
Refuses: anything else, reusing a connection whose body was not read, and
pokes when no secret is configured.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from gitops_bot.core import webhooks
from gitops_bot.httpbody import read_body

READ_TIMEOUT_S = 10.0
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
        log: logging.Logger | None = None,
    ) -> None:
        self.handlers, self.secret, self.max_body_bytes = handlers, secret, max_body_bytes
        self.log = log or logging.getLogger(__name__)
        self.refused = 0
        self._http = _HTTPServer((host, port), self)
        bound_host, bound_port = self._http.server_address[:2]
        self.url = f"http://{bound_host!s}:{bound_port}"
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="puller-http",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)

    def poke(self, signature: str | None, body: bytes) -> tuple[int, str]:
        try:
            webhooks.verify_github(body, signature, secret=self.secret)
        except webhooks.WebhookError as err:
            self.refused += 1
            reason = str(err).replace("the GitHub signature", "the poke's signature")
            return 401, reason
        self.handlers.poke()
        return 202, "fetching"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: Server) -> None:
        self.app = app
        super().__init__(address, _Request)


class _Request(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = READ_TIMEOUT_S

    def do_GET(self) -> None:
        app, path = self.server.app, urlsplit(self.path).path
        if path == "/healthz":
            self._answer(200, b"ok\n")
        elif path == "/readyz":
            ready, why = app.handlers.ready()
            self._answer(200 if ready else 503, (why + "\n").encode())
        elif path == "/metrics":
            self._answer(200, app.handlers.metrics(), content_type=app.handlers.metrics_type)
        else:
            self._answer(404, b"no such page\n")

    def do_POST(self) -> None:
        app = self.server.app
        if urlsplit(self.path).path != "/poke":
            self._answer(404, b"no such page\n")
            return
        body = read_body(self, limit=app.max_body_bytes, what="the poke")
        if isinstance(body, tuple):
            app.refused += 1
            self._answer(body[0], (body[1] + "\n").encode())
            return
        signature = next(
            (v for h in SIGNATURE_HEADERS if (v := self.headers.get(h)) is not None), None
        )
        status, text = app.poke(signature, body)
        self._answer(status, (text + "\n").encode())

    def _answer(
        self, status: int, data: bytes, *, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        self.server.app.log.debug("puller http: " + format, *args)
