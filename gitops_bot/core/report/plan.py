"""What `gitops-bot plan` found: the values the reports are made from.

Owns: the plan of one change, per environment: what the change does (base
render to head render), what applying it would do to the live cluster (live
object to server-side dry-run of the head render), and what has drifted in
the cluster apart from the change, attributed to the field manager that made
it. Refuses: computing any of it (core.objects.diff and the plan use case do) and
formatting it (core.report does).

Everything in here is already masked: no Secret value is ever stored in a
plan.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from gitops_bot.core.objects.model import Key, Origin, SourcePin

# A field path: keys of mappings (str), positions in plain lists (int), and
# items of lists of named objects, written as (("name", "web"),): the
# merge key and its value, as server-side apply identifies them.
PathSegment = str | int | tuple[tuple[str, Any], ...]
FieldPath = tuple[PathSegment, ...]


class Action(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class SecretKeys:
    """Which keys of a Secret's data and stringData changed; never values."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceChange:
    key: Key
    action: Action
    diff: str = ""  # unified diff of the normalized, masked YAML; "" when unchanged
    secret_keys: SecretKeys | None = None  # for Secrets only
    origin: Origin | None = None  # where the object is rendered from (base origin for deletes)
    note: str = ""  # e.g. "namespace is created by this change" for a create the server could
    # not dry-run yet
    # The key this object had before its generated name's hash changed (core.objects.renames);
    # the object under that key leaves the render, and the puller prunes it.
    renamed_from: Key | None = None


@dataclass(frozen=True)
class Drift:
    """A field whose live value differs from the base render, apart from this change."""

    key: Key
    path: FieldPath
    manager: str | None  # the field manager that owns the live value, when the server knows
    diff: str = ""  # masked


@dataclass(frozen=True)
class SourceChange:
    """A remote source of the environment at the base and at the head (None
    where that end does not use it): a bump of a chart dependency is a change."""

    chart: str
    name: str
    before: SourcePin | None = None
    after: SourcePin | None = None

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class EnvPlan:
    env: str
    render_hash: str | None = None  # of the head render; None when the head did not render
    changes: tuple[ResourceChange, ...] = ()  # this change: base render -> head render
    live: tuple[ResourceChange, ...] | None = None  # live -> head dry-run; None if offline
    drift: tuple[Drift, ...] = ()
    error: str | None = None  # what went wrong for this environment (masked)
    # Why there is no live section although one was asked for (the puller could
    # not be reached or refused): the offline plan stands, and a policy that
    # requires a live plan (`require-live`) does not pass. None when live was
    # had or never asked for.
    live_missing: str | None = None
    # The remote sources both renders used (chart dependencies, by chart and name).
    sources: tuple[SourceChange, ...] = ()

    @property
    def drift_known(self) -> bool:
        """Whether `drift` tells what the cluster holds: the live cluster was
        compared and nothing failed. Otherwise drift is unknown, never 0."""
        return self.live is not None and self.error is None

    @property
    def has_changes(self) -> bool:
        relevant = self.changes if self.live is None else self.live
        return any(c.action is not Action.UNCHANGED for c in relevant)


@dataclass(frozen=True)
class Skipped:
    env: str
    reason: str  # e.g. "no file it reads changed"


@dataclass(frozen=True)
class Plan:
    base: str  # commit SHA
    head: str  # commit SHA
    envs: tuple[EnvPlan, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    sandbox: str | None = None  # the renders' network isolation, in words; None: not told

    @property
    def has_changes(self) -> bool:
        return any(e.has_changes for e in self.envs)

    @property
    def has_errors(self) -> bool:
        return any(e.error for e in self.envs)
