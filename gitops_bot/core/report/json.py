"""The plan as a JSON document for other tools: schema `gitops-bot/plan/v1`.

Owns: the document's shape, which docs/plan-output.md describes field by
field. It is stable: fields are only ever added within v1; renaming or
removing one means v2. Keys are sorted and indented by two spaces, so the
same plan always gives the same bytes.
Refuses: anything but the values of the Plan (no formatting for people).
"""

from __future__ import annotations

import json
from typing import Any

from gitops_bot.core.objects import diff
from gitops_bot.core.objects.model import Key, Origin
from gitops_bot.core.report import ACTIONS, Counts
from gitops_bot.core.report.plan import Drift, EnvPlan, Plan, ResourceChange

SCHEMA = "gitops-bot/plan/v1"


def _key(key: Key) -> dict[str, str]:
    return {"group": key.group, "kind": key.kind, "namespace": key.namespace, "name": key.name}


def _origin(origin: Origin | None) -> dict[str, Any] | None:
    if origin is None:
        return None
    return {"file": origin.file, "document": origin.document, "line": origin.line}


def _change(change: ResourceChange) -> dict[str, Any]:
    keys = change.secret_keys
    return {
        "key": _key(change.key),
        "action": change.action.value,
        "diff": change.diff,
        "secret_keys": None
        if keys is None
        else {
            "added": list(keys.added),
            "changed": list(keys.changed),
            "removed": list(keys.removed),
        },
        "origin": _origin(change.origin),
        "note": change.note,
        "renamed_from": None if change.renamed_from is None else _key(change.renamed_from),
    }


def _drift(drift: Drift) -> dict[str, Any]:
    return {
        "key": _key(drift.key),
        "path": diff.path_text(drift.path),
        "manager": drift.manager,
        "diff": drift.diff,
    }


def _env(env: EnvPlan) -> dict[str, Any]:
    counts = Counts.of(env.changes)
    return {
        "name": env.env,
        "render_hash": env.render_hash,
        "error": env.error,
        "has_changes": env.has_changes,
        "counts": {a.value: counts.get(a) for a in ACTIONS},
        "changes": [_change(c) for c in env.changes],
        "live": None if env.live is None else [_change(c) for c in env.live],
        "drift": [_drift(d) for d in env.drift] if env.drift_known else None,
    }


def document(plan: Plan) -> dict[str, Any]:
    """The document as Python values, for callers that embed it."""
    return {
        "schema": SCHEMA,
        "base": plan.base,
        "head": plan.head,
        "has_changes": plan.has_changes,
        "has_errors": plan.has_errors,
        "environments": [_env(e) for e in plan.envs],
        "skipped": [{"name": s.env, "reason": s.reason} for s in plan.skipped],
        "sandbox": plan.sandbox,
    }


def render(plan: Plan) -> str:
    """The document as text, ending in a newline."""
    return json.dumps(document(plan), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
