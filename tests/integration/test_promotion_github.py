"""Promotion and rollback end to end, as GitHub Actions runs the bot:
`/gitops promote ENV` and `/gitops rollback ENV SHA` in a pull request
comment, through `gitops-bot run` on the GitHub emulator, over the real shop
repository with a promotion rule from dev to prod; then the promotion pull
request is planned like any other (real kustomize)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_bot.core.pr.model import DeploymentState
from gitops_bot.forges.github.adapter import GitHub
from tests.fakes.github_server import GitHubServer, checked
from tests.integration.shop import edit, git
from tests.integration.test_policy_github import BOT, REPO, TOKEN, Bot

pytestmark = pytest.mark.usefixtures("tools_env")

PROMOTE_BRANCH = "gitops-bot/promote/dev-to-prod"
VERSION = "deploy/overlays/{env}/version.yaml"
PATCH = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  template:
    spec:
      containers:
        - name: shop
          image: ghcr.io/example/shop:1.4.0
"""
RULE = '\npromotion:\n  - {from: dev, to: prod, copy: ["deploy/overlays/{env}/version.yaml"]}\n'


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    with checked() as srv:
        srv.add_user(BOT, type="Bot", token=TOKEN)
        srv.add_repo(REPO, files={"README.md": "mirrored\n"})
        srv.set_role(REPO, "bob", "write")
        srv.set_role(REPO, "carol", "read")
        srv.add_team("acme", "sre", {"bob": "active"})
        yield srv


@pytest.fixture
def promoting(shop: Path) -> str:
    """Each overlay pins its image in version.yaml; .gitops.yaml promotes dev to
    prod by copying it. The commit that sets this up on main."""
    for env in ("dev", "prod"):
        (shop / VERSION.format(env=env)).write_text(PATCH)
    edit(
        shop,
        "deploy/overlays/dev/kustomization.yaml",
        "resources:\n",
        "patches:\n  - path: version.yaml\nresources:\n",
    )
    edit(
        shop,
        "deploy/overlays/prod/kustomization.yaml",
        "  - path: replicas.yaml\n",
        "  - path: replicas.yaml\n  - path: version.yaml\n",
    )
    (shop / ".gitops.yaml").write_text((shop / ".gitops.yaml").read_text() + RULE)
    git(shop, "add", "-A")
    git(shop, "commit", "-qm", "pin images per overlay; promote dev to prod")
    return git(shop, "rev-parse", "HEAD").strip()


@pytest.fixture
def bot(github: GitHubServer, shop: Path, tmp_path: Path) -> Bot:
    return Bot(github, shop, tmp_path)


def deployed(github: GitHubServer, env: str, sha: str, state: DeploymentState) -> None:
    """What the puller records when it applied `sha` to `env` (through the same adapter)."""
    forge = GitHub(repo=REPO, token=TOKEN, base_url=github.url, bot_login=BOT)
    forge.record_deployment(env, sha, state, f"applied to {env} at {sha[:12]}")


def release_to_dev(
    github: GitHubServer,
    shop: Path,
    version: str,
    state: DeploymentState | None = DeploymentState.SUCCESS,
) -> str:
    """A change to dev's image merged on main (and main mirrored), and the
    puller's report of applying it to dev (`state`; None: not applied yet)."""
    file = shop / VERSION.format(env="dev")
    file.write_text(re.sub(r"shop:[0-9.]+", f"shop:{version}", file.read_text()))
    git(shop, "commit", "-qam", f"dev: shop {version}")
    sha = git(shop, "rev-parse", "main").strip()
    github.mirror(REPO, "main", sha=sha)
    if state is not None:
        deployed(github, "dev", sha, state)
    return sha


def a_pull_request(github: GitHubServer, shop: Path) -> int:
    """An open pull request on main to write commands in."""
    git(shop, "checkout", "-q", "-b", "notes", "main")
    (shop / "NOTES.md").write_text("notes\n")
    git(shop, "add", "NOTES.md")
    git(shop, "commit", "-qm", "notes")
    git(shop, "checkout", "-q", "main")
    base, head = (git(shop, "rev-parse", ref).strip() for ref in ("main", "notes"))
    github.mirror(REPO, "main", sha=base)
    github.mirror(REPO, "notes", sha=head, parent=base)
    return github.add_pull(REPO, title="notes", author="alice", head_ref="notes").number


def bot_pulls(github: GitHubServer, prefix: str) -> list[int]:
    return [
        p.number
        for p in github.repos[REPO].pulls.values()
        if p.state == "open" and p.head_ref.startswith(prefix)
    ]


def replies(github: GitHubServer, number: int) -> list[str]:
    return [c.body for c in github.comments_on(REPO, number) if c.author == BOT]


