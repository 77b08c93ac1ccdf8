"""The GitLab adapter over real HTTP, through python-gitlab, against the emulator.

Also checks the emulator itself: its responses and webhook bodies against the
examples written from GitLab's documentation (tests/fakes/gitlab_examples),
and its answers to what GitLab refuses.
"""

from __future__ import annotations

import json
import re
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest

from gitops_bot.core.pr.model import Permission, Pull, Reaction, ReviewState, Status, StatusState
from gitops_bot.errors import ForgeError
from gitops_bot.forges.gitlab import adapter
from gitops_bot.forges.gitlab.adapter import COMMENT_LIMIT, MAX_RETRIES, GitLab
from tests.fakes.gitlab_server import (
    DEVELOPER,
    GUEST,
    MAINTAINER,
    OWNER,
    REPORTER,
    GitLabServer,
)

EXAMPLES = Path(__file__).parent.parent / "fakes" / "gitlab_examples"
API = "/api/v4/projects/group/shop"
MARKER = "<!-- gitops-bot:plan env=prod part=1/1 -->"


@pytest.fixture
def server() -> Iterator[GitLabServer]:
    """group/shop with MR !1 from its own branch (by alice) and !2 from alice's fork."""
    with GitLabServer() as gl:
        gl.add_user("gitops_bot", bot=True, token="glpat-SECRET-canary-4242")
        for name in ("alice", "bob", "carol", "dave", "erin", "frank", "mallory"):
            gl.add_user(name)
        gl.add_project("group/shop", files={"deploy/prod/app.yaml": "replicas: 1\n"})
        gl.add_member("group", "gitops_bot", DEVELOPER)
        gl.add_member("group/shop", "alice", DEVELOPER)
        gl.add_member("group", "bob", MAINTAINER)
        gl.add_member("group/shop", "carol", REPORTER)
        gl.add_member("group/shop", "dave", OWNER)
        gl.add_member("group/shop", "erin", GUEST)
        gl.commit("group/shop", "scale", {"deploy/prod/app.yaml": "replicas: 3\n"}, author="alice")
        gl.open_merge_request(
            "group/shop",
            source_branch="scale",
            title="Scale prod",
            author="alice",
            labels=["env::prod"],
        )
        gl.add_project("alice/shop", forked_from="group/shop")
        gl.commit("alice/shop", "fork-change", {"deploy/prod/app.yaml": "replicas: 9\n"})
        gl.open_merge_request(
            "group/shop",
            source_project="alice/shop",
            source_branch="fork-change",
            title="From a fork",
            author="alice",
        )
        yield gl


@pytest.fixture
def forge(server: GitLabServer) -> GitLab:
    return GitLab(project="group/shop", token="glpat-SECRET-canary-4242", url=server.url)


def _head(server: GitLabServer, iid: int) -> str:
    return server.merge_request("group/shop", iid).versions[-1].head


# -- pull requests ----------------------------------------------------------


def test_pull_copies_the_merge_request(server: GitLabServer, forge: GitLab) -> None:
    version = server.merge_request("group/shop", 1).versions[-1]
    assert forge.pull(1) == Pull(
        number=1,
        title="Scale prod",
        author="alice",
        base_ref="main",
        base_sha=version.base,
        head_ref="scale",
        head_sha=version.head,
        from_fork=False,
        state="open",
        labels=("env::prod",),
        url=f"{server.url}/group/shop/-/merge_requests/1",
    )


def test_pull_from_a_fork(server: GitLabServer, forge: GitLab) -> None:
    pull = forge.pull(2)
    assert pull.from_fork is True
    assert pull.head_ref == "fork-change"
    assert pull.head_sha == server.project("alice/shop").branches["fork-change"]
    assert pull.base_sha == server.project("group/shop").branches["main"]


@pytest.mark.parametrize(("state", "expected"), [("merged", "merged"), ("closed", "closed")])
def test_pull_states(server: GitLabServer, forge: GitLab, state: str, expected: str) -> None:
    server.set_state("group/shop", 1, state)
    assert forge.pull(1).state == expected


