"""Remote kustomize bases end to end: `gitops-bot plan` and the puller fetch
them from a real git server on 127.0.0.1, only when the base branch's
sources.allow (or the bot's --allow-source) admits it; a `?ref=` bump is
shown as the commit it moves to and affects exactly the environments that
use the base; a floating ref is the base branch's call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from gitops_bot.cli import cli
from gitops_bot.cluster.kube import Kube
from gitops_bot.render.fetch import SourcePolicy
from gitops_bot.testing.binaries import Binaries
from tests.integration import pullerkit
from tests.integration.gitserver import GitServer, gitserver
from tests.integration.pullerkit import Remote

__all__ = ["gitserver"]  # fixtures

pytestmark = pytest.mark.cluster

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  version: '{version}'\n"


def _config(namespace: str, allow: tuple[str, ...], *, floating: bool = False) -> str:
    envs: dict[str, Any] = {
        "dev": {"path": "envs/dev", "namespace": namespace},
        "prod": {"path": "envs/prod", "namespace": namespace},
    }
    if floating:
        envs["dev"]["policy"] = {"floating-sources": True}
    doc: dict[str, Any] = {"version": 1, "environments": envs}
    if allow:
        doc["sources"] = {"allow": list(allow)}
    return yaml.safe_dump(doc)


def _upstream(server: GitServer, version: str, tag: str) -> str:
    return server.repo(
        "org/platform",
        {
            "base/kustomization.yaml": "resources: [cm.yaml]\n",
            "base/cm.yaml": CM.format(name="platform", version=version),
        },
        tag=tag,
    )


def _env(ref: str, server: GitServer, prefix: str = "") -> str:
    named = f"namePrefix: {prefix}\n" if prefix else ""
    return f"{named}resources:\n- {server.url}org/platform.git//base?ref={ref}\n"


def _remote(
    tmp_path: Path, server: GitServer, namespace: str, *, allow: bool = True
) -> tuple[Remote, str, str]:
    """dev and prod use org/platform at v1; branch `change` bumps dev to v2."""
    v1 = _upstream(server, "1", "v1")
    v2 = _upstream(server, "2", "v2")
    remote = Remote(tmp_path / "git")
    remote.commit(
        {
            ".gitops.yaml": _config(namespace, (server.url + "org/",) if allow else ()),
            "envs/dev/kustomization.yaml": _env("v1", server),
            "envs/prod/kustomization.yaml": _env("v1", server, "prod-"),
        },
        "base",
    )
    remote.push()
    pullerkit.git(remote.work, "checkout", "-q", "-b", "change")
    remote.commit({"envs/dev/kustomization.yaml": _env("v2", server)}, "bump the platform")
    pullerkit.git(remote.work, "checkout", "-q", "main")
    return remote, v1, v2


def _plan(remote: Remote, binaries: Binaries, cache: Path, *more: str) -> Result:
    return CliRunner().invoke(
        cli,
        [
            "plan",
            *("--repo", str(remote.work), "--base", "main", "--head", "change"),
            *("--format", "json", "--source-cache", str(cache)),
            *("--helm", binaries.path("helm"), "--kustomize", binaries.path("kustomize")),
            *more,
        ],
    )


def test_a_ref_bump_is_shown_as_the_commit_it_moves_to_for_the_environment_using_it(
    gitserver: GitServer, binaries: Binaries, tmp_path: Path
) -> None:
    remote, v1, v2 = _remote(tmp_path, gitserver, "shop")

    result = _plan(remote, binaries, tmp_path / "cache")

    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    (dev,) = report["environments"]  # prod does not use the bumped ref
    assert dev["name"] == "dev"
    assert [s["name"] for s in report["skipped"]] == ["prod"]
    assert dev["error"] is None
    (change,) = [c for c in dev["changes"] if c["action"] != "unchanged"]
    assert change["key"]["name"] == "platform"
    assert "-  version: '1'\n+  version: '2'" in change["diff"]
    (source,) = dev["sources"]
    assert (source["chart"], source["name"], source["changed"]) == (
        "envs/dev",
        "org/platform.git//base",
        True,
    )
    assert source["after"]["repository"] == f"{gitserver.url}org/platform.git"
    assert (source["before"]["version"], source["before"]["digest"]) == ("v1", f"commit:{v1}")
    assert (source["after"]["version"], source["after"]["digest"]) == ("v2", f"commit:{v2}")

    text = _plan(remote, binaries, tmp_path / "cache", "--format", "text")
    assert f"org/platform.git//base of envs/dev from {gitserver.url}org/platform.git" in text.output
    assert f"v1 (commit:{v1[:12]}) -> v2 (commit:{v2[:12]})" in text.output


def test_floating_refs_are_the_base_branchs_call(
    gitserver: GitServer, binaries: Binaries, tmp_path: Path
) -> None:
    remote, _, _ = _remote(tmp_path, gitserver, "shop")
    pullerkit.git(remote.work, "checkout", "-q", "change")
    remote.commit(
        {
            ".gitops.yaml": _config("shop", (gitserver.url + "org/",), floating=True),
            "envs/dev/kustomization.yaml": _env("main", gitserver),
        },
        "follow main, and allow it",
    )
    pullerkit.git(remote.work, "checkout", "-q", "main")

    refused = _plan(remote, binaries, tmp_path / "cache", "--env", "dev")
    assert refused.exit_code == 2, refused.output
    (dev,) = json.loads(refused.output)["environments"]
    assert "main is a floating reference" in dev["error"]
    assert "policy.floating-sources: true" in dev["error"]

    remote.commit(
        {".gitops.yaml": _config("shop", (gitserver.url + "org/",), floating=True)}, "allow"
    )
    pullerkit.git(remote.work, "checkout", "-q", "change")
    pullerkit.git(remote.work, "merge", "-q", "main", "-m", "take main")  # now the base allows
    pullerkit.git(remote.work, "checkout", "-q", "main")
    allowed = _plan(remote, binaries, tmp_path / "cache", "--env", "dev")
    assert allowed.exit_code == 1, allowed.output
    (dev,) = json.loads(allowed.output)["environments"]
    assert dev["sources"][0]["after"]["version"] == "main"


def test_a_remote_the_base_branch_does_not_allow_is_refused(
    gitserver: GitServer, binaries: Binaries, tmp_path: Path
) -> None:
    remote, _, _ = _remote(tmp_path, gitserver, "shop", allow=False)

    result = _plan(remote, binaries, tmp_path / "cache")

    assert result.exit_code == 2, result.output
    (dev,) = json.loads(result.output)["environments"]
    assert "is not in the allow-list" in dev["error"]
    assert "sources.allow" in dev["error"]
    assert gitserver.fetches() == []
    allowed = _plan(remote, binaries, tmp_path / "cache", "--allow-source", gitserver.url)
    assert allowed.exit_code == 1, allowed.output


def test_the_puller_applies_the_planned_commit_and_then_has_nothing_to_do(
    kube: Kube, namespace: str, gitserver: GitServer, binaries: Binaries, tmp_path: Path
) -> None:
    remote, _, _ = _remote(tmp_path, gitserver, namespace)
    puller = pullerkit.make(
        kube,
        remote,
        namespace=namespace,
        cache=tmp_path / "puller",
        binaries=binaries,
        envs=("dev", "prod"),
    )
    puller.sources = SourcePolicy(cache=tmp_path / "cache")

    assert puller.sync() == {"dev": "applied", "prod": "applied"}
    platform = kube.get("v1", "ConfigMap", "platform", namespace=namespace)
    assert platform is not None
    assert platform["data"]["version"] == "1"

    pullerkit.git(remote.work, "merge", "-q", "--ff-only", "change")
    remote.push()
    assert puller.sync() == {"dev": "applied", "prod": "applied"}  # a new commit: both synced
    platform = kube.get("v1", "ConfigMap", "platform", namespace=namespace)
    prod = kube.get("v1", "ConfigMap", "prod-platform", namespace=namespace)
    assert platform is not None
    assert prod is not None
    assert (platform["data"]["version"], prod["data"]["version"]) == ("2", "1")
    assert puller.sync() == {"dev": "unchanged", "prod": "unchanged"}
