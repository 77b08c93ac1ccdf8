"""The bot's side of the hand-off: a signed poke that makes the puller fetch now.

Owns: POST {url}/poke with a JSON body {"ref", "sha"} signed like a GitHub
webhook (X-Gitops-Bot-Signature-256: sha256=HMAC(secret, body)), a short
timeout, and a clear error when the puller does not take it. Refuses:
retrying (the puller fetches on its interval anyway; a lost poke only costs
latency) and sending the secret itself.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from gitops_bot.core.pr.deliveries import sign
from gitops_bot.errors import BotError

SIGNATURE_HEADER = "X-Gitops-Bot-Signature-256"
_TIMEOUT_S = 10


class Poker:
    def __init__(self, url: str, *, secret: bytes) -> None:
        if not secret:
            raise BotError("poking the puller: the shared secret is empty")
        if not url.startswith(("http://", "https://")):
            raise BotError(f"poking the puller: {url!r} is not an http(s) URL")
        self.url = url.rstrip("/") + "/poke"
        self._secret = secret

    def poke(self, ref: str, sha: str) -> str:
        """What the puller answered; BotError if it did not take the poke."""
        body = json.dumps({"ref": ref, "sha": sha}).encode()
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(body, secret=self._secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as reply:  # noqa: S310
                return reply.read(1000).decode(errors="replace").strip() or f"HTTP {reply.status}"
        except urllib.error.HTTPError as err:
            raise BotError(f"poking the puller at {self.url}: HTTP {err.code}") from err
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise BotError(f"poking the puller at {self.url}: {reason}") from err
