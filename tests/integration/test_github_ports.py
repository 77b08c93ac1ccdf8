"""The GitHub adapter's newer ports over real HTTP: fewer calls for the sticky
comment, environment locks, deployments, and finding, editing and merging
pull requests (with a real git repository behind the emulator for merges).

Every exchange is checked against GitHub's OpenAPI description by the
`server` fixture, as in test_github.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from gitops_bot.core.pr.model import (
    Comment,
    Deployment,
    DeploymentState,
    Lock,
    format_lock,
    parse_lock,
)
from gitops_bot.core.report import markdown
from gitops_bot.errors import ForgeError
from gitops_bot.forges.github.adapter import GitHub
from tests.fakes.github_server import ChangedFile, GitHubServer, checked

TOKEN = "ghs_canary0123456789abcdefPORTS"
BOT = "gitops-bot[bot]"
REPO = "acme/shop"
PLAN_PROD = markdown.marker("prod", 1, 1)
PLAN_DEV = markdown.marker("dev", 1, 1)
API = f"/repos/{REPO}"


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with checked() as emulator:
        emulator.add_user(BOT, type="Bot", token=TOKEN)
        emulator.add_repo(REPO, files={"deploy/dev/app.yaml": "replicas: 1\n"})
        emulator.push(REPO, "feature", files={"deploy/dev/app.yaml": "replicas: 2\n"}, message="x")
        emulator.add_pull(
            REPO,
            title="Scale dev",
            author="alice",
            head_ref="feature",
            files=[ChangedFile("deploy/dev/app.yaml")],
        )
        yield emulator


def _adapter(server: GitHubServer) -> GitHub:
    return GitHub(
        repo=REPO,
        token=TOKEN,
        base_url=server.url,
        bot_login=BOT,
        sleep=lambda _: None,
        seconds_between_writes=None,
    )


@pytest.fixture
def github(server: GitHubServer) -> GitHub:
    return _adapter(server)


def _pull(server: GitHubServer, branch: str, files: dict[str, str]) -> int:
    server.push(REPO, branch, files=files, message=branch)
    return server.add_pull(REPO, title=branch, author="alice", head_ref=branch).number


# -- the sticky comment, on comments the caller already listed ------------------


@pytest.mark.parametrize(
    ("marker", "body", "expected"),
    [
        (PLAN_PROD, f"{PLAN_PROD}\nold plan", []),
        (PLAN_PROD, f"{PLAN_PROD}\nnew plan", ["PATCH {api}/issues/comments/{id}"]),
        (PLAN_DEV, f"{PLAN_DEV}\ndev plan", ["POST {api}/issues/1/comments"]),
    ],
    ids=["unchanged: no request", "changed: one PATCH", "new: one POST"],
)
def test_an_upsert_on_listed_comments_makes_at_most_one_request(
    server: GitHubServer, github: GitHub, marker: str, body: str, expected: list[str]
) -> None:
    server.add_comment(REPO, 1, author="mallory", body=f"{PLAN_DEV}\nnot the bot's")
    plan = server.add_comment(REPO, 1, author=BOT, body=f"{PLAN_PROD}\nold plan")
    listed = github.comments(1)
    before = len(server.log)

    written = github.upsert_comment(1, marker=marker, body=body, existing=listed)

    assert server.log[before:] == [line.format(api=API, id=plan.id) for line in expected]
    assert written.body == body
    assert written.is_bot
    bots = [c.body for c in server.comments_on(REPO, 1) if c.author == BOT]
    assert body in bots
    assert len(bots) == (2 if marker == PLAN_DEV else 1)


def test_an_upsert_never_takes_someone_elses_listed_comment_for_its_own(
    server: GitHubServer, github: GitHub
) -> None:
    forged = Comment(
        id=7, author="mallory", body=f"{PLAN_PROD}\nforged", created_at="", is_bot=False
    )

    written = github.upsert_comment(1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nv1", existing=[forged])

    assert server.log == [f"POST {API}/issues/1/comments"]
    assert written.id != forged.id


# -- locks ----------------------------------------------------------------------


def test_a_free_lock_is_taken_with_a_ref_to_a_tag_and_read_back(
    server: GitHubServer, github: GitHub
) -> None:
    head = server.repos[REPO].pulls[1].head_sha

    lock = github.acquire_lock("prod", pull=1, sha=head)

    assert (lock.env, lock.pull, lock.sha) == ("prod", 1, head)
    assert lock.since.endswith("Z")
    assert server.log == [
        f"GET {API}/git/ref/gitops-bot/locks/prod",
        f"POST {API}/git/tags",
        f"POST {API}/git/refs",
    ]
    tag = server.tags[server.repos[REPO].refs["gitops-bot/locks/prod"]]
    assert (tag.object_sha, tag.message) == (head, format_lock("prod", pull=1, sha=head))
    assert "heads/gitops-bot/locks/prod" not in server.repos[REPO].refs
    assert github.lock_holder("prod") == lock


def test_a_held_lock_answers_with_its_holder_in_two_or_three_requests(
    server: GitHubServer, github: GitHub
) -> None:
    head = server.repos[REPO].pulls[1].head_sha
    mine = github.acquire_lock("prod", pull=1, sha=head)
    other = _pull(server, "other", {"README.md": "other"})
    before = len(server.log)

    theirs = github.acquire_lock("prod", pull=other, sha=server.repos[REPO].pulls[other].head_sha)
    again = github.acquire_lock("prod", pull=1, sha="f" * 40)

    assert theirs == mine
    assert again == mine  # held already: the lock keeps the head it was taken at
    # the ref and its tag, and for another pull request whether the holder is still open
    assert len(server.log[before:]) == 5
    assert server.log[before + 2] == f"GET {API}/pulls/1"
    assert github.acquire_lock("dev", pull=other, sha=head).pull == other  # another env is free


def test_only_the_holder_releases_a_lock(server: GitHubServer, github: GitHub) -> None:
    head = server.repos[REPO].pulls[1].head_sha
    github.acquire_lock("prod", pull=1, sha=head)

    assert github.release_lock("prod", pull=2) is False
    assert github.lock_holder("prod") is not None
    assert github.release_lock("prod", pull=1) is True
    assert github.lock_holder("prod") is None
    assert github.release_lock("prod", pull=1) is False
    assert github.acquire_lock("prod", pull=2, sha=head).pull == 2
    assert f"DELETE {API}/git/refs/gitops-bot/locks/prod" in server.log


def _race(server: GitHubServer, env: str, sha: str) -> dict[int, Lock]:
    """Two runs (two adapters, two connections) take `env` at the same moment."""
    start = threading.Barrier(2)
    results: dict[int, Lock] = {}

    def take(pull: int) -> None:
        adapter = _adapter(server)
        start.wait()
        results[pull] = adapter.acquire_lock(env, pull=pull, sha=sha)

    threads = [threading.Thread(target=take, args=(pull,)) for pull in (101, 102)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_runs_racing_for_one_lock_both_see_one_winner(server: GitHubServer) -> None:
    head = server.repos[REPO].pulls[1].head_sha
    for round_ in range(8):
        env = f"env-{round_}"

        results = _race(server, env, head)

        assert results[101] == results[102], round_
        assert results[101].pull in (101, 102)
        created = [
            r
            for r in server.requests
            if (r.method, r.path, r.status) == ("POST", f"{API}/git/refs", 201)
            and r.body is not None
            and r.body["ref"] == f"refs/gitops-bot/locks/{env}"
        ]
        assert len(created) == 1


def test_a_run_that_loses_the_race_after_its_read_sees_the_winner(
    server: GitHubServer, github: GitHub
) -> None:
    head = server.repos[REPO].pulls[1].head_sha
    winner = _adapter(server).acquire_lock("prod", pull=101, sha=head)
    # Our read happened before the winner's create: it found no lock.
    lock_ref = f"{API}/git/ref/gitops-bot/locks/prod"
    server.fail(404, method="GET", path=lock_ref, message="Not Found")
    before = len(server.log)

    assert github.acquire_lock("prod", pull=102, sha=head) == winner
    assert server.log[before:] == [
        f"GET {lock_ref}",
        f"POST {API}/git/tags",
        f"POST {API}/git/refs",  # 422 Reference already exists
        f"GET {lock_ref}",
        f"GET {API}/git/tags/{server.repos[REPO].refs['gitops-bot/locks/prod']}",
        f"GET {API}/pulls/101",  # is the holder open? (no such pull: its lock stays)
    ]
    assert [r.status for r in server.requests[before:]] == [404, 201, 422, 200, 200, 404]


def test_a_lock_ref_gitops_bot_did_not_write_is_an_error(
    server: GitHubServer, github: GitHub
) -> None:
    server.repos[REPO].refs["gitops-bot/locks/prod"] = server.repos[REPO].refs["heads/main"]

    with pytest.raises(ForgeError, match="points to a commit, not a lock gitops-bot wrote"):
        github.lock_holder("prod")


@pytest.mark.parametrize("env", ["Prod", "../heads/main", "a b", "x" * 64, ""])
def test_an_environment_that_cannot_name_a_ref_is_refused_before_any_request(
    server: GitHubServer, github: GitHub, env: str
) -> None:
    with pytest.raises(ValueError, match="cannot name a lock"):
        github.acquire_lock(env, pull=1, sha="a" * 40)
    assert server.log == []


@pytest.mark.parametrize(("pull", "sha"), [(1, "a" * 40), (12345, "0" * 40)])
def test_a_lock_message_reads_back(pull: int, sha: str) -> None:
    text = format_lock("prod", pull=pull, sha=sha)

    assert parse_lock(text, since="2026-01-05T09:00:00Z") == Lock(
        "prod", pull, sha, "2026-01-05T09:00:00Z"
    )
    with pytest.raises(ForgeError, match="not a lock gitops-bot wrote"):
        parse_lock("v1.0.0\n\nrelease notes", since="")


# -- deployments ------------------------------------------------------------------


def test_a_deployment_is_created_once_per_environment_and_commit(
    server: GitHubServer, github: GitHub
) -> None:
    main = server.repos[REPO].refs["heads/main"]

    github.record_deployment("prod", main, DeploymentState.IN_PROGRESS, "applying", "https://ci/1")
    first = list(server.log)
    github.record_deployment(
        "prod", main, DeploymentState.SUCCESS, "applied to prod at " + main[:7]
    )

    [deployment] = server.repos[REPO].deployments
    assert (deployment.environment, deployment.sha, deployment.ref) == ("prod", main, main)
    assert [(s.state, s.target_url) for s in deployment.statuses] == [
        ("in_progress", "https://ci/1"),
        ("success", ""),
    ]
    assert deployment.statuses[-1].description == f"applied to prod at {main[:7]}"
    assert first == [
        f"GET {API}/deployments",
        f"POST {API}/deployments",
        f"POST {API}/deployments/{deployment.id}/statuses",
    ]
    assert server.log[len(first) :] == [
        f"GET {API}/deployments",
        f"POST {API}/deployments/{deployment.id}/statuses",
    ]
    created = next(
        r for r in server.requests if r.method == "POST" and r.path.endswith("/deployments")
    )
    assert created.body is not None
    assert (created.body["auto_merge"], created.body["required_contexts"]) == (False, [])


def test_another_environment_gets_its_own_deployment(server: GitHubServer, github: GitHub) -> None:
    main = server.repos[REPO].refs["heads/main"]

    github.record_deployment("dev", main, DeploymentState.SUCCESS, "ok")
    github.record_deployment("prod", main, DeploymentState.FAILURE, "x" * 200)

    assert [(d.environment, d.statuses[-1].state) for d in server.repos[REPO].deployments] == [
        ("dev", "success"),
        ("prod", "failure"),
    ]
    assert len(server.repos[REPO].deployments[1].statuses[-1].description) == 140


def test_an_environments_newest_deployments_read_back_with_the_start_of_their_state(
    server: GitHubServer, github: GitHub
) -> None:
    main = server.repos[REPO].refs["heads/main"]
    feature = server.repos[REPO].refs["heads/feature"]
    github.record_deployment("prod", main, DeploymentState.IN_PROGRESS, "applying")
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "applied")
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "still applied")
    github.record_deployment("dev", feature, DeploymentState.SUCCESS, "applied")
    github.record_deployment("prod", feature, DeploymentState.IN_PROGRESS, "applying")
    github.record_deployment("prod", feature, DeploymentState.FAILURE, "apply failed")
    old, _, new = server.repos[REPO].deployments
    before = len(server.log)

    found = github.deployments("prod", limit=2)

    assert found == (
        Deployment(
            env="prod",
            sha=feature,
            state=DeploymentState.FAILURE,
            since=new.statuses[1].created_at,  # the failure, not the attempt before it
            description="apply failed",
            created_at=new.created_at,
        ),
        Deployment(
            env="prod",
            sha=main,
            state=DeploymentState.SUCCESS,
            since=old.statuses[1].created_at,  # the first of its two successes
            description="still applied",
            created_at=old.created_at,
        ),
    )
    assert server.log[before:] == [
        f"GET {API}/deployments",
        f"GET {API}/deployments/{new.id}/statuses",
        f"GET {API}/deployments/{old.id}/statuses",
    ]
    assert server.requests[before].query["environment"] == "prod"


def test_only_the_newest_deployment_is_read_by_default(
    server: GitHubServer, github: GitHub
) -> None:
    main = server.repos[REPO].refs["heads/main"]
    feature = server.repos[REPO].refs["heads/feature"]
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "applied")
    github.record_deployment("prod", feature, DeploymentState.IN_PROGRESS, "applying")
    new = server.repos[REPO].deployments[-1]
    before = len(server.log)

    [found] = github.deployments("prod")

    assert (found.sha, found.state, found.since) == (
        feature,
        DeploymentState.IN_PROGRESS,
        new.statuses[0].created_at,
    )
    assert server.log[before:] == [
        f"GET {API}/deployments",
        f"GET {API}/deployments/{new.id}/statuses",
    ]


def test_an_environment_never_deployed_to_has_no_deployments(
    server: GitHubServer, github: GitHub
) -> None:
    github.record_deployment(
        "dev", server.repos[REPO].refs["heads/main"], DeploymentState.SUCCESS, ""
    )
    before = len(server.log)

    assert github.deployments("prod", limit=3) == ()
    assert server.log[before:] == [f"GET {API}/deployments"]


def test_a_replaced_deployment_is_inactive_on_github_and_keeps_its_state_when_read(
    server: GitHubServer, github: GitHub
) -> None:
    main = server.repos[REPO].refs["heads/main"]
    feature = server.repos[REPO].refs["heads/feature"]
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "applied")
    github.record_deployment("dev", main, DeploymentState.SUCCESS, "applied")
    github.record_deployment("prod", feature, DeploymentState.SUCCESS, "applied")

    old, dev, new = server.repos[REPO].deployments
    assert [s.state for s in old.statuses] == ["success", "inactive"]
    assert [s.state for s in dev.statuses] == ["success"]  # another environment
    assert [s.state for s in new.statuses] == ["success"]
    assert [(d.sha, d.state, d.since) for d in github.deployments("prod", limit=2)] == [
        (feature, DeploymentState.SUCCESS, new.statuses[0].created_at),
        (main, DeploymentState.SUCCESS, old.statuses[0].created_at),
    ]


def test_a_deployment_back_to_success_after_being_inactive_is_healthy_only_since_then(
    server: GitHubServer, github: GitHub
) -> None:
    main = server.repos[REPO].refs["heads/main"]
    feature = server.repos[REPO].refs["heads/feature"]
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "applied")
    github.record_deployment("prod", feature, DeploymentState.SUCCESS, "applied")
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "rolled back")

    old = server.repos[REPO].deployments[0]
    assert [s.state for s in old.statuses] == ["success", "inactive", "success"]
    assert github.deployments("prod", limit=2)[1] == Deployment(
        env="prod",
        sha=main,
        state=DeploymentState.SUCCESS,
        since=old.statuses[2].created_at,  # not the success the inactive status ended
        description="rolled back",
        created_at=old.created_at,
    )


# -- committing files: deletions ---------------------------------------------------


def test_a_commit_deletes_a_path_with_a_null_sha_in_the_same_tree(
    server: GitHubServer, github: GitHub
) -> None:
    main = server.repos[REPO].refs["heads/main"]
    github.create_branch("promote/dev", from_sha=main)

    sha = github.commit_files(
        "promote/dev",
        files={"deploy/dev/app.yaml": None, "deploy/dev/version.yaml": "v: 2\n"},
        message="Promote v2",
    )

    assert server.repos[REPO].refs["heads/promote/dev"] == sha
    assert server.commits[sha].parents == (main,)
    assert server.file_at(REPO, "promote/dev", "deploy/dev/app.yaml") is None
    assert server.file_at(REPO, "promote/dev", "deploy/dev/version.yaml") == "v: 2\n"
    assert server.file_at(REPO, "main", "deploy/dev/app.yaml") == "replicas: 1\n"
    [tree] = [r for r in server.requests if str(r) == f"POST {API}/git/trees"]
    assert tree.body is not None
    assert tree.body["tree"] == [
        {"path": "deploy/dev/app.yaml", "mode": "100644", "type": "blob", "sha": None},
        {"path": "deploy/dev/version.yaml", "mode": "100644", "type": "blob", "content": "v: 2\n"},
    ]


def test_deleting_a_path_the_commit_lacks_is_refused_and_nothing_is_written(
    server: GitHubServer, github: GitHub
) -> None:
    main = server.repos[REPO].refs["heads/main"]
    before = len(server.log)

    with pytest.raises(ForgeError) as caught:
        github.commit_files(
            "promote/dev",
            files={"deploy/dev/gone.yaml": None, "deploy/dev/app.yaml": "replicas: 2\n"},
            message="m",
            parent=main,
        )

    assert str(caught.value) == (
        f"committing 2 file(s) to promote/dev in {REPO}: deleting deploy/dev/gone.yaml: "
        "GitHub answered 422: GitRPC::BadObjectState "
        f"(GitHub refuses to delete a path that {main[:12]} does not have)"
    )
    assert server.log[before:] == [f"GET {API}/git/commits/{main}", f"POST {API}/git/trees"]
    assert server.requests[-1].status == 422
    assert "heads/promote/dev" not in server.repos[REPO].refs
