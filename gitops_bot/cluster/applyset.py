"""The inventory, as a KEP-3659 ApplySet that kubectl can read.

Owns: the ApplySet id (exactly as kubectl computes it), the part-of label on
every child, the parent ConfigMap (its id label, tooling, contains-group-kinds
and additional-namespaces annotations, and our own record of the revision
and render hash last applied), reading it back with the checks the KEP
asks for (tooling, id), and listing the members: one labelled LIST per
group-kind (per namespace in scope, for namespaced kinds, so that a
namespace-scoped Role suffices).
Refuses: to adopt a parent another tool manages or whose id does not match
its name, and to label an object that already says it belongs to another
ApplySet.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_bot.cluster import pool
from gitops_bot.cluster.kube import Kube, Resource
from gitops_bot.core.objects.model import Key
from gitops_bot.core.objects.waves import qualified
from gitops_bot.errors import ClusterError, RenderError

PART_OF = "applyset.kubernetes.io/part-of"
ID_LABEL = "applyset.kubernetes.io/id"
TOOLING = "applyset.kubernetes.io/tooling"
TOOLING_VALUE = "gitops-bot/v1"
GROUP_KINDS = "applyset.kubernetes.io/contains-group-kinds"
NAMESPACES = "applyset.kubernetes.io/additional-namespaces"
REVISION = "gitops-bot.io/revision"
RENDER_HASH = "gitops-bot.io/render-hash"
APPLIED_AT = "gitops-bot.io/applied-at"

GroupKind = tuple[str, str]  # (group, kind)


@dataclass(frozen=True)
class ApplySetRef:
    """The ApplySet parent: a ConfigMap, e.g. "gitops-bot-<env>" in the puller's namespace."""

    name: str
    namespace: str

    @property
    def id(self) -> str:
        """applyset-<base64url(sha256("<name>.<namespace>.ConfigMap."))>-v1, as kubectl has it."""
        gknn = f"{self.name}.{self.namespace}.ConfigMap."
        digest = hashlib.sha256(gknn.encode()).digest()
        return f"applyset-{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}-v1"

    @property
    def selector(self) -> str:
        return f"{PART_OF}={self.id}"

    @property
    def key(self) -> Key:
        return Key("", "ConfigMap", self.namespace, self.name)


@dataclass(frozen=True)
class Parent:
    """What the parent object records (empty sets if it does not exist yet)."""

    group_kinds: frozenset[GroupKind] = frozenset()
    namespaces: frozenset[str] = frozenset()  # additional ones, not the parent's own
    revision: str = ""
    render_hash: str = ""
    applied_at: str = ""
    uid: str = ""
    exists: bool = False

    def annotations(self) -> dict[str, str]:
        out = {
            TOOLING: TOOLING_VALUE,
            GROUP_KINDS: ",".join(sorted(qualified(g, k) for g, k in self.group_kinds)),
        }
        if self.namespaces:  # the KEP reserves the empty value
            out[NAMESPACES] = ",".join(sorted(self.namespaces))
        for name, value in ((REVISION, self.revision), (RENDER_HASH, self.render_hash)):
            if value:
                out[name] = value
        if self.applied_at:
            out[APPLIED_AT] = self.applied_at
        return out

    def same_record(self, other: Parent) -> bool:
        """Equal but for the time: writing `other` over `self` would change nothing."""
        return (
            self.exists
            and self.group_kinds == other.group_kinds
            and self.namespaces == other.namespaces
            and self.revision == other.revision
            and self.render_hash == other.render_hash
        )


