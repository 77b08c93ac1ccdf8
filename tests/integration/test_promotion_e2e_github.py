"""Promotion end to end, every part real but GitHub: a dev change is merged
on the GitHub emulator (whose commits and merges are real git objects in the
bare repository the puller fetches from); the puller applies dev to the
control plane and records a deployment; a scheduled `gitops-bot run` finds
dev healthy and opens the promotion pull request; its review shows prod's
plan and waits for an approval; the approval passes prod's policy and the bot
merges it (auto_merge); the puller applies prod. And an unhealthy dev blocks
the promotion with a clear status on its commit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gitops_bot.cli import cli
from gitops_bot.cluster.kube import Kube
from gitops_bot.forges.github.adapter import GitHub
from gitops_bot.puller.loop import Puller
from gitops_bot.puller.settings import ApplySettings
from gitops_bot.testing.binaries import Binaries
from tests.fakes.github_server import GitHubServer, checked
from tests.integration import pullerkit
from tests.integration.pullerkit import Remote
from tests.integration.test_policy_github import BOT, REPO, TOKEN, Bot

pytestmark = pytest.mark.usefixtures("tools_env")

APP = "envs/{env}/app.yaml"
BRANCH = "gitops-bot/promote/dev-to-prod"


def app(version: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "app"},
            "data": {"version": version},
        }
    )


def web() -> str:
    """A Deployment of one replica."""
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "example/web:1"}]},
                },
            },
        }
    )


@dataclass
class World:
    github: GitHubServer
    remote: Remote
    puller: Puller
    bot: Bot
    kube: Kube
    dev_ns: str
    prod_ns: str
    base: str

    def merge(self, files: dict[str, str | None], title: str, author: str = "alice") -> str:
        """A pull request with `files` opened by `author` and merged on GitHub; the
        merge commit."""
        branch = title.lower().replace(" ", "-")
        pullerkit.git(self.remote.work, "checkout", "-q", "-b", branch, "main")
        head = self.remote.commit(files, title)
        pullerkit.git(self.remote.work, "push", "-q", "origin", branch)
        pullerkit.git(self.remote.work, "checkout", "-q", "main")
        base = pullerkit.git(self.remote.work, "rev-parse", "main")
        self.github.mirror(REPO, branch, sha=head, parent=base)
        number = self.github.add_pull(REPO, title=title, author=author, head_ref=branch).number
        return self.forge().merge_pull(number, sha=head)

    def forge(self) -> GitHub:
        return GitHub(repo=REPO, token=TOKEN, base_url=self.github.url, bot_login=BOT)

    def checkout(self) -> None:
        """What actions/checkout gives the next job: main as GitHub has it now,
        and every branch fetched."""
        work = self.remote.work
        pullerkit.git(work, "fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*")
        pullerkit.git(work, "checkout", "-q", "main")
        pullerkit.git(work, "reset", "-q", "--hard", "origin/main")

    def scheduled(self) -> str:
        self.checkout()
        return self.bot.run("schedule", {"schedule": "*/10 * * * *"}, GITHUB_REF_NAME="main")

    def value(self, namespace: str) -> str:
        found = self.kube.get("v1", "ConfigMap", "app", namespace=namespace)
        assert found is not None
        return str(found["data"]["version"])

    def statuses(self, context: str) -> list[tuple[str, str, str]]:
        return [
            (s.sha, s.state, s.description or "")
            for s in self.github.repos[REPO].statuses
            if s.context == context
        ]

    def promotions(self) -> list[int]:
        return [
            p.number
            for p in self.github.repos[REPO].pulls.values()
            if p.head_ref == BRANCH and p.state == "open"
        ]


@pytest.fixture
def world(kube: Kube, namespace: str, tmp_path: Path, binaries: Binaries) -> Iterator[World]:
    prod_ns = f"{namespace}-prod"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": prod_ns}})
    remote = Remote(tmp_path / "repo")
    config = {
        "version": 1,
        "environments": {
            "dev": {"plain": "envs/dev", "namespace": namespace},
            "prod": {"plain": "envs/prod", "namespace": prod_ns, "policy": {"approvals": 1}},
        },
        "promotion": [
            {"from": "dev", "to": "prod", "copy": [APP], "auto_open": True, "auto_merge": True}
        ],
    }
    base = remote.commit(
        {
            ".gitops.yaml": yaml.safe_dump(config),
            APP.format(env="dev"): app("1.0"),
            APP.format(env="prod"): app("1.0"),
        },
        "base",
    )
    remote.push()
    with checked() as github:
        github.add_user(BOT, type="Bot", token=TOKEN)
        github.add_repo(REPO, files={"README.md": "x\n"})
        github.set_role(REPO, "alice", "write")
        github.set_role(REPO, "bob", "write")
        github.attach_git(REPO, remote.bare)
        github.mirror(REPO, "main", sha=base)
        puller = pullerkit.make(
            kube,
            remote,
            namespace=namespace,
            cache=tmp_path / "cache",
            binaries=binaries,
            envs=("dev", "prod"),
            apply=ApplySettings(wait=True, health_timeout_s=3),
        )
        puller.reporter.forge = GitHub(repo=REPO, token=TOKEN, base_url=github.url, bot_login=BOT)
        world = World(
            github,
            remote,
            puller,
            Bot(github, remote.work, tmp_path),
            kube,
            namespace,
            prod_ns,
            base,
        )
        assert puller.sync() == {"dev": "applied", "prod": "applied"}
        try:
            yield world
        finally:
            for env in ("dev", "prod"):
                watcher = puller.drift_watcher(env)
                if watcher is not None:
                    watcher.stop()
    kube.delete("v1", "Namespace", prod_ns)


def test_a_dev_change_reaches_prod_through_a_promotion_pull_request(world: World) -> None:
    merged = world.merge({APP.format(env="dev"): app("1.1")}, "dev 1.1")
    # The puller applies every environment at the new commit; prod's render is
    # the same, so it records no new deployment of prod.
    assert world.puller.sync() == {"dev": "applied", "prod": "applied"}
    assert world.value(world.dev_ns) == "1.1"
    assert [d.sha for d in world.github.repos[REPO].deployments] == [world.base, world.base, merged]

    out = world.scheduled()

    [promo] = world.promotions()
    assert f"promotion to prod: opened #{promo}" in out
    pull = world.github.repos[REPO].pulls[promo]
    assert (pull.author, pull.base_ref) == (BOT, "main")
    assert pull.title == f"Promote dev to prod ({merged[:12]})"
    assert "`dev` has been healthy since " in (pull.body or "")
    [(sha, state, why)] = world.statuses("gitops/promotion/prod")
    assert (sha, state) == (merged, "success")
    assert why.startswith(f"dev healthy at {merged[:12]} since ")
    assert world.value(world.prod_ns) == "1.0", "nothing reaches prod before the merge"

    world.checkout()
    world.bot.push(promo, "opened")
    comments = [c.body for c in world.github.comments_on(REPO, promo) if c.author == BOT]
    [plan] = [c for c in comments if "env=prod part=1/" in c]
    assert "-  version: '1.0'" in plan or '-  version: "1.0"' in plan
    assert world.bot.policy(promo)["prod"] == ("pending", "needs 1 more approval")
    assert world.scheduled().count(f"unchanged #{promo}") == 1, "a second run leaves it alone"
    assert world.github.repos[REPO].pulls[promo].head_sha == pull.head_sha

    out = world.bot.approve(promo, "bob")

    record = world.github.repos[REPO].pulls[promo]
    assert record.merged, out
    assert record.state == "closed"
    assert f"merged #{promo} (dev to prod, auto_merge)" in out
    assert world.puller.sync() == {"dev": "applied", "prod": "applied"}
    assert world.value(world.prod_ns) == "1.1"
    [*_, (sha, state, _)] = world.statuses("gitops/apply/prod")
    assert (sha, state) == (record.merge_commit_sha, "success")

    # The history, from the deployments and the pull requests.
    args = ["history", "--forge", "github", "--repo", REPO, "--api-url", world.github.url]
    result = CliRunner().invoke(
        cli, [*args, "--env", "prod", "--format", "json"], env={"GITOPS_BOT_TOKEN": TOKEN}
    )
    assert result.exit_code == 0, result.output
    newest, first = json.loads(result.output)
    assert {k: v for k, v in newest.items() if k != "since"} == {
        "env": "prod",
        "sha": record.merge_commit_sha,
        "state": "success",
        "pull": promo,
        "title": f"Promote dev to prod ({merged[:12]})",
        "author": BOT,
        "approved_by": ["bob"],
        "kind": "promotion",
        "origin": f"dev@{merged[:12]}",
    }
    assert (first["sha"], first["pull"], first["kind"]) == (world.base, None, "change")
    # And from Git: the promotion's commit says what it carried, from where.
    message = pullerkit.git(world.remote.bare, "log", "-1", "--format=%B", f"{sha}^2")
    assert f"Copied from dev at {merged}" in message


def test_an_unhealthy_dev_blocks_the_promotion_with_a_clear_status(world: World) -> None:
    # dev's namespace has no room for a pod: the Deployment never becomes available.
    world.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "full", "namespace": world.dev_ns},
            "spec": {"hard": {"pods": "0"}},
        }
    )
    broken = world.merge({APP.format(env="dev"): app("1.1"), "envs/dev/web.yaml": web()}, "dev web")
    assert world.puller.sync() == {"dev": "failed", "prod": "applied"}

    out = world.scheduled()

    assert world.promotions() == []
    [(sha, state, why)] = world.statuses("gitops/promotion/prod")
    assert (sha, state) == (broken, "failure")
    assert why.startswith(f"dev is not healthy at {broken[:12]}: applying to dev at {broken[:12]}")
    assert "not healthy within 3s" in why
    assert f"promotion to prod: dev is not healthy at {broken[:12]}: " in out
