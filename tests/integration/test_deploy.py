"""deploy/: the kustomize base builds, the API server accepts it, its RBAC is least privilege."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gitops_bot.cluster.kube import Kube
from gitops_bot.testing.binaries import Binaries
from gitops_bot.testing.cluster import LocalControlPlane
from tests.integration import deploykit

pytestmark = pytest.mark.cluster

DEPLOY = deploykit.DEPLOY


def test_the_base_builds_with_no_cluster_scope(binaries: Binaries) -> None:
    objects = deploykit.build(binaries, DEPLOY)
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]
    assert {o["metadata"]["namespace"] for o in objects} == {"gitops-bot"}
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= container["resources"].keys()
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"gitops-bot-git", "gitops-bot-poke"}
    role = next(o for o in objects if o["kind"] == "Role")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule


def test_the_plans_component_serves_plans_with_a_secret_of_its_own(
    binaries: Binaries, tmp_path: Path
) -> None:
    overlay = deploykit.overlay(tmp_path, namespace="gitops-bot", components=("plans",))
    deployment = next(o for o in deploykit.build(binaries, overlay) if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["GITOPS_BOT_PLAN_SECRET_FILE"] == "/secrets/plan/secret"
    assert env["GITOPS_BOT_POKE_SECRET_FILE"] != env["GITOPS_BOT_PLAN_SECRET_FILE"]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["plan-secret"] == {
        "name": "plan-secret",
        "mountPath": "/secrets/plan",
        "readOnly": True,
    }
    volume = next(v for v in pod["volumes"] if v["name"] == "plan-secret")
    # Not optional: a puller told to serve plans must not start without its secret.
    assert volume["secret"] == {"secretName": "gitops-bot-plan-secret", "defaultMode": 0o400}


def test_every_object_passes_a_server_side_dry_run(
    binaries: Binaries, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    overlay = deploykit.overlay(
        tmp_path, namespace=namespace, components=("namespace", "cluster-scope")
    )
    objects = deploykit.build(binaries, overlay)
    assert {o["kind"] for o in objects} >= {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for obj in objects:
        if obj["kind"] == "Namespace":
            continue  # renamed to the test's namespace, which exists: dry-run it as it ships
        result = kube.apply(obj, dry_run=True)
        assert result["metadata"]["name"] == obj["metadata"]["name"]
    shipped = deploykit.build(binaries, DEPLOY / "components" / "namespace")
    assert kube.apply(shipped[0], dry_run=True)["kind"] == "Namespace"
    assert kube.get("rbac.authorization.k8s.io/v1", "ClusterRole", "gitops-bot-puller") is None


@pytest.mark.parametrize(
    ("verb", "resource", "where", "allowed"),
    [
        ("patch", "configmaps", "own", True),
        ("watch", "configmaps", "own", True),
        ("update", "leases.coordination.k8s.io", "own", True),
        ("list", "leases.coordination.k8s.io", "own", True),
        ("delete", "leases.coordination.k8s.io", "own", True),
        ("list", "leases.coordination.k8s.io", "other", False),
        ("create", "events.events.k8s.io", "own", True),
        ("patch", "deployments.apps", "own", True),
        ("delete", "secrets", "own", True),
        ("list", "configmaps", "other", False),
        ("patch", "deployments.apps", "other", False),
        ("create", "namespaces", "cluster", False),
        ("create", "clusterroles.rbac.authorization.k8s.io", "cluster", False),
        ("create", "roles.rbac.authorization.k8s.io", "own", False),
        ("create", "pods/exec", "own", False),
        ("impersonate", "users", "cluster", False),
        ("list", "nodes", "cluster", False),
    ],
)
def test_the_service_account_may_do_only_what_the_puller_needs(  # noqa: PLR0917 - pytest fixtures
    binaries: Binaries,
    control_plane: LocalControlPlane,
    kube: Kube,
    namespace: str,
    tmp_path: Path,
    verb: str,
    resource: str,
    where: str,
    allowed: bool,
) -> None:
    overlay = deploykit.overlay(tmp_path, namespace=namespace, components=())
    for obj in deploykit.build(binaries, overlay):
        if obj["kind"] in ("ServiceAccount", "Role", "RoleBinding"):
            kube.apply(obj)
    scope = {"own": ["-n", namespace], "other": ["-n", "default"], "cluster": []}[where]
    done = subprocess.run(
        [
            binaries.path("kubectl"),
            "auth",
            "can-i",
            verb,
            resource,
            *scope,
            f"--as=system:serviceaccount:{namespace}:gitops-bot-puller",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **control_plane.env()},
        check=False,
    )
    assert done.stdout.strip() == ("yes" if allowed else "no"), done.stderr


def test_the_serve_base_runs_as_non_root_replicas_with_the_apps_secret(
    binaries: Binaries, kube: Kube, namespace: str
) -> None:
    from gitops_bot.cli import cli  # noqa: PLC0415

    objects = deploykit.build(binaries, DEPLOY / "serve")
    assert sorted(o["kind"] for o in objects) == ["Deployment", "Service"]
    (deployment,) = (o for o in objects if o["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["args"] == ["serve"]
    # every variable it sets is one serve reads (a typo would be ignored silently)
    serve = cli.commands["serve"]  # type: ignore[attr-defined]
    known = {p.envvar for p in serve.params if isinstance(p.envvar, str)} | {"HOME"}
    names = {e["name"] for e in container["env"]}
    assert names <= known, names - known
    assert {
        "GITOPS_BOT_GITHUB_APP_ID",
        "GITOPS_BOT_GITHUB_APP_KEY_FILE",
        "GITOPS_BOT_REPOS",
    } <= names
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    files = [e["value"] for e in container["env"] if e["name"].endswith("_FILE")]
    assert all(any(f.startswith(m + "/") for m in mounted) for f in files), files
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
        assert kube.apply(obj, dry_run=True)["metadata"]["name"] == obj["metadata"]["name"]