def parse_group_kind(text: str) -> GroupKind:
    """`Deployment.apps` -> ("apps", "Deployment"); `ConfigMap` -> ("", "ConfigMap")."""
    kind, _, group = text.strip().partition(".")
    return group, kind


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def labelled(obj: Mapping[str, Any], ref: ApplySetRef, *, where: str) -> dict[str, Any]:
    """A copy of `obj` with our part-of label; RenderError if it names another set."""
    meta = dict(obj.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    theirs = labels.get(PART_OF)
    if theirs is not None and theirs != ref.id:
        raise RenderError(
            f"{where}: label {PART_OF} is set to {str(theirs)[:80]!r} in the manifest; "
            f"the puller sets it ({ref.id}), so remove it"
        )
    labels[PART_OF] = ref.id
    meta["labels"] = labels
    return {**obj, "metadata": meta}


def read_parent(kube: Kube, ref: ApplySetRef) -> Parent:
    """The parent's record; ClusterError if it belongs to another tool or set."""
    live = kube.get("v1", "ConfigMap", ref.name, namespace=ref.namespace)
    if live is None:
        return Parent()
    meta = live.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    where = f"ApplySet parent ConfigMap {ref.namespace}/{ref.name}"
    tooling = str(annotations.get(TOOLING, ""))
    if tooling.rpartition("/")[0] != TOOLING_VALUE.rpartition("/")[0]:
        raise ClusterError(
            f"{where} is managed by {tooling or 'no tool (no ' + TOOLING + ')'}, not gitops-bot: "
            "refusing to take over another tool's ApplySet"
        )
    if labels.get(ID_LABEL) != ref.id:
        raise ClusterError(
            f"{where} has label {ID_LABEL}={labels.get(ID_LABEL)!r}, but its name and "
            f"namespace give {ref.id}: refusing to use a parent whose id does not match"
        )
    return Parent(
        group_kinds=frozenset(parse_group_kind(t) for t in _split(annotations.get(GROUP_KINDS))),
        namespaces=frozenset(_split(annotations.get(NAMESPACES))),
        revision=str(annotations.get(REVISION, "")),
        render_hash=str(annotations.get(RENDER_HASH, "")),
        applied_at=str(annotations.get(APPLIED_AT, "")),
        uid=str(meta.get("uid", "")),
        exists=True,
    )


def write_parent(kube: Kube, ref: ApplySetRef, parent: Parent) -> Parent:
    """Server-side apply the parent with exactly this record; what was written."""
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ref.name,
            "namespace": ref.namespace,
            "labels": {ID_LABEL: ref.id},
            "annotations": parent.annotations(),
        },
    }
    live = kube.apply(obj)
    return Parent(
        group_kinds=parent.group_kinds,
        namespaces=parent.namespaces,
        revision=parent.revision,
        render_hash=parent.render_hash,
        applied_at=parent.applied_at,
        uid=str((live.get("metadata") or {}).get("uid", "")),
        exists=True,
    )


@dataclass(frozen=True)
class Scope:
    """Where members may live: group-kinds (with the version to list them in)
    and namespaces."""

    kinds: Mapping[GroupKind, Resource]
    namespaces: frozenset[str]


def list_members(
    kube: Kube, ref: ApplySetRef, scope: Scope, *, limit: pool.AdaptiveLimit
) -> tuple[dict[Key, dict[str, Any]], frozenset[GroupKind]]:
    """Every object carrying our part-of label in scope, by key; and the kinds
    the server answered 404 for (gone since discovery: its CRD was deleted)."""
    targets: list[tuple[GroupKind, Resource, str | None]] = []
    for gk, resource in scope.kinds.items():
        if resource.namespaced:
            targets += [(gk, resource, ns) for ns in sorted(scope.namespaces)]
        else:
            targets.append((gk, resource, None))

    def one(target: tuple[GroupKind, Resource, str | None]) -> list[dict[str, Any]] | None:
        _, resource, namespace = target
        try:
            return kube.list_objects(
                resource.group_version,
                resource.kind,
                namespace=namespace,
                label_selector=ref.selector,
            )
        except ClusterError as err:
            if "HTTP 404" in str(err):
                return None
            raise

    members: dict[Key, dict[str, Any]] = {}
    gone: set[GroupKind] = set()
    for target, items in zip(targets, pool.run_all(one, targets, limit=limit), strict=True):
        if items is None:
            gone.add(target[0])
            continue
        for item in items:
            members[Key.of(item)] = item
    if gone:
        kube.forget_discovery()
    return members, frozenset(gone)


def group_kinds(keys: Iterable[Key]) -> frozenset[GroupKind]:
    return frozenset((k.group, k.kind) for k in keys)


def namespaces_beyond(keys: Iterable[Key], ref: ApplySetRef) -> frozenset[str]:
    """additional-namespaces: where members live other than the parent's namespace."""
    return frozenset(k.namespace for k in keys if k.namespace and k.namespace != ref.namespace)


def inventory(kube: Kube, ref: ApplySetRef) -> tuple[dict[str, Any], ...]:
    """The live members of the ApplySet, sorted by key (kinds no longer served are left out)."""
    parent = read_parent(kube, ref)
    kinds: dict[GroupKind, Resource] = {}
    for gk in sorted(parent.group_kinds):
        try:
            kinds[gk] = kube.preferred(*gk)
        except ClusterError:
            continue  # a CRD deleted since: nothing of that kind can be listed
    scope = Scope(kinds, parent.namespaces | {ref.namespace})
    members, _ = list_members(kube, ref, scope, limit=pool.AdaptiveLimit(start=8, maximum=16))
    return tuple(members[k] for k in sorted(members))
