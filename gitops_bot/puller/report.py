"""Telling the world what the puller did: status object, Events, metrics, forge status.

Owns: turning one apply result, failure, refusal or drift finding into the
status object's record (puller/status.py), a Kubernetes Event on the
environment's ApplySet parent, the Prometheus metrics, and, when a forge
is configured, a commit status `gitops/apply/<env>` ("applied to prod at
1a2b3c4d5e6f: healthy") and a deployment of that commit to the environment
(success when applied and every object healthy, in progress while some are
still progressing (--no-wait), failure otherwise): the promotion gate reads
the deployments to know the source is healthy, and since when. A commit
that renders the environment as the last one did, in the same state, is no
new deployment (its soak goes on). A refusal
that repeats (same commit, same reason) is recorded once. Reporting never
fails the caller: a status object, Event, forge status or deployment that
cannot be written is logged.
Refuses: deciding anything; and putting object names or commits in metric
labels.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Protocol

from gitops_bot.cluster import apply, recorder
from gitops_bot.cluster.applyset import ApplySetRef
from gitops_bot.core.objects import textfit
from gitops_bot.core.pr.model import DeploymentState, Status, StatusState
from gitops_bot.core.pr.ports import Deployments, Statuses
from gitops_bot.errors import BotError
from gitops_bot.puller import drift
from gitops_bot.puller import status as status_mod
from gitops_bot.puller.metrics import Metrics
from gitops_bot.puller.outcome import SyncOutcome

CONTEXT = "gitops/apply/{env}"


class ReportForge(Statuses, Deployments, Protocol):
    """Where the puller says what it did: commit statuses and deployments."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _regarding(parent: ApplySetRef) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "namespace": parent.namespace,
        "name": parent.name,
    }


def health_of(result: apply.ApplyResult) -> list[tuple[str, str, str]]:
    out = []
    for obj in result.objects:
        if obj.outcome in (apply.Outcome.PRUNED, apply.Outcome.PRUNE_SKIPPED):
            continue
        if obj.health is None:
            out.append((str(obj.key), "Unknown", obj.message))
        else:
            out.append((str(obj.key), obj.health.status.value, obj.health.message))
    return out


def _deployment_state(ok: bool, health: dict[str, Any]) -> DeploymentState:
    """Failed, or anything Degraded: failure; applied with objects still
    progressing (health not waited for): in progress; else success."""
    counts = health.get("counts", {})
    if not ok or counts.get("Degraded"):
        return DeploymentState.FAILURE
    if any(n for status, n in counts.items() if status != "Healthy"):
        return DeploymentState.IN_PROGRESS
    return DeploymentState.SUCCESS


def failure_note(short: str, result: apply.ApplyResult, summary: str) -> str:
    """The ApplyFailed note: within the Event's limit, every failed object is
    named (its message shortened) or counted, never dropped."""
    error = result.error or summary
    note = f"applying {short}: {error}"
    failed = [o for o in result.objects if o.outcome is apply.Outcome.FAILED]
    if textfit.size(note) <= recorder.NOTE_LIMIT or not failed:
        return note  # the Recorder shortens what is left, keeping the start
    at = error.find(f"{failed[0].key}: ")
    head = error[:at] if at >= 0 else f"{len(failed)} object(s) failed: "
    return textfit.listing(
        f"applying {short}: {head}",
        [f"{o.key}: {o.message}" for o in failed],
        recorder.NOTE_LIMIT,
        noun="failed objects",
    )


