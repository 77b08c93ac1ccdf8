"""Remote chart dependencies end to end: `gitops-bot plan` and the puller fetch
them from a real chart repository on 127.0.0.1, only when the base branch's
sources.allow (or the bot's --allow-source) admits it, and render offline.
"""

from __future__ import annotations

import json
import textwrap
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
from tests.integration.chartrepo import APP_TEMPLATE, ChartRepo, packaged, repo
from tests.integration.pullerkit import Remote

__all__ = ["packaged", "repo"]  # fixtures

pytestmark = pytest.mark.cluster


def _config(namespace: str, allow: tuple[str, ...]) -> str:
    doc: dict[str, Any] = {
        "version": 1,
        "environments": {"dev": {"helm": {"chart": "deploy/app"}, "namespace": namespace}},
    }
    if allow:
        doc["sources"] = {"allow": list(allow)}
    return yaml.safe_dump(doc)


def _chart(version: str, repository: str) -> dict[str, str]:
    return {
        "deploy/app/Chart.yaml": (
            "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
            f'- name: redis\n  version: "{version}"\n  repository: "{repository}"\n'
        ),
        "deploy/app/templates/cm.yaml": textwrap.dedent(APP_TEMPLATE),
    }


def _remote(tmp_path: Path, repo: ChartRepo, namespace: str, *, allow: bool) -> tuple[Remote, str]:
    """main uses redis 1.0.0 from the chart repository; branch `change` bumps it to 1.1.0."""
    remote = Remote(tmp_path / "git")
    remote.commit(
        {
            ".gitops.yaml": _config(namespace, (repo.url,) if allow else ()),
            **_chart("1.0.0", repo.url),
        },
        "base",
    )
    remote.push()
    pullerkit.git(remote.work, "checkout", "-q", "-b", "change")
    head = remote.commit(_chart("1.1.0", repo.url), "bump redis")
    pullerkit.git(remote.work, "checkout", "-q", "main")
    return remote, head


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


def test_plan_fetches_an_allowed_chart_dependency_and_shows_the_bump(
    repo: ChartRepo, binaries: Binaries, tmp_path: Path
) -> None:
    remote, _ = _remote(tmp_path, repo, "shop", allow=True)

    result = _plan(remote, binaries, tmp_path / "cache")

    assert result.exit_code == 1, result.output
    (dev,) = json.loads(result.output)["environments"]
    assert dev["error"] is None
    (change,) = [c for c in dev["changes"] if c["action"] != "unchanged"]
    assert change["key"]["name"] == "dev-redis"
    assert "-  version: 1.0.0\n+  version: 1.1.0" in change["diff"]
    archives = sorted(p.name for p in (tmp_path / "cache" / "sha256").iterdir())
    assert len(archives) == 2  # both versions, by digest
    (source,) = dev["sources"]
    assert (source["chart"], source["name"], source["changed"]) == ("deploy/app", "redis", True)
    assert (source["before"]["version"], source["after"]["version"]) == ("1.0.0", "1.1.0")
    assert {source["before"]["digest"], source["after"]["digest"]} == {
        f"sha256:{name.removesuffix('.tgz')}" for name in archives
    }
    fetched = len(repo.archive_requests())

    again = _plan(remote, binaries, tmp_path / "cache", "--format", "text")
    assert again.exit_code == 1, again.output
    assert len(repo.archive_requests()) == fetched, "the second plan used the cache"
    assert f"redis of deploy/app from {repo.url}: 1.0.0 (sha256:" in again.output
    assert "(changed)" in again.output


def test_a_source_the_base_branch_does_not_allow_is_refused_even_if_the_change_allows_it(
    repo: ChartRepo, binaries: Binaries, tmp_path: Path
) -> None:
    remote, _ = _remote(tmp_path, repo, "shop", allow=False)
    pullerkit.git(remote.work, "checkout", "-q", "change")
    remote.commit({".gitops.yaml": _config("shop", (repo.url,))}, "let me in")
    pullerkit.git(remote.work, "checkout", "-q", "main")

    result = _plan(remote, binaries, tmp_path / "cache")

    assert result.exit_code == 2, result.output
    (dev,) = json.loads(result.output)["environments"]
    assert "sources.allow" in dev["error"]
    assert repo.url.rstrip("/") in dev["error"]
    assert repo.archive_requests() == []

    # The bot's own flag admits it: an operator's decision, not the change's.
    allowed = _plan(remote, binaries, tmp_path / "cache", "--allow-source", repo.url)
    assert allowed.exit_code == 1, allowed.output


def test_the_puller_applies_what_was_planned_with_the_same_fetcher(
    kube: Kube, namespace: str, repo: ChartRepo, binaries: Binaries, tmp_path: Path
) -> None:
    remote, _ = _remote(tmp_path, repo, namespace, allow=True)
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "puller", binaries=binaries
    )
    puller.sources = SourcePolicy(cache=tmp_path / "cache")

    assert puller.sync() == {"dev": "applied"}
    redis = kube.get("v1", "ConfigMap", "dev-redis", namespace=namespace)
    assert redis is not None
    assert redis["data"]["version"] == "1.0.0"

    # A planned bump, merged, is applied as planned; then nothing is left to do.
    pullerkit.git(remote.work, "merge", "-q", "--ff-only", "change")
    remote.push()
    assert puller.sync() == {"dev": "applied"}
    redis = kube.get("v1", "ConfigMap", "dev-redis", namespace=namespace)
    assert redis is not None
    assert redis["data"]["version"] == "1.1.0"
    assert puller.sync() == {"dev": "unchanged"}
