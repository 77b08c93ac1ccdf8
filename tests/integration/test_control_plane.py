"""The local control plane is a real Kubernetes: SSA, defaults, controllers,
garbage collection, CRDs and kubectl all behave as on a production cluster."""

from __future__ import annotations

import copy
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import health
from gitops_bot.errors import ClusterError
from gitops_bot.testing import binaries as binaries_mod
from gitops_bot.testing.binaries import Binaries, TestEnvError
from gitops_bot.testing.cluster import NODE_NAME, LocalControlPlane
from tests import objects
from tests.waiting import until

pytestmark = pytest.mark.cluster

TESTENV = Path(__file__).resolve().parents[2] / "testenv"


def pinned_kubernetes(go_mod: Path) -> str:
    """The k8s.io/kubernetes version a go.mod pins (v1.36.3)."""
    lines = go_mod.read_text().splitlines()
    return next(ln.split()[1] for ln in lines if ln.strip().startswith("k8s.io/kubernetes v"))


def deployment(namespace: str, *, replicas: int = 3, image: str = "nginx:1.27") -> dict[str, Any]:
    return objects.deployment(namespace=namespace, replicas=replicas, image=image)


def items(cp: LocalControlPlane, path: str) -> list[dict[str, Any]]:
    status, body = cp.request("GET", path)
    assert status == 200, body
    return list(body["items"])


def healthy(kube: Kube, obj: dict[str, Any]) -> dict[str, Any] | None:
    meta = obj["metadata"]
    live = kube.get(obj["apiVersion"], obj["kind"], meta["name"], namespace=meta.get("namespace"))
    return live if live and health.assess(live).status is health.Status.HEALTHY else None


def settled(kube: Kube, obj: dict[str, Any]) -> bool:
    """Healthy, and the controller has written its final Progressing reason."""
    live = healthy(kube, obj)
    conditions = {c["type"]: c for c in (live or {}).get("status", {}).get("conditions", [])}
    return conditions.get("Progressing", {}).get("reason") == "NewReplicaSetAvailable"


@pytest.mark.k8s_smoke
def test_the_control_plane_runs_the_kubernetes_version_asked_for(
    control_plane: LocalControlPlane, binaries: Binaries
) -> None:
    """$GITOPS_BOT_K8S_VERSION=1.35 runs 1.35's own apiserver, controller manager
    and scheduler, never silently the newest (make test-k8s relies on it)."""
    minor = os.environ.get(binaries_mod.K8S_VERSION_ENV_VAR)
    pins = TESTENV / "k8s" / minor / "go.mod" if minor else TESTENV / "go.mod"
    expected = pinned_kubernetes(pins)
    if os.environ.get(binaries_mod.K8S_BIN_ENV_VAR):  # a folder of unknown version
        expected = control_plane.version()

    assert control_plane.version() == expected
    for name in binaries_mod.VERSIONED:
        shown = subprocess.run(
            [binaries.path(name), "--version"], check=True, capture_output=True, text=True
        )
        assert shown.stdout.split() == ["Kubernetes", expected]


@pytest.mark.k8s_smoke
def test_server_side_apply_records_our_field_manager_and_detects_conflicts(
    control_plane: LocalControlPlane, kube: Kube, namespace: str
) -> None:
    live = kube.apply(deployment(namespace))

    managers = {(m["manager"], m["operation"]) for m in live["metadata"]["managedFields"]}
    assert ("gitops-bot", "Apply") in managers

    other = Kube.from_kubeconfig(str(control_plane.kubeconfig), field_manager="someone-else")
    try:
        with pytest.raises(ClusterError, match=r"HTTP 409 Conflict: .*spec\.replicas"):
            other.apply(deployment(namespace, replicas=5))
        forced = other.apply(deployment(namespace, replicas=5), force=True)
    finally:
        other.close()
    assert forced["spec"]["replicas"] == 5


@pytest.mark.k8s_smoke
def test_dry_run_apply_returns_server_defaults_and_persists_nothing(
    kube: Kube, namespace: str
) -> None:
    result = kube.apply(deployment(namespace), dry_run=True)

    spec = result["spec"]
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    container = spec["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert result["metadata"]["uid"]
    assert kube.get("apps/v1", "Deployment", "web", namespace=namespace) is None


@pytest.mark.k8s_smoke
def test_deployment_rolls_out_on_simulated_nodes_and_updates(
    control_plane: LocalControlPlane, kube: Kube, namespace: str
) -> None:
    dep = deployment(namespace, replicas=3)
    kube.apply(dep)
    live = until(lambda: healthy(kube, dep), what="the first rollout")
    assert live["status"]["availableReplicas"] == 3

    pods = items(control_plane, f"/api/v1/namespaces/{namespace}/pods?labelSelector=app%3Dweb")
    assert len(pods) == 3
    for pod in pods:
        assert pod["spec"]["nodeName"] == NODE_NAME  # placed by the real scheduler
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"  # made ready by kwok

    kube.apply(deployment(namespace, replicas=3, image="nginx:1.28"))
    until(
        lambda: (
            healthy(kube, dep)
            if healthy(kube, dep) and healthy(kube, dep)["status"].get("observedGeneration") == 2
            else None
        ),  # type: ignore[index]
        what="the second rollout",
    )
    sets = items(control_plane, f"/apis/apps/v1/namespaces/{namespace}/replicasets")
    by_image = {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs["spec"]["replicas"]
        for rs in sets
    }
    assert by_image == {"nginx:1.27": 0, "nginx:1.28": 3}


def test_deleting_a_deployment_cascades_to_replicasets_and_pods(
    control_plane: LocalControlPlane, kube: Kube, namespace: str
) -> None:
    dep = deployment(namespace, replicas=2)
    kube.apply(dep)
    until(lambda: healthy(kube, dep), what="the rollout")
    assert items(control_plane, f"/apis/apps/v1/namespaces/{namespace}/replicasets")

    kube.delete("apps/v1", "Deployment", "web", namespace=namespace, propagation="Background")

    until(
        lambda: not items(control_plane, f"/apis/apps/v1/namespaces/{namespace}/replicasets"),
        what="the garbage collector to delete the ReplicaSets",
    )
    until(
        lambda: not items(control_plane, f"/api/v1/namespaces/{namespace}/pods"),
        what="the garbage collector to delete the pods",
    )


CRD = objects.crd(
    group="example.com",
    kind="Widget",
    plural="widgets",
    schema={
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer", "minimum": 1},
                    "color": {"type": "string", "default": "blue"},
                },
            }
        },
    },
)