def test_changed_files_across_pages(server: GitLabServer, forge: GitLab) -> None:
    files: dict[str, str | None] = {f"deploy/dev/cm-{i:03}.yaml": f"n: {i}\n" for i in range(248)}
    files["deploy/prod/app.yaml"] = None  # moved, same content
    files["deploy/prod/moved.yaml"] = "replicas: 1\n"
    server.commit("group/shop", "many", files)
    server.open_merge_request("group/shop", source_branch="many", title="Many", author="alice")

    paths = forge.changed_files(3)

    assert len(paths) == 250
    assert paths[0] == "deploy/dev/cm-000.yaml"
    assert "deploy/prod/app.yaml" in paths
    assert "deploy/prod/moved.yaml" in paths
    assert server.count(f"GET {API}/merge_requests/3/diffs") == 3  # 100 a page


def test_changed_files_of_a_500kb_diff(server: GitLabServer, forge: GitLab) -> None:
    big = "".join(f"key-{i}: {'x' * 90}\n" for i in range(5_500))
    server.commit("group/shop", "big", {"deploy/prod/big.yaml": big})
    server.open_merge_request("group/shop", source_branch="big", title="Big", author="alice")
    assert len(server.merge_request("group/shop", 3).versions) == 1
    assert forge.changed_files(3) == ("deploy/prod/big.yaml",)


def test_changed_files_beyond_gitlabs_limit_is_an_error() -> None:
    with GitLabServer(diff_max_files=5) as server:
        server.add_user("gitops_bot", token="t0k3n")
        server.add_project("group/shop")
        server.add_member("group", "gitops_bot", DEVELOPER)
        server.commit("group/shop", "wide", {f"f{i}.yaml": "a\n" for i in range(7)})
        server.open_merge_request(
            "group/shop", source_branch="wide", title="W", author="gitops_bot"
        )
        forge = GitLab(project="group/shop", token="t0k3n", url=server.url)
        with pytest.raises(ForgeError, match=r"changed files of group/shop!1: .*\(5\+\)"):
            forge.changed_files(1)


# -- comments ---------------------------------------------------------------


def test_comments_skip_system_notes_and_know_the_bot(server: GitLabServer, forge: GitLab) -> None:
    server.add_note("group/shop", 1, author="alice", body="/gitops plan")
    server.approve("group/shop", 1, "bob")  # a system note
    server.add_note("group/shop", 1, author="gitops_bot", body=f"{MARKER}\nplan")

    comments = forge.comments(1)

    assert [(c.author, c.body, c.is_bot) for c in comments] == [
        ("alice", "/gitops plan", False),
        ("gitops_bot", f"{MARKER}\nplan", True),
    ]
    assert comments[0].created_at < comments[1].created_at


def test_upsert_creates_once_then_edits_and_skips_unchanged(
    server: GitLabServer, forge: GitLab
) -> None:
    server.add_note("group/shop", 1, author="alice", body=f"quoting {MARKER}")

    first = forge.upsert_comment(1, marker=MARKER, body=f"{MARKER}\nv1")
    same = forge.upsert_comment(1, marker=MARKER, body=f"{MARKER}\nv1")
    edited = forge.upsert_comment(1, marker=MARKER, body=f"{MARKER}\nv2")

    assert first.id == same.id == edited.id
    assert edited.body == f"{MARKER}\nv2"
    assert edited.is_bot
    assert server.count(f"POST {API}/merge_requests/1/notes") == 1
    assert server.count(f"PUT {API}/merge_requests/1/notes/{first.id}") == 1
    notes = server.merge_request("group/shop", 1).notes
    assert [n.body for n in notes] == [f"quoting {MARKER}", f"{MARKER}\nv2"]


