"""`gitops-bot plan` end to end: a real git repository made from examples/shop,
the real kustomize and helm, and (for --live) the real control plane."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from gitops_bot.cli import cli
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.repo import config
from gitops_bot.core.report import json as report_json
from gitops_bot.testing.binaries import Binaries
from gitops_bot.testing.cluster import LocalControlPlane
from tests.integration.shop import NEW_PASSWORD, OLD_PASSWORD, SHOP, edit, git


def plan(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["plan", "--repo", str(repo), "--base", "main", "--head", "change", *args]
    )


def envs_of(result: Result) -> dict[str, Any]:
    doc = json.loads(result.output)
    return {e["name"]: e for e in doc["environments"]}


def changes(env: dict[str, Any], section: str = "changes") -> dict[str, str]:
    return {
        f"{c['key']['kind']} {c['key']['namespace']}/{c['key']['name']}": c["action"]
        for c in env[section]
        if c["action"] != "unchanged"
    }


@pytest.mark.usefixtures("tools_env")
def test_offline_plan_shows_only_what_the_change_does(shop: Path) -> None:
    result = plan(shop, "--format", "json")

    assert result.exit_code == 1, result.output  # 1: there are changes
    doc = json.loads(result.output)
    assert doc["skipped"] == [{"name": "platform", "reason": "no file it reads changed"}]
    envs = envs_of(result)
    assert set(envs) == {"dev", "prod", "cache-prod"}
    assert changes(envs["dev"]) == {"Deployment shop-dev/shop": "update"}
    assert changes(envs["prod"]) == {
        "Deployment shop-prod/shop": "update",
        "Secret shop-prod/db-credentials": "update",
    }
    assert changes(envs["cache-prod"]) == {"Deployment shop-prod/cache": "update"}
    image = next(c for c in envs["dev"]["changes"] if c["key"]["kind"] == "Deployment")
    assert [line for line in image["diff"].splitlines() if line[:1] in "+-"][2:] == [
        "-        image: ghcr.io/example/shop:1.4.0",
        "+        image: ghcr.io/example/shop:1.5.0",
    ]
    secret = next(c for c in envs["prod"]["changes"] if c["key"]["kind"] == "Secret")
    assert secret["secret_keys"] == {"added": [], "changed": ["password"], "removed": []}


@pytest.mark.usefixtures("tools_env")
@pytest.mark.parametrize("fmt", ["json", "markdown", "text"])
def test_no_format_ever_shows_a_secret_value(shop: Path, fmt: str) -> None:
    result = plan(shop, "--format", fmt)

    assert result.exit_code == 1, result.output
    for value in (OLD_PASSWORD, NEW_PASSWORD):
        assert value not in result.output
    assert "password" in result.output  # the key is named


@pytest.mark.usefixtures("tools_env")
def test_markdown_has_one_marked_comment_per_environment(shop: Path) -> None:
    result = plan(shop, "--format", "markdown")

    assert result.exit_code == 1
    for env in ("dev", "prod", "cache-prod"):
        assert f"<!-- gitops-bot:plan env={env} part=1/1 -->" in result.output


@pytest.mark.usefixtures("tools_env")
def test_no_change_exits_0_and_a_bad_ref_exits_2(shop: Path) -> None:
    same = CliRunner().invoke(
        cli, ["plan", "--repo", str(shop), "--base", "main", "--head", "main", "--format", "json"]
    )
    assert same.exit_code == 0, same.output
    assert json.loads(same.output)["environments"] == []

    bad = CliRunner().invoke(
        cli, ["plan", "--repo", str(shop), "--base", "main", "--head", "no-such-branch"]
    )
    assert bad.exit_code != 0
    assert "resolving 'no-such-branch': no such commit" in str(bad.exception)


@pytest.mark.usefixtures("tools_env")
def test_a_broken_environment_is_reported_and_the_others_still_planned(shop: Path) -> None:
    git(shop, "checkout", "-q", "change")
    (shop / "deploy/overlays/dev/kustomization.yaml").write_text("resources: [missing.yaml]\n")
    git(shop, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "break")

    result = plan(shop, "--format", "json")

    assert result.exit_code == 2, result.output
    envs = envs_of(result)
    assert envs["dev"]["error"].startswith("rendering dev: ")
    assert envs["prod"]["error"] is None
    assert changes(envs["prod"])  # still planned


@pytest.mark.usefixtures("tools_env")
def test_a_base_that_does_not_render_is_named_as_the_base(shop: Path) -> None:
    (shop / "deploy/overlays/dev/kustomization.yaml").write_text("resources: [missing.yaml]\n")
    git(shop, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "broken")
    git(shop, "checkout", "-q", "-b", "fix")
    edit(shop, "deploy/overlays/dev/kustomization.yaml", "missing.yaml", "../../base")
    git(shop, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "fix")

    result = CliRunner().invoke(
        cli,
        [
            "plan",
            "--repo",
            str(shop),
            "--base",
            "main",
            "--head",
            "fix",
            "--env",
            "dev",
            "--format",
            "json",
        ],
    )

    assert result.exit_code == 2, result.output
    error = envs_of(result)["dev"]["error"]
    assert error.startswith("at the merge base, not in this change: rendering dev: ")


@pytest.mark.k8s_smoke
@pytest.mark.usefixtures("tools_env")
def test_live_plan_separates_the_change_from_drift_and_names_who_drifted(
    live_shop: tuple[Path, Kube], own_control_plane: LocalControlPlane, binaries: Binaries
) -> None:
    shop, _kube = live_shop
    # Someone scales the dev Deployment by hand: kubectl writes through /scale.
    subprocess.run(
        [binaries.path("kubectl"), "-n", "shop-dev", "scale", "deploy/shop", "--replicas=4"],
        check=True,
        capture_output=True,
        env={**os.environ, **own_control_plane.env()},
    )

    result = plan(shop, "--live", "--format", "json")

    assert result.exit_code == 1, result.output
    envs = envs_of(result)
    assert changes(envs["dev"], "live") == {"Deployment shop-dev/shop": "update"}
    assert [(d["key"]["name"], d["path"], d["manager"]) for d in envs["dev"]["drift"]] == [
        ("shop", ".spec.replicas", "kubectl (via scale)")
    ]
    assert envs["prod"]["drift"] == []
    assert changes(envs["prod"], "live") == {
        "Deployment shop-prod/shop": "update",
        "Secret shop-prod/db-credentials": "update",
    }
    for value in (OLD_PASSWORD, NEW_PASSWORD):
        assert value not in result.output
    # A real live plan (drift, Secrets, origins) reads back exactly, as the
    # puller's answer does: the same bytes again from the Plan read.
    read = report_json.parse(result.output)
    assert read.envs[0].drift_known
    assert report_json.render(read) == result.output

    # Declared the cluster's (an autoscaler's), replicas are neither drift nor change.
    git(shop, "checkout", "-q", "change")
    edit(
        shop,
        "deploy/base/deployment.yaml",
        "  name: shop\n",
        "  name: shop\n  annotations: {gitops-bot.io/ignore-fields: spec.replicas}\n",
    )
    edit(shop, "deploy/base/deployment.yaml", "replicas: 1", "replicas: 2")
    git(shop, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "hpa")
    git(shop, "checkout", "-q", "main")

    ignored = envs_of(plan(shop, "--live", "--env", "dev", "--format", "json"))["dev"]
    assert ignored["drift"] == []
    web = next(
        c
        for c in ignored["live"]
        if c["key"]["name"] == "shop" and c["key"]["kind"] == "Deployment"
    )
    assert [line for line in web["diff"].splitlines() if "replicas:" in line] == []
    assert "gitops-bot.io/ignore-fields" in web["diff"]
    offline = next(
        c
        for c in ignored["changes"]
        if c["key"]["name"] == "shop" and c["key"]["kind"] == "Deployment"
    )
    assert [line for line in offline["diff"].splitlines() if "replicas:" in line] == []


@pytest.mark.k8s_smoke
@pytest.mark.usefixtures("tools_env")
def test_live_plan_shows_what_the_puller_would_prune(live_shop: tuple[Path, Kube]) -> None:
    shop, _kube = live_shop
    git(shop, "checkout", "-q", "change")
    git(shop, "rm", "-q", "deploy/base/service.yaml")
    edit(shop, "deploy/base/kustomization.yaml", "  - service.yaml\n", "")
    git(shop, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "rm svc")

    result = plan(shop, "--live", "--env", "dev", "--format", "json")

    envs = envs_of(result)
    assert changes(envs["dev"])["Service shop-dev/shop"] == "delete"
    assert changes(envs["dev"], "live")["Service shop-dev/shop"] == "delete"


def test_yaml_sample_is_valid_config() -> None:
    cfg = config.parse((SHOP / ".gitops.yaml").read_text())
    assert [e.name for e in cfg.environments] == ["platform", "dev", "prod", "cache-prod"]
    assert yaml.safe_load((SHOP / "envs/prod/cache-values.yaml").read_text())["replicas"] == 2
