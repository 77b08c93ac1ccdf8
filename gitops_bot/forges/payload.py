"""Reading webhook payloads and CI variables, for every forge's webhook and ci modules.

Owns: taking a typed field out of a payload dict (a missing or mistyped one
is a ForgeError naming the field and the event), the shape of an event's
identity (what a delivery is about, whatever its unsigned delivery id
says), and the token from the first CI variable that is set. Refuses:
knowing any forge's fields (forges/*/webhook.py and ci.py do).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from gitops_bot.errors import BotError, ForgeError

T = TypeVar("T")


def get(payload: Mapping[str, Any], path: str, kind: type[T], *, event: str) -> T:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ForgeError(f"reading the {event} event: the payload has no {path}")
        value = value[part]
    if kind is int and isinstance(value, bool):  # bool is an int in Python, not in JSON
        raise ForgeError(f"reading the {event} event: {path} is not a number")
    if not isinstance(value, kind):
        raise ForgeError(
            f"reading the {event} event: {path} is a {type(value).__name__}, "
            f"expected a {kind.__name__}"
        )
    return value


# -- what an event is, whatever delivery carried it ------------------------------
#
# GitHub's signature covers the body only and GitLab's token is a static header,
# so X-GitHub-Delivery / X-Gitlab-Event-UUID can be changed at will: a replay of
# a captured delivery under a new id must be recognised by what it says. Each
# identity names the thing that happened once on the forge (a comment created,
# a comment edited at a time, a review submitted, a head pushed), so a replay
# matches it and a new event (the same comment edited again, the pull request
# closed a second time) does not.


def field(payload: Mapping[str, Any], path: str) -> str:
    value: Any = payload
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def identity(payload: Mapping[str, Any], kind: str, paths: tuple[str, ...]) -> str:
    return "|".join((kind, *(field(payload, p) for p in paths)))


def comment_identity(kind: str, *, repo: str, comment: str, action: str, updated: str) -> str:
    # A comment is created once and deleted once whatever its timestamps say;
    # each edit is its own event, named by the time it was made.
    when = updated if action not in ("created", "create", "deleted") else ""
    return "|".join((kind, repo, comment, action, when))


def token(env: Mapping[str, str], *names: str) -> str:
    """The first of these CI variables that is set: the forge token."""
    for name in names:
        if env.get(name):
            return env[name]
    raise BotError(f"reading the token: none of {', '.join(names)} is set")
