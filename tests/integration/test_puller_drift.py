"""Drift on the real control plane: someone changes what the puller applied."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gitops_bot.cluster.kube import Kube
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
        reasons = [
            e["reason"] for e in kube.list_objects("events.k8s.io/v1", "Event", namespace=namespace)
        ]
        assert ("DriftHealed" if heal else "DriftDetected") in reasons
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
