"""The approval policy on GitLab as teams set it up, through `gitops-bot run`
in a merge request pipeline: the quick start's project access token, owners
in a group, the texts of the policy statuses, and locks left by merge
requests that are gone. On the GitLab emulator, over the real shop
repository, rendered by the real kustomize and helm. prod's rules
(examples/shop/.gitops.yaml on main): one approval from @acme/sre."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_bot.testing.binaries import Binaries
from tests.fakes.gitlab_server import DEVELOPER, GitLabServer
from tests.integration.shop import edit, git
from tests.integration.test_run_gitlab import (
    PROJECT,
    TOKEN,
    head_of,
    notes,
    open_mr,
    run_in_pipeline,
)

pytestmark = pytest.mark.usefixtures("tools_env")

GROUP_HIDDEN = (
    "reading the members of group acme/sre (is bob one?): GitLab answered 404: "
    "404 Group Not Found; the token needs read_api and to see acme/sre"
)


@pytest.fixture
def server() -> Iterator[GitLabServer]:
    """acme/shop, whose bot is a project access token's user (a member of the
    project only, as the quick start makes it), and the private group acme/sre."""
    with GitLabServer() as srv:
        bot = srv.add_user("gitops-bot", bot=True, token=TOKEN)
        for user in ("alice", "bob", "dave"):
            srv.add_user(user)
        srv.add_project(PROJECT, files={"README.md": "mirrored\n"})
        srv.add_member(PROJECT, bot.username, 40)
        srv.add_group("acme/sre")
        srv.add_member("acme/sre", "bob", DEVELOPER)
        for user in ("alice", "bob", "dave"):
            srv.add_member(PROJECT, user, DEVELOPER)
        yield srv


def policy(server: GitLabServer, iid: int) -> dict[str, tuple[str, str]]:
    """The latest status of each name at the merge request's head."""
    latest = {}
    for status in sorted(server.statuses(PROJECT, head_of(server, iid)), key=lambda s: s.id):
        latest[status.name] = (status.status, status.description or "")
    return latest


def test_owners_in_a_group_the_token_cannot_see_fail_the_gate_and_say_why_not_the_plan(
    shop: Path, server: GitLabServer
) -> None:
    iid = open_mr(server, shop)
    assert run_in_pipeline(shop, server, iid).exit_code == 0
    server.approve(PROJECT, iid, "bob")

    result = run_in_pipeline(shop, server, iid)

    assert result.exit_code == 0, result.output
    assert set(notes(server, iid)) == {"dev", "prod", "cache-prod"}
    statuses = policy(server, iid)
    state, text = statuses["gitops/policy/prod"]
    assert (state, text[: len(GROUP_HIDDEN)]) == ("failed", GROUP_HIDDEN)
    assert statuses["gitops/plan/prod"] == ("success", "2 to update")
    assert statuses["gitops"][0] == "failed"
    prod = notes(server, iid)["prod"][1]
    assert GROUP_HIDDEN + " (membership of it or a group above it)" in prod
    assert TOKEN not in result.output + prod

    # The fix the status names: the token sees the group (here, the group is
    # made internal; a group access token of acme would do as well).
    server.add_group("acme/sre", visibility="internal")
    assert run_in_pipeline(shop, server, iid).exit_code == 0
    assert policy(server, iid)["gitops/policy/prod"] == ("success", "approved by @bob")


@pytest.mark.parametrize(
    ("refusal", "said"),
    [
        pytest.param(
            {"status": 403, "path": "/api/v4/projects/acme/shop/merge_requests/1/approvals"},
            "reading the approvals of acme/shop!1: GitLab answered 403: 403 Error; "
            "the token needs read_api",
            id="approvals",
        ),
        pytest.param(
            {"status": 403, "path": "/api/v4/projects/acme/shop/members/all/{bob}"},
            "reading bob's access to acme/shop: GitLab answered 403: 403 Error; "
            "the token needs read_api and membership of acme/shop",
            id="permission",
        ),
        pytest.param(
            {"status": 403, "method": "POST", "path": "/api/v4/projects/acme/shop/repository/tags"},
            "taking the lock of prod for acme/shop!1: GitLab answered 403: 403 Error",
            id="lock",
        ),
        pytest.param(
            {"status": 502, "path": "/api/v4/groups/acme/sre/members/all/{bob}"},
            "reading the members of group acme/sre (is bob one?): GitLab answered 502 4 times",
            id="group-down",
        ),
    ],
)
def test_every_lookup_the_policy_makes_fails_the_gate_alone(
    shop: Path, server: GitLabServer, refusal: dict[str, object], said: str
) -> None:
    server.add_group("acme/sre", visibility="internal")
    iid = open_mr(server, shop)
    server.approve(PROJECT, iid, "bob")
    path = str(refusal["path"]).replace("{bob}", str(server.user("bob").id))
    server.fail(**{**refusal, "path": path, "times": 99})  # type: ignore[arg-type]

    result = run_in_pipeline(shop, server, iid)

    assert result.exit_code == 0, result.output
    assert set(notes(server, iid)) == {"dev", "prod", "cache-prod"}
    statuses = policy(server, iid)
    state, text = statuses["gitops/policy/prod"]
    assert state == "failed"
    assert text.startswith(said[:130]), text
    assert said in notes(server, iid)["prod"][1]
    assert statuses["gitops/policy/dev"] == ("success", "the policy needs no approval")


