"""What one reconcile of a render was asked to do, and what it did.

Owns: `ApplyOptions` (the knobs of the apply engine), `Outcome` and
`ObjectResult` (what happened to one object), `ApplyResult` (the whole
reconcile: the revision and render hash, every object's outcome and health,
whether it all went well and, if not, the one reason). The engine is
cluster.apply; these values are here so that status, events and reports can
use them without the cluster.
Refuses: deciding anything; these are plain values.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gitops_bot.core.objects.health import Health, Status
from gitops_bot.core.objects.model import Key

PROTECTED_KINDS = (
    "Namespace",
    "CustomResourceDefinition.apiextensions.k8s.io",
    "PersistentVolume",
    "PersistentVolumeClaim",
)


@dataclass(frozen=True)
class ApplyOptions:
    # Take fields other managers own; otherwise a conflict fails that object
    # (and so, found in the dry-run, the whole reconcile), naming the manager.
    force_conflicts: bool = False
    concurrency: int = 16  # upper bound of the adaptive limit
    prune: bool = True
    # Refuse to prune more than this share of the inventory at once.
    prune_max_share: float = 0.5
    # Qualified kinds (one of PROTECTED_KINDS) that may be pruned although protected.
    prune_opt_in: frozenset[str] = frozenset()
    wait: bool = True
    health_timeout: float = 300.0


class Outcome(enum.Enum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    PRUNED = "pruned"
    PRUNE_SKIPPED = "prune skipped"
    FAILED = "failed"
    # The reconcile stopped before it came to this object: nothing was sent for it.
    NOT_APPLIED = "not applied"


@dataclass(frozen=True)
class ObjectResult:
    key: Key
    outcome: Outcome
    # The conflicting manager, the validation error (secrets scrubbed), why a
    # prune was skipped, or why an object was not applied.
    message: str = ""
    health: Health | None = None  # after waiting, when the engine waited


def _no_requests() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True)
class ApplyResult:
    revision: str  # the commit applied
    render_hash: str
    objects: tuple[ObjectResult, ...]
    # Everything valid, applied, pruned as allowed, and healthy if waited.
    ok: bool
    error: str = ""  # the one-paragraph reason when not ok
    # API requests the reconcile made, by kind of call ("list", "get",
    # "dry-run", "apply", "delete", "discovery"), from Kube.calls.
    requests: Mapping[str, int] = field(default_factory=_no_requests)
    # Things worth knowing that are not failures (e.g. a kind in the
    # inventory the server no longer serves, so it was not pruned).
    notes: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        """Every object the render holds is known to be Healthy (False if not waited)."""
        kept = [o for o in self.objects if o.outcome not in (Outcome.PRUNED, Outcome.PRUNE_SKIPPED)]
        return self.ok and all(
            o.health is not None and o.health.status is Status.HEALTHY for o in kept
        )

    def by_outcome(self, outcome: Outcome) -> tuple[Key, ...]:
        return tuple(o.key for o in self.objects if o.outcome is outcome)

    @property
    def in_cluster(self) -> frozenset[Key]:
        """Objects of the render the cluster now holds as rendered: applied by
        this reconcile, or proven unchanged; not those it failed or never reached."""
        held = (Outcome.CREATED, Outcome.CONFIGURED, Outcome.UNCHANGED)
        return frozenset(o.key for o in self.objects if o.outcome in held)
