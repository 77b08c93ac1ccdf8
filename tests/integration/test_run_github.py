"""`gitops-bot run` as GitHub Actions starts it, end to end: a pull request on
the GitHub emulator (every exchange checked against GitHub's OpenAPI
description) whose commits are those of a real git repository, rendered by
the real kustomize and helm. Golden file: tests/golden/run_prod_comment.md
(rewrite with UPDATE_GOLDEN=1, then review the diff)."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitops_bot.cli import cli
from gitops_bot.render import sandbox
from tests.fakes.github_server import GitHubServer, checked
from tests.integration.shop import NEW_PASSWORD, OLD_PASSWORD, edit, git, tenants

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "run_prod_comment.md"
# prod needs an approval from @acme/sre (examples/shop/.gitops.yaml, read from main).
PROD_PENDING = "needs 1 more approval from @acme/sre"
TOKEN = "ghs_canary_token_0123456789"
REPO = "acme/shop"


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with checked() as srv:
        srv.add_user("gitops-bot[bot]", type="Bot", token=TOKEN)
        srv.add_repo(REPO, files={"README.md": "mirrored from a real git repository\n"})
        yield srv


def mirror(server: GitHubServer, shop: Path) -> int:
    """The shop's main and change branches on the emulator, and a PR between them."""
    base = git(shop, "rev-parse", "main").strip()
    head = git(shop, "rev-parse", "change").strip()
    server.mirror(REPO, "main", sha=base)
    server.mirror(REPO, "change", sha=head, parent=base)
    return server.add_pull(REPO, title="Bump the shop", author="alice", head_ref="change").number


def run_as_actions(
    shop: Path, server: GitHubServer, tmp_path: Path, action: str, **more: str
) -> Result:
    pull = server.repos[REPO].pulls[1]
    event = tmp_path / f"event-{action}.json"
    event.write_text(
        json.dumps(
            {
                "action": action,
                "number": pull.number,
                "pull_request": {"number": pull.number, "head": {"sha": pull.head_sha}},
                "repository": {"full_name": REPO},
                "sender": {"login": "alice"},
            }
        )
    )
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": server.url,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_WORKSPACE": str(shop),
        "GITOPS_BOT_LOGIN": "gitops-bot[bot]",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        **more,
    }
    return CliRunner().invoke(cli, ["run"], env=env)


def comments(server: GitHubServer) -> dict[str, tuple[int, str]]:
    """env -> (comment id, body) of the bot's comments."""
    found = {}
    for c in server.comments_on(REPO, 1):
        env = re.search(r"gitops-bot:plan env=([\w-]+) part=1/1", c.body)
        assert env, c.body[:200]
        found[env[1]] = (c.id, c.body)
    return found


def statuses(server: GitHubServer, sha: str) -> dict[str, tuple[str, str | None]]:
    return {
        s.context: (s.state, s.description) for s in server.repos[REPO].statuses if s.sha == sha
    }


@pytest.mark.usefixtures("tools_env")
def test_a_pull_request_gets_one_comment_and_one_status_per_environment(
    shop: Path, server: GitHubServer, tmp_path: Path
) -> None:
    mirror(server, shop)

    result = run_as_actions(shop, server, tmp_path, "opened")

    assert result.exit_code == 0, result.output
    assert result.output == "gitops-bot: acme/shop#1: 3 comment(s) and 7 status(es) written\n"
    # The action's outputs and the job summary.
    output = (tmp_path / "output").read_text()
    assert "has-changes=true\n" in output
    delimiter = re.search(r"^summary<<(\S+)$", output, re.MULTILINE)
    assert delimiter, output
    summary = output.split(f"summary<<{delimiter[1]}\n")[1].split(f"\n{delimiter[1]}\n")[0]
    assert "prod" in summary
    assert (tmp_path / "summary.md").read_text().strip() == summary.strip()
    written = comments(server)
    assert set(written) == {"dev", "prod", "cache-prod"}
    prod = re.sub(r"<secret sha256:[0-9a-f]{8}>", "<secret sha256:…>", written["prod"][1])
    # The state block records when the head was planned: the one part that moves.
    prod = re.sub(r"<!-- gitops-bot:state v1 \S+ -->", "<!-- gitops-bot:state v1 … -->", prod)
    # The sandbox's isolation is this machine's (a network namespace or not).
    prod = prod.replace(f"sandbox: {sandbox.isolation()}", "sandbox: …")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(prod)
    assert prod == GOLDEN.read_text()
    head = server.repos[REPO].pulls[1].head_sha
    assert statuses(server, head) == {
        "gitops/plan/dev": ("success", "1 to update"),
        "gitops/plan/prod": ("success", "2 to update"),
        "gitops/plan/cache-prod": ("success", "1 to update"),
        "gitops/policy/dev": ("success", "the policy needs no approval"),
        "gitops/policy/prod": ("pending", PROD_PENDING),
        "gitops/policy/cache-prod": ("success", "the policy needs no approval"),
        "gitops": ("pending", "waiting: prod; changes: dev, prod, cache-prod; 1 not affected"),
    }
    everything = "\n".join(
        [
            result.output,
            *(c.body for c in server.comments_on(REPO, 1)),
            *(str(s) for s in server.repos[REPO].statuses),
            *server.log,
        ]
    )
    for secret in (OLD_PASSWORD, NEW_PASSWORD, TOKEN):
        assert secret not in everything