def test_updating_the_plan_note_costs_the_user_a_list_per_page_and_a_put(
    server: GitLabServer,
) -> None:
    for i in range(120):  # the bot's note is on the second page of 100
        server.add_note("group/shop", 1, author="alice", body=f"chatter {i}")
    note = server.add_note("group/shop", 1, author="gitops_bot", body=f"{MARKER}\nold")
    forge = GitLab(project="group/shop", token="glpat-SECRET-canary-4242", url=server.url)
    server.log.clear()

    forge.upsert_comment(1, marker=MARKER, body=f"{MARKER}\nnew")
    assert server.log == [
        "GET /api/v4/user",
        f"GET {API}/merge_requests/1/notes",
        f"GET {API}/merge_requests/1/notes",
        f"PUT {API}/merge_requests/1/notes/{note.id}",
    ]
    server.log.clear()

    forge.upsert_comment(1, marker=MARKER, body=f"{MARKER}\nnew")  # unchanged: no write
    assert server.log == [f"GET {API}/merge_requests/1/notes"] * 2


def test_updating_a_note_on_the_first_page(server: GitLabServer, forge: GitLab) -> None:
    note = server.add_note("group/shop", 1, author="gitops_bot", body=f"{MARKER}\nold")
    server.log.clear()
    forge.upsert_comment(1, marker=MARKER, body=f"{MARKER}\nnew")
    assert server.log == [
        "GET /api/v4/user",
        f"GET {API}/merge_requests/1/notes",
        f"PUT {API}/merge_requests/1/notes/{note.id}",
    ]


def test_a_note_over_the_limit_is_refused_before_sending(
    server: GitLabServer, forge: GitLab
) -> None:
    body = MARKER + "x" * (COMMENT_LIMIT - len(MARKER) + 1)
    with pytest.raises(ForgeError, match=r"1,000,001 characters, more than GitLab's limit"):
        forge.upsert_comment(1, marker=MARKER, body=body)
    with pytest.raises(ForgeError, match="replying on group/shop!1"):
        forge.reply(1, body)
    assert server.log == []


def test_the_body_must_carry_its_marker(forge: GitLab) -> None:
    with pytest.raises(ValueError, match="marker"):
        forge.upsert_comment(1, marker=MARKER, body="no marker here")


def test_the_emulator_refuses_a_long_note_like_gitlab(server: GitLabServer) -> None:
    gl = gitlab.Gitlab(url=server.url, private_token="glpat-SECRET-canary-4242")
    notes = gl.projects.get("group/shop", lazy=True).mergerequests.get(1, lazy=True).notes
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        notes.create({"body": "x" * (COMMENT_LIMIT + 1)})
    assert caught.value.response_code == 400
    assert "is too long (maximum is 1000000 characters)" in str(caught.value.error_message)


def test_reply_and_reactions(server: GitLabServer, forge: GitLab) -> None:
    command = server.add_note("group/shop", 1, author="alice", body="/gitops apply")

    reply = forge.reply(1, "applying")
    forge.react(1, command.id, Reaction.SEEN)
    forge.react(1, command.id, Reaction.SEEN)  # GitLab refuses a second award: already done
    forge.react(1, command.id, Reaction.DONE)

    assert reply.author == "gitops_bot"
    assert reply.is_bot
    awards = [(a.name, a.user.username) for a in command.awards]
    assert awards == [("eyes", "gitops_bot"), ("thumbsup", "gitops_bot")]
    assert server.count(f"POST {API}/merge_requests/1/notes/{command.id}/award_emoji") == 3


def test_reacting_to_a_missing_note_is_an_error(forge: GitLab) -> None:
    with pytest.raises(ForgeError, match=r"awarding :thumbsdown: to note 999.*404"):
        forge.react(1, 999, Reaction.REFUSED)


# -- statuses ---------------------------------------------------------------


