"""In what order a render is applied, and what a prune may delete.

Owns: the stages (0: CustomResourceDefinitions and Namespaces, which other
objects need before the server can even dry-run them; 1: the rest), the
waves inside a stage (the `gitops-bot.io/wave` annotation, an integer,
default 0, lowest first), what a render defines for the rest of it (its
namespaces and custom kinds), the kinds that are never pruned without an
explicit opt-in, and the share of an inventory one prune may delete.
Refuses: talking to the cluster, and guessing a wave from a malformed
annotation: a bad value is an error that names the object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_bot.core.objects.model import Key, Manifest
from gitops_bot.errors import RenderError

WAVE_ANNOTATION = "gitops-bot.io/wave"
_WAVE = re.compile(r"-?[0-9]{1,9}")

CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
NAMESPACE = ("", "Namespace")
# Deleting one of these deletes data or everything in it: Namespaces take
# their contents, CRDs every custom resource of the kind, PVs and PVCs the
# volume (with the default reclaim policy).
PROTECTED = frozenset(
    {
        NAMESPACE,
        CRD,
        ("", "PersistentVolume"),
        ("", "PersistentVolumeClaim"),
    }
)


@dataclass(frozen=True)
class Step:
    """Objects applied together: one wave of one stage."""

    stage: int
    wave: int
    manifests: tuple[Manifest, ...]


def stage_of(key: Key) -> int:
    return 0 if (key.group, key.kind) in (CRD, NAMESPACE) else 1


def wave_of(manifest: Manifest) -> int:
    """The object's wave; RenderError naming it if the annotation is not an integer."""
    annotations = (manifest.obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(WAVE_ANNOTATION)
    if value is None:
        return 0
    text = value.strip() if isinstance(value, str) else None
    if text is None or not _WAVE.fullmatch(text):
        raise RenderError(
            f"{manifest.key} ({manifest.origin}): annotation {WAVE_ANNOTATION} must be an "
            f'integer such as "-1" or "2", not {str(value)[:40]!r}'
        )
    return int(text)


def steps(manifests: Iterable[Manifest]) -> tuple[Step, ...]:
    """Stage 0 before stage 1, lower waves first; render order inside a step.

    Every object must have a valid wave (check with `wave_of` first).
    """
    groups: dict[tuple[int, int], list[Manifest]] = {}
    for m in manifests:
        groups.setdefault((stage_of(m.key), wave_of(m)), []).append(m)
    return tuple(Step(stage, wave, tuple(groups[(stage, wave)])) for stage, wave in sorted(groups))


def defines(manifests: Iterable[Manifest]) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    """The namespaces and custom (group, kind)s that these objects create."""
    namespaces: set[str] = set()
    kinds: set[tuple[str, str]] = set()
    for m in manifests:
        if (m.key.group, m.key.kind) == NAMESPACE:
            namespaces.add(m.key.name)
        elif (m.key.group, m.key.kind) == CRD:
            spec = m.obj.get("spec") or {}
            kinds.add((str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))))
    return frozenset(namespaces), frozenset(kinds)


def qualified(group: str, kind: str) -> str:
    """`Deployment.apps`, `ConfigMap`: as kubectl and KEP-3659 spell a group-kind."""
    return f"{kind}.{group}" if group else kind


def prune_protection(key: Key, *, opt_in: Iterable[str]) -> str | None:
    """Why `key` may not be pruned, or None if it may."""
    gk = (key.group, key.kind)
    if gk not in PROTECTED or {key.qualified_kind, key.kind} & set(opt_in):
        return None
    return (
        f"{key.qualified_kind} is never pruned without an opt-in (prune_opt_in "
        f"{key.qualified_kind!r}): deleting it deletes what it holds"
    )


def foreign_owner(obj: Mapping[str, Any], *, parent_uid: str | None) -> str | None:
    """Why an object with owner references other than the ApplySet parent must
    not be pruned (KEP-3659: an ownership conflict), or None."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    others = [r for r in refs if not parent_uid or r.get("uid") != parent_uid]
    if not others:
        return None
    names = ", ".join(f"{r.get('kind', '?')} {r.get('name', '?')}" for r in others)
    return f"it is owned by {names}, not by the ApplySet: its owner decides its life"


def share_refusal(deleting: int, inventory: int, *, max_share: float) -> str | None:
    """Why deleting `deleting` of `inventory` objects at once is refused, or None."""
    if deleting == 0 or deleting <= max_share * inventory:
        return None
    return (
        f"pruning {deleting} of the {inventory} objects in the inventory "
        f"({deleting / inventory:.0%}) would exceed the limit of {max_share:.0%} at once; "
        "nothing was pruned (raise prune_max_share, or remove fewer objects per change)"
    )