def test_crd_becomes_established_and_its_resources_are_validated_and_defaulted(
    kube: Kube, namespace: str
) -> None:
    kube.apply(CRD)
    until(lambda: healthy(kube, CRD), what="the CRD to be Established")

    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": namespace},
        "spec": {"size": 3},
    }
    live = kube.apply(widget)  # discovery is refreshed for the new kind
    assert live["spec"] == {"size": 3, "color": "blue"}  # defaulted from the schema

    bad = copy.deepcopy(widget)
    bad["spec"]["size"] = 0
    with pytest.raises(ClusterError, match=r"HTTP 422 Invalid: .*spec\.size"):
        kube.apply(bad, dry_run=True)


@pytest.mark.k8s_smoke
def test_kubectl_diff_server_side_runs_against_it(
    control_plane: LocalControlPlane,
    binaries: Binaries,
    kube: Kube,
    namespace: str,
    tmp_path: Path,
) -> None:
    kube.apply(deployment(namespace, replicas=3))
    # kubectl diff reads the live object and then dry-runs: let the Deployment
    # and ReplicaSet controllers finish writing status first, or the diff shows
    # their writes (CI saw availableReplicas go 2 -> 3 between the two reads).
    until(lambda: settled(kube, deployment(namespace)), what="the Deployment to settle")
    manifest = tmp_path / "web.yaml"
    env = {**os.environ, **control_plane.env()}

    def kubectl_diff(obj: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        manifest.write_text(yaml.safe_dump(obj))
        return subprocess.run(
            [
                binaries.path("kubectl"),
                "diff",
                "--server-side",
                "--field-manager=gitops-bot",
                "-f",
                str(manifest),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    same = kubectl_diff(deployment(namespace, replicas=3))
    assert (same.returncode, same.stdout) == (0, ""), same.stderr

    changed = kubectl_diff(deployment(namespace, replicas=5))
    assert changed.returncode == 1, changed.stderr
    lines = {" ".join(line.split()) for line in changed.stdout.splitlines()}
    assert {"+ replicas: 5", "- replicas: 3"} <= lines


def test_state_survives_an_api_server_restart(own_control_plane: LocalControlPlane) -> None:
    kube = Kube.from_kubeconfig(str(own_control_plane.kubeconfig))
    try:
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kept", "namespace": "default"},
            "data": {"k": "v"},
        }
        kube.apply(cm)
        before = own_control_plane.processes()["kube-apiserver"]

        own_control_plane.restart("kube-apiserver")

        assert own_control_plane.processes()["kube-apiserver"] != before
        live = kube.get("v1", "ConfigMap", "kept", namespace="default")
        assert live is not None
        assert live["data"] == {"k": "v"}
    finally:
        kube.close()


def test_a_killed_api_server_is_a_clear_cluster_error(own_control_plane: LocalControlPlane) -> None:
    kube = Kube.from_kubeconfig(str(own_control_plane.kubeconfig))
    try:
        assert kube.get("v1", "ConfigMap", "x", namespace="default") is None
        own_control_plane.kill("kube-apiserver")
        with pytest.raises(
            ClusterError, match=r"^reading ConfigMap x: ConnectionRefusedError: .*refused"
        ):
            kube.get("v1", "ConfigMap", "x", namespace="default")
    finally:
        kube.close()


@pytest.mark.parametrize(
    ("name", "served"), [("kubernetes.default.svc", True), ("gitops-bot.example", False)]
)
def test_tls_server_name_is_the_name_the_certificate_must_carry(
    control_plane: LocalControlPlane, tmp_path: Path, name: str, served: bool
) -> None:
    """The kubeconfig's tls-server-name, not the host connected to (127.0.0.1),
    is checked against the API server's certificate, on every request."""
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["tls-server-name"] = name
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    kube = Kube.from_kubeconfig(str(path))
    try:
        if served:
            assert kube.get("v1", "Namespace", "default") is not None
        else:
            with pytest.raises(
                ClusterError, match=r"CERTIFICATE_VERIFY_FAILED.*gitops-bot\.example"
            ):
                kube.get("v1", "Namespace", "default")
    finally:
        kube.close()


def test_stop_leaves_no_process_and_no_folder(binaries: Binaries) -> None:
    cp = LocalControlPlane(binaries)
    cp.start()
    pids = cp.processes()
    assert set(pids) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    }

    cp.stop()

    for name, pid in pids.items():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped, not a zombie either
        assert name not in cp.processes()
    assert not cp.workdir.exists()


def test_a_component_that_cannot_start_fails_loudly_with_its_log(binaries: Binaries) -> None:
    cp = LocalControlPlane(binaries)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", cp.port))
        squatter.listen()
        with pytest.raises(TestEnvError) as caught:
            cp.start(timeout=30)
    message = str(caught.value)
    assert message.startswith("waiting for the API server to be ready: kube-apiserver exited")
    assert "address already in use" in message
    assert cp.processes() == {}
