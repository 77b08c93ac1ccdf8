"""The GitHub adapter over real HTTP: PyGithub talks to the emulator on 127.0.0.1.

Every request and response of every test here is checked against GitHub's
OpenAPI description (@octokit/openapi); the `server` fixture fails the test
that caused a violation. Waits between retries go to a list, not the clock.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, Github, GithubException, GithubIntegration

from gitops_bot.core.pr.model import (
    Comment,
    DeploymentState,
    Permission,
    Pull,
    Reaction,
    Review,
    ReviewState,
    Status,
    StatusState,
)
from gitops_bot.core.report import markdown
from gitops_bot.errors import ForgeError
from gitops_bot.forges.github.adapter import COMMENT_LIMIT, GitHub
from tests.fakes import openapi_check
from tests.fakes.github_server import ROUTES, ChangedFile, GitHubServer, checked

TOKEN = "ghs_canary0123456789abcdefTOKEN"  # a canary: no error message may carry it
BOT = "gitops-bot[bot]"
BASE_FILES = {"deploy/dev/app.yaml": "replicas: 1\n", "deploy/prod/app.yaml": "replicas: 3\n"}
PLAN_PROD = markdown.marker("prod", 1, 1)
PLAN_DEV = markdown.marker("dev", 1, 1)


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with checked() as emulator:
        emulator.add_user(BOT, type="Bot", token=TOKEN)
        emulator.add_repo("acme/shop", files=BASE_FILES)
        emulator.push(
            "acme/shop", "feature", files={"deploy/dev/app.yaml": "replicas: 2\n"}, message="x"
        )
        emulator.add_pull(
            "acme/shop",
            title="Scale dev",
            author="alice",
            head_ref="feature",
            files=[ChangedFile("deploy/dev/app.yaml")],
            labels=("gitops", "dev"),
        )
        yield emulator


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def github(server: GitHubServer, sleeps: list[float]) -> GitHub:
    return GitHub(
        repo="acme/shop",
        token=TOKEN,
        base_url=server.url,
        sleep=sleeps.append,
        seconds_between_writes=None,
    )


def _new_pull(
    server: GitHubServer,
    *,
    state: str = "open",
    merged: bool = False,
    files: list[ChangedFile] | None = None,
) -> int:
    """Another pull request on acme/shop; its number."""
    branch = f"topic-{len(server.repos['acme/shop'].pulls) + 1}"
    server.push("acme/shop", branch, files={"README.md": branch}, message=branch)
    pull = server.add_pull(
        "acme/shop",
        title=branch,
        author="alice",
        head_ref=branch,
        state=state,
        merged=merged,
        files=files,
    )
    return pull.number


# -- pull requests --------------------------------------------------------


def test_reads_a_pull_request_from_the_same_repository(
    server: GitHubServer, github: GitHub
) -> None:
    record = server.repos["acme/shop"].pulls[1]

    assert github.pull(1) == Pull(
        number=1,
        title="Scale dev",
        author="alice",
        base_ref="main",
        base_sha=record.base_sha,
        head_ref="feature",
        head_sha=record.head_sha,
        from_fork=False,
        state="open",
        labels=("gitops", "dev"),
        url="https://github.com/acme/shop/pull/1",
    )
    assert server.log == ["GET /repos/acme/shop/pulls/1"]


def test_reads_a_pull_request_from_a_fork(server: GitHubServer, github: GitHub) -> None:
    server.add_repo("mallory/shop", files=BASE_FILES, fork=True)
    head = server.push("mallory/shop", "main", files={"deploy/prod/app.yaml": "x"}, message="y")
    number = server.add_pull(
        "acme/shop", title="Help", author="mallory", head_ref="main", head_repo="mallory/shop"
    ).number

    pull = github.pull(number)

    assert (pull.from_fork, pull.author, pull.head_ref, pull.head_sha) == (
        True,
        "mallory",
        "main",
        head,
    )


@pytest.mark.parametrize(
    ("state", "merged", "expected"),
    [("closed", True, "merged"), ("closed", False, "closed"), ("open", False, "open")],
)
def test_a_pull_request_state_says_merged_when_it_was(
    server: GitHubServer, github: GitHub, state: str, merged: bool, expected: str
) -> None:
    number = _new_pull(server, state=state, merged=merged)

    assert github.pull(number).state == expected


def test_changed_files_are_read_across_pages(server: GitHubServer, github: GitHub) -> None:
    files = [ChangedFile(f"deploy/dev/file-{i:03}.yaml", "added") for i in range(250)]
    files.append(ChangedFile("deploy/prod/new.yaml", "renamed", "deploy/dev/old.yaml"))
    number = _new_pull(server, files=files)

    changed = github.changed_files(number)

    assert changed == (
        *(f"deploy/dev/file-{i:03}.yaml" for i in range(250)),
        "deploy/prod/new.yaml",
        "deploy/dev/old.yaml",
    )
    assert server.log == [f"GET /repos/acme/shop/pulls/{number}/files"] * 3
    assert [r.query.get("page", "1") for r in server.requests] == ["1", "2", "3"]


def test_more_files_than_github_lists_is_an_error_not_a_short_answer(
    server: GitHubServer, github: GitHub
) -> None:
    exactly = _new_pull(server, files=[ChangedFile(f"f/{i}") for i in range(3000)])
    over = _new_pull(server, files=[ChangedFile(f"f/{i}") for i in range(3001)])

    assert len(github.changed_files(exactly)) == 3000
    with pytest.raises(ForgeError) as caught:
        github.changed_files(over)

    assert str(caught.value) == (
        f"listing the changed files of acme/shop#{over}: it changes 3,001 files and GitHub "
        "lists only the first 3,000; split the pull request"
    )
    assert server.log.count(f"GET /repos/acme/shop/pulls/{over}/files") == 30


def test_a_missing_pull_request_is_a_forge_error_that_says_what_was_happening(
    github: GitHub,
) -> None:
    with pytest.raises(ForgeError) as caught:
        github.pull(404)

    assert str(caught.value) == "reading pull request acme/shop#404: GitHub answered 404: Not Found"


# -- comments ---------------------------------------------------------------


def test_upsert_creates_once_then_edits_in_place_and_skips_an_unchanged_body(
    server: GitHubServer, github: GitHub
) -> None:
    first = github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nplan v1")
    second = github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nplan v2")
    writes_before = [line for line in server.log if not line.startswith("GET")]
    third = github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nplan v2")

    assert [c.body for c in server.comments_on("acme/shop", 1)] == [f"{PLAN_PROD}\nplan v2"]
    assert first.id == second.id == third.id
    assert (first.author, first.is_bot, second.body) == (BOT, True, f"{PLAN_PROD}\nplan v2")
    assert second.updated_at > first.updated_at
    assert writes_before == [
        "POST /repos/acme/shop/issues/1/comments",
        f"PATCH /repos/acme/shop/issues/comments/{first.id}",
    ]
    assert [line for line in server.log if not line.startswith("GET")] == writes_before


def test_two_markers_make_two_comments(server: GitHubServer, github: GitHub) -> None:
    prod = github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nprod")
    dev = github.upsert_comment(1, marker=PLAN_DEV, body=f"{PLAN_DEV}\ndev")
    github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nprod again")

    assert prod.id != dev.id
    assert {c.id: c.body for c in server.comments_on("acme/shop", 1)} == {
        prod.id: f"{PLAN_PROD}\nprod again",
        dev.id: f"{PLAN_DEV}\ndev",
    }


def test_upsert_never_edits_someone_elses_comment_that_carries_the_marker(
    server: GitHubServer, github: GitHub
) -> None:
    planted = server.add_comment("acme/shop", 1, author="mallory", body=f"{PLAN_PROD}\nfake plan")

    mine = github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nreal plan")

    assert mine.id != planted.id
    assert planted.body == f"{PLAN_PROD}\nfake plan"


def test_a_body_over_the_limit_is_refused_before_anything_is_sent(
    server: GitHubServer, github: GitHub
) -> None:
    at_limit = PLAN_PROD + "x" * (COMMENT_LIMIT - len(PLAN_PROD))
    github.upsert_comment(1, marker=PLAN_PROD, body=at_limit)
    calls = len(server.log)

    with pytest.raises(ForgeError) as caught:
        github.upsert_comment(1, marker=PLAN_PROD, body=at_limit + "x")
    with pytest.raises(ForgeError):
        github.reply(1, "y" * (COMMENT_LIMIT + 1))

    assert str(caught.value) == (
        f"updating the comment {PLAN_PROD} on acme/shop#1: the body has 65,537 characters, "
        "more than GitHub's limit of 65,536; split it before sending"
    )
    assert len(server.log) == calls
    assert [len(c.body) for c in server.comments_on("acme/shop", 1)] == [COMMENT_LIMIT]


def test_the_emulator_answers_an_oversized_comment_with_422_as_github_does(
    server: GitHubServer,
) -> None:
    client = Github(base_url=server.url, auth=Auth.Token(TOKEN), retry=None, lazy=True)
    issue = client.get_repo("acme/shop").get_issue(1)

    with pytest.raises(GithubException) as caught:
        issue.create_comment("x" * (COMMENT_LIMIT + 1))

    assert caught.value.status == 422
    assert caught.value.data["errors"][0]["message"] == (
        "body is too long (maximum is 65536 characters)"
    )
    client.close()


def test_comments_are_listed_oldest_first_and_the_bots_own_are_marked(
    server: GitHubServer, github: GitHub
) -> None:
    server.add_comment("acme/shop", 1, author="alice", body="/gitops plan")
    reply = github.reply(1, "Planning.")

    listed = github.comments(1)

    assert [(c.author, c.body, c.is_bot) for c in listed] == [
        ("alice", "/gitops plan", False),
        (BOT, "Planning.", True),
    ]
    assert listed[1] == reply
    assert listed[0].created_at < listed[1].created_at
    assert listed[0].created_at.endswith("Z")


@pytest.mark.parametrize(
    ("reaction", "content"),
    [
        (Reaction.SEEN, "eyes"),
        (Reaction.DONE, "+1"),
        (Reaction.REFUSED, "-1"),
        (Reaction.CONFUSED, "confused"),
    ],
)
def test_reactions_become_github_reaction_contents(
    server: GitHubServer, github: GitHub, reaction: Reaction, content: str
) -> None:
    command = server.add_comment("acme/shop", 1, author="alice", body="/gitops apply")

    github.react(1, command.id, reaction)

    assert command.reactions == [(BOT, content)]
    assert server.log == [f"POST /repos/acme/shop/issues/comments/{command.id}/reactions"]


# -- statuses ---------------------------------------------------------------


def test_statuses_are_set_and_read_back_latest_per_context(
    server: GitHubServer, github: GitHub
) -> None:
    sha = server.repos["acme/shop"].pulls[1].head_sha
    long = "d" * 200
    github.set_status(Status(sha, "gitops/plan/prod", StatusState.PENDING, "planning"))
    github.set_status(Status(sha, "gitops/plan/dev", StatusState.FAILURE, long, "https://ci/1"))
    github.set_status(Status(sha, "gitops/plan/prod", StatusState.SUCCESS, "3 changes"))

    assert set(github.statuses(sha)) == {
        Status(sha, "gitops/plan/prod", StatusState.SUCCESS, "3 changes"),
        Status(sha, "gitops/plan/dev", StatusState.FAILURE, "d" * 139 + "…", "https://ci/1"),
    }
    assert [r.body for r in server.requests if r.method == "POST"][1] == {
        "state": "failure",
        "description": "d" * 139 + "…",
        "context": "gitops/plan/dev",
        "target_url": "https://ci/1",
    }


def test_more_statuses_than_a_page_are_all_read_back(server: GitHubServer, github: GitHub) -> None:
    """100 environments have 201 contexts (a plan and a policy status each, and the
    summary): the summary job of a sharded run reads them all."""
    sha = server.repos["acme/shop"].pulls[1].head_sha
    for i in range(130):
        github.set_status(Status(sha, f"gitops/plan/env-{i:03d}", StatusState.PENDING, "old"))
    github.set_status(Status(sha, "gitops/plan/env-007", StatusState.SUCCESS, "no changes"))

    read = {s.context: s for s in github.statuses(sha)}

    assert len(read) == 130
    assert read["gitops/plan/env-007"].state is StatusState.SUCCESS
    assert read["gitops/plan/env-129"].description == "old"


# -- reviews ------------------------------------------------------------------


def test_reviews_are_listed_oldest_first_with_the_commit_each_reviewer_saw(
    server: GitHubServer, github: GitHub
) -> None:
    old, new = (
        server.repos["acme/shop"].pulls[1].base_sha,
        server.repos["acme/shop"].pulls[1].head_sha,
    )
    for author, state, sha in [
        ("bob", "APPROVED", old),
        ("carol", "CHANGES_REQUESTED", new),
        ("dave", "COMMENTED", new),
        ("erin", "DISMISSED", old),
        ("frank", "PENDING", new),
        ("bob", "APPROVED", new),
    ]:
        server.add_review("acme/shop", 1, author=author, state=state, commit_id=sha)

    reviews = github.reviews(1)

    assert [(r.user, r.state, r.commit_sha) for r in reviews] == [
        ("bob", ReviewState.APPROVED, old),
        ("carol", ReviewState.CHANGES_REQUESTED, new),
        ("dave", ReviewState.COMMENTED, new),
        ("erin", ReviewState.DISMISSED, old),
        ("bob", ReviewState.APPROVED, new),
    ]
    assert reviews[0] == Review("bob", ReviewState.APPROVED, old, reviews[0].submitted_at)
    assert reviews[0].submitted_at < reviews[-1].submitted_at


# -- members ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("admin", Permission.ADMIN),
        ("maintain", Permission.MAINTAIN),
        ("write", Permission.WRITE),
        ("triage", Permission.TRIAGE),
        ("read", Permission.READ),
        ("none", Permission.NONE),
    ],
)
def test_permission_of_each_role(
    server: GitHubServer, github: GitHub, role: str, expected: Permission
) -> None:
    server.set_role("acme/shop", "bob", role)

    assert github.permission("bob") is expected
    assert server.log == ["GET /repos/acme/shop/collaborators/bob/permission"]


def test_a_custom_role_counts_as_its_base_permission(server: GitHubServer, github: GitHub) -> None:
    server.set_role("acme/shop", "bob", "deployer", base="write")

    assert github.permission("bob") is Permission.WRITE


def test_an_unknown_user_has_no_permission(github: GitHub) -> None:
    assert github.permission("nobody-by-this-name") is Permission.NONE


def test_team_membership_counts_active_members_only(server: GitHubServer, github: GitHub) -> None:
    server.add_team("acme", "sre", {"bob": "active", "carol": "pending"})

    assert github.in_team("bob", "acme/sre") is True
    assert github.in_team("carol", "acme/sre") is False
    assert github.in_team("dave", "acme/sre") is False
    assert github.in_team("bob", "acme/platform") is False
    assert server.log[0] == "GET /orgs/acme/teams/sre/memberships/bob"
    assert len(server.log) == 4


def test_a_team_must_be_written_org_slash_slug(github: GitHub) -> None:
    with pytest.raises(ForgeError, match="a GitHub team is written org/team-slug"):
        github.in_team("bob", "sre")


# -- changes (promotion) ----------------------------------------------------


def test_a_promotion_is_a_branch_one_commit_and_a_pull_request(
    server: GitHubServer, github: GitHub
) -> None:
    main = server.repos["acme/shop"].refs["heads/main"]

    github.create_branch("promote/dev-to-prod", from_sha=main)
    sha = github.commit_files(
        "promote/dev-to-prod",
        files={"deploy/prod/app.yaml": "replicas: 2\n", "deploy/prod/version.yaml": "v: 2\n"},
        message="Promote dev to prod",
    )
    pull = github.open_pull(
        head="promote/dev-to-prod", base="main", title="Promote dev to prod", body="Soaked 30m."
    )

    assert server.repos["acme/shop"].refs["heads/promote/dev-to-prod"] == sha
    assert server.commits[sha].parents == (main,)
    assert (
        server.file_at("acme/shop", "promote/dev-to-prod", "deploy/prod/version.yaml") == "v: 2\n"
    )
    assert (
        server.file_at("acme/shop", "promote/dev-to-prod", "deploy/dev/app.yaml") == "replicas: 1\n"
    )
    assert (pull.head_ref, pull.head_sha, pull.base_ref, pull.author, pull.from_fork) == (
        "promote/dev-to-prod",
        sha,
        "main",
        BOT,
        False,
    )
    assert github.changed_files(pull.number) == ("deploy/prod/app.yaml", "deploy/prod/version.yaml")
    assert server.log == [
        "POST /repos/acme/shop/git/refs",
        "GET /repos/acme/shop/git/ref/heads/promote/dev-to-prod",
        f"GET /repos/acme/shop/git/commits/{main}",
        "POST /repos/acme/shop/git/trees",
        "POST /repos/acme/shop/git/commits",
        "PATCH /repos/acme/shop/git/refs/heads/promote/dev-to-prod",
        "POST /repos/acme/shop/pulls",
        f"GET /repos/acme/shop/pulls/{pull.number}/files",
    ]


def test_creating_a_branch_that_exists_says_so(server: GitHubServer, github: GitHub) -> None:
    main = server.repos["acme/shop"].refs["heads/main"]

    with pytest.raises(ForgeError) as caught:
        github.create_branch("feature", from_sha=main)

    assert str(caught.value) == (
        f"creating branch feature at {main[:12]} in acme/shop: "
        "GitHub answered 422: Reference already exists"
    )


# -- retries and failures -----------------------------------------------------


def test_429_is_retried_after_the_retry_after_seconds(
    server: GitHubServer, github: GitHub, sleeps: list[float]
) -> None:
    server.fail(429, retry_after=7, path="/repos/acme/shop/pulls/1")

    assert github.pull(1).number == 1
    assert sleeps == [7.0]
    assert server.log == ["GET /repos/acme/shop/pulls/1"] * 2


def test_502_then_success(server: GitHubServer, github: GitHub, sleeps: list[float]) -> None:
    server.fail(502, times=2)

    assert github.pull(1).title == "Scale dev"
    assert sleeps == [2.0]  # the first retry is immediate, then backoff doubles
    assert [r.status for r in server.requests] == [502, 502, 200]


def test_503_on_a_write_is_retried(server: GitHubServer, github: GitHub) -> None:
    server.fail(503, method="PATCH")
    created = github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nv1")

    edited = github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nv2")

    assert edited.id == created.id
    assert [r.status for r in server.requests if r.method == "PATCH"] == [503, 200]


@pytest.mark.parametrize(("retry_after", "waited"), [(3, 3.0), (None, 60.0)])
def test_a_secondary_rate_limit_403_waits_and_retries(
    server: GitHubServer,
    github: GitHub,
    sleeps: list[float],
    retry_after: int | None,
    waited: float,
) -> None:
    server.fail(403, method="POST", retry_after=retry_after)

    github.reply(1, "Planning.")

    assert sleeps == [waited]  # without Retry-After, GitHub's advice: a minute
    assert [c.body for c in server.comments_on("acme/shop", 1)] == ["Planning."]


def test_a_primary_rate_limit_that_resets_soon_is_waited_out(
    server: GitHubServer, github: GitHub, sleeps: list[float]
) -> None:
    server.fail(403, reset_in=5, path="/repos/acme/shop/pulls/1")

    assert github.pull(1).number == 1
    assert len(sleeps) == 1
    assert 4.0 < sleeps[0] <= 6.0  # until X-RateLimit-Reset, plus a second


def test_a_primary_rate_limit_that_resets_too_late_fails_at_once(
    server: GitHubServer, github: GitHub, sleeps: list[float]
) -> None:
    server.fail(403, reset_in=3600)

    with pytest.raises(ForgeError) as caught:
        github.pull(1)

    assert re.fullmatch(
        r"reading pull request acme/shop#1: GitHub answered 403: API rate limit exceeded for "
        r"user ID 1\. \(the limit resets in 3\d\d\d s; this client waits 60 s\)",
        str(caught.value),
    )
    assert sleeps == []
    assert len(server.log) == 1


def test_a_persistent_500_gives_up_after_five_tries_with_a_clear_message(
    server: GitHubServer, github: GitHub, sleeps: list[float]
) -> None:
    server.fail(500, times=None)

    with pytest.raises(ForgeError) as caught:
        github.pull(1)

    message = str(caught.value)
    assert message == (
        "reading pull request acme/shop#1: GitHub answered 500: Server Error "
        "(gave up after at most 5 tries and 60 s of waiting)"
    )
    assert server.log == ["GET /repos/acme/shop/pulls/1"] * 5
    assert sleeps == [2.0, 4.0, 8.0]
    chain = [caught.value, caught.value.__cause__]
    assert all(TOKEN not in f"{e} {e!r}" for e in chain)


def test_the_total_wait_is_bounded(
    server: GitHubServer, github: GitHub, sleeps: list[float]
) -> None:
    server.fail(429, times=None, retry_after=45)

    with pytest.raises(ForgeError, match="GitHub answered 429: API rate limit exceeded"):
        github.pull(1)

    assert sleeps == [45.0]  # a second wait of 45 s would pass the 60 s bound
    assert len(server.log) == 2


def test_a_server_that_is_gone_is_a_forge_error(sleeps: list[float]) -> None:
    with GitHubServer() as gone:
        url = gone.url
    github = GitHub(repo="acme/shop", token=TOKEN, base_url=url, sleep=sleeps.append)

    with pytest.raises(ForgeError, match=r"^reading pull request acme/shop#1: ") as caught:
        github.pull(1)

    assert TOKEN not in str(caught.value)
    assert sleeps == [2.0, 4.0, 8.0]


def test_no_log_line_carries_the_token(
    server: GitHubServer, github: GitHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.fail(403, retry_after=1)
    server.fail(500, times=None, path="/repos/acme/shop/pulls/1")

    github.upsert_comment(1, marker=PLAN_PROD, body=PLAN_PROD)
    with pytest.raises(ForgeError):
        github.pull(1)

    assert "GET /repos/acme/shop/issues/1/comments" in caplog.text  # PyGithub's debug lines
    assert TOKEN not in caplog.text


def test_a_bad_token_is_refused_without_echoing_it(server: GitHubServer) -> None:
    wrong = "ghp_wrongcanary9876543210"
    github = GitHub(repo="acme/shop", token=wrong, base_url=server.url)

    with pytest.raises(ForgeError) as caught:
        github.comments(1)

    assert "GitHub answered 401: Bad credentials" in str(caught.value)
    assert wrong not in str(caught.value)


def test_an_app_installation_token_needs_the_bot_login(server: GitHubServer) -> None:
    server.add_user("github-actions[bot]", type="Bot", token="ghs_app", app=True)
    without = GitHub(repo="acme/shop", token="ghs_app", base_url=server.url)
    named = GitHub(
        repo="acme/shop",
        token="ghs_app",
        base_url=server.url,
        bot_login="github-actions[bot]",
        seconds_between_writes=None,
    )

    with pytest.raises(ForgeError, match="pass bot_login for an App token"):
        without.upsert_comment(1, marker=PLAN_PROD, body=PLAN_PROD)
    server.requests.clear()
    created = named.upsert_comment(1, marker=PLAN_PROD, body=PLAN_PROD)

    assert created == Comment(
        created.id,
        "github-actions[bot]",
        PLAN_PROD,
        created.created_at,
        created.updated_at,
        is_bot=True,
    )
    assert server.log == [
        "GET /repos/acme/shop/issues/1/comments",
        "POST /repos/acme/shop/issues/1/comments",
    ]


# -- the call budget ------------------------------------------------------------


def test_updating_the_plan_comment_costs_three_calls_then_two_then_one(
    server: GitHubServer, github: GitHub
) -> None:
    server.add_comment("acme/shop", 1, author="alice", body="looks good")
    plan = server.add_comment("acme/shop", 1, author=BOT, body=f"{PLAN_PROD}\nold plan")
    server.add_comment("acme/shop", 1, author="bob", body="/gitops apply")

    github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nnew plan")
    first = list(server.log)
    github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nnewer plan")
    github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nnewer plan")

    listing = "GET /repos/acme/shop/issues/1/comments"
    edit = f"PATCH /repos/acme/shop/issues/comments/{plan.id}"
    assert first == ["GET /user", listing, edit]
    assert server.log == [*first, listing, edit, listing]
    assert plan.body == f"{PLAN_PROD}\nnewer plan"


# -- the contract -------------------------------------------------------------


def test_every_response_matches_the_openapi_description(
    server: GitHubServer, github: GitHub
) -> None:
    """One pass over every emulated endpoint, errors included; the fixture then
    asserts that no request or response broke GitHub's description."""
    server.add_team("acme", "sre", {"bob": "active"})
    server.set_role("acme/shop", "bob", "write")
    server.add_review("acme/shop", 1, author="bob", state="APPROVED", commit_id="a" * 40)
    main = server.repos["acme/shop"].refs["heads/main"]
    eager = Github(base_url=server.url, auth=Auth.Token(TOKEN), retry=None)
    assert eager.get_repo("acme/shop").full_name == "acme/shop"  # GET /repos/acme/shop
    client = Github(base_url=server.url, auth=Auth.Token(TOKEN), retry=None, lazy=True)

    comment = github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nv1")
    github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nv2")
    assert client.get_repo("acme/shop").get_issue(1).get_comment(comment.id).body.endswith("v2")
    extra = github.reply(1, "a duplicate a second planner wrote")
    github.delete_comment(1, extra.id)  # DELETE (204)
    github.react(1, comment.id, Reaction.SEEN)
    github.react(1, comment.id, Reaction.SEEN)  # the same reaction again: 200, not 201
    github.set_status(Status(main, "gitops/plan/prod", StatusState.SUCCESS, "ok", "https://ci/1"))
    assert github.statuses(main)
    assert github.reviews(1)
    assert github.changed_files(1)
    assert github.permission("bob") is Permission.WRITE
    assert github.in_team("bob", "acme/sre")
    assert not github.in_team("carol", "acme/sre")
    github.create_branch("promote", from_sha=main)
    github.commit_files("promote", files={"deploy/prod/v.yaml": "2"}, message="Promote")
    assert github.open_pull(head="promote", base="main", title="Promote", body="").number == 2
    head = server.repos["acme/shop"].pulls[1].head_sha
    assert github.acquire_lock("prod", pull=1, sha=head).pull == 1  # GET 404, POST tag and ref
    assert github.acquire_lock("prod", pull=2, sha=head).pull == 1  # GET ref and tag
    assert github.release_lock("prod", pull=1)  # DELETE ref (204)
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "applied", "https://ci/1")
    assert github.deployments("prod")[0].state is DeploymentState.SUCCESS
    assert [p.number for p in github.pulls_for_commit(head)] == [1]
    assert [p.number for p in github.open_pulls(head_prefix="promote")] == [2]
    github.update_pull(2, title="Promote to prod", body="Soaked.")
    github.commit_files("promote", files={"deploy/prod/v.yaml": "3"}, message="v3", parent=main)
    assert github.merge_pull(2)
    github.close_pull(1)
    for failing in (
        lambda: github.pull(99),
        lambda: github.create_branch("promote", from_sha=main),
    ):
        with pytest.raises(ForgeError):
            failing()
    server.fail(429, retry_after=1)
    server.fail(502)
    server.fail(503)
    server.fail(403, retry_after=1)
    assert github.pull(1).number == 1
    client.close()
    eager.close()
    _every_app_endpoint(server)

    assert {f"{verb} {pattern.pattern}" for verb, pattern, _ in ROUTES} == server.routes_hit
    statuses = {r.status for r in server.requests}
    assert statuses >= {200, 201, 204, 401, 403, 404, 422, 429, 502, 503}