def test_promote_opens_one_pull_request_and_updates_it_after(
    bot: Bot, github: GitHubServer, shop: Path, promoting: str
) -> None:
    release_to_dev(github, shop, "1.5.0")
    number = a_pull_request(github, shop)

    bot.comment(number, "bob", "/gitops promote prod")

    [promo] = bot_pulls(github, "gitops-bot/promote/")
    record = github.repos[REPO].pulls[promo]
    assert (record.head_ref, record.base_ref, record.author) == (PROMOTE_BRANCH, "main", BOT)
    prod = github.file_at(REPO, PROMOTE_BRANCH, VERSION.format(env="prod"))
    assert prod is not None
    assert "shop:1.5.0" in prod
    assert record.title.startswith("Promote dev to prod (")
    assert "Requested by @bob in #" in (record.body or "")
    assert "`dev` has been healthy since " in (record.body or "")
    assert any(f"opened #{promo}" in r and "@bob" in r for r in replies(github, number))

    second = release_to_dev(github, shop, "1.6.0")
    bot.comment(number, "bob", "/gitops promote prod")

    assert bot_pulls(github, "gitops-bot/promote/") == [promo]  # updated, not a second one
    prod = github.file_at(REPO, PROMOTE_BRANCH, VERSION.format(env="prod"))
    assert prod is not None
    assert "shop:1.6.0" in prod
    record = github.repos[REPO].pulls[promo]
    assert record.title == f"Promote dev to prod ({second[:12]})"
    assert any(f"updated #{promo}" in r for r in replies(github, number))


def test_the_promotion_pull_request_gets_the_prod_plan(
    bot: Bot, github: GitHubServer, shop: Path, promoting: str
) -> None:
    release_to_dev(github, shop, "1.5.0")
    number = a_pull_request(github, shop)
    bot.comment(number, "bob", "/gitops promote prod")
    [promo] = bot_pulls(github, "gitops-bot/promote/")

    # GitHub's commits are real git commits; the emulator's are not. Make the
    # same commit in the shop repository and point the branch at it, as a
    # fetch from GitHub would give the bot.
    path = VERSION.format(env="prod")
    text = github.file_at(REPO, PROMOTE_BRANCH, path)
    assert text is not None
    git(shop, "checkout", "-q", "-b", "promote", "main")
    (shop / path).write_text(text)
    git(shop, "commit", "-qam", github.repos[REPO].pulls[promo].title)
    git(shop, "checkout", "-q", "main")
    base, head = (git(shop, "rev-parse", ref).strip() for ref in ("main", "promote"))
    github.mirror(REPO, PROMOTE_BRANCH, sha=head, parent=base)
    github.repos[REPO].pulls[promo].head_sha = head
    github.repos[REPO].pulls[promo].base_sha = base

    bot.push(promo, "opened")

    comments = [c.body for c in github.comments_on(REPO, promo) if c.author == BOT]
    [prod] = [c for c in comments if "env=prod part=1/" in c]
    assert "shop:1.5.0" in prod
    assert "shop:1.4.0" in prod
    assert not any("env=dev part=1/" in c for c in comments)  # dev's files are untouched
    assert bot.policy(promo)["prod"] == ("pending", "needs 1 more approval from @acme/sre")


def test_rollback_opens_a_pull_request_that_restores_devs_files(
    bot: Bot, github: GitHubServer, shop: Path, promoting: str
) -> None:
    release_to_dev(github, shop, "1.5.0")
    number = a_pull_request(github, shop)

    bot.comment(number, "bob", f"/gitops rollback dev {promoting[:10]}")

    branch = f"gitops-bot/rollback/dev-{promoting[:12]}"
    [pull] = bot_pulls(github, "gitops-bot/rollback/")
    assert github.repos[REPO].pulls[pull].head_ref == branch
    dev = github.file_at(REPO, branch, VERSION.format(env="dev"))
    assert dev == PATCH
    assert github.repos[REPO].pulls[pull].title == f"Roll dev back to {promoting[:12]}"
    assert any(f"opened #{pull}" in r for r in replies(github, number))


def test_a_read_only_user_cannot_promote_and_a_target_without_a_rule_is_refused(
    bot: Bot, github: GitHubServer, shop: Path, promoting: str
) -> None:
    release_to_dev(github, shop, "1.5.0")
    number = a_pull_request(github, shop)

    bot.comment(number, "carol", "/gitops promote prod")
    bot.comment(number, "bob", "/gitops promote dev")

    assert bot_pulls(github, "gitops-bot/") == []
    answers = replies(github, number)
    assert any("@carol" in r and "needs write permission; you have read" in r for r in answers)
    assert any("@bob" in r and "needs a promotion rule to `dev`" in r for r in answers)


def test_promote_by_hand_is_refused_while_dev_is_unhealthy_and_says_why(
    bot: Bot, github: GitHubServer, shop: Path, promoting: str
) -> None:
    bad = release_to_dev(github, shop, "1.5.0", state=DeploymentState.FAILURE)
    number = a_pull_request(github, shop)

    bot.comment(number, "bob", "/gitops promote prod")

    assert bot_pulls(github, "gitops-bot/") == []
    why = f"dev is not healthy at {bad[:12]}: applied to dev at {bad[:12]}"
    assert any(f"Not promoted: {why}." in r for r in replies(github, number))
    [gate] = [s for s in github.repos[REPO].statuses if s.context == "gitops/promotion/prod"]
    assert (gate.sha, gate.state, gate.description) == (bad, "failure", why)


