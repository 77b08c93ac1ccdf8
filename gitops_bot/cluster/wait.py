"""Waiting, bounded, for what was just applied.

Owns: `until_healthy` (poll applied objects until none is Progressing or the
deadline passes; pending objects of one kind and namespace are re-read with
one labelled LIST, a lone one with a GET; the pause between rounds grows from
0.1 s to 2 s) and `until_served` (a CRD is Established and its kind appears
in discovery, which lags Established on the API server).
Refuses: judging health itself (core.objects.rollout and core.objects.health do) and
waiting past its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_bot.cluster import pool
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import rollout
from gitops_bot.core.objects.health import Health, Status
from gitops_bot.core.objects.model import Key, Manifest
from gitops_bot.errors import ClusterError

_FIRST_PAUSE_S = 0.1
_MAX_PAUSE_S = 2.0
_MISSING = Health(Status.DEGRADED, "not found: deleted since it was applied?")


@dataclass(frozen=True)
class Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def until_healthy(
    kube: Kube,
    seen: Mapping[Key, tuple[str, Mapping[str, Any]]],
    *,
    selector: str,
    deadline: float,
    limit: pool.AdaptiveLimit,
    clock: Clock = Clock(),
) -> dict[Key, Health]:
    """Health of every object in `seen` (key -> (apiVersion, last object read)),
    once none is Progressing or the deadline has passed."""
    latest = {key: obj for key, (_, obj) in seen.items()}
    verdicts = {key: rollout.assess(obj) for key, obj in latest.items()}
    pause = _FIRST_PAUSE_S
    while True:
        pending = [k for k, v in verdicts.items() if v.status is Status.PROGRESSING]
        if not pending or clock.now() >= deadline:
            return verdicts
        clock.sleep(min(pause, max(0.0, deadline - clock.now())))
        pause = min(pause * 2, _MAX_PAUSE_S)
        groups: dict[tuple[str, str, str], list[Key]] = {}
        for key in pending:
            groups.setdefault((seen[key][0], key.kind, key.namespace), []).append(key)

        def reread(
            group: tuple[str, str, str], groups: Mapping[Any, list[Key]] = groups
        ) -> dict[Key, Health]:
            api_version, kind, namespace = group
            keys = groups[group]
            if len(keys) == 1:
                live = kube.get(api_version, kind, keys[0].name, namespace=namespace or None)
                return {keys[0]: rollout.assess(live) if live else _MISSING}
            found = {
                Key.of(item): item
                for item in kube.list_objects(
                    api_version, kind, namespace=namespace or None, label_selector=selector
                )
            }
            return {k: rollout.assess(found[k]) if k in found else _MISSING for k in keys}

        for update in pool.run_all(reread, list(groups), limit=limit):
            verdicts.update(update)


def _established(crd: Mapping[str, Any] | None) -> bool:
    conditions = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def until_served(
    kube: Kube, crds: Iterable[Manifest], *, deadline: float, clock: Clock = Clock()
) -> None:
    """Return once every CRD is Established and each served version of its kind
    is in discovery; ClusterError naming what is missing at the deadline."""
    waiting: dict[str, list[tuple[str, str]]] = {}
    for m in crds:
        spec = m.obj.get("spec") or {}
        kind = str((spec.get("names") or {}).get("kind", ""))
        waiting[m.key.name] = [
            (f"{spec.get('group', '')}/{v.get('name', '')}", kind)
            for v in spec.get("versions") or []
            if v.get("served", True)
        ]
    pause = _FIRST_PAUSE_S
    while waiting:
        for name in list(waiting):
            crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
            if _established(crd) and all(kube.served(av, kind) for av, kind in waiting[name]):
                del waiting[name]
        if not waiting:
            return
        if clock.now() >= deadline:
            raise ClusterError(
                "waiting for CustomResourceDefinitions to be established and served: "
                f"still waiting for {', '.join(sorted(waiting))}"
            )
        clock.sleep(min(pause, max(0.0, deadline - clock.now())))
        pause = min(pause * 2, _MAX_PAUSE_S)
