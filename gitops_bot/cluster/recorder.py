"""Kubernetes Events (events.k8s.io/v1) about what the puller did.

Owns: writing one Event regarding an object (the ApplySet parent, usually)
with a reason, an action and a note, named uniquely so that `kubectl
events --for configmap/gitops-bot-prod` shows the story. Every field fits
the API server's limits, which count bytes of UTF-8 (Go's `len`;
pkg/apis/core/validation/events.go): a longer note is shortened, keeping
its start and saying how much was left out (core.objects.textfit), never dropped;
reason, action and reporting instance are clipped to 128 bytes.
Refuses: deciding when to write one, and failing the caller: an Event is a
report, so a rejected one is only logged.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import textfit
from gitops_bot.errors import ClusterError

API_VERSION = "events.k8s.io/v1"
# Bytes (UTF-8), as the API server counts them; it refuses a longer field with 422.
NOTE_LIMIT = 1024
SHORT_LIMIT = 128  # reason, action, reportingInstance
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
    return {
        "apiVersion": API_VERSION,
        "kind": "Event",
        "metadata": {
            "name": f"{regarding['name']}.{suffix}",
            "namespace": regarding["namespace"],
        },
        "eventTime": _micro(now),
        "reportingController": CONTROLLER,
        "reportingInstance": textfit.clip(instance, SHORT_LIMIT),
        "action": textfit.clip(action, SHORT_LIMIT),
        "reason": textfit.clip(reason, SHORT_LIMIT),
        "type": type_,
        "note": textfit.cut(note, NOTE_LIMIT),
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
