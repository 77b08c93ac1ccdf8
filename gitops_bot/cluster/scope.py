"""Before the first request of a reconcile: is the render fit to apply, and
where may the ApplySet's members live?

Owns: `check` (every object's wave annotation parses, no object is the
parent itself or says it belongs to another ApplySet; the objects as they
will be applied, with our part-of label) and `find` (the group-kinds to list,
from the parent's record and the render, each with the version to list it
in; the namespaces in scope; the render's kinds the server does not serve,
unless this render brings their CRD; the recorded kinds it no longer
serves, which are then neither listed nor pruned).
Refuses: sending anything but discovery requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gitops_bot.cluster import applyset
from gitops_bot.cluster.applyset import ApplySetRef, GroupKind, Parent, Scope
from gitops_bot.cluster.kube import Kube, Resource
from gitops_bot.core.objects import waves
from gitops_bot.core.objects.model import Key, Manifest
from gitops_bot.core.objects.outcome import ObjectResult, Outcome
from gitops_bot.errors import BotError, ClusterError


def check(
    manifests: Sequence[Manifest], ref: ApplySetRef
) -> tuple[dict[Key, dict[str, Any]], list[ObjectResult]]:
    """The objects to apply, labelled, by key; a FAILED result per unfit object."""
    desired: dict[Key, dict[str, Any]] = {}
    failed: list[ObjectResult] = []
    for m in manifests:
        try:
            waves.wave_of(m)
            if m.key == ref.key:
                raise BotError(
                    f"{m.key} ({m.origin}) is the ApplySet parent of this environment; "
                    "the puller owns it, so it cannot be in the render"
                )
            desired[m.key] = applyset.labelled(m.obj, ref, where=f"{m.key} ({m.origin})")
        except BotError as err:
            failed.append(ObjectResult(m.key, Outcome.FAILED, str(err)))
    return desired, failed


@dataclass(frozen=True)
class Found:
    scope: Scope
    unlisted: frozenset[GroupKind]  # recorded, no longer served: not listed, not pruned
    failed: list[ObjectResult] = field(default_factory=list)


def find(kube: Kube, ref: ApplySetRef, parent: Parent, manifests: Sequence[Manifest]) -> Found:
    versions: dict[GroupKind, str] = {}
    for m in manifests:
        versions.setdefault((m.key.group, m.key.kind), m.api_version)
    _, defined = waves.defines(manifests)
    kinds: dict[GroupKind, Resource] = {}
    unlisted: set[GroupKind] = set()
    failed: list[ObjectResult] = []
    for gk in sorted(parent.group_kinds | versions.keys()):
        try:
            found = kube.resource(versions[gk], gk[1]) if gk in versions else None
            kinds[gk] = found or kube.preferred(*gk)
        except ClusterError as err:
            if gk in defined:
                continue  # its CRD comes with this render: nothing of it exists yet
            if gk not in versions:
                unlisted.add(gk)
                continue
            failed += [
                ObjectResult(m.key, Outcome.FAILED, f"{m.origin}: {err}")
                for m in manifests
                if (m.key.group, m.key.kind) == gk
            ]
    namespaces = {ref.namespace, *parent.namespaces}
    namespaces |= {m.key.namespace for m in manifests if m.key.namespace}
    return Found(Scope(kinds, frozenset(namespaces)), frozenset(unlisted), failed)


def not_served(kinds: frozenset[GroupKind]) -> list[str]:
    """Notes for the recorded kinds that cannot be listed."""
    return [
        f"{waves.qualified(*gk)} is in the inventory but not served: its objects cannot be "
        "listed, so none of them is pruned"
        for gk in sorted(kinds)
    ]