class Reporter:
    def __init__(
        self,
        *,
        metrics: Metrics,
        events: recorder.Recorder | None = None,
        forge: ReportForge | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.metrics, self.events, self.forge = metrics, events, forge
        self.log = log or logging.getLogger("gitops_bot.puller")
        self._refusals: dict[str, tuple[str, str]] = {}

    def applied(
        self,
        env: str,
        result: apply.ApplyResult,
        store: status_mod.Store,
        *,
        seconds: float,
        parent: ApplySetRef,
    ) -> None:
        self._refusals.pop(env, None)
        before = store.get(env)
        outcome = SyncOutcome.APPLIED if result.ok else SyncOutcome.FAILED
        health = status_mod.summarize_health(health_of(result))
        counts = Counter(o.outcome for o in result.objects)
        summary = ", ".join(f"{n} {o.name.lower().replace('_', ' ')}" for o, n in counts.items())
        message = result.error or summary
        record = status_mod.Record(
            time=_now(),
            commit=result.revision,
            outcome=outcome.value,
            render_hash=result.render_hash,
            message=textfit.cut(message, status_mod.MESSAGE_LIMIT),
        )
        self._safely(
            "writing the status",
            lambda: store.update(env, lambda s: s.applied(record, health=health, ok=result.ok)),
        )
        self.metrics.applies.labels(env=env, outcome=outcome.value).inc()
        self.metrics.apply_seconds.labels(env=env).observe(seconds)
        self.metrics.set_health(env, health.get("counts", {}))
        if result.ok:
            self.metrics.last_applied.labels(env=env).set_to_current_time()
        short = result.revision[:12]
        if self.events is not None:
            self._apply_events(self.events, result, summary, parent)
        not_healthy = health.get("notHealthy") or []
        state = StatusState.SUCCESS if result.ok else StatusState.FAILURE
        if result.ok:
            words = "healthy" if not not_healthy else f"{len(not_healthy)} not healthy"
            description = f"applied to {env} at {short}: {words}"
        else:
            description = f"applying to {env} at {short}: {result.error or summary}"
        self._forge(env, result.revision, state, description)
        state_now = _deployment_state(result.ok, health)
        # The same render in the same state is the same deployment: a commit that
        # leaves this environment alone does not restart its soak.
        same = (
            before.outcome == SyncOutcome.APPLIED
            and before.render_hash == result.render_hash
            and _deployment_state(True, before.health) is state_now
        )
        if not same:
            self._deployment(env, result.revision, state_now, description)

    @staticmethod
    def _apply_events(
        events: recorder.Recorder,
        result: apply.ApplyResult,
        summary: str,
        parent: ApplySetRef,
    ) -> None:
        """Applied or ApplyFailed on the ApplySet parent, and Pruned when objects were."""
        short = result.revision[:12]
        if result.ok:
            note = f"applied {short} (render {result.render_hash[:12]}): {summary}"
            events.event(_regarding(parent), reason="Applied", action="Apply", note=note)
        else:
            note = failure_note(short, result, summary)
            events.event(
                _regarding(parent),
                reason="ApplyFailed",
                action="Apply",
                note=note,
                type_=recorder.WARNING,
            )
        pruned = [str(o.key) for o in result.objects if o.outcome is apply.Outcome.PRUNED]
        if pruned:
            events.event(
                _regarding(parent),
                reason="Pruned",
                action="Prune",
                note=textfit.listing(f"pruned at {short}: ", pruned, recorder.NOTE_LIMIT, sep=", "),
            )

    def failed(
        self, env: str, commit: str, message: str, store: status_mod.Store, parent: ApplySetRef
    ) -> None:
        record = status_mod.Record(
            time=_now(),
            commit=commit,
            outcome=SyncOutcome.FAILED.value,
            message=textfit.cut(message, status_mod.MESSAGE_LIMIT),
        )
        self._safely(
            "writing the status",
            lambda: store.update(env, lambda s: s.applied(record, health=s.health, ok=False)),
        )
        self.metrics.applies.labels(env=env, outcome=SyncOutcome.FAILED.value).inc()
        if self.events is not None:
            self.events.event(
                _regarding(parent),
                reason="ApplyFailed",
                action="Render",
                note=f"at {commit[:12]}: {message}",
                type_=recorder.WARNING,
            )
        description = f"applying to {env} at {commit[:12]}: {message}"
        self._forge(env, commit, StatusState.FAILURE, description)
        self._deployment(env, commit, DeploymentState.FAILURE, description)

    def refused(
        self, env: str, commit: str, message: str, store: status_mod.Store, parent: ApplySetRef
    ) -> None:
        if self._refusals.get(env) == (commit, message):
            return
        self._refusals[env] = (commit, message)
        self.log.warning("%s: refusing %s: %s", env, commit[:12], message)
        record = status_mod.Record(
            time=_now(),
            commit=commit,
            outcome=SyncOutcome.REFUSED.value,
            message=textfit.cut(message, status_mod.MESSAGE_LIMIT),
        )
        self._safely("writing the status", lambda: store.update(env, lambda s: s.refused(record)))
        self.metrics.applies.labels(env=env, outcome=SyncOutcome.REFUSED.value).inc()
        if self.events is not None:
            self.events.event(
                _regarding(parent),
                reason="Refused",
                action="Fetch",
                note=f"refusing {commit[:12]}: {message}",
                type_=recorder.WARNING,
            )
        self._forge(env, commit, StatusState.FAILURE, f"refused for {env}: {message}")

    def drifted(
        self, env: str, finding: drift.Finding, store: status_mod.Store, parent: ApplySetRef
    ) -> None:
        entry = drift.record(finding)
        self.metrics.drift.labels(env=env, action=entry["action"]).inc()
        if finding.healed:
            self.metrics.heal_seconds.labels(env=env).observe(finding.seconds)
        self.log.info(
            "%s: drift of %s by %s: %s", env, finding.key, entry["manager"], entry["action"]
        )
        self._safely("writing the status", lambda: store.update(env, lambda s: s.drifted(entry)))
        if self.events is not None:
            verb = "deleted" if finding.deleted else f"changed by {entry['manager']}"
            self.events.event(
                _regarding(parent),
                reason="DriftHealed" if finding.healed else "DriftDetected",
                action="Heal" if finding.healed else "Watch",
                note=f"{finding.key} {verb}; {entry['action']}"
                + (f": {finding.error}" if finding.error else ""),
                type_=recorder.NORMAL if finding.healed else recorder.WARNING,
            )

    def _forge(self, env: str, commit: str, state: StatusState, description: str) -> None:
        if self.forge is None:
            return
        status = Status(
            sha=commit, context=CONTEXT.format(env=env), state=state, description=description
        )
        self._safely(
            "setting the forge status",
            lambda: self.forge.set_status(status) if self.forge else None,
        )

    def _deployment(self, env: str, commit: str, state: DeploymentState, description: str) -> None:
        forge = self.forge
        if forge is None:
            return
        self._safely(
            "recording the deployment",
            lambda: forge.record_deployment(env, commit, state, description),
        )

    def _safely(self, doing: str, action: Any) -> None:
        try:
            action()
        except BotError as err:
            self.log.warning("%s: %s", doing, err)