def test_a_policy_status_says_what_is_true_after_each_event(
    shop: Path, server: GitLabServer
) -> None:
    """Each text replaces the last, pending after pending included (GitLab has
    no such transition), and a lock whose merge request was closed without any
    event (no webhook, no pipeline) is released when read."""
    server.add_group("acme/sre", visibility="internal")
    iid = open_mr(server, shop)
    head = head_of(server, iid)
    server.mirror(PROJECT, "other", sha=head, parent=git(shop, "rev-parse", "main").strip())
    other = server.open_merge_request(PROJECT, source_branch="other", title="2", author="dave")
    assert run_in_pipeline(shop, server, other.iid).exit_code == 0  # !2 takes prod's lock
    assert run_in_pipeline(shop, server, iid).exit_code == 0
    assert policy(server, iid)["gitops/policy/prod"] == (
        "pending",
        "needs 1 more approval from @acme/sre; +1 more",
    )

    server.approve(PROJECT, iid, "bob")
    assert run_in_pipeline(shop, server, iid).exit_code == 0
    statuses = policy(server, iid)
    assert statuses["gitops/policy/prod"] == ("pending", f"locked by #{other.iid}")
    # dev needs no approval: an approval changes nothing there, and it says so
    assert statuses["gitops/policy/dev"] == ("success", "the policy needs no approval")

    server.set_state(PROJECT, other.iid, "closed")  # and no event reaches the bot
    assert run_in_pipeline(shop, server, iid).exit_code == 0
    statuses = policy(server, iid)
    assert statuses["gitops/policy/prod"] == ("success", "approved by @bob")
    assert statuses["gitops"][0] == "success"
    assert (
        server.project(PROJECT)
        .tags["gitops-bot/lock/prod"]
        .message.endswith(f"pull: {iid}\nsha: {head}")
    )

    # a push that changes prod's render revokes bob's approval: pending again
    git(shop, "checkout", "-q", "change")
    edit(shop, "deploy/base/deployment.yaml", "shop:1.5.0", "shop:1.5.1")
    git(shop, "commit", "-qam", "1.5.1")
    server.mirror(PROJECT, "change", sha=git(shop, "rev-parse", "HEAD").strip(), parent=head)
    assert run_in_pipeline(shop, server, iid).exit_code == 0
    assert policy(server, iid)["gitops/policy/prod"] == (
        "pending",
        "needs 1 more approval from @acme/sre",
    )


def _planner(
    shop: Path, server: GitLabServer, iid: int, binaries: Binaries
) -> subprocess.Popen[str]:
    """`gitops-bot run` in a process of its own, as a CI job runs it."""
    env = {
        **os.environ,
        "GITLAB_CI": "true",
        "CI_PROJECT_PATH": PROJECT,
        "CI_SERVER_URL": server.url,
        "CI_PROJECT_DIR": str(shop),
        "CI_MERGE_REQUEST_IID": str(iid),
        "CI_COMMIT_SHA": head_of(server, iid),
        "GITOPS_BOT_TOKEN": TOKEN,
        "GITOPS_BOT_HELM": binaries.path("helm"),
        "GITOPS_BOT_KUSTOMIZE": binaries.path("kustomize"),
    }
    command = [sys.executable, "-m", "gitops_bot", "run"]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _writes(lines: list[str]) -> list[str]:
    return [line for line in lines if line.split()[0] in ("POST", "PUT", "DELETE")]


def test_two_planners_of_one_head_at_once_leave_one_note_per_environment(
    shop: Path, server: GitLabServer, binaries: Binaries
) -> None:
    """The webhook server and the CI plan job plan the same push at the same time:
    both list the notes before either writes (the emulator holds both lists until
    the two have come), so both create; one note per environment stays."""
    server.add_group("acme/sre", visibility="internal")
    iid = open_mr(server, shop)
    server.meet(2, f"GET /api/v4/projects/{PROJECT}/merge_requests/{iid}/notes")

    planners = [_planner(shop, server, iid, binaries) for _ in range(2)]
    outputs = [p.communicate(timeout=240)[0] for p in planners]

    assert [p.returncode for p in planners] == [0, 0], outputs
    bots = [n for n in server.merge_request(PROJECT, iid).notes if not n.system]
    assert len(bots) == 3, [n.body[:80] for n in bots]
    assert set(notes(server, iid)) == {"dev", "prod", "cache-prod"}
    assert server.count(f"POST /api/v4/projects/{PROJECT}/merge_requests/{iid}/notes") == 6
    assert policy(server, iid) == {
        "gitops/plan/dev": ("success", "1 to update"),
        "gitops/plan/prod": ("success", "2 to update"),
        "gitops/plan/cache-prod": ("success", "1 to update"),
        "gitops/policy/dev": ("success", "the policy needs no approval"),
        "gitops/policy/prod": ("pending", "needs 1 more approval from @acme/sre"),
        "gitops/policy/cache-prod": ("success", "the policy needs no approval"),
        "gitops": ("pending", "waiting: prod; changes: dev, prod, cache-prod; 1 not affected"),
    }

    # A third planner of the same head finds the plan up to date: it writes nothing.
    before = len(server.log)
    assert run_in_pipeline(shop, server, iid).exit_code == 0
    assert _writes(server.log[before:]) == []
