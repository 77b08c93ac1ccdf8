"""The puller's status object in the cluster: one ConfigMap per environment.

Owns: `gitops-bot-status-<env>` in the puller's namespace, what it says
(last applied commit and render hash, the commit last attempted, health
per object summarized, recent drift, the last N applies with time, commit
and outcome, the last refusal) and reading it back at start, so a restarted
puller resumes from the last commit it applied and never moves back. A
person asks for a rollback with the annotation `gitops-bot.io/rollback-to`
on that ConfigMap (see docs/puller.md). Writes go through one lock per
store, from memory, so the loop and the drift watcher never interleave.
Refuses: deciding anything from the status (the loop does).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import textfit

HISTORY = 10  # applies kept
DRIFTS = 10  # drift records kept
NOT_HEALTHY_SHOWN = 20
# Bytes of a message kept per record: a ConfigMap holds at most 1 MiB in all.
MESSAGE_LIMIT = 500
ROLLBACK_ANNOTATION = "gitops-bot.io/rollback-to"


def name_for(env: str) -> str:
    return f"gitops-bot-status-{env}"


@dataclass(frozen=True)
class Record:
    """One apply (or refusal) in the history."""

    time: str
    commit: str
    outcome: str  # a SyncOutcome's word: "applied", "failed", "refused"
    render_hash: str = ""
    message: str = ""


@dataclass(frozen=True)
class EnvStatus:
    env: str
    commit: str = ""  # last commit applied successfully
    attempted: str = ""  # last commit whose apply started (descent is checked from here)
    render_hash: str = ""
    applied_at: str = ""
    outcome: str = ""  # the last Record's (compared with SyncOutcome)
    health: dict[str, Any] = field(default_factory=dict)
    drift: tuple[dict[str, Any], ...] = ()
    history: tuple[Record, ...] = ()
    refusal: str = ""
    rolled_back_to: str = ""  # the rollback already followed (the annotation is not reused)
    rollback_to: str = ""  # read from the annotation; never written by us

    def applied(self, record: Record, *, health: dict[str, Any], ok: bool) -> EnvStatus:
        update: dict[str, Any] = {
            "attempted": record.commit,
            "outcome": record.outcome,
            "history": (*self.history, record)[-HISTORY:],
            "health": health,
            "refusal": "",
        }
        if ok:
            update |= {
                "commit": record.commit,
                "render_hash": record.render_hash,
                "applied_at": record.time,
            }
        return dataclasses.replace(self, **update)

    def refused(self, record: Record) -> EnvStatus:
        same = self.history and self.history[-1] == record
        return dataclasses.replace(
            self,
            refusal=record.message,
            history=self.history if same else (*self.history, record)[-HISTORY:],
        )

    def drifted(self, entry: dict[str, Any]) -> EnvStatus:
        return dataclasses.replace(self, drift=(*self.drift, entry)[-DRIFTS:])

    @property
    def base(self) -> str | None:
        """The commit descent is judged from: the newest one we started to apply."""
        return self.attempted or self.commit or None


def summarize_health(entries: list[tuple[str, str, str]]) -> dict[str, Any]:
    """(object, status, message) per object -> counts and the objects not healthy."""
    counts: dict[str, int] = {}
    bad: list[str] = []
    for what, status, message in sorted(entries):
        counts[status] = counts.get(status, 0) + 1
        if status != "Healthy":
            said = f"{what}: {status}{': ' + message if message else ''}"
            bad.append(textfit.cut(said, MESSAGE_LIMIT))
    return {"counts": counts, "notHealthy": bad[:NOT_HEALTHY_SHOWN], "more": max(0, len(bad) - 20)}


def to_object(status: EnvStatus, *, namespace: str) -> dict[str, Any]:
    data = {
        "environment": status.env,
        "commit": status.commit,
        "attempted": status.attempted,
        "renderHash": status.render_hash,
        "appliedAt": status.applied_at,
        "outcome": status.outcome,
        "health": json.dumps(status.health, sort_keys=True),
        "drift": json.dumps(list(status.drift)),
        "history": json.dumps([dataclasses.asdict(r) for r in status.history]),
        "refusal": status.refusal,
        "rolledBackTo": status.rolled_back_to,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name_for(status.env),
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "gitops-bot", "gitops-bot.io/status": "1"},
        },
        "data": data,
    }


def _json(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


def from_object(env: str, obj: dict[str, Any] | None) -> EnvStatus:
    if obj is None:
        return EnvStatus(env=env)
    data = obj.get("data") or {}
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    history = tuple(
        Record(**{k: str(v) for k, v in r.items() if k in Record.__dataclass_fields__})
        for r in _json(data.get("history"), [])
        if isinstance(r, dict) and {"time", "commit", "outcome"} <= r.keys()
    )
    return EnvStatus(
        env=env,
        commit=data.get("commit", ""),
        attempted=data.get("attempted", ""),
        render_hash=data.get("renderHash", ""),
        applied_at=data.get("appliedAt", ""),
        outcome=data.get("outcome", ""),
        health=_json(data.get("health"), {}),
        drift=tuple(_json(data.get("drift"), [])),
        history=history,
        refusal=data.get("refusal", ""),
        rolled_back_to=data.get("rolledBackTo", ""),
        rollback_to=str(annotations.get(ROLLBACK_ANNOTATION, "")),
    )


class Store:
    """The status of every environment, kept in memory and written through."""

    def __init__(self, kube: Kube, *, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace
        self._lock = threading.Lock()
        self._status: dict[str, EnvStatus] = {}

    def load(self, env: str) -> EnvStatus:
        """Read from the cluster (at start, and when leadership is gained)."""
        obj = self.kube.get("v1", "ConfigMap", name_for(env), namespace=self.namespace)
        status = from_object(env, obj)
        with self._lock:
            self._status[env] = status
        return status

    def get(self, env: str) -> EnvStatus:
        with self._lock:
            found = self._status.get(env)
        return found if found is not None else self.load(env)

    def rollback_to(self, env: str) -> str:
        """The rollback a person asked for, read fresh (it is set by hand)."""
        obj = self.kube.get("v1", "ConfigMap", name_for(env), namespace=self.namespace)
        return from_object(env, obj).rollback_to

    def update(self, env: str, change: Callable[[EnvStatus], EnvStatus]) -> EnvStatus:
        """Apply `change(status) -> status` and write the result."""
        with self._lock:
            current = self._status.get(env) or EnvStatus(env=env)
            new = change(current)
            self.kube.apply(to_object(new, namespace=self.namespace))
            self._status[env] = new
        return new
