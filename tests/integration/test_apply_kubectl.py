"""Our ApplySet is the one kubectl knows (KEP-3659): same id, same members, same prune."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_bot.cluster import applyset
from gitops_bot.cluster.apply import ApplySetRef, Outcome, inventory, reconcile
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects.model import Key, Manifest, Origin, Render
from gitops_bot.testing.cluster import LocalControlPlane
from tests import objects

pytestmark = pytest.mark.cluster


def render(objs: list[dict[str, Any]]) -> Render:
    return Render.of(
        "dev", [Manifest(Key.of(o), o, Origin("all.yaml", i)) for i, o in enumerate(objs)]
    )


def kubectl(
    cp: LocalControlPlane, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **cp.env(), "KUBECTL_APPLYSET": "true"}
    done = subprocess.run(
        [cp.binaries.path("kubectl"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def write(tmp_path: Path, objs: list[dict[str, Any]]) -> str:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    return str(path)


def test_kubectl_computes_the_same_applyset_id(
    control_plane: LocalControlPlane, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    manifest = write(tmp_path, [objects.configmap("by-kubectl", namespace=namespace, k="v")])

    kubectl(
        control_plane,
        "apply",
        "--server-side",
        "--prune",
        "--applyset=configmap/made-by-kubectl",
        "-n",
        namespace,
        "-f",
        manifest,
    )

    parent = kube.get("v1", "ConfigMap", "made-by-kubectl", namespace=namespace)
    child = kube.get("v1", "ConfigMap", "by-kubectl", namespace=namespace)
    assert parent is not None
    assert child is not None
    ours = ApplySetRef("made-by-kubectl", namespace).id
    assert parent["metadata"]["labels"][applyset.ID_LABEL] == ours
    assert child["metadata"]["labels"][applyset.PART_OF] == ours
    assert parent["metadata"]["annotations"][applyset.GROUP_KINDS] == "ConfigMap"


def test_kubectl_reads_our_applyset_and_would_prune_what_we_prune(
    control_plane: LocalControlPlane, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    ref = ApplySetRef("gitops-bot-dev", namespace)
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "old", "namespace": namespace},
    }
    kept = [objects.configmap(f"cm-{i}", namespace=namespace, k="v") for i in range(6)]
    assert reconcile(kube, render([*kept, sa]), applyset=ref, revision="c1").ok

    # kubectl lists the same members by our label.
    listed = kubectl(
        control_plane,
        "get",
        "configmaps,serviceaccounts",
        "-n",
        namespace,
        "-l",
        ref.selector,
        "-o",
        "name",
    ).stdout.split()
    assert sorted(listed) == sorted(
        f"{Key.of(o).kind.lower()}/{Key.of(o).name}" for o in inventory(kube, ref)
    )

    manifest = write(tmp_path, kept[:5])
    apply_args = [
        "apply",
        "--server-side",
        "--prune",
        f"--applyset=configmap/{ref.name}",
        "-n",
        namespace,
        "--dry-run=server",
        "-f",
        manifest,
    ]
    # kubectl honours the tooling annotation: it will not mutate our ApplySet ...
    refused = kubectl(control_plane, *apply_args, check=False)
    assert refused.returncode != 0
    assert 'is managed by tooling "gitops-bot" instead of "kubectl"' in refused.stderr

    # ... so hand it over for a moment, as a person would, and ask it what it would prune.
    kubectl(control_plane, "annotate", "--overwrite", "-n", namespace, f"configmap/{ref.name}",
            f"{applyset.TOOLING}=kubectl/v1.36")  # fmt: skip
    dry = kubectl(control_plane, *apply_args)
    kubectl(control_plane, "annotate", "--overwrite", "-n", namespace, f"configmap/{ref.name}",
            f"{applyset.TOOLING}={applyset.TOOLING_VALUE}")  # fmt: skip
    would = set(re.findall(r"^(\S+) pruned \(server dry run\)$", dry.stdout, re.MULTILINE))
    assert would == {"configmap/cm-5", "serviceaccount/old"}

    result = reconcile(kube, render(kept[:5]), applyset=ref, revision="c2")

    assert result.ok, result.error
    pruned = {
        f"{o.key.kind.lower()}/{o.key.name}" for o in result.objects if o.outcome is Outcome.PRUNED
    }
    assert pruned == would