def test_statuses_round_trip(server: GitLabServer, forge: GitLab) -> None:
    sha = _head(server, 1)
    forge.set_status(Status(sha, "gitops/plan/prod", StatusState.PENDING, "planning"))
    forge.set_status(Status(sha, "gitops/plan/prod", StatusState.PENDING, "planning"))
    forge.set_status(Status(sha, "gitops/plan/prod", StatusState.SUCCESS, "x" * 300, "https://ci"))
    forge.set_status(Status(sha, "gitops/plan/dev", StatusState.ERROR, "render failed"))
    forge.set_status(Status(sha, "gitops/policy", StatusState.FAILURE, "needs 2 approvals"))

    assert forge.statuses(sha) == (
        Status(sha, "gitops/plan/dev", StatusState.ERROR, "render failed"),
        Status(sha, "gitops/plan/prod", StatusState.SUCCESS, "x" * 255, "https://ci"),
        Status(sha, "gitops/policy", StatusState.FAILURE, "needs 2 approvals"),
    )
    stored = {(s.name, s.status, s.description) for s in server.statuses("group/shop", sha)}
    assert ("gitops/plan/dev", "failed", "error: render failed") in stored


_TEXTS = ("needs 1 more approval from @acme/sre", "needs 1 more approval", "locked by #3")


@pytest.mark.parametrize(
    "steps",
    [
        # (state, description) in turn; each must read back as set
        [(StatusState.PENDING, _TEXTS[0]), (StatusState.PENDING, _TEXTS[1])],
        [(StatusState.PENDING, t) for t in (*_TEXTS, _TEXTS[0])],
        [(StatusState.PENDING, _TEXTS[0]), (StatusState.SUCCESS, "approved by @bob")],
        [(StatusState.SUCCESS, "a"), (StatusState.PENDING, "b"), (StatusState.PENDING, "c")],
        [(StatusState.FAILURE, "a"), (StatusState.FAILURE, "b"), (StatusState.PENDING, "c")],
        [(StatusState.ERROR, "a"), (StatusState.PENDING, "b"), (StatusState.ERROR, "c")],
    ],
)
def test_a_status_always_reads_back_as_last_set(
    server: GitLabServer, forge: GitLab, steps: list[tuple[StatusState, str]]
) -> None:
    """GitLab has no pending-to-pending transition; the text must still change."""
    sha = _head(server, 1)
    for state, text in steps:
        forge.set_status(Status(sha, "gitops/policy/prod", state, text))

        assert forge.statuses(sha) == (Status(sha, "gitops/policy/prod", state, text),)


def test_pending_again_with_the_same_text_changes_nothing(
    server: GitLabServer, forge: GitLab
) -> None:
    sha = _head(server, 1)
    forge.set_status(Status(sha, "gitops/policy/prod", StatusState.PENDING, "needs 1 more"))
    forge.set_status(Status(sha, "gitops/policy/prod", StatusState.PENDING, "needs 1 more"))

    assert [(s.status, s.description) for s in server.statuses("group/shop", sha)] == [
        ("pending", "needs 1 more")
    ]


def test_the_emulator_refuses_pending_twice_like_gitlab(server: GitLabServer) -> None:
    gl = gitlab.Gitlab(url=server.url, private_token="glpat-SECRET-canary-4242")
    statuses = gl.projects.get("group/shop", lazy=True).commits.get(_head(server, 1), lazy=True)
    statuses.statuses.create({"state": "pending", "name": "a"})
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        statuses.statuses.create({"state": "pending", "name": "a"})
    assert caught.value.response_code == 400
    assert "Cannot transition status via :enqueue from :pending" in str(caught.value)


def test_a_status_on_a_fork_head_needs_a_branch_of_the_project(
    server: GitLabServer, forge: GitLab
) -> None:
    # GitLab wants statuses of a fork's commits set in the fork (docs/forges-gitlab.md).
    with pytest.raises(ForgeError, match="404 References for commit Not Found"):
        forge.set_status(Status(_head(server, 2), "gitops/plan", StatusState.PENDING))


def test_a_status_on_an_unknown_commit_is_an_error(forge: GitLab) -> None:
    with pytest.raises(ForgeError, match=r"setting the status 'gitops/plan' .*404 Commit"):
        forge.set_status(Status("f" * 40, "gitops/plan", StatusState.PENDING))


# -- reviews ----------------------------------------------------------------


