"""Drift on the real control plane: someone changes what the puller applied."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import ignore
from gitops_bot.puller import status as status_mod
from gitops_bot.testing.binaries import Binaries
from gitops_bot.testing.cluster import LocalControlPlane
from tests.integration import pullerkit
from tests.integration.pullerkit import Remote

pytestmark = pytest.mark.cluster


def kubectl(cp: LocalControlPlane, binaries: Binaries, *args: str) -> str:
    return subprocess.run(
        [binaries.path("kubectl"), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **cp.env()},
    ).stdout


def _value(kube: Kube, namespace: str, name: str) -> str | None:
    obj = kube.get("v1", "ConfigMap", name, namespace=namespace)
    return None if obj is None else obj["data"]["v"]


def _drift(kube: Kube, namespace: str) -> list[dict[str, str]]:
    obj = kube.get("v1", "ConfigMap", status_mod.name_for("dev"), namespace=namespace)
    return json.loads(obj["data"]["drift"]) if obj else []


@pytest.fixture
def remote(tmp_path: Path, namespace: str) -> Remote:
    r = Remote(tmp_path / "git")
    r.commit({".gitops.yaml": pullerkit.config(namespace), **pullerkit.configmaps("dev", 3)})
    r.push()
    return r


@pytest.mark.k8s_smoke
@pytest.mark.parametrize("heal", [True, False], ids=["self-heal", "report-only"])
def test_a_change_by_another_manager_is_healed_or_reported_naming_it(  # noqa: PLR0917 - pytest fixtures
    control_plane: LocalControlPlane,
    kube: Kube,
    namespace: str,
    remote: Remote,
    binaries: Binaries,
    tmp_path: Path,
    heal: bool,
) -> None:
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries, heal=heal
    )
    assert puller.sync() == {"dev": "applied"}
    watcher = puller.drift_watcher("dev")
    assert watcher is not None
    assert watcher.wait_synced()
    try:
        kubectl(
            control_plane,
            binaries,
            "-n",
            namespace,
            "patch",
            "configmap",
            "cm-1",
            "-p",
            '{"data":{"v":"9"}}',
        )
        found = pullerkit.eventually(lambda: _drift(kube, namespace), timeout=10)
        assert found[0]["object"] == f"ConfigMap {namespace}/cm-1"
        assert found[0]["manager"] == "kubectl-patch"
        if heal:
            assert found[0]["action"] == "healed"
            assert found[0]["seconds"] < 5
            assert _value(kube, namespace, "cm-1") == "1"
        else:
            assert found[0]["action"] == "reported"
            assert _value(kube, namespace, "cm-1") == "9"
        assert _value(kube, namespace, "cm-0") == "1"
        # The Event is written after the status record the drift was found in.
        want = "DriftHealed" if heal else "DriftDetected"

        def reasons() -> list[str]:
            events = kube.list_objects("events.k8s.io/v1", "Event", namespace=namespace)
            return [e["reason"] for e in events]

        pullerkit.eventually(lambda: want in reasons(), timeout=10)
        metrics = puller.reporter.metrics.exposition().decode()
        action = "healed" if heal else "reported"
        assert f'gitops_bot_drift_total{{action="{action}",env="dev"}} 1.0' in metrics
    finally:
        watcher.stop()


def test_a_deleted_object_is_created_again(  # noqa: PLR0917 - pytest fixtures
    control_plane: LocalControlPlane,
    kube: Kube,
    namespace: str,
    remote: Remote,
    binaries: Binaries,
    tmp_path: Path,
) -> None:
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries
    )
    assert puller.sync() == {"dev": "applied"}
    watcher = puller.drift_watcher("dev")
    assert watcher is not None
    assert watcher.wait_synced()
    try:
        kubectl(control_plane, binaries, "-n", namespace, "delete", "configmap", "cm-2")
        pullerkit.eventually(lambda: _value(kube, namespace, "cm-2") == "1", timeout=10)
        found = pullerkit.eventually(lambda: _drift(kube, namespace))
        assert (found[0]["manager"], found[0]["action"]) == ("(deleted)", "healed")
    finally:
        watcher.stop()


def test_fields_we_do_not_set_and_our_own_applies_are_not_drift(  # noqa: PLR0917 - pytest fixtures
    control_plane: LocalControlPlane,
    kube: Kube,
    namespace: str,
    remote: Remote,
    binaries: Binaries,
    tmp_path: Path,
) -> None:
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries
    )
    assert puller.sync() == {"dev": "applied"}
    watcher = puller.drift_watcher("dev")
    assert watcher is not None
    assert watcher.wait_synced()
    try:
        kubectl(control_plane, binaries, "-n", namespace, "label", "configmap", "cm-0", "team=x")
        remote.commit(pullerkit.configmaps("dev", 3, value="2"))
        remote.push()
        assert puller.sync() == {"dev": "applied"}
        # The next change is a real drift: once it is reported, every event before it was judged.
        kubectl(
            control_plane,
            binaries,
            "-n",
            namespace,
            "patch",
            "configmap",
            "cm-2",
            "-p",
            '{"data":{"v":"7"}}',
        )
        found = pullerkit.eventually(lambda: _drift(kube, namespace), timeout=10)
        assert [f["object"] for f in found] == [f"ConfigMap {namespace}/cm-2"]
        assert _value(kube, namespace, "cm-0") == "2"
    finally:
        watcher.stop()


def _invalid(name: str) -> dict[str, str]:
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"bad": "not a valid label value!"}},
        "data": {"v": "1"},
    }
    return {f"envs/dev/{name}.yaml": yaml.safe_dump(doc)}


def _drift_events(kube: Kube, namespace: str) -> list[str]:
    return [
        str(e.get("note"))
        for e in kube.list_objects("events.k8s.io/v1", "Event", namespace=namespace)
        if str(e.get("reason", "")).startswith("Drift")
    ]


@pytest.mark.parametrize("heal", [True, False], ids=["self-heal", "report-only"])
def test_a_render_that_fails_validation_is_not_watched_for_drift(
    kube: Kube, namespace: str, binaries: Binaries, tmp_path: Path, heal: bool
) -> None:
    remote = Remote(tmp_path / "git")
    remote.commit(
        {
            ".gitops.yaml": pullerkit.config(namespace),
            **pullerkit.configmaps("dev", 3),
            **_invalid("broken"),
        }
    )
    remote.push()
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries, heal=heal
    )

    assert puller.sync() == {"dev": "failed"}

    watcher = puller.drift_watcher("dev")
    try:
        assert watcher is None or watcher.watched() == {}
        time.sleep(0.5)  # what a watch would have reported by now (debounce: 50 ms)
        assert _drift_events(kube, namespace) == []
        assert _drift(kube, namespace) == []
        assert _value(kube, namespace, "cm-0") is None, "healing created an object never applied"
    finally:
        if watcher is not None:
            watcher.stop()


def test_after_a_failed_validation_the_last_applied_objects_stay_watched(  # noqa: PLR0917 - pytest fixtures
    control_plane: LocalControlPlane,
    kube: Kube,
    namespace: str,
    remote: Remote,
    binaries: Binaries,
    tmp_path: Path,
) -> None:
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries
    )
    assert puller.sync() == {"dev": "applied"}
    watcher = puller.drift_watcher("dev")
    assert watcher is not None
    try:
        remote.commit({**pullerkit.configmaps("dev", 2, prefix="new"), **_invalid("broken")})
        remote.push()
        assert puller.sync() == {"dev": "failed"}

        assert sorted(k.name for k in watcher.watched()) == ["cm-0", "cm-1", "cm-2"]
        assert watcher.wait_synced()
        time.sleep(0.5)
        assert _drift_events(kube, namespace) == []
        assert _value(kube, namespace, "new-0") is None
        # The objects applied before are still guarded.
        kubectl(control_plane, binaries, "-n", namespace, "delete", "configmap", "cm-1")
        pullerkit.eventually(lambda: _value(kube, namespace, "cm-1") == "1", timeout=10)
        assert [e for e in _drift_events(kube, namespace) if "new-" in e] == []
    finally:
        watcher.stop()


def _deployment(replicas: int | None = 2, annotations: dict[str, str] | None = None) -> str:
    doc: dict[str, object] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", **({"annotations": annotations} if annotations else {})},
        "spec": {
            **({"replicas": replicas} if replicas is not None else {}),
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }
    return yaml.safe_dump(doc)


def scale_patch(kube: Kube, namespace: str, replicas: int, *, manager: str) -> None:
    """What a HorizontalPodAutoscaler does: a PATCH of the /scale subresource."""
    kube._call(
        "PATCH",
        f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale",
        doing="scaling web",
        query=[("fieldManager", manager)],
        body={"spec": {"replicas": replicas}},
        content_type="application/merge-patch+json",
    )


def _replicas(kube: Kube, namespace: str) -> int:
    obj = kube.get("apps/v1", "Deployment", "web", namespace=namespace)
    assert obj is not None
    return int(obj["spec"]["replicas"])


@pytest.mark.parametrize("how", ["kubectl scale", "PATCH /scale"])
@pytest.mark.parametrize("heal", [True, False], ids=["self-heal", "report-only"])
def test_a_write_through_the_scale_subresource_is_attributed(  # noqa: PLR0917 - pytest fixtures
    control_plane: LocalControlPlane,
    kube: Kube,
    namespace: str,
    binaries: Binaries,
    tmp_path: Path,
    how: str,
    heal: bool,
) -> None:
    remote = Remote(tmp_path / "git")
    remote.commit(
        {".gitops.yaml": pullerkit.config(namespace), "envs/dev/web.yaml": _deployment(2)}
    )
    remote.push()
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries, heal=heal
    )
    assert puller.sync() == {"dev": "applied"}
    watcher = puller.drift_watcher("dev")
    assert watcher is not None
    assert watcher.wait_synced()
    try:
        if how == "kubectl scale":
            kubectl(control_plane, binaries, "-n", namespace, "scale", "deploy/web", "--replicas=5")
            who = "kubectl (via scale)"
        else:
            scale_patch(kube, namespace, 5, manager="hpa-like")
            who = "hpa-like (via scale)"
        found = pullerkit.eventually(lambda: _drift(kube, namespace), timeout=10)
        assert found[0]["object"] == f"Deployment {namespace}/web"
        assert found[0]["manager"] == who
        notes = pullerkit.eventually(lambda: _drift_events(kube, namespace), timeout=5)
        assert f"changed by {who}" in notes[0]
        if heal:
            assert _replicas(kube, namespace) == 2
        else:
            assert _replicas(kube, namespace) == 5
    finally:
        watcher.stop()


def test_an_hpa_scaling_an_ignored_field_is_no_drift_and_nothing_is_sent(
    kube: Kube, namespace: str, binaries: Binaries, tmp_path: Path
) -> None:
    remote = Remote(tmp_path / "git")
    remote.commit(
        {
            ".gitops.yaml": pullerkit.config(namespace),
            "envs/dev/web.yaml": _deployment(2, {ignore.ANNOTATION: "spec.replicas"}),
        }
    )
    remote.push()
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries, resync_s=0
    )
    assert puller.sync() == {"dev": "applied"}
    watcher = puller.drift_watcher("dev")
    assert watcher is not None
    assert watcher.wait_synced()
    try:
        scale_patch(kube, namespace, 5, manager="hpa-like")
        time.sleep(0.5)  # a drift would have been judged by now (debounce: 50 ms)
        assert _drift(kube, namespace) == []
        assert _drift_events(kube, namespace) == []

        assert puller.sync() == {"dev": "applied"}  # resync: the same commit again
        status = kube.get("v1", "ConfigMap", status_mod.name_for("dev"), namespace=namespace)
        assert status is not None
        last = json.loads(status["data"]["history"])[-1]
        assert last["message"] == "1 unchanged", "the reconcile sent something for it"
        live = kube.get("apps/v1", "Deployment", "web", namespace=namespace)
        assert live is not None
        assert live["spec"]["replicas"] == 5
        assert _drift(kube, namespace) == []
    finally:
        watcher.stop()
