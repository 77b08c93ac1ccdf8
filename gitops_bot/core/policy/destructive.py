"""Destructive changes in a plan, and the confirmations that release them.

Owns: which changes of an environment's plan destroy something
(`destructive`): deletions (objects removed from the render, which the
puller prunes, and live objects applying would delete), recreations the
caller reports (an immutable field changed), and among them the ones that
are always gated (`ALWAYS_GATED`: Namespaces, CRDs, PersistentVolumes and
PersistentVolumeClaims, whose deletion takes data with it); and whether a
`/gitops approve-destroy` confirmation releases them (`confirmed`).
Refuses: computing the plan (planner.plan) and deciding the whole gate
(core.policy.verdict).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from gitops_bot.core.objects.model import Key
from gitops_bot.core.policy import approvals
from gitops_bot.core.policy.rules import Destructive, Policy
from gitops_bot.core.pr.model import Permission
from gitops_bot.core.report.plan import Action, EnvPlan

# (group, kind): deleting one of these loses data or every object inside it.
ALWAYS_GATED = frozenset(
    {
        ("", "Namespace"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("", "PersistentVolume"),
        ("", "PersistentVolumeClaim"),
    }
)


class How(enum.Enum):
    DELETE = "deletion"
    RECREATE = "recreation"


@dataclass(frozen=True)
class Destruction:
    key: Key
    how: How

    @property
    def always_gated(self) -> bool:
        return (self.key.group, self.key.kind) in ALWAYS_GATED


@dataclass(frozen=True)
class Confirmation:
    """`/gitops approve-destroy ENV`, bound to the render it was given for."""

    by: str
    render_hash: str
    at: datetime | None = None


def destructive(plan: EnvPlan, *, recreates: Iterable[Key] = ()) -> tuple[Destruction, ...]:
    """Every destructive change of `plan`, sorted by key, each once."""
    found: dict[Key, How] = {}
    for change in (*plan.changes, *(plan.live or ())):
        if change.action is Action.DELETE:
            found[change.key] = How.DELETE
        if change.renamed_from is not None:  # the old name is pruned all the same
            found[change.renamed_from] = How.DELETE
    for key in recreates:
        found.setdefault(key, How.RECREATE)
    return tuple(Destruction(key, how) for key, how in sorted(found.items()))


def gated(policy: Policy, found: Iterable[Destruction]) -> tuple[Destruction, ...]:
    """What needs a confirmation under `policy`."""
    if policy.destructive_gate is Destructive.REQUIRE_CONFIRM:
        return tuple(found)
    return tuple(d for d in found if d.always_gated)


@dataclass(frozen=True)
class Check:
    confirmed_by: str | None  # login of the confirmation that counts
    notes: tuple[str, ...] = ()  # confirmations that do not count, and why


def confirmed(
    confirmations: Iterable[Confirmation],
    *,
    env: str,
    policy: Policy,
    render_hash: str | None,
    permissions: Mapping[str, Permission],
    memberships: Mapping[tuple[str, str], bool],
) -> Check:
    """Whether a confirmation releases the current render: given for this
    render, by a writer who is an owner of `env` when it has owners."""
    notes = []
    for confirmation in confirmations:
        who = approvals.show(confirmation.by)
        if confirmation.render_hash != render_hash:
            notes.append(
                f"destroy confirmation by {who} was for a different render of {env}; confirm again"
            )
        elif approvals.permission_of(confirmation.by, permissions) < Permission.WRITE:
            notes.append(f"destroy confirmation by {who} does not count: write is needed")
        elif policy.owners and not approvals.is_owner(confirmation.by, policy.owners, memberships):
            notes.append(
                f"destroy confirmation by {who} does not count: not an owner of {env} "
                f"({', '.join(policy.owners)})"
            )
        else:
            return Check(confirmed_by=approvals.login(confirmation.by), notes=tuple(notes))
    return Check(confirmed_by=None, notes=tuple(notes))


def describe(found: tuple[Destruction, ...], *, limit: int = 3) -> str:
    """ "2 deletions and 1 recreation (Namespace shop, ...)"."""
    counts = {how: sum(1 for d in found if d.how is how) for how in How}
    parts = [f"{n} {how.value}{'' if n == 1 else 's'}" for how, n in counts.items() if n]
    names = ", ".join(str(d.key) for d in found[:limit])
    more = f", +{len(found) - limit} more" if len(found) > limit else ""
    return f"{' and '.join(parts)} ({names}{more})"
