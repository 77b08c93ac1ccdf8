"""Applying objects some of whose fields the cluster owns (core.objects.ignore).

Owns: for one reconcile, which objects have ignored fields (an annotation's
paths that are not valid fail that object), the object to send for each
(whole when it is created, without the fields after that), and the
handover: what our field manager still owns of those fields is applied at
its live value as `gitops-bot-ignored` before we stop sending it, since
server-side apply deletes a field its last owner stops applying. A created
object is handed over and applied again without the fields at once, so the
next reconcile sends nothing.
Refuses: deciding the order of a reconcile (cluster.apply does) and taking
a field from whoever changed it meanwhile: a conflicting handover means the
field is theirs already, and is left to them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gitops_bot.cluster import stages
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import ignore
from gitops_bot.core.objects.model import Key, Manifest
from gitops_bot.core.objects.outcome import ObjectResult, Outcome
from gitops_bot.errors import BotError, ClusterError


class Handover:
    def __init__(
        self,
        kube: Kube,
        rules: Sequence[ignore.Rule],
        *,
        force: bool,
        scrub: Callable[[str], str],
    ) -> None:
        self.kube, self.rules, self.force, self.scrub = kube, tuple(rules), force, scrub
        self.ignored: dict[Key, tuple[ignore.Field, ...]] = {}
        self.full: dict[Key, Mapping[str, Any]] = {}  # as rendered, for a create
        self.pending: dict[Key, dict[str, Any]] = {}  # handovers to send before the apply

    def find(self, manifests: Sequence[Manifest]) -> list[ObjectResult]:
        """Read every object's ignored fields; a FAILED result per bad annotation."""
        failed = []
        for m in manifests:
            try:
                fields = ignore.fields_for(m.obj, self.rules, where=f"{m.key} ({m.origin})")
            except BotError as err:
                failed.append(ObjectResult(m.key, Outcome.FAILED, str(err)))
                continue
            if fields:
                self.ignored[m.key] = fields
        return failed

    def prepare(
        self, desired: dict[Key, dict[str, Any]], members: Mapping[Key, Mapping[str, Any]]
    ) -> None:
        """Existing objects in `desired` are to be sent without their ignored
        fields (changed in place); what we still own of them is handed over first."""
        self.full = dict(desired)
        for key, fields in self.ignored.items():
            live = members.get(key)
            if live is None or key not in desired:
                continue  # created whole, handed over right after (`after_create`)
            desired[key] = ignore.strip(desired[key], fields)
            body = ignore.handover(live, fields, manager=self.kube.field_manager)
            if body is not None:
                self.pending[key] = body

    def before_apply(self, keys: Sequence[Key]) -> list[ObjectResult]:
        """Send the handovers of `keys`; a FAILED result for each that failed."""
        failed = []
        for key in keys:
            body = self.pending.pop(key, None)
            if body is not None and (error := self._send(body)):
                failed.append(ObjectResult(key, Outcome.FAILED, error))
        return failed

    def after_create(self, applied: stages.Applied) -> stages.Applied:
        """A created object was sent whole: hand its ignored fields over and
        apply it without them."""
        fields = self.ignored.get(applied.key)
        if applied.outcome is not Outcome.CREATED or not fields or applied.live is None:
            return applied
        body = ignore.handover(applied.live, fields, manager=self.kube.field_manager)
        if body is None:
            return applied
        if error := self._send(body):
            return stages.Applied(applied.key, Outcome.FAILED, error)
        try:
            live = self.kube.apply(ignore.strip(self.full[applied.key], fields), force=self.force)
        except ClusterError as err:
            return stages.Applied(applied.key, Outcome.FAILED, self.scrub(str(err)))
        return stages.Applied(applied.key, Outcome.CREATED, live=live)

    def _send(self, body: Mapping[str, Any]) -> str:
        """Apply `body` as the handover manager; "" or why it failed."""
        try:
            self.kube.apply(body, field_manager=ignore.handover_manager(self.kube.field_manager))
        except ClusterError as err:
            if "HTTP 409" in str(err):
                return ""  # someone else changed it meanwhile: theirs now, not ours
            return self.scrub(f"handing ignored fields over: {err}")
        return ""
