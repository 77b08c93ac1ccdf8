"""Do a GitHub Actions OIDC token's claims bind it to our repository and an allowed ref?

Owns: the ref allow-list patterns (`refs/heads/main`, `refs/pull/*/merge`,
`refs/tags/v*`, `refs/heads/release/**`: `*` stands for characters within one
path segment, a whole `**` segment for one segment or more), and reading
the claims GitHub documents (`repository`, `repository_id`, `ref`, `sha`,
`run_id`, `event_name`, `actor`, `jti`) into a Bound caller or a NotBound
reason. Refuses: checking signatures, issuers, audiences or times (PyJWT
does, in gitops_bot.web.oidc, before these claims are trusted) and any I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from gitops_bot.errors import ConfigError

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SEGMENT = "[^/]+"


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    check_pattern(pattern)
    parts = []
    for segment in pattern.split("/"):
        if segment == "**":
            parts.append(f"{_SEGMENT}(?:/{_SEGMENT})*")
        else:
            parts.append(_SEGMENT.join(re.escape(piece) for piece in segment.split("*")))
    return re.compile("/".join(parts))


def check_pattern(pattern: str) -> None:
    """ConfigError unless `pattern` is a fully qualified ref pattern."""
    if not pattern.startswith("refs/"):
        raise ConfigError(
            f"the ref pattern {pattern!r} is not a full ref: write refs/heads/main, "
            "refs/pull/*/merge or refs/tags/v*"
        )
    for segment in pattern.split("/"):
        if not segment:
            raise ConfigError(f"the ref pattern {pattern!r} has an empty path segment")
        if "**" in segment and segment != "**":
            raise ConfigError(f"the ref pattern {pattern!r}: ** must be a whole path segment")


def ref_matches(pattern: str, ref: str) -> bool:
    """Whether `ref` is one `pattern` allows (ConfigError for a malformed pattern)."""
    return _compiled(pattern).fullmatch(ref) is not None


@dataclass(frozen=True)
class Binding:
    """What a token must say to be ours: the repository (owner/name), its numeric
    id when configured (a deleted and re-created repository of the same name
    gets a new one), and the refs allowed to ask."""

    repository: str
    refs: tuple[str, ...]
    repository_id: str | None = None

    def __post_init__(self) -> None:
        owner, _, name = self.repository.partition("/")
        if not owner or not name or "/" in name:
            raise ConfigError(f"the OIDC repository {self.repository!r} is not owner/name")
        if not self.refs:
            raise ConfigError("the OIDC ref allow-list is empty: no token could be accepted")
        for pattern in self.refs:
            check_pattern(pattern)


@dataclass(frozen=True)
class Bound:
    """A token that names our repository and an allowed ref."""

    repository: str
    ref: str
    sha: str
    run_id: str | None = None
    event_name: str | None = None
    actor: str | None = None
    jti: str | None = None
    expires_at: int | None = None  # the `exp` claim: until when a replay must be refused

    @property
    def who(self) -> str:
        return f"github-oidc {self.repository}@{self.ref} {self.sha[:12]}"


@dataclass(frozen=True)
class NotBound:
    """Why the claims do not bind the token to us (claim names and values, never the token)."""

    reason: str


def _text(claims: Mapping[str, object], name: str) -> str | None:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def _refusal(claims: Mapping[str, object], binding: Binding) -> str | None:
    repository = _text(claims, "repository")
    if repository != binding.repository:
        return f"the token is for the repository {repository!r}, not {binding.repository}"
    repository_id = binding.repository_id
    if repository_id is not None and _text(claims, "repository_id") != repository_id:
        return f"the token's repository_id is not {repository_id}"
    ref = _text(claims, "ref") or ""
    if not any(ref_matches(pattern, ref) for pattern in binding.refs):
        return f"the ref {ref!r} is not one of {', '.join(binding.refs)}"
    if not _SHA.fullmatch(_text(claims, "sha") or ""):
        return "the token has no commit sha claim"
    return None


def bind(claims: Mapping[str, object], binding: Binding) -> Bound | NotBound:
    """Bound when the (already verified) claims name our repository and an allowed ref."""
    refusal = _refusal(claims, binding)
    if refusal is not None:
        return NotBound(refusal)
    return Bound(
        repository=binding.repository,
        ref=_text(claims, "ref") or "",
        sha=_text(claims, "sha") or "",
        run_id=_text(claims, "run_id"),
        event_name=_text(claims, "event_name"),
        actor=_text(claims, "actor"),
        jti=_text(claims, "jti"),
        expires_at=_expiry(claims),
    )


def _expiry(claims: Mapping[str, object]) -> int | None:
    value = claims.get("exp")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
