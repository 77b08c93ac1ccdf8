"""The checks on a request body's declared size, for the bot's two small HTTP servers.

Owns: what gitops_bot.web.front checks before it reads a body: a declared
Content-Length (411 without, 400 when not a size) and the size limit (413,
checked before a byte of the body is read). Refuses: reading anything and
anything about what the body means.
"""

from __future__ import annotations

from collections.abc import Callable


def declared_length(
    header: Callable[[str], str | None], *, limit: int, what: str
) -> int | tuple[int, str]:
    """The body's declared length, or (HTTP status, why) when it is refused.
    `what` names the body in messages."""
    announced = header("Content-Length")
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
    return length
