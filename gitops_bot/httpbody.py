"""Reading a request body with a size limit, for the bot's two small HTTP servers.

Owns: the checks the webhook server and the puller's poke endpoint share,
before and while a body is read: a declared Content-Length (411 without,
400 when not a size), the size limit (413, checked before reading), and a
body that ends early (400). Refuses: anything about what the body means.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


def read_body(request: BaseHTTPRequestHandler, *, limit: int, what: str) -> bytes | tuple[int, str]:
    """The body, or (HTTP status, why) when it is refused. `what` names it in messages."""
    announced = request.headers.get("Content-Length")
    if announced is None:
        return 411, f"reading {what}: Content-Length is missing"
    try:
        length = int(announced)
    except ValueError:
        length = -1
    if length < 0:
        return 400, f"reading {what}: Content-Length is not a size"
    if length > limit:
        return 413, f"reading {what}: the body is too large"
    try:
        body = request.rfile.read(length)
    except TimeoutError:
        body = b""
    if len(body) != length:
        return 400, f"reading {what}: the body ended early"
    return body
