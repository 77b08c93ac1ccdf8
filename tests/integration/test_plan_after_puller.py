"""A live plan against a cluster the puller manages: its ApplySet label is
the puller's bookkeeping, not a change and not drift."""

from __future__ import annotations

from typing import Any

from gitops_bot.cluster import apply
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects.model import Key, Manifest, Origin, Render
from gitops_bot.core.report.plan import Action
from gitops_bot.planner import plan


def _render(namespace: str, value: str) -> Render:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app", "namespace": namespace},
        "data": {"v": value},
    }
    return Render.of("dev", [Manifest(Key.of(obj), obj, Origin("app.yaml"))])


def test_a_live_plan_after_the_puller_applied_shows_only_the_change(
    kube: Kube, namespace: str
) -> None:
    applied = _render(namespace, "1")
    applyset = apply.ApplySetRef(name="gitops-bot-dev", namespace=namespace)
    result = apply.reconcile(
        kube,
        applied,
        applyset=applyset,
        revision="a" * 40,
        options=apply.ApplyOptions(wait=False),
    )
    assert result.ok, result.error

    unchanged, drift, errors = plan.live_diff(
        kube, applied, applied, mask_key=b"k" * 32, secrets=set()
    )
    assert errors == []
    assert drift == ()
    assert [c.action for c in unchanged] == [Action.UNCHANGED]

    changed, drift, errors = plan.live_diff(
        kube, applied, _render(namespace, "2"), mask_key=b"k" * 32, secrets=set()
    )
    assert errors == []
    assert drift == ()
    assert [c.action for c in changed] == [Action.UPDATE]
    assert "part-of" not in changed[0].diff
    assert '-  v: "1"' in changed[0].diff or "-  v: '1'" in changed[0].diff