def _every_app_endpoint(server: GitHubServer) -> None:
    """The App endpoints, through PyGithub's GithubIntegration (test_github_app.py
    covers what the adapter does with them)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    server.add_app(77, slug="planner", public_key=public.decode())
    installation = server.install(77, ["acme/shop"])
    app = GithubIntegration(auth=Auth.AppAuth(77, pem), base_url=server.url, retry=None)
    assert app.get_app().slug == "planner"
    assert [i.id for i in app.get_installations()] == [installation.id]
    assert app.get_repo_installation("acme", "shop").id == installation.id
    assert app.get_access_token(installation.id).token in server.installation_tokens
    with pytest.raises(GithubException) as unknown:
        app.get_access_token(installation.id + 1)
    assert unknown.value.status == 404
    stranger = GithubIntegration(auth=Auth.AppAuth(78, pem), base_url=server.url, retry=None)
    with pytest.raises(GithubException) as refused:
        stranger.get_access_token(installation.id)
    assert refused.value.status == 401
    app.close()
    stranger.close()


def test_the_check_catches_a_response_that_breaks_the_contract(server: GitHubServer) -> None:
    broken = server.pull_json(server.repos["acme/shop"], server.repos["acme/shop"].pulls[1])
    del broken["head"]
    broken["number"] = "1"

    found = openapi_check.response_violations(
        method="GET",
        path="/repos/acme/shop/pulls/1",
        query={},
        status=200,
        headers={"Content-Type": "application/json"},
        body=json.dumps(broken).encode(),
    )
    undocumented = openapi_check.response_violations(
        method="GET",
        path="/repos/acme/shop/pulls/1",
        query={},
        status=418,
        headers={"Content-Type": "application/json"},
        body=b"{}",
    )

    assert len(found) == 1
    assert "'head' is a required property" in found[0]
    assert "at number: '1' is not of type 'integer'" in found[0]
    assert undocumented == [
        "response 418 to GET /repos/acme/shop/pulls/1: the operation does not document this status"
    ]


def test_the_check_catches_a_request_that_breaks_the_contract() -> None:
    found = openapi_check.request_violations(
        method="POST",
        path=f"/repos/acme/shop/statuses/{'a' * 40}",
        query={},
        body=b'{"state": "green"}',
        content_type="application/json",
    )

    assert len(found) == 1
    assert "'green' is not one of ['error', 'failure', 'pending', 'success']" in found[0]


def test_the_contract_is_the_pinned_octokit_description() -> None:
    assert openapi_check.package_version() == "23.0.2"
    title = openapi_check.description()["info"]["title"]
    assert title.startswith("GitHub's official OpenAPI spec")
