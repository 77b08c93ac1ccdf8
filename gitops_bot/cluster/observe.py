"""What the live cluster holds, and what it would hold after applying a render.

Owns: for a set of rendered objects, one LIST per kind and namespace (the
live objects) and one server-side dry-run apply per object that applying
could change (the result of applying it now, with the server's defaults,
admission and conversion), run concurrently under an adaptive limit. An
object that core.objects.noop proves unchanged by an apply is not sent: its dry-run
result is the live object. Knows the two cases where the
server cannot dry-run an object because this very change creates what it
needs (its namespace, or its CustomResourceDefinition) and says so instead
of failing. Refuses: comparing anything (core.objects.diff does) and mutating.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitops_bot.cluster import applyset, pool
from gitops_bot.cluster.kube import Kube, ThrottledError
from gitops_bot.core.objects import noop
from gitops_bot.core.objects.model import Key, Manifest
from gitops_bot.errors import ClusterError


@dataclass(frozen=True)
class Observed:
    key: Key
    live: dict[str, Any] | None = None
    dry_run: dict[str, Any] | None = None  # None when not dry-run (see note or error)
    note: str = ""
    error: str | None = None


def as_the_puller_applies(
    obj: Mapping[str, Any], live: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """`obj` with the ApplySet label the live object carries: the puller adds it
    to everything it applies, so without it every live plan would show the
    label's removal as a change (and as drift) on every object."""
    labels = ((live or {}).get("metadata") or {}).get("labels") or {}
    member = labels.get(applyset.PART_OF)
    meta = obj.get("metadata") or {}
    if member is None or applyset.PART_OF in (meta.get("labels") or {}):
        return obj
    return {
        **obj,
        "metadata": {**meta, "labels": {**(meta.get("labels") or {}), applyset.PART_OF: member}},
    }


def _creates(desired: Sequence[Manifest]) -> tuple[set[str], set[tuple[str, str]]]:
    """Namespaces and (group, kind)s that the render itself creates."""
    namespaces = {m.key.name for m in desired if m.key.kind == "Namespace" and not m.key.group}
    kinds: set[tuple[str, str]] = set()
    for m in desired:
        if m.key.kind == "CustomResourceDefinition" and m.key.group == "apiextensions.k8s.io":
            spec = m.obj.get("spec") or {}
            kinds.add((str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))))
    return namespaces, kinds


def _served(kube: Kube, api_version: str, kind: str) -> bool:
    try:
        kube.resource(api_version, kind)
    except ClusterError:
        return False
    return True


def observe(
    kube: Kube,
    desired: Sequence[Manifest],
    *,
    also: Iterable[Manifest] = (),
    limit: pool.AdaptiveLimit | None = None,
    view: Callable[[Manifest, Mapping[str, Any] | None], Mapping[str, Any]] | None = None,
) -> dict[Key, Observed]:
    """Live object and dry-run result of every desired object; live only for `also`.

    `also` are objects the change removes: their live state tells whether
    applying the change would delete something. `view(manifest, live)` is
    the object as the puller would send it (default: as rendered).
    """
    limit = limit or pool.AdaptiveLimit(start=8, maximum=32)
    desired_keys = {d.key for d in desired}
    extra = [m for m in also if m.key not in desired_keys]
    new_namespaces, new_kinds = _creates(desired)

    groups: dict[tuple[str, str, str], list[Manifest]] = defaultdict(list)
    for m in (*desired, *extra):
        groups[(m.api_version, m.key.kind, m.key.namespace)].append(m)
    servable = {g: _served(kube, g[0], g[1]) for g in {(a, k) for a, k, _ in groups}}

    def list_group(group: tuple[str, str, str]) -> dict[str, dict[str, Any]]:
        api_version, kind, namespace = group
        if not servable[(api_version, kind)]:
            return {}
        if namespace and namespace in new_namespaces:
            return {}  # the namespace does not exist yet: nothing can live in it
        items = kube.list_objects(api_version, kind, namespace=namespace or None)
        return {str(i["metadata"]["name"]): i for i in items}

    listed = dict(zip(groups, pool.run_all(list_group, list(groups), limit=limit), strict=True))
    live = {
        m.key: listed[(m.api_version, m.key.kind, m.key.namespace)].get(m.key.name)
        for m in (*desired, *extra)
    }

    def cannot_dry_run(m: Manifest) -> Observed | None:
        key = m.key
        if not servable[(m.api_version, key.kind)]:
            if (key.group, key.kind) in new_kinds:
                return Observed(key, note="its CustomResourceDefinition is created by this change")
            return Observed(
                key,
                error=f"the API server does not serve {key.qualified_kind} "
                f"in {m.api_version} (is its CRD installed?)",
            )
        if key.namespace in new_namespaces and live[key] is None:
            return Observed(key, note=f"namespace {key.namespace} is created by this change")
        return None

    def without_server(m: Manifest) -> Observed | Mapping[str, Any]:
        """What is known without a dry-run, or the object to dry-run."""
        if (skipped := cannot_dry_run(m)) is not None:
            return skipped
        current = live[m.key]
        obj = as_the_puller_applies(view(m, current) if view else m.obj, current)
        if current is not None and noop.apply_is_noop(obj, current, manager=kube.field_manager):
            return Observed(m.key, live=current, dry_run=current)  # applying changes nothing
        return obj

    def dry_run(todo: tuple[Manifest, Mapping[str, Any]]) -> Observed:
        m, obj = todo
        key = m.key
        try:
            result = kube.apply(obj, dry_run=True)
        except ThrottledError:
            raise
        except ClusterError as err:
            if "HTTP 409 Conflict" not in str(err):
                return Observed(key, live=live[key], error=str(err))
            # Someone else owns fields we set: show what a forced apply would do,
            # and say who we would take them from.
            try:
                result = kube.apply(obj, dry_run=True, force=True)
            except ClusterError as forced_err:
                return Observed(key, live=live[key], error=str(forced_err))
            return Observed(
                key,
                live=live[key],
                dry_run=result,
                note=f"applying takes fields from another manager: {err}",
            )
        return Observed(key, live=live[key], dry_run=result)

    # Decided here, not on the pool: most objects of a large render need no
    # request, and 10,000 futures handing the GIL around cost more than the checks.
    known = {m.key: without_server(m) for m in desired}
    todo = [(m, obj) for m in desired if not isinstance(obj := known[m.key], Observed)]
    sent = {o.key: o for o in pool.run_all(dry_run, todo, limit=limit)}
    observed: dict[Key, Observed] = {}
    for m in desired:
        found = known[m.key]
        observed[m.key] = found if isinstance(found, Observed) else sent[m.key]
    for m in extra:
        observed[m.key] = Observed(m.key, live=live[m.key])
    return observed
