"""Health of the workloads core.objects.health does not judge yet: StatefulSets,
DaemonSets and Jobs.

Owns: their rules, following `kubectl rollout status` for StatefulSets and
DaemonSets, and the Complete and Failed conditions for Jobs; `assess`, which
uses these and falls back to core.objects.health for every other kind (Deployments,
CRDs, anything with a Ready condition). Refuses: reading the cluster; the
caller brings the live object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gitops_bot.core.objects import health
from gitops_bot.core.objects.health import Health, Status

Obj = Mapping[str, Any]


def _observed(obj: Obj) -> bool:
    generation = (obj.get("metadata") or {}).get("generation", 0)
    observed = (obj.get("status") or {}).get("observedGeneration", 0)
    return bool(observed) and observed >= generation


def _statefulset(obj: Obj) -> Health:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not _observed(obj):
        return Health(Status.PROGRESSING, "waiting for the controller to see the new spec")
    want = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    if ready < want:
        return Health(Status.PROGRESSING, f"{ready} of {want} replicas ready")
    return _statefulset_update(spec, status, want=want, ready=ready)


def _statefulset_update(
    spec: Mapping[str, Any], status: Mapping[str, Any], *, want: int, ready: int
) -> Health:
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "OnDelete":
        return Health(Status.HEALTHY, f"{ready} of {want} replicas ready (updated on delete)")
    partition = (strategy.get("rollingUpdate") or {}).get("partition")
    updated = status.get("updatedReplicas", 0)
    if partition:  # the server defaults it to 0: no partition
        if updated < want - partition:
            return Health(
                Status.PROGRESSING, f"{updated} of {want - partition} partitioned replicas updated"
            )
        return Health(Status.HEALTHY, f"partitioned rollout complete: {updated} updated")
    if status.get("updateRevision") != status.get("currentRevision"):
        return Health(Status.PROGRESSING, f"{updated} of {want} replicas at the new revision")
    return Health(Status.HEALTHY, f"{ready} of {want} replicas ready")


def _daemonset(obj: Obj) -> Health:
    status = obj.get("status") or {}
    if not _observed(obj):
        return Health(Status.PROGRESSING, "waiting for the controller to see the new spec")
    want = status.get("desiredNumberScheduled", 0)
    updated = status.get("updatedNumberScheduled", 0)
    available = status.get("numberAvailable", 0)
    if updated < want:
        return Health(Status.PROGRESSING, f"{updated} of {want} pods updated")
    if available < want:
        return Health(Status.PROGRESSING, f"{available} of {want} updated pods available")
    return Health(Status.HEALTHY, f"{available} of {want} pods available")


def _job(obj: Obj) -> Health:
    conditions = {c.get("type", ""): c for c in (obj.get("status") or {}).get("conditions") or []}
    failed = conditions.get("Failed") or {}
    if failed.get("status") == "True":
        return Health(Status.DEGRADED, failed.get("message") or failed.get("reason") or "failed")
    if (conditions.get("Complete") or {}).get("status") == "True":
        return Health(Status.HEALTHY, "complete")
    if (conditions.get("Suspended") or {}).get("status") == "True":
        return Health(Status.PROGRESSING, "suspended")
    active = (obj.get("status") or {}).get("active", 0)
    return Health(Status.PROGRESSING, f"running ({active} active pods)")


_RULES: dict[tuple[str, str], Callable[[Obj], Health]] = {
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("batch", "Job"): _job,
}


def assess(obj: Obj) -> Health:
    """The health of `obj`, a live object as the API server returned it."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    rule = _RULES.get((group, str(obj.get("kind", ""))))
    return rule(obj) if rule else health.assess(obj)