def test_approvals_are_bound_to_the_head_they_were_given_at(
    server: GitLabServer, forge: GitLab
) -> None:
    first = _head(server, 1)
    server.approve("group/shop", 1, "bob")
    second = server.commit("group/shop", "scale", {"deploy/prod/app.yaml": "replicas: 4\n"})
    server.approve("group/shop", 1, "dave")

    reviews = forge.reviews(1)

    assert [(r.user, r.state, r.commit_sha) for r in reviews] == [
        ("bob", ReviewState.APPROVED, first),
        ("dave", ReviewState.APPROVED, second),
    ]
    assert all(r.submitted_at for r in reviews)


def test_approvals_reset_on_push_disappear(server: GitLabServer) -> None:
    server.project("group/shop").reset_approvals_on_push = True
    forge = GitLab(project="group/shop", token="glpat-SECRET-canary-4242", url=server.url)
    server.approve("group/shop", 1, "bob")
    assert [r.user for r in forge.reviews(1)] == ["bob"]
    server.commit("group/shop", "scale", {"deploy/prod/app.yaml": "replicas: 5\n"})
    assert forge.reviews(1) == ()


def test_no_approvals_costs_one_request(server: GitLabServer, forge: GitLab) -> None:
    assert forge.reviews(1) == ()
    assert server.log == [f"GET {API}/merge_requests/1/approvals"]


# -- members ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("erin", Permission.READ),  # guest
        ("carol", Permission.READ),  # reporter
        ("alice", Permission.WRITE),  # developer
        ("bob", Permission.MAINTAIN),  # maintainer of the parent group, inherited
        ("dave", Permission.ADMIN),  # owner
        ("mallory", Permission.NONE),  # no member
        ("nobody-at-all", Permission.NONE),  # no such user
    ],
)
def test_permission_per_access_level(forge: GitLab, user: str, expected: Permission) -> None:
    assert forge.permission(user) is expected


def test_a_blocked_user_has_no_permission(server: GitLabServer, forge: GitLab) -> None:
    server.user("alice").state = "blocked"
    assert forge.permission("alice") is Permission.NONE


def test_permission_takes_the_highest_of_direct_and_inherited(server: GitLabServer) -> None:
    server.add_project("org/platform/app")
    server.add_member("org", "gitops_bot", DEVELOPER)
    server.add_member("org/platform/app", "carol", REPORTER)
    server.add_member("org", "carol", MAINTAINER)
    server.add_member("org/platform", "frank", OWNER)
    forge = GitLab(project="org/platform/app", token="glpat-SECRET-canary-4242", url=server.url)
    assert forge.permission("carol") is Permission.MAINTAIN
    assert forge.permission("frank") is Permission.ADMIN


def test_a_project_the_bot_cannot_see_is_an_error(server: GitLabServer) -> None:
    server.add_project("secret/vault")
    forge = GitLab(project="secret/vault", token="glpat-SECRET-canary-4242", url=server.url)
    with pytest.raises(ForgeError, match=r"alice's access to secret/vault: .*Project Not Found"):
        forge.permission("alice")


def test_group_membership(server: GitLabServer, forge: GitLab) -> None:
    server.add_group("group/sre")
    server.add_member("group/sre", "frank", DEVELOPER)
    assert forge.in_team("frank", "group/sre")
    assert forge.in_team("bob", "group/sre")  # maintainer of the parent group
    assert not forge.in_team("alice", "group/sre")
    assert not forge.in_team("nobody-at-all", "group/sre")
    with pytest.raises(
        ForgeError,
        match=r"members of group group/nope \(is frank one\?\): .*404 Group Not Found; "
        "the token needs read_api",
    ):
        forge.in_team("frank", "group/nope")


