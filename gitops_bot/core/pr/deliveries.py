"""Is a webhook delivery authentic, and have we seen it before?

Owns: checking GitHub's X-Hub-Signature-256 (HMAC-SHA256 of the raw body)
and GitLab's X-Gitlab-Token in constant time, before anything parses the
body; and a bounded memory (least recently seen forgotten first) of
delivery ids and of what events were (forges/*/webhook.py *_identity), so a
redelivered delivery, or one replayed under a new id, is processed once.
Refuses: reading the body in any other way, and saying why a signature is
wrong beyond "does not match" (no oracle).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict

from gitops_bot.errors import BotError

_PREFIX = "sha256="


class WebhookError(BotError):
    """A delivery is refused: unsigned, wrongly signed, too large or malformed."""


def sign(body: bytes, *, secret: bytes) -> str:
    """sha256=HMAC(secret, body): GitHub's signature, also the bot's poke to the puller."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_github(
    body: bytes,
    signature: str | None,
    *,
    secret: bytes,
    what: str = "the GitHub signature",
    header: str = "X-Hub-Signature-256",
    unset: str = "no webhook secret is configured",
) -> None:
    """Raise WebhookError unless `signature` is sha256=HMAC(secret, body).
    `what`, `header` and `unset` are for messages (the puller's plan
    requests carry the same signature under their own header and secret)."""
    if not secret:
        raise WebhookError(f"checking {what}: {unset}")
    if not signature:
        raise WebhookError(f"checking {what}: {header} is missing")
    if not signature.startswith(_PREFIX):
        raise WebhookError(f"checking {what}: {header} is not sha256=...")
    expected = sign(body, secret=secret)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise WebhookError(f"checking {what}: it does not match the body")


def verify_gitlab(token: str | None, *, secret: str) -> None:
    """Raise WebhookError unless X-Gitlab-Token equals the configured secret."""
    if not secret:
        raise WebhookError("checking the GitLab token: no webhook secret is configured")
    if not token:
        raise WebhookError("checking the GitLab token: X-Gitlab-Token is missing")
    if not hmac.compare_digest(token.encode(), secret.encode()):
        raise WebhookError("checking the GitLab token: it does not match")


class Deliveries:
    """The last `capacity` delivery ids (or event identities), the least recently
    seen forgotten first: memory stays bounded however many arrive."""

    def __init__(self, *, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, delivery_id: str) -> bool:
        """True the first time an id is offered (and remembers it), False after."""
        if delivery_id in self._seen:
            self._seen.move_to_end(delivery_id)
            return False
        self._seen[delivery_id] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True
