"""The puller's loop on the real control plane, with a real remote repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gitops_bot.cli import cli
from gitops_bot.cluster.kube import Kube
from gitops_bot.forges.github.adapter import GitHub
from gitops_bot.puller import status as status_mod
from gitops_bot.puller.settings import ApplySettings
from gitops_bot.testing.binaries import Binaries
from gitops_bot.testing.cluster import LocalControlPlane
from tests.fakes.github_server import checked
from tests.integration import pullerkit
from tests.integration.pullerkit import Remote

pytestmark = pytest.mark.cluster


def _status(kube: Kube, namespace: str, env: str = "dev") -> dict[str, str]:
    obj = kube.get("v1", "ConfigMap", status_mod.name_for(env), namespace=namespace)
    assert obj is not None
    data: dict[str, str] = obj["data"]
    return data


def _events(kube: Kube, namespace: str) -> list[tuple[str, str]]:
    items = kube.list_objects("events.k8s.io/v1", "Event", namespace=namespace)
    return [(e["reason"], e.get("note", "")) for e in sorted(items, key=lambda e: e["eventTime"])]


def _values(kube: Kube, namespace: str) -> dict[str, str]:
    items = kube.list_objects("v1", "ConfigMap", namespace=namespace)
    return {
        i["metadata"]["name"]: i["data"]["v"]
        for i in items
        if i["metadata"]["name"].startswith("cm-")
    }


@pytest.fixture
def remote(tmp_path: Path, namespace: str) -> Remote:
    r = Remote(tmp_path / "git")
    r.commit(
        {".gitops.yaml": pullerkit.config(namespace), **pullerkit.configmaps("dev", 3)}, "first"
    )
    r.push()
    return r


def test_applies_the_tip_then_leaves_it_alone(
    kube: Kube, namespace: str, remote: Remote, binaries: Binaries, tmp_path: Path
) -> None:
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries
    )
    tip = pullerkit.git(remote.work, "rev-parse", "HEAD")

    assert puller.sync() == {"dev": "applied"}
    assert _values(kube, namespace) == {"cm-0": "1", "cm-1": "1", "cm-2": "1"}
    status = _status(kube, namespace)
    assert (status["commit"], status["attempted"], status["outcome"]) == (tip, tip, "applied")
    assert [h["outcome"] for h in json.loads(status["history"])] == ["applied"]
    assert [r for r, _ in _events(kube, namespace)] == ["Applied"]
    sent = dict(kube.requests)

    assert puller.sync() == {"dev": "unchanged"}
    assert dict(kube.requests) == sent, "an unchanged commit costs no request but the fetch"
    assert puller.ready() == (True, "leader, synced")
    metrics = puller.reporter.metrics.exposition().decode()
    assert 'gitops_bot_applies_total{env="dev",outcome="applied"} 1.0' in metrics


def test_a_restarted_puller_resumes_from_the_status_object(
    kube: Kube, namespace: str, remote: Remote, binaries: Binaries, tmp_path: Path
) -> None:
    first = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "a", binaries=binaries
    )
    assert first.sync() == {"dev": "applied"}
    versions = _versions(kube, namespace)

    # A new process reconciles once at start (the cluster may have moved while
    # nobody watched), from the commit in the status object: nothing is rewritten.
    second = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "b", binaries=binaries
    )
    assert second.sync() == {"dev": "applied"}
    assert _versions(kube, namespace) == versions
    history = json.loads(_status(kube, namespace)["history"])
    assert len({h["commit"] for h in history}) == 1
    assert second.sync() == {"dev": "unchanged"}


def _versions(kube: Kube, namespace: str) -> dict[str, str]:
    items = kube.list_objects("v1", "ConfigMap", namespace=namespace)
    return {
        i["metadata"]["name"]: i["metadata"]["resourceVersion"]
        for i in items
        if i["metadata"]["name"].startswith("cm-")
    }


def test_concurrent_merges_apply_the_newest_commit(
    kube: Kube, namespace: str, remote: Remote, binaries: Binaries, tmp_path: Path
) -> None:
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries
    )
    assert puller.sync() == {"dev": "applied"}
    remote.commit(pullerkit.configmaps("dev", 3, value="2"), "merge one")
    newest = remote.commit(pullerkit.configmaps("dev", 4, value="3"), "merge two")
    remote.push()

    assert puller.sync() == {"dev": "applied"}
    assert _values(kube, namespace) == {f"cm-{i}": "3" for i in range(4)}
    history = json.loads(_status(kube, namespace)["history"])
    assert [h["commit"] for h in history][-1] == newest
    assert len(history) == 2, "the commit in between is never applied on its own"


def test_a_force_push_that_rewinds_is_refused_until_a_rollback_names_it(
    kube: Kube, namespace: str, remote: Remote, binaries: Binaries, tmp_path: Path
) -> None:
    first = pullerkit.git(remote.work, "rev-parse", "HEAD")
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries
    )
    remote.commit(pullerkit.configmaps("dev", 3, value="2"), "second")
    remote.push()
    assert puller.sync() == {"dev": "applied"}

    remote.reset(first)
    remote.push(force=True)
    assert puller.sync() == {"dev": "refused"}
    assert puller.sync() == {"dev": "refused"}
    assert _values(kube, namespace) == {f"cm-{i}": "2" for i in range(3)}, "nothing moved back"
    status = _status(kube, namespace)
    assert "does not descend" in status["refusal"]
    assert [r for r, _ in _events(kube, namespace)].count("Refused") == 1, "said once"

    kube.apply(  # what `kubectl annotate` does, as another manager
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": status_mod.name_for("dev"),
                "namespace": namespace,
                "annotations": {status_mod.ROLLBACK_ANNOTATION: first},
            },
        }
    )
    assert puller.sync() == {"dev": "applied"}
    assert _values(kube, namespace) == {f"cm-{i}": "1" for i in range(3)}
    assert _status(kube, namespace)["rolledBackTo"] == first


def test_one_invalid_object_among_fifty_changes_nothing(
    kube: Kube, namespace: str, remote: Remote, binaries: Binaries, tmp_path: Path
) -> None:
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries
    )
    assert puller.sync() == {"dev": "applied"}
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "bad"},
        "spec": {"ports": [{"port": 99999}]},
    }
    files = pullerkit.configmaps("dev", 49, value="2")
    files["envs/dev/bad.yaml"] = yaml.safe_dump(bad)
    commit = remote.commit(files, "fifty, one bad")
    remote.push()

    assert puller.sync() == {"dev": "failed"}
    assert _values(kube, namespace) == {f"cm-{i}": "1" for i in range(3)}, "nothing was applied"
    status = _status(kube, namespace)
    assert status["commit"] != commit
    assert status["attempted"] == commit
    last = json.loads(status["history"])[-1]
    assert last["outcome"] == "failed"
    assert "Service" in last["message"]
    assert "bad" in last["message"]
    assert ("ApplyFailed") in [r for r, _ in _events(kube, namespace)]
    assert puller.sync() == {"dev": "unchanged"}, "a failed commit is retried only after a while"


def test_the_apply_is_reported_to_the_forge_as_a_commit_status_and_a_deployment(
    kube: Kube, namespace: str, remote: Remote, binaries: Binaries, tmp_path: Path
) -> None:
    token = "ghs_puller_canary_0123456789"
    tip = pullerkit.git(remote.work, "rev-parse", "HEAD")
    with checked() as github:
        github.add_user("gitops-bot[bot]", type="Bot", token=token)
        github.add_repo("acme/deploy", files={"README.md": "x\n"})
        github.mirror("acme/deploy", "main", sha=tip)
        forge = GitHub(
            repo="acme/deploy", token=token, base_url=github.url, bot_login="gitops-bot[bot]"
        )
        puller = pullerkit.make(
            kube,
            remote,
            namespace=namespace,
            cache=tmp_path / "c",
            binaries=binaries,
            apply=ApplySettings(wait=True, health_timeout_s=30),
        )
        puller.reporter.forge = forge

        assert puller.sync() == {"dev": "applied"}
        bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad"}}
        broken = remote.commit({"envs/dev/bad.yaml": yaml.safe_dump(bad)}, "a Service, no ports")
        remote.push()
        github.mirror("acme/deploy", "main", sha=broken)
        assert puller.sync() == {"dev": "failed"}

        reported = [
            (s.sha, s.context, s.state, s.description) for s in github.repos["acme/deploy"].statuses
        ]
        deployed = [
            (d.sha, d.environment, [(s.state, s.description) for s in d.statuses])
            for d in github.repos["acme/deploy"].deployments
        ]
    assert [r[:3] for r in reported] == [
        (tip, "gitops/apply/dev", "success"),
        (broken, "gitops/apply/dev", "failure"),
    ]
    assert reported[0][3] == f"applied to dev at {tip[:12]}: healthy"
    assert deployed == [
        (tip, "dev", [("success", reported[0][3])]),
        (broken, "dev", [("failure", reported[1][3][:140])]),
    ]


def test_the_puller_refuses_a_render_past_its_object_bound_and_applies_nothing(
    control_plane: LocalControlPlane, kube: Kube, namespace: str, remote: Remote, tmp_path: Path
) -> None:
    """`--max-objects` bounds the puller's parse as it bounds the plan's: the
    render of 3 objects is refused whole, named, and nothing is applied."""
    argv = [
        "puller",
        "--once",
        "--no-leader-elect",
        "--repo-url",
        remote.url,
        "--env",
        "dev",
        "--namespace",
        namespace,
        "--kubeconfig",
        str(control_plane.kubeconfig),
        "--listen",
        "127.0.0.1:0",
        "--no-wait",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    refused = CliRunner().invoke(cli, [*argv, "--max-objects", "2"])
    assert refused.exit_code == 1, refused.output
    assert _values(kube, namespace) == {}
    status = _status(kube, namespace)
    assert status["outcome"] == "failed"
    said = json.loads(status["history"])[-1]["message"]
    assert said.startswith("environment dev: more than 2 objects in one render"), said
    assert "--max-objects (GITOPS_BOT_MAX_OBJECTS) changes it" in said

    admitted = CliRunner().invoke(cli, [*argv, "--max-objects", "3"])
    assert admitted.exit_code == 0, admitted.output
    assert _values(kube, namespace) == {"cm-0": "1", "cm-1": "1", "cm-2": "1"}
