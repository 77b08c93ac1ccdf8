"""Promotion on GitLab, as a scheduled pipeline runs it: `gitops-bot run` on
the GitLab emulator reads dev's newest deployment (recorded through the same
adapter the puller uses), shows the gate as a commit status and opens the
promotion merge request; an unhealthy dev blocks, and the merge request
already open stays as it was."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitops_bot.cli import cli
from gitops_bot.core.pr.model import DeploymentState
from gitops_bot.forges.gitlab.adapter import GitLab
from tests.fakes.gitlab_server import GitLabServer
from tests.integration.shop import git
from tests.integration.test_promotion_github import PROMOTE_BRANCH, VERSION, promoting

__all__ = ["promoting"]  # the fixture, shared with the GitHub tests

TOKEN = "glpat-promotion-canary-0123456789"
PROJECT = "acme/shop"
AUTO = (
    '\npromotion:\n  - {from: dev, to: prod, auto_open: true, soak: 1h, copy: ["'
    + VERSION
    + '"]}\n'
)

pytestmark = pytest.mark.usefixtures("tools_env")


@pytest.fixture
def server() -> Iterator[GitLabServer]:
    with GitLabServer() as srv:
        bot = srv.add_user("gitops-bot", bot=True, token=TOKEN)
        srv.add_project(PROJECT, files={"README.md": "mirrored\n"})
        srv.add_member(PROJECT, bot.username, 40)
        yield srv


def commit(server: GitLabServer, shop: Path, message: str) -> str:
    git(shop, "commit", "-qam", message)
    sha = git(shop, "rev-parse", "main").strip()
    server.mirror(PROJECT, "main", sha=sha)
    return sha


def release_to_dev(server: GitLabServer, shop: Path, version: str, state: DeploymentState) -> str:
    file = shop / VERSION.format(env="dev")
    file.write_text(re.sub(r"shop:[0-9.]+", f"shop:{version}", file.read_text()))
    sha = commit(server, shop, f"dev: shop {version}")
    forge = GitLab(project=PROJECT, token=TOKEN, url=server.url)
    forge.record_deployment("dev", sha, state, f"applied to dev at {sha[:12]}")
    return sha


def scheduled(server: GitLabServer, shop: Path) -> str:
    env = {
        "GITLAB_CI": "true",
        "CI_PROJECT_PATH": PROJECT,
        "CI_SERVER_URL": server.url,
        "CI_PROJECT_DIR": str(shop),
        "CI_COMMIT_BRANCH": "main",
        "CI_DEFAULT_BRANCH": "main",
        "CI_PIPELINE_SOURCE": "schedule",
        "GITOPS_BOT_TOKEN": TOKEN,
    }
    result = CliRunner().invoke(cli, ["run"], env=env)
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    return result.output


def gate(server: GitLabServer, sha: str) -> tuple[str, str]:
    [status] = [s for s in server.statuses(PROJECT, sha) if s.name == "gitops/promotion/prod"]
    return status.status, status.description or ""


def test_a_scheduled_pipeline_opens_the_promotion_and_an_unhealthy_dev_blocks_the_next(
    server: GitLabServer, shop: Path, promoting: str
) -> None:
    config = shop / ".gitops.yaml"
    config.write_text(config.read_text().split("\npromotion:\n")[0] + AUTO)
    commit(server, shop, "promote dev to prod on its own")
    healthy = release_to_dev(server, shop, "1.5.0", DeploymentState.SUCCESS)

    out = scheduled(server, shop)

    assert "promotion to prod: opened #1" in out
    mr = server.merge_request(PROJECT, 1)
    assert (mr.source_branch, mr.target_branch, mr.author.username) == (
        PROMOTE_BRANCH,
        "main",
        "gitops-bot",
    )
    assert mr.title == f"Promote dev to prod ({healthy[:12]})"
    prod = server.file(PROJECT, PROMOTE_BRANCH, VERSION.format(env="prod"))
    assert prod is not None
    assert "shop:1.5.0" in prod
    state, why = gate(server, healthy)
    assert state == "success"
    assert why.startswith(f"dev healthy at {healthy[:12]} since ")

    broken = release_to_dev(server, shop, "1.6.0", DeploymentState.FAILURE)
    out = scheduled(server, shop)

    # GitLab deployments carry no description: the gate names the commit only.
    assert gate(server, broken) == ("failed", f"dev is not healthy at {broken[:12]}")
    assert f"promotion to prod: dev is not healthy at {broken[:12]}" in out
    assert server.merge_request(PROJECT, 1).title == f"Promote dev to prod ({healthy[:12]})"
    prod = server.file(PROJECT, PROMOTE_BRANCH, VERSION.format(env="prod"))
    assert prod is not None
    assert "shop:1.5.0" in prod, "the open promotion still carries the healthy commit"
