"""The approval policy and ChatOps end to end, as GitHub Actions runs the bot:
`gitops-bot run` for pull_request, pull_request_review and issue_comment
events, on the GitHub emulator, over the real shop repository, rendered by
the real kustomize and helm. prod's rules (examples/shop/.gitops.yaml on
main): one approval from @acme/sre; destruction needs confirming."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gitops_bot.cli import cli
from gitops_bot.core.pr import memory
from gitops_bot.forges.github.adapter import GitHub
from gitops_bot.puller.guard import ApprovedRenders
from tests.fakes.github_server import GitHubServer, checked
from tests.integration.shop import edit, git

TOKEN = "ghs_policy_canary_0123456789"
REPO = "acme/shop"
BOT = "gitops-bot[bot]"

pytestmark = pytest.mark.usefixtures("tools_env")


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    with checked() as srv:
        srv.add_user(BOT, type="Bot", token=TOKEN)
        srv.add_repo(REPO, files={"README.md": "mirrored\n"})
        srv.set_role(REPO, "bob", "write")
        srv.set_role(REPO, "dave", "write")
        srv.set_role(REPO, "carol", "read")
        srv.add_team("acme", "sre", {"bob": "active"})
        yield srv


class Bot:
    """Runs `gitops-bot run` the way a workflow does, one event at a time."""

    def __init__(self, github: GitHubServer, shop: Path, tmp: Path) -> None:
        self.github, self.shop, self.tmp = github, shop, tmp

    def run(self, event: str, payload: dict[str, Any], **extra: str) -> str:
        path = self.tmp / f"{event}.json"
        path.write_text(json.dumps({"repository": {"full_name": REPO}, **payload}))
        env = {
            **extra,
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(path),
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": self.github.url,
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_WORKSPACE": str(self.shop),
            "GITOPS_BOT_LOGIN": BOT,
        }
        result = CliRunner().invoke(cli, ["run"], env=env)
        assert result.exit_code == 0, result.output
        assert TOKEN not in result.output
        return result.output

    def push(self, number: int, action: str = "synchronize") -> str:
        pull = self.github.repos[REPO].pulls[number]
        return self.run(
            "pull_request",
            {
                "action": action,
                "number": number,
                "pull_request": {"number": number, "head": {"sha": pull.head_sha}},
                "sender": {"login": pull.author},
            },
        )

    def approve(self, number: int, user: str) -> str:
        head = self.github.repos[REPO].pulls[number].head_sha
        self.github.add_review(REPO, number, author=user, state="APPROVED", commit_id=head)
        review = {"user": {"login": user}, "commit_id": head, "state": "approved"}
        return self.run(
            "pull_request_review",
            {"action": "submitted", "pull_request": {"number": number}, "review": review},
        )

    def comment(self, number: int, user: str, body: str) -> int:
        record = self.github.add_comment(REPO, number, author=user, body=body)
        self.run(
            "issue_comment",
            {
                "action": "created",
                "issue": {"number": number, "pull_request": {"url": f"{REPO}/pulls/{number}"}},
                "comment": {"id": record.id, "body": body, "user": {"login": user}},
            },
        )
        return record.id

    def policy(self, number: int) -> dict[str, tuple[str, str]]:
        head = self.github.repos[REPO].pulls[number].head_sha
        return {
            s.context.removeprefix("gitops/policy/"): (s.state, s.description or "")
            for s in self.github.repos[REPO].statuses
            if s.sha == head and s.context.startswith("gitops/policy/")
        }

    def summary(self, number: int) -> str:
        head = self.github.repos[REPO].pulls[number].head_sha
        return next(
            s.state
            for s in reversed(self.github.repos[REPO].statuses)
            if s.sha == head and s.context == "gitops"
        )


@pytest.fixture
def bot(github: GitHubServer, shop: Path, tmp_path: Path) -> Bot:
    return Bot(github, shop, tmp_path)


def mirror(github: GitHubServer, shop: Path, branch: str = "change") -> int:
    base = git(shop, "rev-parse", "main").strip()
    head = git(shop, "rev-parse", branch).strip()
    github.mirror(REPO, "main", sha=base)
    github.mirror(REPO, branch, sha=head, parent=base)
    return github.add_pull(REPO, title=branch, author="alice", head_ref=branch).number


def commit_on(shop: Path, branch: str, path: str, old: str, new: str) -> str:
    git(shop, "checkout", "-q", branch)
    edit(shop, path, old, new)
    git(shop, "commit", "-qam", f"{path}: {new}")
    sha = git(shop, "rev-parse", "HEAD").strip()
    git(shop, "checkout", "-q", "main")
    return sha


def test_an_owner_approval_flips_the_gate_and_others_do_not_count(
    bot: Bot, github: GitHubServer, shop: Path
) -> None:
    number = mirror(github, shop)
    bot.push(number, "opened")
    assert bot.policy(number)["prod"] == ("pending", "needs 1 more approval from @acme/sre")
    assert bot.policy(number)["dev"][0] == "success"
    assert bot.summary(number) == "pending"

    bot.approve(number, "alice")  # the author: never counts
    bot.approve(number, "dave")  # a writer, not in @acme/sre
    assert bot.policy(number)["prod"][0] == "pending"

    bot.approve(number, "bob")

    # dave's approval counts toward the number; bob's makes the owner's.
    assert bot.policy(number)["prod"] == ("success", "approved by @dave, @bob")
    assert bot.policy(number)["dev"] == ("success", "the policy needs no approval")  # still true
    assert bot.summary(number) == "success"
    prod = next(c.body for c in github.comments_on(REPO, number) if "env=prod part=1/" in c.body)
    assert "**Policy** (`gitops/policy/prod`" in prod
    assert "success" in prod


def test_a_push_that_changes_one_environment_revokes_only_its_approvals(
    bot: Bot, github: GitHubServer, shop: Path
) -> None:
    # Give cache-prod a rule too, on main, and put the change on top of it.
    edit(
        shop,
        ".gitops.yaml",
        "values: [envs/prod/cache-values.yaml]\n",
        "values: [envs/prod/cache-values.yaml]\n    policy: {approvals: 1}\n",
    )
    git(shop, "commit", "-qam", "cache-prod needs an approval")
    git(shop, "rebase", "-q", "main", "change")
    git(shop, "checkout", "-q", "main")
    number = mirror(github, shop)
    bot.push(number, "opened")
    bot.approve(number, "bob")
    assert bot.policy(number)["prod"][0] == "success"
    assert bot.policy(number)["cache-prod"][0] == "success"
    old_head = github.repos[REPO].pulls[number].head_sha

    new_head = commit_on(
        shop, "change", "envs/prod/cache-values.yaml", "replicas: 3", "replicas: 4"
    )
    github.mirror(REPO, "change", sha=new_head, parent=old_head)
    github.repos[REPO].pulls[number].head_sha = new_head
    bot.push(number)

    policy = bot.policy(number)
    assert policy["prod"] == ("success", "approved by @bob")
    assert policy["cache-prod"][0] == "pending"
    assert bot.summary(number) == "pending"


def test_a_read_only_users_command_is_refused_with_a_reply(
    bot: Bot, github: GitHubServer, shop: Path
) -> None:
    number = mirror(github, shop)
    bot.push(number, "opened")

    comment = bot.comment(number, "carol", "/gitops hold prod")

    replies = [c.body for c in github.comments_on(REPO, number) if c.author == BOT]
    assert any("@carol" in r and "needs write permission; you have read" in r for r in replies)
    record = next(c for c in github.comments_on(REPO, number) if c.id == comment)
    assert ("gitops-bot[bot]", "eyes") in record.reactions
    assert ("gitops-bot[bot]", "-1") in record.reactions
    assert bot.policy(number)["dev"][0] == "success"  # no hold was put

    bot.comment(number, "bob", "/gitops hold")
    assert bot.policy(number)["dev"][0] == "pending"
    bot.comment(number, "bob", "/gitops unhold")
    assert bot.policy(number)["dev"][0] == "success"


def test_unknown_and_edited_commands_get_a_reply_and_nothing_else(
    bot: Bot, github: GitHubServer, shop: Path
) -> None:
    number = mirror(github, shop)
    bot.push(number, "opened")

    bot.comment(number, "bob", "/gitops hodl prod")

    replies = [c.body for c in github.comments_on(REPO, number) if c.author == BOT]
    assert any("did you mean `/gitops hold`" in r for r in replies)


def test_a_destructive_change_is_held_until_an_owner_confirms_it(
    bot: Bot, github: GitHubServer, shop: Path
) -> None:
    git(shop, "checkout", "-q", "-b", "drop-secret", "main")
    edit(shop, "deploy/overlays/prod/kustomization.yaml", "  - db-secret.yaml\n", "")
    git(shop, "commit", "-qam", "drop the db secret")
    git(shop, "checkout", "-q", "main")
    number = mirror(github, shop, "drop-secret")
    bot.push(number, "opened")
    bot.approve(number, "bob")

    state, description = bot.policy(number)["prod"]
    assert state == "pending"
    assert "approve-destroy prod" in description

    bot.comment(number, "dave", "/gitops approve-destroy prod")  # not an owner
    assert bot.policy(number)["prod"][0] == "pending"

    bot.comment(number, "bob", "/gitops approve-destroy prod")
    assert bot.policy(number)["prod"][0] == "success"


def test_a_command_event_parses_the_base_configuration_once(
    bot: Bot, github: GitHubServer, shop: Path, config_reads: Counter[str]
) -> None:
    """`approve-destroy` asks whether its author owns ENV (the base's policy),
    then the review plans (the merge base's configuration) and gates (the
    base's policy): one event reads the base branch's .gitops.yaml once."""
    number = mirror(github, shop)
    bot.push(number, "opened")
    pull = github.repos[REPO].pulls[number]
    config_reads.clear()  # count the command's event only

    bot.comment(number, "bob", "/gitops approve-destroy prod")

    assert config_reads[pull.head_sha] == 1, config_reads  # the review planned the head
    assert config_reads[pull.base_sha] == 1, config_reads


def test_two_pull_requests_compete_for_one_environments_lock(
    bot: Bot, github: GitHubServer, shop: Path
) -> None:
    first = mirror(github, shop)
    git(shop, "checkout", "-q", "-b", "other", "main")
    edit(shop, "deploy/overlays/prod/replicas.yaml", "replicas: 3", "replicas: 5")
    git(shop, "commit", "-qam", "other prod change")
    git(shop, "checkout", "-q", "main")
    second = mirror(github, shop, "other")

    bot.push(first, "opened")
    bot.push(second, "opened")

    assert "locked by #1" in prod_comment(github, second)
    github.repos[REPO].pulls[first].state = "closed"
    bot.push(first, "closed")
    bot.push(second)

    assert "locked by" not in prod_comment(github, second)


def prod_comment(github: GitHubServer, number: int) -> str:
    return next(c.body for c in github.comments_on(REPO, number) if "env=prod part=1/" in c.body)


def test_the_pullers_merge_skew_guard_applies_only_the_approved_render(
    bot: Bot, github: GitHubServer, shop: Path
) -> None:
    github.attach_git(REPO, shop / ".git")
    number = mirror(github, shop)
    bot.push(number, "opened")
    bot.approve(number, "bob")
    forge = GitHub(repo=REPO, token=TOKEN, base_url=github.url, bot_login=BOT)
    head = github.repos[REPO].pulls[number].head_sha
    approved = next(
        memory.decode(c.body).state.hashes("prod")[head]
        for c in forge.comments(number)
        if "env=prod part=1/" in c.body
    )
    merge = forge.merge_pull(number)
    guard = ApprovedRenders(forge)

    assert guard.allows("prod", merge, approved) is None
    skew = guard.allows("prod", merge, "f" * 64)
    assert skew is not None
    assert "merge skew" in skew
    assert f"#{number} approved render {approved[:12]}" in skew
    unmerged = guard.allows("prod", github.repos[REPO].pulls[number].base_sha, approved)
    assert unmerged is not None
    assert "no merged pull request" in unmerged


def test_a_token_that_cannot_read_teams_fails_the_gate_and_says_what_it_needs(
    github: GitHubServer, shop: Path, tmp_path: Path
) -> None:
    """Actions' GITHUB_TOKEN (an App installation token) has no organization
    Members permission: the plan is still posted, prod's gate names the lookup."""
    github.add_user(BOT, type="Bot", token=TOKEN, app=True)
    github.apps_lack.add("members")
    bot = Bot(github, shop, tmp_path)
    number = mirror(github, shop)
    bot.push(number, "opened")

    bot.approve(number, "bob")

    state, text = bot.policy(number)["prod"]
    assert state == "failure"
    assert text.startswith(
        "reading the members of team acme/sre: GitHub answered 403: "
        "Resource not accessible by integration; the token needs"
    )
    assert bot.policy(number)["dev"] == ("success", "the policy needs no approval")
    envs = {c.body.split("env=")[1].split()[0] for c in github.comments_on(REPO, number)}
    assert envs == {"dev", "prod", "cache-prod"}
    prod = next(c.body for c in github.comments_on(REPO, number) if "env=prod part=1/" in c.body)
    assert "organization permission Members: read" in prod


def test_a_required_live_plan_keeps_the_gate_and_the_summary_pending_offline(
    bot: Bot, github: GitHubServer, shop: Path
) -> None:
    # dev needs no approval, but on main its policy requires a live plan; the
    # run plans offline (no cluster in this job), so nothing may pass.
    edit(
        shop,
        ".gitops.yaml",
        "    kustomize: deploy/overlays/dev\n    namespace: shop-dev\n",
        "    kustomize: deploy/overlays/dev\n    namespace: shop-dev\n"
        "    policy: {require-live: true}\n",
    )
    git(shop, "commit", "-qam", "dev requires a live plan")
    git(shop, "rebase", "-q", "main", "change")
    git(shop, "checkout", "-q", "main")
    number = mirror(github, shop)
    bot.push(number, "opened")
    bot.approve(number, "bob")  # prod's gate passes: only dev's waits
    assert bot.policy(number)["prod"][0] == "success"
    assert bot.policy(number)["dev"] == (
        "pending",
        "a live plan is required: this run planned offline",
    )
    assert bot.summary(number) == "pending"
    dev = next(c.body for c in github.comments_on(REPO, number) if "env=dev part=1/" in c.body)
    assert "a live plan is required: this run planned offline" in dev