def test_promote_by_hand_carries_devs_healthy_commit_not_a_newer_unapplied_one(
    bot: Bot, github: GitHubServer, shop: Path, promoting: str
) -> None:
    healthy = release_to_dev(github, shop, "1.5.0")
    release_to_dev(github, shop, "1.6.0", state=None)  # merged, not applied to dev yet
    number = a_pull_request(github, shop)

    bot.comment(number, "bob", "/gitops promote prod")

    [promo] = bot_pulls(github, "gitops-bot/promote/")
    assert github.repos[REPO].pulls[promo].title == f"Promote dev to prod ({healthy[:12]})"
    prod = github.file_at(REPO, PROMOTE_BRANCH, VERSION.format(env="prod"))
    assert prod is not None
    assert "shop:1.5.0" in prod


def set_rule(github: GitHubServer, shop: Path, rule: str) -> str:
    """Replace the promotion rule on main (and mirror main)."""
    config = shop / ".gitops.yaml"
    config.write_text(config.read_text().split("\npromotion:\n")[0] + rule)
    git(shop, "commit", "-qam", "promotion rule")
    sha = git(shop, "rev-parse", "main").strip()
    github.mirror(REPO, "main", sha=sha)
    return sha


def scheduled(bot: Bot) -> str:
    return bot.run("schedule", {"schedule": "*/10 * * * *"}, GITHUB_REF_NAME="main")


def test_a_scheduled_run_waits_out_the_soak_then_opens_the_promotion_once(
    bot: Bot, github: GitHubServer, shop: Path, promoting: str
) -> None:
    # The emulator's clock starts in 2024: any soak shorter than a century is over.
    auto = RULE.replace("copy: [", "auto_open: true, soak: {soak}, copy: [")
    set_rule(github, shop, auto.replace("{soak}", "36500d"))
    healthy = release_to_dev(github, shop, "1.5.0")

    out = scheduled(bot)

    assert bot_pulls(github, "gitops-bot/") == []
    [gate] = [s for s in github.repos[REPO].statuses if s.context == "gitops/promotion/prod"]
    assert (gate.sha, gate.state) == (healthy, "pending")
    assert "; soaking 36500d, " in (gate.description or "")
    assert f"promotion to prod: dev healthy at {healthy[:12]} since " in out

    set_rule(github, shop, auto.replace("{soak}", "1h"))  # main moves on; dev stays at `healthy`
    out = scheduled(bot)

    [promo] = bot_pulls(github, "gitops-bot/promote/")
    assert f"promotion to prod: opened #{promo}" in out
    record = github.repos[REPO].pulls[promo]
    assert record.title == f"Promote dev to prod ({healthy[:12]})"
    assert "Requested by" not in (record.body or "")
    prod = github.file_at(REPO, PROMOTE_BRANCH, VERSION.format(env="prod"))
    assert prod is not None
    assert "shop:1.5.0" in prod
    head = record.head_sha

    out = scheduled(bot)

    assert f"promotion to prod: unchanged #{promo}" in out
    assert github.repos[REPO].pulls[promo].head_sha == head, "approvals on it stand"


def test_a_rule_without_auto_open_only_shows_its_gate(
    bot: Bot, github: GitHubServer, shop: Path, promoting: str
) -> None:
    healthy = release_to_dev(github, shop, "1.5.0")

    out = scheduled(bot)

    assert bot_pulls(github, "gitops-bot/") == []
    [gate] = [s for s in github.repos[REPO].statuses if s.context == "gitops/promotion/prod"]
    assert (gate.sha, gate.state) == (healthy, "success")
    assert f"promotion to prod: dev healthy at {healthy[:12]}" in out


def test_auto_merge_never_merges_a_promotion_branch_someone_else_opened(
    bot: Bot, github: GitHubServer, shop: Path, promoting: str
) -> None:
    base = set_rule(github, shop, RULE.replace("copy: [", "auto_merge: true, copy: ["))
    git(shop, "checkout", "-q", "-b", PROMOTE_BRANCH, "main")
    file = shop / VERSION.format(env="prod")
    file.write_text(file.read_text().replace("shop:1.4.0", "shop:6.6.6"))
    git(shop, "commit", "-qam", "Promote dev to prod (not really)")
    head = git(shop, "rev-parse", "HEAD").strip()
    git(shop, "checkout", "-q", "main")
    github.mirror(REPO, PROMOTE_BRANCH, sha=head, parent=base)
    number = github.add_pull(REPO, title="Promote", author="alice", head_ref=PROMOTE_BRANCH).number
    bot.push(number, "opened")

    out = bot.approve(number, "bob")  # prod's policy is met: @acme/sre approved

    assert bot.summary(number) == "success"
    assert f"#{number} is not the bot's own promotion (opened by alice): not merged" in out
    assert github.repos[REPO].pulls[number].state == "open"
