"""The puller's apply engine: one render, reconciled with the cluster.

Owns: `reconcile` and `inventory`, and the order of a reconcile (docs/apply.md
tells it at length): check the render locally (cluster.scope); GET the
parent and LIST the members by label (cluster.applyset), sending nothing for
objects core.objects.noop proves unchanged; dry-run all the rest before mutating any
(objects that need a Namespace or CRD this render creates: after stage 0,
before any of them is mutated); record the union of old and new kinds on
the parent; apply stage 0 (CRDs, Namespaces), wait until the CRDs are
served, then stage 1, wave by wave (cluster.stages; with `wait`, a wave must
be healthy before the next); prune only if all of that succeeded
(cluster.prune); record what is left, the revision and the render hash;
wait for health (cluster.wait).
Refuses: raising for what went wrong in the cluster (the result says it, in
one paragraph, scrubbed of every secret value seen), and mutating anything
before the validation of what it mutates passed.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gitops_bot.cluster import applyset, handover, heap, pool, prune, scope, stages, wait
from gitops_bot.cluster.applyset import ApplySetRef, Parent
from gitops_bot.cluster.applyset import inventory as _inventory
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import ignore, noop, waves
from gitops_bot.core.objects.health import Health, Status
from gitops_bot.core.objects.model import Key, Manifest, Render
from gitops_bot.core.objects.outcome import ApplyOptions, ApplyResult, ObjectResult, Outcome
from gitops_bot.core.secrets import mask
from gitops_bot.errors import BotError

__all__ = [
    "ApplyOptions",
    "ApplyResult",
    "ApplySetRef",
    "ObjectResult",
    "Outcome",
    "inventory",
    "reconcile",
]


def inventory(kube: Kube, applyset: ApplySetRef) -> tuple[dict[str, Any], ...]:
    """The live objects the ApplySet contains (one labelled LIST per group-kind and namespace)."""
    return _inventory(kube, applyset)


class _StopError(Exception):
    """Ends a reconcile early; the reason is the result's error."""


def reconcile(
    kube: Kube,
    render: Render,
    *,
    applyset: ApplySetRef,
    revision: str,
    options: ApplyOptions = ApplyOptions(),  # noqa: B008 - frozen, so one shared default is safe
    ignore_fields: Sequence[ignore.Rule] = (),
    log: logging.Logger | None = None,
) -> ApplyResult:
    """Make the cluster hold `render` (see the module docstring for the order).

    Fields `ignore_fields` or an object's annotation declare the cluster's
    (core.objects.ignore) are sent only when the object is created; after that they
    are handed over and never sent again.
    """
    before = collections.Counter(kube.calls)
    run = _Run(
        kube=kube,
        render=render,
        ref=applyset,
        revision=revision,
        options=options,
        log=log or logging.getLogger(__name__),
        ignore_fields=ignore_fields,
    )
    try:
        run.go()
    except _StopError as stop:
        run.errors.append(str(stop))
    except BotError as err:
        run.errors.append(f"reconciling {render.env} at {revision}: {err}")
    requests = {k: n - before[k] for k, n in kube.calls.items() if n > before[k]}
    objects = run.objects()
    error = run.scrub(" ".join(run.errors))
    ok = not error and all(o.outcome is not Outcome.FAILED for o in objects)
    if error:
        run.log.warning("reconcile of %s at %s: %s", render.env, revision, error)
    result = ApplyResult(
        revision=revision,
        render_hash=render.hash,
        objects=objects,
        ok=ok,
        error=error,
        requests=requests,
        notes=tuple(run.notes),
    )
    del run  # what it read from the cluster goes before the trim
    heap.trim(len(render.manifests))
    return result


