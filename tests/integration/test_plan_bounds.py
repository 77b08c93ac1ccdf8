"""`gitops-bot plan` stops an environment whose parse or diff goes past the
bot's own bounds, with an error that names the environment, the bound, the
setting that changes it and how far the work got; the other environments
are still planned. Time is moved by hand (an injected clock), never waited for."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitops_bot.cli import cli
from gitops_bot.core.repo import bounds
from gitops_bot.planner import plan as plan_app
from gitops_bot.render.render import Tools
from gitops_bot.testing.binaries import Binaries
from gitops_bot.vcs.git import Git
from tests.integration.shop import git

CONFIG = """\
version: 1
environments:
  big:
    plain: big
    namespace: big
  small:
    plain: small
    namespace: small
"""


def _configmaps(count: int, value: str) -> str:
    return "".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:03d}\ndata:\n"
        f"  v: {value}\n"
        for i in range(count)
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """`big` (30 ConfigMaps) and `small` (2), both changed on branch `change`."""
    root = tmp_path / "repo"
    (root / "big").mkdir(parents=True)
    (root / "small").mkdir()
    (root / ".gitops.yaml").write_text(CONFIG)
    git(root, "init", "-q", "-b", "main")
    for branch, value in (("main", "a"), ("change", "b")):
        if branch == "change":
            git(root, "checkout", "-q", "-b", "change")
        (root / "big/all.yaml").write_text(_configmaps(30, value))
        (root / "small/all.yaml").write_text(_configmaps(2, value))
        git(root, "add", "-A")
        git(root, "commit", "-qm", branch)
    git(root, "checkout", "-q", "main")
    return root


def plan(repo: Path, *args: str) -> Result:
    head = ["plan", "--repo", str(repo), "--base", "main", "--head", "change"]
    return CliRunner().invoke(cli, [*head, "--format", "json", *args])


def errors(result: Result) -> dict[str, str | None]:
    return {e["name"]: e["error"] for e in json.loads(result.output)["environments"]}


@pytest.mark.usefixtures("tools_env")
def test_more_objects_than_the_limit_stops_that_environment_only(repo: Path) -> None:
    result = plan(repo, "--max-objects", "20")

    assert result.exit_code == 2, result.output
    assert errors(result) == {
        "big": "environment big: more than 20 objects in one render (the bot's limit per "
        f"environment; {bounds.MAX_OBJECTS_SETTING} changes it); stopped parsing "
        "big/all.yaml at document 21, after 20 objects",
        "small": None,
    }


@pytest.mark.usefixtures("tools_env")
def test_the_limit_comes_from_the_environment_variable_too(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_BOT_MAX_OBJECTS", "30")
    assert plan(repo).exit_code == 1  # 30 objects: within the limit; changes
    monkeypatch.setenv("GITOPS_BOT_MAX_OBJECTS", "29")
    assert "more than 29 objects" in str(errors(plan(repo))["big"])


@pytest.mark.usefixtures("tools_env")
def test_a_plan_timeout_stops_every_environment_with_a_clear_error(repo: Path) -> None:
    result = plan(repo, "--plan-timeout", "0", "--format", "text")

    assert result.exit_code == 2, result.output
    for env in ("big", "small"):
        assert (
            f"error: environment {env}: took longer than 0 s (the bot's time limit per "
            f"environment; {bounds.TIMEOUT_SETTING} changes it); stopped parsing "
            f"{env}/all.yaml at document 1, after 0 objects"
        ) in result.output


@pytest.mark.usefixtures("tools_env")
def test_a_bad_setting_is_refused_by_the_cli(repo: Path) -> None:
    result = plan(repo, "--max-objects", "0")
    assert result.exit_code == 2
    assert "--max-objects" in result.output


def test_the_deadline_stops_the_diff_and_says_how_far_it_got(
    repo: Path, binaries: Binaries
) -> None:
    # Each read of the clock is one second later: the meter reads it once at
    # the start, parsing `big` 30 times per render (each document), the diff
    # once per object; so 80 s run out at the 20th object.
    ticks = itertools.count()
    result = plan_app.plan(
        repo=Git(repo),
        request=plan_app.Request(base="main", head="change", envs=("big",)),
        tools=Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize")),
        mask_key=b"k" * 32,
        bounds=bounds.Bounds(timeout_s=80, clock=lambda: float(next(ticks))),
    )
    (env,) = result.envs
    assert env.error is not None
    assert env.error.startswith("environment big: took longer than 80 s")
    assert env.error.endswith("stopped diffing ConfigMap big/cm-019, after 19 of 30 objects")