@pytest.mark.usefixtures("tools_env")
def test_a_second_push_edits_the_same_comments(
    shop: Path, server: GitHubServer, tmp_path: Path
) -> None:
    mirror(server, shop)
    assert run_as_actions(shop, server, tmp_path, "opened").exit_code == 0
    first = comments(server)

    git(shop, "checkout", "-q", "change")
    edit(shop, "deploy/base/deployment.yaml", "shop:1.5.0", "shop:1.5.1")
    git(shop, "commit", "-qam", "1.5.1")
    new_head = git(shop, "rev-parse", "HEAD").strip()
    server.mirror(REPO, "change", sha=new_head, parent=server.repos[REPO].pulls[1].head_sha)
    server.repos[REPO].pulls[1].head_sha = new_head
    before = len(server.log)

    result = run_as_actions(shop, server, tmp_path, "synchronize")

    assert result.exit_code == 0, result.output
    second = comments(server)
    assert {env: cid for env, (cid, _) in second.items()} == {
        env: cid for env, (cid, _) in first.items()
    }
    assert "shop:1.5.1" in second["dev"][1]
    assert "shop:1.5.1" not in first["dev"][1]
    calls = server.log[before:]
    # The whole API bill of an update touching three environments (docs/forges-github.md):
    # the pull request read twice (before planning, and to see the head did not move),
    # the comments listed once, the reviews once (prod's rules use them), prod's lock
    # confirmed (ref + tag), each comment edited in place, and a plan and a policy
    # status per environment plus the summary. Nothing is created but statuses.
    kinds = Counter(re.sub(r"/[0-9a-f]{40}$|/\d+$", "/…", c) for c in calls)
    assert kinds == Counter(
        {
            "GET /repos/acme/shop/pulls/…": 2,
            "GET /repos/acme/shop/issues/1/comments": 1,
            "GET /repos/acme/shop/pulls/1/reviews": 1,
            "GET /repos/acme/shop/git/ref/gitops-bot/locks/prod": 1,
            "GET /repos/acme/shop/git/tags/…": 1,
            "PATCH /repos/acme/shop/issues/comments/…": 3,
            "POST /repos/acme/shop/statuses/…": 7,
        }
    ), calls
    assert not [c for c in calls if c.startswith("POST") and "/comments" in c]
    assert statuses(server, new_head)["gitops/plan/dev"] == ("success", "1 to update")


@pytest.mark.usefixtures("tools_env")
def test_the_bots_own_bounds_apply_in_ci_and_the_comment_says_which(
    shop: Path, server: GitHubServer, tmp_path: Path
) -> None:
    mirror(server, shop)

    # dev and prod render 3 objects each (a Deployment, a Service, a
    # generated ConfigMap; prod also a Secret): over a limit of 3, prod is not.
    result = run_as_actions(shop, server, tmp_path, "opened", GITOPS_BOT_MAX_OBJECTS="3")

    assert result.exit_code == 2, result.output
    prod = comments(server)["prod"][1]
    assert "environment prod: more than 3 objects in one render" in prod
    assert "--max-objects (GITOPS_BOT_MAX_OBJECTS) changes it" in prod
    head = server.repos[REPO].pulls[1].head_sha
    assert statuses(server, head)["gitops/plan/prod"][0] == "failure"
    assert statuses(server, head)["gitops/plan/dev"] == ("success", "1 to update")


@pytest.mark.usefixtures("tools_env")
def test_a_review_parses_the_base_configuration_once(
    shop: Path, server: GitHubServer, tmp_path: Path, config_reads: Counter[str]
) -> None:
    """The base branch's .gitops.yaml is read and parsed once per event, however
    many parts of the review (the plan's merge base, the gate's policies) need it."""
    mirror(server, shop)
    base = server.repos[REPO].pulls[1].base_sha
    result = run_as_actions(shop, server, tmp_path, "opened")

    assert result.exit_code == 0, result.output
    assert config_reads[base] == 1, config_reads