@pytest.mark.parametrize(
    ("visibility", "member_of", "sees"),
    [
        ("private", None, False),  # a project access token: a member of its project only
        ("private", "group/sre", True),
        ("private", "group/sre/oncall", True),  # a member of a group below it
        ("private", "group/sre/runbooks", True),  # a member of a project in it
        ("internal", None, True),
        ("public", None, True),
    ],
)
def test_a_group_the_token_cannot_see_is_an_error_not_no_member(
    server: GitLabServer, visibility: str, member_of: str | None, sees: bool
) -> None:
    """GitLab answers 404 Group Not Found for a private group the caller may not
    read, as for one that does not exist: never "not a member"."""
    token = "glpat-project-bot-0123456789"
    server.add_user("project_bot", bot=True, token=token)
    server.add_member("group/shop", "project_bot", DEVELOPER)  # not the group `group`
    server.add_group("other/sre", visibility=visibility)
    server.add_group("other/sre/oncall")
    server.add_project("other/sre/runbooks")
    server.add_member("other/sre", "frank", DEVELOPER)
    if member_of is not None:
        where = member_of.replace("group/", "other/", 1)
        server.add_member(where, "project_bot", 10)
    forge = GitLab(project="group/shop", token=token, url=server.url)

    if sees:
        assert forge.in_team("frank", "other/sre")
        assert not forge.in_team("alice", "other/sre")
    else:
        with pytest.raises(
            ForgeError, match=r"404 Group Not Found; the token needs read_api"
        ) as err:
            forge.in_team("frank", "other/sre")
        assert token not in str(err.value)


# -- changes ----------------------------------------------------------------


def test_branch_commit_and_merge_request(server: GitLabServer, forge: GitLab) -> None:
    main = server.project("group/shop").branches["main"]
    forge.create_branch("promote/prod", from_sha=main)
    sha = forge.commit_files(
        "promote/prod",
        files={"deploy/prod/app.yaml": "replicas: 2\n", "deploy/prod/version.yaml": "v: 2\n"},
        message="Promote dev to prod",
    )
    pull = forge.open_pull(head="promote/prod", base="main", title="Promote", body="From dev")

    assert server.project("group/shop").branches["promote/prod"] == sha
    assert server.file("group/shop", "promote/prod", "deploy/prod/app.yaml") == "replicas: 2\n"
    assert server.file("group/shop", "promote/prod", "deploy/prod/version.yaml") == "v: 2\n"
    assert (pull.number, pull.head_ref, pull.base_ref, pull.head_sha) == (
        3,
        "promote/prod",
        "main",
        sha,
    )
    assert pull.author == "gitops_bot"
    assert server.count(f"HEAD {API}/repository/files/deploy/prod/app.yaml") == 1
    assert server.count(f"POST {API}/repository/commits") == 1


def test_an_existing_branch_is_an_error(server: GitLabServer, forge: GitLab) -> None:
    with pytest.raises(
        ForgeError, match=r"creating the branch 'scale' .*400: Branch already exists"
    ):
        forge.create_branch("scale", from_sha=server.project("group/shop").branches["main"])


def test_an_oversized_description_is_refused(server: GitLabServer, forge: GitLab) -> None:
    with pytest.raises(ForgeError, match="more than GitLab's limit of 1,048,576"):
        forge.open_pull(head="scale", base="main", title="t", body="x" * 1_048_577)
    assert server.log == []


# -- faults -----------------------------------------------------------------


def test_429_with_retry_after_then_success(server: GitLabServer, forge: GitLab) -> None:
    server.fail(429, path=f"{API}/merge_requests/1", headers={"Retry-After": "1"})
    started = time.monotonic()
    assert forge.pull(1).number == 1
    assert time.monotonic() - started >= 1
    assert server.count(f"GET {API}/merge_requests/1") == 2


@pytest.mark.parametrize(
    ("status", "headers", "reason"),
    [
        (429, {"Retry-After": "3600"}, "asks to wait 3600 seconds"),
        (503, {"Retry-After": "600"}, "asks to wait 600 seconds"),
        # An hour from when the test runs, not from collection (which came
        # twenty minutes earlier in a whole run): filled in below.
        (429, {"RateLimit-Reset": "in 3600 s"}, r"asks to wait 3[56]\d\d seconds"),
        (429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, "a Retry-After of 'Wed, 21"),
    ],
)
def test_a_wait_longer_than_the_bot_waits_is_an_error(
    server: GitLabServer, forge: GitLab, status: int, headers: dict[str, str], reason: str
) -> None:
    if headers.get("RateLimit-Reset") == "in 3600 s":
        headers = {"RateLimit-Reset": str(int(time.time()) + 3600)}
    server.fail(status, headers=headers)
    with pytest.raises(
        ForgeError, match=rf"merge request group/shop!1: GitLab answered {status} .*{reason}"
    ):
        forge.pull(1)
    assert server.count(f"GET {API}/merge_requests/1") == 1


