"""Dry-running and applying a set of objects, concurrently, one result each.

Owns: `dry_run` (server-side apply with dryRun=All of every object; an
error per object that the server refused, a conflict naming the other field
manager) and `apply` (the same for real, reporting created or configured),
both under the caller's adaptive limit, and the wording of conflicts.
Refuses: deciding what to send or in which order (cluster.apply does), and
echoing secret values: every message goes through the caller's scrub.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitops_bot.cluster import pool
from gitops_bot.cluster.kube import Kube, ThrottledError
from gitops_bot.core.objects.model import Key, Manifest
from gitops_bot.core.objects.outcome import ObjectResult, Outcome
from gitops_bot.errors import ClusterError

_MANAGER = re.compile(r'conflicts? with "([^"]+)"')


@dataclass(frozen=True)
class Applied:
    key: Key
    outcome: Outcome  # CREATED, CONFIGURED or FAILED
    message: str = ""
    live: Mapping[str, Any] | None = None  # the server's answer


def explain(err: ClusterError, *, force: bool) -> str:
    """The error, with the managers named first if it is an apply conflict."""
    text = str(err)
    if "HTTP 409 Conflict" not in text or force:
        return text
    managers = sorted(set(_MANAGER.findall(text)))
    who = ", ".join(f'"{m}"' for m in managers) or "another manager"
    return (
        f"conflict: fields we set are owned by field manager {who} (force_conflicts "
        f"takes them): {text}"
    )


def _send(
    kube: Kube,
    desired: Mapping[Key, Mapping[str, Any]],
    manifests: Sequence[Manifest],
    *,
    dry_run: bool,
    force: bool,
    limit: pool.AdaptiveLimit,
    scrub: Callable[[str], str],
) -> list[Applied]:
    def one(m: Manifest) -> Applied:
        try:
            live, created = kube.apply_reporting(
                desired[m.key], dry_run=dry_run, force=force, answer=not dry_run
            )
        except ThrottledError:
            raise
        except ClusterError as err:
            return Applied(m.key, Outcome.FAILED, scrub(f"{m.origin}: {explain(err, force=force)}"))
        # A dry-run's answer is not read: only whether the server took it counts
        # (10,000 answers held until the pass ended were a puller's peak, and
        # decoding them a tenth of its CPU in a full apply).
        outcome = Outcome.CREATED if created else Outcome.CONFIGURED
        return Applied(m.key, outcome, live=None if dry_run else live)

    return pool.run_all(one, list(manifests), limit=limit)


def dry_run(
    kube: Kube,
    desired: Mapping[Key, Mapping[str, Any]],
    manifests: Sequence[Manifest],
    *,
    force: bool,
    limit: pool.AdaptiveLimit,
    scrub: Callable[[str], str],
) -> list[ObjectResult]:
    """A FAILED result for every object the server would refuse; [] if it takes all."""
    sent = _send(kube, desired, manifests, dry_run=True, force=force, limit=limit, scrub=scrub)
    return [
        ObjectResult(a.key, Outcome.FAILED, f"dry-run: {a.message}")
        for a in sent
        if a.outcome is Outcome.FAILED
    ]


def apply(
    kube: Kube,
    desired: Mapping[Key, Mapping[str, Any]],
    manifests: Sequence[Manifest],
    *,
    force: bool,
    limit: pool.AdaptiveLimit,
    scrub: Callable[[str], str],
) -> list[Applied]:
    return _send(kube, desired, manifests, dry_run=False, force=force, limit=limit, scrub=scrub)