@pytest.mark.usefixtures("tools_env")
def test_shards_plan_their_share_and_the_summary_job_computes_the_summary_once(
    shop: Path, server: GitHubServer, tmp_path: Path
) -> None:
    mirror(server, shop)
    head = server.repos[REPO].pulls[1].head_sha
    unsharded = {  # what one job writes (test_a_pull_request_gets_one_comment...)
        "gitops": ("pending", "waiting: prod; changes: dev, prod, cache-prod; 1 not affected")
    }

    # cache-prod, dev, prod are affected: sorted, shard 1/2 plans cache-prod and prod.
    first = run_as_actions(shop, server, tmp_path, "opened", GITOPS_BOT_SHARD="1/2")

    assert first.exit_code == 0, first.output
    assert set(comments(server)) == {"cache-prod", "prod"}
    assert set(statuses(server, head)) == {
        "gitops/plan/cache-prod",
        "gitops/plan/prod",
        "gitops/policy/cache-prod",
        "gitops/policy/prod",
    }

    # The summary job before shard 2 reported: dev counts as failed.
    early = run_as_actions(shop, server, tmp_path, "opened", GITOPS_BOT_SUMMARIZE="true")

    assert early.exit_code == 0, early.output
    assert statuses(server, head)["gitops"] == (
        "failure",
        "not planned by any shard: dev; waiting: prod; changes: prod, cache-prod; 1 not affected",
    )

    second = run_as_actions(shop, server, tmp_path, "opened", GITOPS_BOT_SHARD="2/2")
    assert second.exit_code == 0, second.output
    assert set(comments(server)) == {"cache-prod", "dev", "prod"}
    assert statuses(server, head)["gitops/plan/dev"] == ("success", "1 to update")
    assert statuses(server, head)["gitops"][0] == "failure"  # a shard writes no summary

    summary = run_as_actions(shop, server, tmp_path, "opened", GITOPS_BOT_SUMMARIZE="true")

    assert summary.exit_code == 0, summary.output
    assert summary.output == "gitops-bot: acme/shop#1: 0 comment(s) and 1 status(es) written\n"
    assert {"gitops": statuses(server, head)["gitops"]} == unsharded


def _plan_comments(server: GitHubServer) -> dict[str, str]:
    """marker name (an environment, or *first of a group) -> body."""
    found = {}
    for c in server.comments_on(REPO, 1):
        name = re.search(r"gitops-bot:plan env=(\S+) part=1/1", c.body)
        assert name, c.body[:200]
        found[name[1]] = c.body
    return found


@pytest.mark.usefixtures("tools_env")
def test_environments_that_change_alike_share_one_comment_and_keep_their_statuses(
    server: GitHubServer, tmp_path: Path
) -> None:
    repo = tenants(tmp_path)
    mirror(server, repo)

    result = run_as_actions(repo, server, tmp_path, "opened")

    assert result.exit_code == 0, result.output
    written = _plan_comments(server)
    assert set(written) == {"%2Aa", "d"}  # d's plan has no change: its own comment
    group = written["%2Aa"]
    assert "### gitops-bot plan for 3 environments" in group
    assert "**The same change in 3 environments** (their names and namespaces aside): " in group
    assert "`a`, `b`, `c`; shown as `a` plans it." in group
    assert "-      - image: web:1.0\n+      - image: web:1.1" in group
    head = server.repos[REPO].pulls[1].head_sha
    assert {c: s for c, s in statuses(server, head).items() if c.startswith("gitops/plan/")} == {
        "gitops/plan/a": ("success", "1 to update"),
        "gitops/plan/b": ("success", "1 to update"),
        "gitops/plan/c": ("success", "1 to update"),
        "gitops/plan/d": ("success", "no changes"),
    }

    # b now changes otherwise: it gets its own comment, the group's is edited in place.
    group_id = next(c.id for c in server.comments_on(REPO, 1) if "env=%2Aa " in c.body)
    git(repo, "checkout", "-q", "change")
    (repo / "envs/b/kustomization.yaml").write_text(
        "namePrefix: b-\nnamespace: tenant-b\nresources: [../../base]\n"
        "replicas: [{name: web, count: 3}]\n"
    )
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "b: 3")
    new_head = git(repo, "rev-parse", "HEAD").strip()
    server.mirror(REPO, "change", sha=new_head, parent=head)
    server.repos[REPO].pulls[1].head_sha = new_head

    again = run_as_actions(repo, server, tmp_path, "synchronize")

    assert again.exit_code == 0, again.output
    written = _plan_comments(server)
    assert set(written) == {"%2Aa", "b", "d"}
    assert "`a`, `c`; shown as `a` plans it." in written["%2Aa"]
    assert "replicas" in written["b"]
    assert next(c.id for c in server.comments_on(REPO, 1) if "env=%2Aa " in c.body) == group_id

    # a changes otherwise too: no two environments change alike, the group's comment goes.
    git(repo, "checkout", "-q", "change")
    edit(repo, "envs/a/kustomization.yaml", "resources:", "commonLabels: {tier: gold}\nresources:")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "a: gold")
    third = git(repo, "rev-parse", "HEAD").strip()
    server.mirror(REPO, "change", sha=third, parent=new_head)
    server.repos[REPO].pulls[1].head_sha = third

    last = run_as_actions(repo, server, tmp_path, "synchronize")

    assert last.exit_code == 0, last.output
    assert set(_plan_comments(server)) == {"a", "b", "c", "d"}
