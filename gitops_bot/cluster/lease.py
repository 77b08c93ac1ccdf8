"""coordination.k8s.io/v1 Leases: read, create and update with optimistic concurrency.

Owns: the Lease as a small value (holder, duration, acquire and renew
times, transitions, resourceVersion, and a note that its holder was
poked), listing a namespace's Leases, deleting
one (only the object read: a UID precondition), its creation (POST: a second
creator gets 409 AlreadyExists) and its update (server-side apply that
carries the resourceVersion read: the server refuses it with 409 Conflict
when someone wrote in between). Both conflicts surface as LeaseConflictError.
Refuses: deciding who leads (puller/leader.py does), and reading the clock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gitops_bot.cluster.kube import Kube
from gitops_bot.errors import ClusterError

API_VERSION = "coordination.k8s.io/v1"
KIND = "Lease"
POKED = "gitops-bot.io/poked"  # an annotation: the holder was poked (a note to the others)


class LeaseConflictError(ClusterError):
    """Someone else created or changed the Lease since we read it."""


@dataclass(frozen=True)
class Lease:
    name: str
    namespace: str
    holder: str = ""
    duration_s: int = 15
    acquired: datetime | None = None
    renewed: datetime | None = None
    transitions: int = 0
    resource_version: str = ""
    uid: str = ""
    poked: str = ""  # the POKED annotation

    def expired(self, now: datetime) -> bool:
        if not self.holder or self.renewed is None:
            return True
        return (now - self.renewed).total_seconds() > self.duration_s


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _micro(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _from(obj: dict[str, Any]) -> Lease:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    return Lease(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        holder=str(spec.get("holderIdentity") or ""),
        duration_s=int(spec.get("leaseDurationSeconds") or 15),
        acquired=_time(spec.get("acquireTime")),
        renewed=_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str(meta.get("resourceVersion", "")),
        uid=str(meta.get("uid", "")),
        poked=str((meta.get("annotations") or {}).get(POKED, "")),
    )


def _body(lease: Lease) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "holderIdentity": lease.holder,
        "leaseDurationSeconds": lease.duration_s,
        "leaseTransitions": lease.transitions,
    }
    if lease.acquired is not None:
        spec["acquireTime"] = _micro(lease.acquired)
    if lease.renewed is not None:
        spec["renewTime"] = _micro(lease.renewed)
    meta: dict[str, Any] = {"name": lease.name, "namespace": lease.namespace}
    if lease.resource_version:
        meta["resourceVersion"] = lease.resource_version
    if lease.poked:
        meta["annotations"] = {POKED: lease.poked}
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "spec": spec}


def get(kube: Kube, namespace: str, name: str) -> Lease | None:
    obj = kube.get(API_VERSION, KIND, name, namespace=namespace)
    return None if obj is None else _from(obj)


def list_all(kube: Kube, namespace: str) -> list[Lease]:
    """Every Lease of the namespace: one request."""
    return [_from(obj) for obj in kube.list_objects(API_VERSION, KIND, namespace=namespace)]


def delete(kube: Kube, lease: Lease) -> bool:
    """Delete the Lease read as `lease` (never a namesake created since); False if gone."""
    return kube.delete(
        API_VERSION, KIND, lease.name, namespace=lease.namespace, uid=lease.uid or None
    )


def create(kube: Kube, lease: Lease) -> Lease:
    """Create the Lease; LeaseConflictError if it exists already."""
    resource = kube.resource(API_VERSION, KIND)
    body = _body(dataclasses.replace(lease, resource_version=""))
    try:
        # Kube has no create(): a POST is what makes a second creator fail.
        created = kube._call(
            "POST",
            resource.path(namespace=lease.namespace),
            doing=f"creating Lease {lease.namespace}/{lease.name}",
            body=body,  # the transport encodes JSON
            content_type="application/json",
        )
    except ClusterError as err:
        if "HTTP 409" in str(err):
            raise LeaseConflictError(str(err)) from err
        raise
    return _from(created)


def update(kube: Kube, lease: Lease) -> Lease:
    """Write `lease` if nobody wrote since `lease.resource_version`; else LeaseConflictError."""
    if not lease.resource_version:
        raise ClusterError(f"updating Lease {lease.namespace}/{lease.name}: no resourceVersion")
    try:
        # force: a previous holder's field manager may own the fields; the
        # resourceVersion precondition is what keeps two writers apart.
        written = kube.apply(_body(lease), force=True)
    except ClusterError as err:
        if "HTTP 409" in str(err):
            raise LeaseConflictError(str(err)) from err
        raise
    return _from(written)
