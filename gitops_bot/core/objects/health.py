"""Health of one live object, judged from its status alone.

Owns: the rules, per kind, that say whether an applied object is Healthy,
still Progressing, or Degraded, and why (Deployments follow `kubectl rollout
status`; CRDs must be Established; anything with a Ready condition follows
it). Refuses: reading the cluster; the caller brings the object.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Obj = Mapping[str, Any]


class Status(enum.Enum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"


@dataclass(frozen=True)
class Health:
    status: Status
    message: str = ""


def _conditions(obj: Obj) -> dict[str, Mapping[str, Any]]:
    return {c.get("type", ""): c for c in (obj.get("status") or {}).get("conditions") or []}


def _deployment(obj: Obj) -> Health:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return Health(Status.PROGRESSING, "waiting for the controller to see the new spec")
    progressing = _conditions(obj).get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(Status.DEGRADED, progressing.get("message") or "progress deadline exceeded")
    want = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    total = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < want:
        return Health(Status.PROGRESSING, f"{updated} of {want} replicas updated")
    if total > updated:
        return Health(Status.PROGRESSING, f"{total - updated} old replicas pending termination")
    if available < updated:
        return Health(Status.PROGRESSING, f"{available} of {updated} updated replicas available")
    return Health(Status.HEALTHY, f"{available} of {want} replicas available")


def _crd(obj: Obj) -> Health:
    conditions = _conditions(obj)
    if (conditions.get("NamesAccepted") or {}).get("status") == "False":
        return Health(
            Status.DEGRADED, conditions["NamesAccepted"].get("message", "names not accepted")
        )
    if (conditions.get("Established") or {}).get("status") == "True":
        return Health(Status.HEALTHY, "established")
    return Health(Status.PROGRESSING, "waiting to be established")


def _generic(obj: Obj) -> Health:
    ready = _conditions(obj).get("Ready")
    if ready is None:
        return Health(Status.HEALTHY, "")
    if ready.get("status") == "True":
        return Health(Status.HEALTHY, ready.get("message", ""))
    return Health(Status.PROGRESSING, ready.get("message") or ready.get("reason") or "not ready")


_RULES: dict[tuple[str, str], Callable[[Obj], Health]] = {
    ("apps", "Deployment"): _deployment,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
}


def assess(obj: Obj) -> Health:
    """The health of `obj`, a live object as the API server returned it."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return _RULES.get((group, str(obj.get("kind", ""))), _generic)(obj)