@pytest.mark.parametrize("status", [502, 503])
def test_5xx_then_success(server: GitLabServer, forge: GitLab, status: int) -> None:
    note = server.add_note("group/shop", 1, author="gitops_bot", body=f"{MARKER}\nold")
    server.fail(status, method="PUT")
    forge.upsert_comment(1, marker=MARKER, body=f"{MARKER}\nnew")
    assert server.count(f"PUT {API}/merge_requests/1/notes/{note.id}") == 2
    assert note.body == f"{MARKER}\nnew"


def test_persistent_500_is_an_error_without_the_token(server: GitLabServer, forge: GitLab) -> None:
    server.fail(500, times=100)
    with pytest.raises(ForgeError) as caught:
        forge.pull(1)
    text = "".join(traceback.format_exception(caught.value))
    assert str(caught.value).startswith("reading merge request group/shop!1: GitLab answered 500")
    assert "glpat-SECRET-canary-4242" not in text
    assert server.count(f"GET {API}/merge_requests/1") == 1 + MAX_RETRIES


def test_a_create_is_retried_after_a_429(server: GitLabServer, forge: GitLab) -> None:
    server.fail(429, method="POST", headers={"Retry-After": "0"})
    assert forge.reply(1, "hello").body == "hello"
    assert server.count(f"POST {API}/merge_requests/1/notes") == 2
    assert [n.body for n in server.merge_request("group/shop", 1).notes] == ["hello"]


def test_a_create_is_not_retried_after_a_5xx(server: GitLabServer, forge: GitLab) -> None:
    server.fail(502, method="POST")
    with pytest.raises(ForgeError, match=r"502 .*not retried"):
        forge.reply(1, "hello")
    assert server.count(f"POST {API}/merge_requests/1/notes") == 1


def test_a_bad_token_is_an_error_that_does_not_show_it(server: GitLabServer) -> None:
    forge = GitLab(project="group/shop", token="glpat-WRONG-canary-777", url=server.url)
    with pytest.raises(ForgeError, match="401") as caught:
        forge.comments(1)
    assert "glpat-WRONG-canary-777" not in "".join(traceback.format_exception(caught.value))


def test_an_unreachable_gitlab_is_an_error(server: GitLabServer) -> None:
    forge = GitLab(
        project="group/shop", token="glpat-unused-token", url="http://127.0.0.1:9", max_retries=0
    )
    with pytest.raises(ForgeError, match="reading merge request group/shop!1: ConnectionError"):
        forge.pull(1)


def test_the_adapter_has_gitlabs_limits() -> None:
    assert adapter.COMMENT_LIMIT == 1_000_000
    assert adapter.STATUS_DESCRIPTION_LIMIT == 255


# -- the emulator's shapes against GitLab's documented examples -------------


def _kind(value: object) -> str:
    for kind, name in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "number"),
        (str, "string"),
        (list, "array"),
        (dict, "object"),
    ):
        if isinstance(value, kind):
            return name
    return "null"


def shape_errors(
    example: Any,
    actual: Any,
    where: str = "$",
    *,
    nullable: frozenset[str] = frozenset(),
    opaque: frozenset[str] = frozenset(),
) -> list[str]:
    """Every key of `example` must be in `actual` with the same JSON type, recursively.

    An item of an array must match one of the example's items. A null in the
    example says nothing about the type. A null in `actual`
    is allowed only at the paths in `nullable` ("[]" for any index): fields
    GitLab documents as empty until something the emulator has no notion
    of happens, like a pipeline.
    """
    if example is None:
        return []
    if actual is None:
        if re.sub(r"\[\d+\]", "[]", where) in nullable:
            return []
        return [f"{where}: null, the example has {_kind(example)}"]
    want, got = _kind(example), _kind(actual)
    if want != got and not (want == "number" and got == "integer"):
        return [f"{where}: {got}, the example has {want}"]
    errors: list[str] = []
    if isinstance(example, dict) and where not in opaque:
        for key, value in example.items():
            if key not in actual:
                errors.append(f"{where}.{key}: missing")
            else:
                errors += shape_errors(
                    value, actual[key], f"{where}.{key}", nullable=nullable, opaque=opaque
                )
    if isinstance(example, list) and example and actual:
        for index, item in enumerate(actual):  # like any one of the example's items
            tries = [
                shape_errors(one, item, f"{where}[{index}]", nullable=nullable, opaque=opaque)
                for one in example
            ]
            errors += [] if [] in tries else tries[0]
    return errors


