"""Who owns which field: reading `metadata.managedFields` (FieldsV1).

Owns: turning the server's field sets (`{"f:spec": {"f:replicas": {}}}`,
`k:{"name":"web"}` list items, `v:` set values, `i:` positions) into field
paths in core.report.plan's spelling, and answering "which manager owns this path"
for drift attribution. Every entry counts, also those written through a
subresource: `kubectl scale` and a HorizontalPodAutoscaler write
`.spec.replicas` through `/scale`, recorded as `subresource: scale`, and
are named "kubectl (via scale)". Refuses: guessing when the server did not
say: a path no entry covers has no owner.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_bot.core.report.plan import FieldPath, PathSegment


@dataclass(frozen=True)
class Ownership:
    manager: str
    operation: str  # "Apply" or "Update"
    subresource: str  # "" or e.g. "status", "scale"
    paths: frozenset[FieldPath]
    time: str = ""  # RFC 3339, when the manager last changed its fields

    @property
    def who(self) -> str:
        """The manager, and the subresource it wrote through: "kubectl (via scale)"."""
        name = self.manager or "(unnamed manager)"
        return f"{name} (via {self.subresource})" if self.subresource else name


def _segment(entry: str) -> PathSegment | None:
    prefix, _, rest = entry.partition(":")
    if prefix == "f":
        return rest
    if prefix == "k":
        item = json.loads(rest)
        return tuple(sorted(item.items())) if isinstance(item, dict) else None
    if prefix == "i":
        return int(rest)
    return None  # "v:" set members and "." (the node itself) do not name a child


def paths(fields: Mapping[str, Any], prefix: FieldPath = ()) -> Iterable[FieldPath]:
    """Every path a FieldsV1 set owns: its leaves, and the nodes marked "."

    A node on the way (`f:spec` holding `f:replicas`) only says that some of
    its children are owned, not the node itself.
    """
    for entry, child in fields.items():
        if entry == ".":
            continue
        try:
            segment = _segment(entry)
        except (ValueError, json.JSONDecodeError):
            continue  # a spelling this reader does not know names nothing
        if segment is None:
            continue
        path = (*prefix, segment)
        if not isinstance(child, Mapping) or not child or "." in child:
            yield path
        if isinstance(child, Mapping) and child:
            yield from paths(child, path)


def ownerships(obj: Mapping[str, Any]) -> tuple[Ownership, ...]:
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return tuple(
        Ownership(
            manager=str(e.get("manager") or ""),
            operation=str(e.get("operation") or ""),
            subresource=str(e.get("subresource") or ""),
            paths=frozenset(paths(e.get("fieldsV1") or {})),
            time=str(e.get("time") or ""),
        )
        for e in entries
        if e.get("fieldsType", "FieldsV1") == "FieldsV1"
    )


def _matches(owned: FieldPath, path: FieldPath) -> bool:
    return len(owned) <= len(path) and path[: len(owned)] == owned


def owning(obj: Mapping[str, Any], path: FieldPath) -> tuple[Ownership, ...]:
    """The entries that own `path` (or the deepest owned node above it), best first.

    An exact owner of the path beats an owner of a node above it; among
    equals, the order of managedFields is kept.
    """
    best: list[tuple[int, Ownership]] = []
    for own in ownerships(obj):
        depth = max((len(p) for p in own.paths if _matches(p, path)), default=0)
        if depth:
            best.append((depth, own))
    if not best:
        return ()
    top = max(d for d, _ in best)
    return tuple(own for depth, own in best if depth == top)


def owners(obj: Mapping[str, Any], path: FieldPath) -> tuple[str, ...]:
    """Who owns `path`, best first, as `Ownership.who` names them."""
    seen: list[str] = []
    for own in owning(obj, path):
        if own.who not in seen:
            seen.append(own.who)
    return tuple(seen)