class _Run:
    def __init__(
        self,
        *,
        kube: Kube,
        render: Render,
        ref: ApplySetRef,
        revision: str,
        options: ApplyOptions,
        log: logging.Logger,
        ignore_fields: Sequence[ignore.Rule] = (),
    ) -> None:
        self.kube, self.render, self.ref = kube, render, ref
        self.revision, self.options, self.log = revision, options, log
        self.results: dict[Key, ObjectResult] = {}
        self.seen: dict[Key, tuple[str, Mapping[str, Any]]] = {}  # apiVersion, last read
        self.health: dict[Key, Health] = {}
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.secrets: set[str] = set()  # only grows: its size tells whether it changed
        self._scrubber: tuple[int, Callable[[str], str]] | None = None
        self.limit = pool.AdaptiveLimit(
            start=min(8, options.concurrency), maximum=options.concurrency
        )
        self.deadline: float | None = None
        self.handover = handover.Handover(
            kube, ignore_fields, force=options.force_conflicts, scrub=self.scrub
        )

    # -- the steps -------------------------------------------------------------

    def go(self) -> None:
        manifests = self.render.manifests
        where = f"{self.render.env} at {self.revision}"
        if not manifests:
            raise _StopError(
                f"the render of {where} is empty: refusing to apply or prune anything (an "
                "empty render is far more often a broken path or overlay than a wish to "
                "delete everything); nothing was changed"
            )
        self.secrets |= mask.collect_secret_values(m.obj for m in manifests)
        desired, failed = scope.check(manifests, self.ref)
        failed += self.handover.find(manifests)
        self._stop_on_failures(failed, "validation failed, nothing was changed")
        parent = applyset.read_parent(self.kube, self.ref)
        found = scope.find(self.kube, self.ref, parent, manifests)
        self._stop_on_failures(found.failed, "validation failed, nothing was changed")
        members, gone = applyset.list_members(self.kube, self.ref, found.scope, limit=self.limit)
        unlisted = found.unlisted | gone
        self.notes += scope.not_served(unlisted)
        self.secrets |= mask.collect_secret_values(members.values())

        self.handover.prepare(desired, members)  # fields the cluster owns: not sent again
        pending: list[Manifest] = []
        for m in manifests:
            live = members.get(m.key)
            if live is not None and noop.apply_is_noop(
                desired[m.key], live, manager=self.kube.field_manager
            ):
                self.results[m.key] = ObjectResult(m.key, Outcome.UNCHANGED)
                self.seen[m.key] = (m.api_version, live)
            else:
                pending.append(m)
        new_namespaces, new_kinds = waves.defines(m for m in pending if waves.stage_of(m.key) == 0)
        deferred = {
            m.key
            for m in pending
            if waves.stage_of(m.key) == 1
            and (m.key.namespace in new_namespaces or (m.key.group, m.key.kind) in new_kinds)
        }
        self.log.info(
            "reconciling %s: %d objects, %d unchanged, %d to apply (%d validated after stage 0)",
            where,
            len(manifests),
            len(manifests) - len(pending),
            len(pending),
            len(deferred),
        )
        self._validate(
            desired,
            [m for m in pending if m.key not in deferred],
            "validation failed, nothing was changed",
        )
        keys = [m.key for m in manifests]
        if pending:  # union first: a crash from here on loses track of nothing
            parent = self._record(
                parent,
                dataclasses.replace(
                    parent,
                    group_kinds=parent.group_kinds | applyset.group_kinds(keys),
                    namespaces=parent.namespaces | applyset.namespaces_beyond(keys, self.ref),
                ),
            )
        self._apply(desired, manifests, pending, deferred)

        candidates = {k: v for k, v in members.items() if k not in desired and k != self.ref.key}
        pruned = prune.prune(
            self.kube,
            candidates,
            inventory_size=len(members),
            parent_uid=parent.uid,
            options=self.options,
            limit=self.limit,
            scrub=self.scrub,
        )
        self.results.update((r.key, r) for r in pruned.results)
        if pruned.error:
            self.errors.append(pruned.error)
        remaining = [*keys, *pruned.kept]
        self._record(
            parent,
            Parent(
                group_kinds=applyset.group_kinds(remaining) | unlisted,
                # Members of unlisted kinds may live anywhere the record said.
                namespaces=applyset.namespaces_beyond(remaining, self.ref)
                | (parent.namespaces if unlisted else frozenset()),
                revision=self.revision,
                render_hash=self.render.hash,
                applied_at=_now(),
                uid=parent.uid,
            ),
        )
        if self.options.wait:
            self._wait_healthy(keys, "waiting for health")

    def _validate(
        self, desired: Mapping[Key, Mapping[str, Any]], manifests: Sequence[Manifest], why: str
    ) -> None:
        failed = stages.dry_run(
            self.kube,
            desired,
            manifests,
            force=self.options.force_conflicts,
            limit=self.limit,
            scrub=self.scrub,
        )
        self._stop_on_failures(failed, why)

    def _apply(
        self,
        desired: Mapping[Key, Mapping[str, Any]],
        manifests: Sequence[Manifest],
        pending: Sequence[Manifest],
        deferred: set[Key],
    ) -> None:
        todo = {m.key for m in pending}
        plan = waves.steps(manifests)
        applied_first: list[Key] = []
        for i, step in enumerate(plan):
            if step.stage == 1 and deferred:
                crds = [m for m in pending if (m.key.group, m.key.kind) == waves.CRD]
                if crds:
                    wait.until_served(self.kube, crds, deadline=self._deadline())
                self._validate(
                    desired,
                    [m for m in pending if m.key in deferred],
                    f"validation failed after stage 0 (CRDs and Namespaces: "
                    f"{', '.join(map(str, applied_first)) or 'none'} applied); nothing else was "
                    "changed",
                )
                deferred = set()
            self._stop_on_failures(
                self.handover.before_apply([m.key for m in step.manifests if m.key in todo]),
                f"handing ignored fields over in stage {step.stage} wave {step.wave}; later "
                "waves were not applied and nothing was pruned",
            )
            sent = stages.apply(
                self.kube,
                desired,
                [m for m in step.manifests if m.key in todo],
                force=self.options.force_conflicts,
                limit=self.limit,
                scrub=self.scrub,
            )
            sent = [self.handover.after_create(a) for a in sent]
            for a in sent:
                if a.live is not None:
                    self.seen[a.key] = (str(desired[a.key].get("apiVersion")), a.live)
            if step.stage == 0:
                applied_first += [a.key for a in sent if a.outcome is not Outcome.FAILED]
            self._stop_on_failures(
                [ObjectResult(a.key, a.outcome, a.message) for a in sent],
                f"applying stage {step.stage} wave {step.wave}; later waves were not applied "
                "and nothing was pruned",
            )
            later = any(m.key in todo for s in plan[i + 1 :] for m in s.manifests)
            if self.options.wait and later and step.stage == 1:
                self._wait_healthy(
                    [m.key for m in step.manifests],
                    f"waiting for wave {step.wave} to be healthy before the next; later waves "
                    "were not applied and nothing was pruned",
                    stop=True,
                )

    def _wait_healthy(self, keys: Iterable[Key], why: str, *, stop: bool = False) -> None:
        seen = {k: self.seen[k] for k in keys if k in self.seen}
        verdicts = wait.until_healthy(
            self.kube, seen, selector=self.ref.selector, deadline=self._deadline(), limit=self.limit
        )
        self.health.update(verdicts)
        bad = [k for k in sorted(verdicts) if verdicts[k].status is not Status.HEALTHY]
        if not bad:
            return
        listed = "; ".join(
            f"{k} ({verdicts[k].status.value}: {verdicts[k].message})" for k in bad[:10]
        )
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        reason = (
            f"{why}: {len(bad)} object(s) not healthy within {self.options.health_timeout:g}s: "
            f"{listed}{more}"
        )
        if stop:
            raise _StopError(reason)
        self.errors.append(reason)

    def _record(self, live: Parent, want: Parent) -> Parent:
        if live.same_record(want):
            return live
        if not want.applied_at:
            want = dataclasses.replace(want, applied_at=live.applied_at)
        return applyset.write_parent(self.kube, self.ref, want)

    # -- helpers ---------------------------------------------------------------

    def _deadline(self) -> float:
        if self.deadline is None:  # one budget for every wait of this reconcile
            self.deadline = time.monotonic() + self.options.health_timeout
        return self.deadline

    def _stop_on_failures(self, results: Sequence[ObjectResult], why: str) -> None:
        """Record `results`; stop the reconcile with `why` if any of them failed."""
        self.results.update(
            (r.key, dataclasses.replace(r, message=self.scrub(r.message))) for r in results
        )
        failed = [r for r in results if r.outcome is Outcome.FAILED]
        if not failed:
            return
        listed = "; ".join(f"{r.key}: {r.message}" for r in failed[:10])
        more = f"; and {len(failed) - 10} more" if len(failed) > 10 else ""
        raise _StopError(f"{why}: {len(failed)} object(s) failed: {listed}{more}")

    def scrub(self, text: str) -> str:
        """`text` without the secret values seen so far. Called for every
        object's result: the scrubber is built once per set of secrets (not
        per text: that was quadratic, 24 s of 84 s at 2,000 objects), and an
        empty message, the usual one, is not searched at all."""
        if not text:
            return text
        if self._scrubber is None or self._scrubber[0] != len(self.secrets):
            self._scrubber = (len(self.secrets), mask.scrubber(self.secrets))
        return self._scrubber[1](text)

    def objects(self) -> tuple[ObjectResult, ...]:
        out = []
        rendered = self.render.by_key()
        for m in self.render.manifests:
            result = self.results.get(m.key)
            if result is None:  # the reconcile stopped before it came to this object
                result = ObjectResult(m.key, Outcome.NOT_APPLIED, "the reconcile stopped")
            out.append(dataclasses.replace(result, health=self.health.get(m.key)))
        out += [r for k, r in sorted(self.results.items()) if k not in rendered]
        return tuple(out)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
