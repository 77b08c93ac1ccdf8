"""Kubernetes Events (events.k8s.io/v1) about what the puller did.

Owns: writing one Event regarding an object (the ApplySet parent, usually)
with a reason, an action and a note, named uniquely so that `kubectl
events --for configmap/gitops-bot-prod` shows the story; notes are cut to
the API's limit of 1 kB. Refuses: deciding when to write one, and failing
the caller: an Event is a report, so a rejected one is only logged.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gitops_bot.cluster.kube import Kube
from gitops_bot.errors import ClusterError

API_VERSION = "events.k8s.io/v1"
NOTE_LIMIT = 1024  # characters; the API server refuses longer notes
CONTROLLER = "gitops-bot.io/puller"

NORMAL, WARNING = "Normal", "Warning"


def _micro(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def body(
    regarding: dict[str, Any],
    *,
    reason: str,
    action: str,
    note: str,
    type_: str = NORMAL,
    instance: str,
    now: datetime,
    suffix: str,
) -> dict[str, Any]:
    """The Event object; `regarding` is an object reference (apiVersion, kind, namespace, name)."""
    if len(note) > NOTE_LIMIT:
        note = note[: NOTE_LIMIT - 1] + "…"
    return {
        "apiVersion": API_VERSION,
        "kind": "Event",
        "metadata": {
            "name": f"{regarding['name']}.{suffix}",
            "namespace": regarding["namespace"],
        },
        "eventTime": _micro(now),
        "reportingController": CONTROLLER,
        "reportingInstance": instance[:128],
        "action": action[:128],
        "reason": reason[:128],
        "type": type_,
        "note": note,
        "regarding": regarding,
    }


class Recorder:
    """Writes Events as one puller instance; never raises."""

    def __init__(
        self,
        kube: Kube,
        *,
        instance: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        log: logging.Logger | None = None,
    ) -> None:
        self.kube, self.instance, self._now = kube, instance, now
        self.log = log or logging.getLogger(__name__)
        self.written = 0

    def event(
        self,
        regarding: dict[str, Any],
        *,
        reason: str,
        action: str,
        note: str,
        type_: str = NORMAL,
    ) -> None:
        # Unique and sortable: nanoseconds, and the pid against two in the same one.
        suffix = f"{time.time_ns():x}{os.getpid() % 4096:03x}"
        obj = body(
            regarding,
            reason=reason,
            action=action,
            note=note,
            type_=type_,
            instance=self.instance,
            now=self._now(),
            suffix=suffix,
        )
        try:
            self.kube.apply(obj)
        except ClusterError as err:
            self.log.warning("writing event %s about %s: %s", reason, regarding.get("name"), err)
            return
        self.written += 1
