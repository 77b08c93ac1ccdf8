"""deploy/components/plan-identity on the real control plane: the direct
mode's plan identity may dry-run but not write, whatever its RBAC says.

The ServiceAccount's token is a real one (TokenRequest, through `kubectl
create token`); the policy is the shipped ValidatingAdmissionPolicy, enforced
by the API server's own admission.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_bot.cluster.kube import Kube
from gitops_bot.errors import ClusterError
from gitops_bot.testing.binaries import Binaries
from gitops_bot.testing.cluster import LocalControlPlane
from tests.integration import deploykit

pytestmark = pytest.mark.cluster

POLICY = "gitops-bot-plan-dry-run-only"
_ENFORCED_WITHIN_S = 30.0  # the API server's policy informer picks a new policy up in ~1 s


def _build(binaries: Binaries, tmp_path: Path, namespace: str) -> list[dict[str, Any]]:
    """The component as an overlay that puts it in `namespace` builds it."""
    folder = deploykit.overlay(
        tmp_path, namespace=namespace, components=("plan-identity",), base=False
    )
    return deploykit.build(binaries, folder)


def _kubectl(
    binaries: Binaries, control_plane: LocalControlPlane, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binaries.path("kubectl"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **control_plane.env()},
        check=False,
        timeout=60,
    )


def _configmap(namespace: str, name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"value": value},
    }


def _refused(call: Any) -> str:
    """The error text of a call that must fail."""
    with pytest.raises(ClusterError) as refused:
        call()
    return str(refused.value)


@pytest.fixture
def installed(
    binaries: Binaries, kube: Kube, namespace: str, tmp_path: Path
) -> Iterator[list[dict[str, Any]]]:
    """The component applied in the test's namespace; its cluster-scoped
    objects removed afterwards (the control plane is shared)."""
    objects = _build(binaries, tmp_path, namespace)
    try:
        for obj in objects:
            kube.apply(obj)
        yield objects
    finally:
        for obj in reversed(objects):
            if "namespace" not in obj["metadata"]:
                kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])


@pytest.fixture
def plan_kube(
    binaries: Binaries,
    control_plane: LocalControlPlane,
    installed: list[dict[str, Any]],
    namespace: str,
    tmp_path: Path,
) -> Iterator[Kube]:
    """A client authenticated as the ServiceAccount gitops-bot-plan, with a
    token from the TokenRequest API, as CI would hold it."""
    made = _kubectl(
        binaries, control_plane, "create", "token", "gitops-bot-plan", "-n", namespace,
        "--duration=10m",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    config["users"] = [{"name": "plan", "user": {"token": made.stdout.strip()}}]
    for context in config["contexts"]:
        context["context"]["user"] = "plan"
    path = tmp_path / "plan-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    client = Kube.from_kubeconfig(str(path))
    yield client
    client.close()


def _wait_enforced(plan_kube: Kube, namespace: str) -> None:
    """Until the API server enforces the new policy (its informer needs a
    moment): a probe ConfigMap the identity may not create, bounded."""
    deadline = time.monotonic() + _ENFORCED_WITHIN_S
    attempt = 0
    while True:
        attempt += 1
        probe = _configmap(namespace, f"probe-{attempt}", "x")
        try:
            plan_kube.apply(probe)
        except ClusterError as err:
            if POLICY in str(err):
                return
            raise
        assert time.monotonic() < deadline, f"{POLICY} not enforced in {_ENFORCED_WITHIN_S} s"
        time.sleep(0.2)


def test_the_component_builds_with_least_privilege(
    binaries: Binaries, namespace: str, tmp_path: Path
) -> None:
    objects = _build(binaries, tmp_path, namespace)
    by_kind = {o["kind"]: o for o in objects}
    assert sorted(by_kind) == [
        "ClusterRole",
        "RoleBinding",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    # bound in its own namespace only, which follows the overlay's
    binding = by_kind["RoleBinding"]
    assert binding["metadata"]["namespace"] == namespace
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "gitops-bot-plan", "namespace": namespace}
    ]
    verbs = {v for rule in by_kind["ClusterRole"]["rules"] for v in rule["verbs"]}
    assert verbs == {"get", "list", "create", "patch"}
    policy = by_kind["ValidatingAdmissionPolicy"]
    assert "namespace" not in policy["metadata"]
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert set(rule["operations"]) == {"CREATE", "UPDATE", "DELETE", "CONNECT"}
    assert rule["resources"] == ["*/*"]  # every resource and subresource
    assert by_kind["ValidatingAdmissionPolicyBinding"]["spec"] == {
        "policyName": POLICY,
        "validationActions": ["Deny"],
    }


def test_the_plan_identity_may_dry_run_but_not_write(
    kube: Kube, plan_kube: Kube, namespace: str
) -> None:
    kube.apply(_configmap(namespace, "app", "v1"))
    _wait_enforced(plan_kube, namespace)
    changed = _configmap(namespace, "app", "v2")

    # a real server-side apply (PATCH) is refused by the policy, not by RBAC
    message = _refused(lambda: plan_kube.apply(changed))
    assert "HTTP 403" in message
    assert POLICY in message
    assert "may only dry-run" in message
    assert f"system:serviceaccount:{namespace}:gitops-bot-plan" in message
    # the same with dryRun=All passes and shows the result of applying it
    assert plan_kube.apply(changed, dry_run=True)["data"] == {"value": "v2"}
    # a dry-run of an object that does not exist yet passes too
    assert plan_kube.apply(_configmap(namespace, "new", "n"), dry_run=True)["data"]
    # a DELETE is refused (its RBAC has no delete; see the group test for the policy)
    message = _refused(lambda: plan_kube.delete("v1", "ConfigMap", "app", namespace=namespace))
    assert "HTTP 403" in message
    live = kube.get("v1", "ConfigMap", "app", namespace=namespace)
    assert live is not None
    assert live["data"] == {"value": "v1"}
    assert kube.get("v1", "ConfigMap", "new", namespace=namespace) is None

    # the admin identity is not affected
    assert kube.apply(changed)["data"] == {"value": "v2"}
    assert kube.delete("v1", "ConfigMap", "app", namespace=namespace)


def test_the_policy_refuses_the_plan_group_even_when_rbac_allows_everything(
    binaries: Binaries,
    control_plane: LocalControlPlane,
    kube: Kube,
    plan_kube: Kube,
    namespace: str,
) -> None:
    """A user in the group gitops-bot:plan (a CI identity that is not a
    ServiceAccount) with every RBAC right (system:masters): the policy
    alone refuses its DELETE, its apply, and a subresource's CREATE."""
    kube.apply(_configmap(namespace, "app", "v1"))
    _wait_enforced(plan_kube, namespace)
    who = ["--as=ci-runner", "--as-group=gitops-bot:plan", "--as-group=system:masters"]

    def as_ci(*args: str) -> subprocess.CompletedProcess[str]:
        return _kubectl(binaries, control_plane, *who, "-n", namespace, *args)

    deleted = as_ci("delete", "configmap", "app")
    assert deleted.returncode != 0
    assert POLICY in deleted.stderr
    assert "Refused: DELETE configmaps" in deleted.stderr
    dry = as_ci("delete", "configmap", "app", "--dry-run=server")
    assert dry.returncode == 0, dry.stderr
    token = as_ci("create", "token", "gitops-bot-plan")
    assert token.returncode != 0
    assert "Refused: CREATE serviceaccounts/token" in token.stderr
    assert kube.get("v1", "ConfigMap", "app", namespace=namespace) is not None
    # without the group, the same user is not the plan identity
    plain = _kubectl(
        binaries, control_plane, "--as=ci-runner", "--as-group=system:masters",
        "-n", namespace, "delete", "configmap", "app",
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr


def test_the_plan_identity_reads_secrets_only_where_it_is_bound(
    kube: Kube, plan_kube: Kube, namespace: str
) -> None:
    """What docs/security.md says: the RBAC grants get and list on Secrets
    in the namespace it is bound in, so whoever holds its token reads their
    values; nowhere else."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": namespace},
        "stringData": {"password": "hunter2-hunter2"},
    }
    kube.apply(secret)
    read = plan_kube.get("v1", "Secret", "db", namespace=namespace)
    assert read is not None
    assert read["data"] == {"password": "aHVudGVyMi1odW50ZXIy"}
    assert [
        s["metadata"]["name"] for s in plan_kube.list_objects("v1", "Secret", namespace=namespace)
    ] == ["db"]
    for where in ("default", "kube-system"):
        message = _refused(
            lambda where=where: plan_kube.list_objects("v1", "Secret", namespace=where)
        )
        assert "HTTP 403" in message
        assert "cannot list resource" in message
