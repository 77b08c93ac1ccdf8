"""Deleting what the ApplySet holds and the render no longer does.

Owns: for the members a render dropped, the decision per object (protected
kinds and objects another owner holds are skipped, with the reason), the
share check over the whole prune (refused as a whole, with the numbers),
and the deletes themselves: concurrent, each bound to the UID that was
listed, so a namesake created since is never deleted. A delete the server
rejects is reported; the object keeps its label, so it stays in the
inventory and is tried again next time.
Refuses: deleting anything that does not carry our part-of label (the
caller lists by it), and running before the apply succeeded (the caller's
duty; see cluster.apply).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_bot.cluster import pool
from gitops_bot.cluster.kube import Kube, ThrottledError
from gitops_bot.core.objects import waves
from gitops_bot.core.objects.model import Key
from gitops_bot.core.objects.outcome import ApplyOptions, ObjectResult, Outcome
from gitops_bot.errors import ClusterError


@dataclass(frozen=True)
class Pruned:
    results: tuple[ObjectResult, ...]
    error: str = ""  # why the prune as a whole is not ok (refused, or deletes failed)

    @property
    def kept(self) -> tuple[Key, ...]:
        """Members still there: skipped, refused or failed."""
        return tuple(r.key for r in self.results if r.outcome is not Outcome.PRUNED)


def prune(
    kube: Kube,
    candidates: Mapping[Key, Mapping[str, Any]],
    *,
    inventory_size: int,
    parent_uid: str,
    options: ApplyOptions,
    limit: pool.AdaptiveLimit,
    scrub: Callable[[str], str],
) -> Pruned:
    """Delete `candidates` (members the render no longer has) as far as allowed."""
    if not options.prune:
        return Pruned(
            tuple(
                ObjectResult(k, Outcome.PRUNE_SKIPPED, "pruning is turned off")
                for k in sorted(candidates)
            )
        )
    skipped: list[ObjectResult] = []
    deleting: list[Key] = []
    for key in sorted(candidates):
        why = waves.prune_protection(key, opt_in=options.prune_opt_in) or waves.foreign_owner(
            candidates[key], parent_uid=parent_uid
        )
        if why:
            skipped.append(ObjectResult(key, Outcome.PRUNE_SKIPPED, why))
        else:
            deleting.append(key)
    refusal = waves.share_refusal(len(deleting), inventory_size, max_share=options.prune_max_share)
    if refusal:
        refused = [ObjectResult(k, Outcome.PRUNE_SKIPPED, refusal) for k in deleting]
        return Pruned(tuple(skipped + refused), error=refusal)

    def delete(key: Key) -> ObjectResult:
        obj = candidates[key]
        meta = obj.get("metadata") or {}
        try:
            kube.delete(
                str(obj.get("apiVersion", "")),
                key.kind,
                key.name,
                namespace=key.namespace or None,
                uid=str(meta.get("uid", "")) or None,
            )
        except ThrottledError:
            raise
        except ClusterError as err:
            return ObjectResult(key, Outcome.FAILED, scrub(f"pruning: {err}"))
        return ObjectResult(key, Outcome.PRUNED)

    done = pool.run_all(delete, deleting, limit=limit)
    failed = [r for r in done if r.outcome is Outcome.FAILED]
    error = ""
    if failed:
        error = (
            f"pruning: the server refused to delete {len(failed)} object(s); they stay in "
            f"the inventory and are tried again next time: "
            + "; ".join(f"{r.key}: {r.message}" for r in failed[:5])
        )
    return Pruned(tuple(skipped + done), error=error)