def _example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


def test_the_shape_checker_catches_drift() -> None:
    example = {"a": 1, "b": {"c": "x"}, "d": [{"e": True}], "f": None}
    assert shape_errors(example, {"a": 2, "b": {"c": "y"}, "d": [{"e": False}], "f": 3}) == []
    assert shape_errors(example, {"a": "2", "b": {}, "d": [{"e": 1}], "f": None}) == [
        "$.a: string, the example has integer",
        "$.b.c: missing",
        "$.d[0].e: integer, the example has boolean",
    ]


def test_rest_responses_have_the_documented_shapes(server: GitLabServer) -> None:
    sha = _head(server, 1)
    server.approve("group/shop", 1, "bob")
    note = server.add_note("group/shop", 1, author="alice", body="hello")
    gl = gitlab.Gitlab(url=server.url, private_token="glpat-SECRET-canary-4242")
    project = gl.projects.get("group/shop", lazy=True)
    mr = project.mergerequests.get(1)  # python-gitlab's objects parse each answer
    status = project.commits.get(sha, lazy=True).statuses.create({"state": "success", "name": "a"})
    diffs = list(gl.http_list(f"{mr.manager.path}/1/diffs", iterator=True))
    answers = {
        "merge_request.json": mr.asdict(),
        "note.json": mr.notes.get(note.id).asdict(),
        "approvals.json": mr.approvals.get().asdict(),
        "commit_status.json": status.asdict(),
        "diff.json": diffs[0],
    }
    nullable = {
        # No pipelines, no scheduled merge and no coverage in the emulator:
        "merge_request.json": {
            "$.merge_after",
            "$.latest_build_started_at",
            "$.pipeline",
            "$.head_pipeline",
        },
        "commit_status.json": {"$.coverage"},
    }
    for name, answer in answers.items():
        errors = shape_errors(_example(name), answer, nullable=frozenset(nullable.get(name, ())))
        assert errors == [], name


def test_webhook_bodies_have_the_documented_shapes(server: GitLabServer) -> None:
    server.add_user("sjones")
    shop = "group/shop"
    server.commit(shop, "hooked", {"a.yaml": "a\n"})
    server.open_merge_request(
        shop,
        source_branch="hooked",
        title="Hooked",
        author="alice",
        labels=["env::dev"],
        assignees=["alice"],
        reviewers=["sjones"],
    )
    note = server.add_note(shop, 3, author="bob", body="looks good")
    nullable = frozenset(
        {
            "$.object_attributes.milestone_id",  # no milestones in the emulator
            "$.merge_request.milestone_id",
            # The emulator's labels are project labels: no group (the Note Hook example has one).
            "$.labels[].group_id",
            "$.object_attributes.labels[].group_id",
        }
    )
    hooks = {
        "merge_request_hook.json": server.merge_request_hook(shop, 3, action="open", user="alice"),
        "note_hook.json": server.note_hook(shop, 3, note.id),
    }
    for name, hook in hooks.items():
        errors = shape_errors(
            _example(name), hook, nullable=nullable, opaque=frozenset({"$.changes"})
        )
        assert errors == [], name
    assert hooks["merge_request_hook.json"]["object_attributes"]["last_commit"]["id"] == _head(
        server, 3
    )
    assert hooks["note_hook.json"]["object_attributes"]["note"] == "looks good"
