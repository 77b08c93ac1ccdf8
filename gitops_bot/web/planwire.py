"""What a plan request to the puller says: schema `gitops-bot/plan-request/v1`.

Owns: the request body, one JSON object with exactly these keys: `schema`,
`base` and `head` (full commit SHAs of the repository the puller pulls),
`envs` (environment names, DNS labels as in .gitops.yaml), `nonce` (single
use, 16 to 64 URL-safe characters) and `issued_at` (Unix seconds); making
one (a fresh nonce, the clock's time), its bytes (the bytes that are
signed), and reading one strictly: anything else, missing, mistyped or
extra is refused saying which key. The answer is the plan JSON
(core.report.json, gitops-bot/plan/v1) and is not described here.
Refuses: trusting anything in the request but the SHAs and names (the
puller fetches the commits from its own remote) and judging who sent it
(gitops_bot.web.callers does).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitops_bot.errors import BotError

SCHEMA = "gitops-bot/plan-request/v1"
MAX_BODY_BYTES = 64 << 10
MAX_ENVS = 100
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ENV = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_KEYS = ("schema", "base", "head", "envs", "nonce", "issued_at")


class AskError(BotError):
    """The request body is not a plan request; the text says which key and why."""


@dataclass(frozen=True)
class PlanAsk:
    base: str
    head: str
    envs: tuple[str, ...]
    nonce: str
    issued_at: int

    @classmethod
    def new(
        cls, base: str, head: str, envs: tuple[str, ...], *, clock: Callable[[], float] = time.time
    ) -> PlanAsk:
        return cls(base, head, envs, secrets.token_urlsafe(24), int(clock()))

    def body(self) -> bytes:
        document = {
            "schema": SCHEMA,
            "base": self.base,
            "head": self.head,
            "envs": list(self.envs),
            "nonce": self.nonce,
            "issued_at": self.issued_at,
        }
        return json.dumps(document, sort_keys=True).encode()


def parse(body: bytes) -> PlanAsk:
    """The request in `body`, or AskError naming the key that is wrong."""
    document = _document(body)
    for key in ("base", "head"):
        if not isinstance(document[key], str) or not _SHA.fullmatch(document[key]):
            raise AskError(f"{key}: expected a full commit SHA (40 or 64 lowercase hex digits)")
    envs = _envs(document["envs"])
    if not isinstance(document["nonce"], str) or not _NONCE.fullmatch(document["nonce"]):
        raise AskError("nonce: expected 16 to 64 URL-safe characters")
    issued_at = document["issued_at"]
    if isinstance(issued_at, bool) or not isinstance(issued_at, int):
        raise AskError("issued_at: expected Unix seconds (an integer)")
    return PlanAsk(document["base"], document["head"], envs, document["nonce"], issued_at)


def _document(body: bytes) -> dict[str, Any]:
    """The body as a JSON object with exactly the schema's keys."""
    if len(body) > MAX_BODY_BYTES:
        raise AskError(f"the plan request is over {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AskError(f"the plan request is not JSON: {err}") from None
    if not isinstance(document, dict):
        raise AskError("the plan request is not a JSON object")
    extra = sorted(set(document) - set(_KEYS))
    if extra:
        raise AskError(f"the plan request has unknown keys: {', '.join(map(repr, extra[:5]))}")
    missing = [k for k in _KEYS if k not in document]
    if missing:
        raise AskError(f"the plan request lacks {', '.join(missing)}")
    if document["schema"] != SCHEMA:
        raise AskError(f"schema: expected {SCHEMA!r}")
    return document


def _envs(envs: object) -> tuple[str, ...]:
    if not isinstance(envs, list) or not envs or len(envs) > MAX_ENVS:
        raise AskError(f"envs: expected a list of 1 to {MAX_ENVS} environment names")
    for i, env in enumerate(envs):
        if not isinstance(env, str) or not _ENV.fullmatch(env):
            raise AskError(f"envs[{i}]: expected an environment name (a DNS label)")
    if len(set(envs)) != len(envs):
        raise AskError("envs: a name is listed twice")
    return tuple(envs)
