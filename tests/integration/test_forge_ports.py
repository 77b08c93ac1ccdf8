"""The forge adapters' newer ports over real HTTP, one suite for both forges:
fewer calls for the sticky comment, environment locks, deployments, and
committing files with deletions.

Each shared case runs against both emulators through `side`: the adapter
plus the few facts that differ between forges (which requests a call makes,
where a lock is kept). Cases of one forge's own behaviour (GitHub's
deployment statuses, GitLab's deployment moves, each one's commit requests,
the GitLab emulator's documented shapes) take that forge's fixtures only.
The GitHub emulator checks every exchange against GitHub's OpenAPI
description (`checked`), as in test_github.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import gitlab
import pytest

from gitops_bot.core.pr.model import (
    Comment,
    Deployment,
    DeploymentState,
    Lock,
    Reaction,
    format_lock,
    parse_lock,
)
from gitops_bot.core.report import markdown
from gitops_bot.errors import ForgeError
from gitops_bot.forges.forge import Adapter
from gitops_bot.forges.github.adapter import GitHub
from gitops_bot.forges.gitlab.adapter import GitLab
from tests.fakes.github_server import ChangedFile, GitHubServer, checked
from tests.fakes.gitlab_server import DEVELOPER, GitLabServer
from tests.integration.test_gitlab import EXAMPLES, shape_errors

PLAN_PROD = markdown.marker("prod", 1, 1)
PLAN_DEV = markdown.marker("dev", 1, 1)

GH_TOKEN = "ghs_canary0123456789abcdefPORTS"
GH_BOT = "gitops-bot[bot]"
REPO = "acme/shop"
GH_API = f"/repos/{REPO}"

GL_TOKEN = "glpat-SECRET-canary-ports"
GL_BOT = "gitops_bot"
PROJECT = "group/shop"
GL_API = f"/api/v4/projects/{PROJECT}"


# -- the two emulators and their adapters ------------------------------------------


@pytest.fixture
def hub() -> Iterator[GitHubServer]:
    """acme/shop with pull request #1 from its branch `feature`, by alice."""
    with checked() as emulator:
        emulator.add_user(GH_BOT, type="Bot", token=GH_TOKEN)
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


def _github(hub: GitHubServer) -> GitHub:
    return GitHub(
        repo=REPO,
        token=GH_TOKEN,
        base_url=hub.url,
        bot_login=GH_BOT,
        sleep=lambda _: None,
        seconds_between_writes=None,
    )


@pytest.fixture
def github(hub: GitHubServer) -> GitHub:
    return _github(hub)


@pytest.fixture
def lab() -> Iterator[GitLabServer]:
    """group/shop with merge request !1 from its branch `scale`, by alice."""
    with GitLabServer() as gl:
        gl.add_user(GL_BOT, bot=True, token=GL_TOKEN)
        gl.add_user("alice")
        gl.add_project(PROJECT, files={"deploy/prod/app.yaml": "replicas: 1\n"})
        gl.add_member("group", GL_BOT, DEVELOPER)
        gl.add_member(PROJECT, "alice", DEVELOPER)
        gl.commit(PROJECT, "scale", {"deploy/prod/app.yaml": "replicas: 3\n"}, author="alice")
        gl.open_merge_request(PROJECT, source_branch="scale", title="Scale", author="alice")
        yield gl


def _gitlab(lab: GitLabServer) -> GitLab:
    return GitLab(project=PROJECT, token=GL_TOKEN, url=lab.url)


@pytest.fixture
def glab(lab: GitLabServer) -> GitLab:
    return _gitlab(lab)


# -- what differs between the forges, for the shared cases --------------------------


@dataclass
class Side:
    """One forge's emulator and adapter, and the facts the shared cases need."""

    name: str
    forge: Adapter
    connect: Callable[[], Adapter]  # another run's adapter, on its own connection
    read_log: Callable[[], list[str]]  # the emulator's requests so far, "METHOD path"
    api: str
    bot: str
    head: str  # pull request 1's head
    main: str  # the default branch's tip
    comment_edit: str  # the request that edits comment {id} of pull request 1
    comment_create: str
    add_comment: Callable[[str, str], int]  # (author, body) on pull request 1 -> id
    bot_comments: Callable[[], list[str]]  # the bot's comment bodies on pull request 1
    lock_read: Callable[[str], str]  # the request that reads env's lock
    lock_take: Callable[[str], list[str]]  # the requests that take a free lock
    lock_delete: Callable[[str], str]
    lock_stored: Callable[[str], tuple[str, str]]  # env -> (commit, message) as stored
    lock_written: Callable[[str], str]  # format_lock's text -> the message as stored
    locks_kept: Callable[[str], int]  # how many locks the forge created for env
    lock_names: Callable[[], list[str]]  # every lock the forge holds, by its name there
    lock_name: Callable[[str], str]
    # The requests of a take that loses the race after its read said "free";
    # pull 101 holds the lock.
    lost_race: Callable[[str], list[str]]
    # How the emulator answered each request since `before`, where it records that,
    # and how it answers those of the lost race.
    answers: Callable[[int], list[int]]
    lost_race_answers: list[int]
    hide_lock: Callable[[str], None]  # the next read of env's lock answers 404
    plant_foreign_lock: Callable[[str], None]  # a ref/tag by the lock's name, not a lock
    foreign_lock_error: str

    @property
    def log(self) -> list[str]:
        return self.read_log()


def _github_side(hub: GitHubServer, github: GitHub) -> Side:
    repo = hub.repos[REPO]

    def add_comment(author: str, body: str) -> int:
        return hub.add_comment(REPO, 1, author=author, body=body).id

    def created(env: str) -> int:
        return len(
            [
                r
                for r in hub.requests
                if (r.method, r.path, r.status) == ("POST", f"{GH_API}/git/refs", 201)
                and r.body is not None
                and r.body["ref"] == f"refs/gitops-bot/locks/{env}"
            ]
        )

    def stored(env: str) -> tuple[str, str]:
        tag = hub.tags[repo.refs[f"gitops-bot/locks/{env}"]]
        # a ref of its own namespace, never a branch
        assert f"heads/gitops-bot/locks/{env}" not in repo.refs
        return tag.object_sha, tag.message

    def plant(env: str) -> None:
        repo.refs[f"gitops-bot/locks/{env}"] = repo.refs["heads/main"]

    return Side(
        name="github",
        forge=github,
        connect=lambda: _github(hub),
        read_log=lambda: hub.log,
        api=GH_API,
        bot=GH_BOT,
        head=repo.pulls[1].head_sha,
        main=repo.refs["heads/main"],
        comment_edit=f"PATCH {GH_API}/issues/comments/{{id}}",
        comment_create=f"POST {GH_API}/issues/1/comments",
        add_comment=add_comment,
        bot_comments=lambda: [c.body for c in hub.comments_on(REPO, 1) if c.author == GH_BOT],
        lock_read=lambda env: f"GET {GH_API}/git/ref/gitops-bot/locks/{env}",
        lock_take=lambda env: [
            f"GET {GH_API}/git/ref/gitops-bot/locks/{env}",
            f"POST {GH_API}/git/tags",
            f"POST {GH_API}/git/refs",
        ],
        lock_delete=lambda env: f"DELETE {GH_API}/git/refs/gitops-bot/locks/{env}",
        lock_stored=stored,
        lock_written=lambda text: text,
        locks_kept=created,
        lock_names=lambda: sorted(r for r in repo.refs if r.startswith("gitops-bot/locks/")),
        lock_name=lambda env: f"gitops-bot/locks/{env}",
        lost_race=lambda env: [
            f"GET {GH_API}/git/ref/gitops-bot/locks/{env}",
            f"POST {GH_API}/git/tags",
            f"POST {GH_API}/git/refs",  # 422 Reference already exists
            f"GET {GH_API}/git/ref/gitops-bot/locks/{env}",
            f"GET {GH_API}/git/tags/{repo.refs[f'gitops-bot/locks/{env}']}",
            f"GET {GH_API}/pulls/101",  # is the holder open? (no such pull: its lock stays)
        ],
        answers=lambda before: [r.status for r in hub.requests[before:]],
        lost_race_answers=[404, 201, 422, 200, 200, 404],
        hide_lock=lambda env: hub.fail(
            404, method="GET", path=f"{GH_API}/git/ref/gitops-bot/locks/{env}", message="Not Found"
        ),
        plant_foreign_lock=plant,
        foreign_lock_error="points to a commit, not a lock gitops-bot wrote",
    )


def _gitlab_side(lab: GitLabServer, glab: GitLab) -> Side:
    project = lab.project(PROJECT)

    def add_comment(author: str, body: str) -> int:
        return lab.add_note(PROJECT, 1, author=author, body=body).id

    def stored(env: str) -> tuple[str, str]:
        tag = project.tags[f"gitops-bot/lock/{env}"]
        return tag.commit, tag.message

    def plant(env: str) -> None:
        gl = gitlab.Gitlab(url=lab.url, private_token=GL_TOKEN)
        gl.projects.get(PROJECT, lazy=True).tags.create(
            {"tag_name": f"gitops-bot/lock/{env}", "ref": "main", "message": "v1"}
        )

    return Side(
        name="gitlab",
        forge=glab,
        connect=lambda: _gitlab(lab),
        read_log=lambda: lab.log,
        api=GL_API,
        bot=GL_BOT,
        head=lab.merge_request(PROJECT, 1).versions[-1].head,
        main=project.branches["main"],
        comment_edit=f"PUT {GL_API}/merge_requests/1/notes/{{id}}",
        comment_create=f"POST {GL_API}/merge_requests/1/notes",
        add_comment=add_comment,
        bot_comments=lambda: [
            n.body for n in lab.merge_request(PROJECT, 1).notes if n.author.username == GL_BOT
        ],
        lock_read=lambda env: f"GET {GL_API}/repository/tags/gitops-bot/lock/{env}",
        lock_take=lambda env: [
            f"GET {GL_API}/repository/tags/gitops-bot/lock/{env}",
            f"POST {GL_API}/repository/tags",
        ],
        lock_delete=lambda env: f"DELETE {GL_API}/repository/tags/gitops-bot/lock/{env}",
        lock_stored=stored,
        lock_written=str.strip,  # GitLab strips a tag's message
        # a tag name is taken once: the loser's create is refused
        locks_kept=lambda env: int(f"gitops-bot/lock/{env}" in project.tags),
        lock_names=lambda: sorted(project.tags),
        lock_name=lambda env: f"gitops-bot/lock/{env}",
        lost_race=lambda env: [
            f"GET {GL_API}/repository/tags/gitops-bot/lock/{env}",
            f"POST {GL_API}/repository/tags",
            f"GET {GL_API}/repository/tags/gitops-bot/lock/{env}",
            f"GET {GL_API}/merge_requests/101",  # is the holder open? (no such one: it stays)
        ],
        answers=lambda before: [],  # the GitLab emulator logs requests, not answers
        lost_race_answers=[],
        hide_lock=lambda env: lab.fail(
            404,
            method="GET",
            path=f"{GL_API}/repository/tags/gitops-bot/lock/{env}",
            message="404 Tag Not Found",
        ),
        plant_foreign_lock=plant,
        foreign_lock_error="not a lock gitops-bot wrote",
    )


@pytest.fixture(params=["github", "gitlab"])
def side(request: pytest.FixtureRequest) -> Side:
    if request.param == "github":
        return _github_side(request.getfixturevalue("hub"), request.getfixturevalue("github"))
    return _gitlab_side(request.getfixturevalue("lab"), request.getfixturevalue("glab"))


# -- the sticky comment, on comments the caller already listed --------------------


@pytest.mark.parametrize(
    ("marker", "body", "expected"),
    [
        (PLAN_PROD, f"{PLAN_PROD}\nold plan", []),
        (PLAN_PROD, f"{PLAN_PROD}\nnew plan", ["edit"]),
        (PLAN_DEV, f"{PLAN_DEV}\ndev plan", ["create"]),
    ],
    ids=["unchanged: no request", "changed: one edit", "new: one create"],
)
def test_an_upsert_on_listed_comments_makes_at_most_one_request(
    side: Side, marker: str, body: str, expected: list[str]
) -> None:
    side.add_comment("alice", f"{PLAN_DEV}\nquoted by alice, not the bot's")
    plan = side.add_comment(side.bot, f"{PLAN_PROD}\nold plan")
    listed = side.forge.comments(1)
    before = len(side.log)

    written = side.forge.upsert_comment(1, marker=marker, body=body, existing=listed)

    requests = {"edit": side.comment_edit.format(id=plan), "create": side.comment_create}
    assert side.log[before:] == [requests[kind] for kind in expected]
    assert (written.body, written.is_bot, written.author) == (body, True, side.bot)
    bots = side.bot_comments()
    assert body in bots
    assert len(bots) == (2 if marker == PLAN_DEV else 1)


def test_an_upsert_never_takes_someone_elses_listed_comment_for_its_own(side: Side) -> None:
    forged = Comment(id=7, author="alice", body=f"{PLAN_PROD}\nforged", created_at="", is_bot=False)

    written = side.forge.upsert_comment(
        1, marker=PLAN_PROD, body=f"{PLAN_PROD}\nv1", existing=[forged]
    )

    assert side.log == [side.comment_create]
    assert written.id != forged.id


def test_a_reaction_tells_whether_it_was_new_so_one_of_two_runs_claims_a_command(
    side: Side,
) -> None:
    command = side.add_comment("alice", "/gitops plan")
    other = side.connect()

    claims = [run.react(1, command, Reaction.SEEN) for run in (side.forge, other)]

    assert claims == [True, False]
    assert side.forge.react(1, command, Reaction.DONE) is True


# -- locks ------------------------------------------------------------------------


def test_a_free_lock_is_taken_as_a_tag_and_read_back(side: Side) -> None:
    lock = side.forge.acquire_lock("prod", pull=1, sha=side.head)

    assert (lock.env, lock.pull, lock.sha) == ("prod", 1, side.head)
    assert lock.since.endswith("Z")
    assert side.log == side.lock_take("prod")
    assert side.lock_stored("prod") == (
        side.head,
        side.lock_written(format_lock("prod", pull=1, sha=side.head)),
    )
    assert side.forge.lock_holder("prod") == lock


def test_only_the_holder_releases_a_lock(side: Side) -> None:
    side.forge.acquire_lock("prod", pull=1, sha=side.head)

    assert side.forge.release_lock("prod", pull=2) is False
    assert side.forge.lock_holder("prod") is not None
    assert side.forge.release_lock("prod", pull=1) is True
    assert side.forge.lock_holder("prod") is None
    assert side.forge.release_lock("prod", pull=1) is False
    assert side.log.count(side.lock_delete("prod")) == 1
    assert side.forge.acquire_lock("prod", pull=2, sha=side.head).pull == 2


def _race(side: Side, env: str, sha: str) -> dict[int, Lock]:
    """Two runs (two adapters, two connections) take `env` at the same moment."""
    start = threading.Barrier(2)
    results: dict[int, Lock] = {}

    def take(pull: int) -> None:
        adapter = side.connect()
        start.wait()
        results[pull] = adapter.acquire_lock(env, pull=pull, sha=sha)

    threads = [threading.Thread(target=take, args=(pull,)) for pull in (101, 102)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_runs_racing_for_one_lock_both_see_one_winner(side: Side) -> None:
    for round_ in range(8):
        env = f"env-{round_}"

        results = _race(side, env, side.head)

        assert results[101] == results[102], round_
        assert results[101].pull in (101, 102)
        assert side.locks_kept(env) == 1
    assert side.lock_names() == [side.lock_name(f"env-{i}") for i in range(8)]


def test_a_run_that_loses_the_race_after_its_read_sees_the_winner(side: Side) -> None:
    winner = side.connect().acquire_lock("prod", pull=101, sha=side.head)
    side.hide_lock("prod")  # our read happened before the winner's create: no lock
    before = len(side.log)

    assert side.forge.acquire_lock("prod", pull=102, sha=side.head) == winner
    assert side.log[before:] == side.lost_race("prod")
    assert side.answers(before) == side.lost_race_answers


def test_a_lock_gitops_bot_did_not_write_is_an_error(side: Side) -> None:
    side.plant_foreign_lock("prod")

    with pytest.raises(ForgeError, match=side.foreign_lock_error):
        side.forge.lock_holder("prod")


@pytest.mark.parametrize("env", ["Prod", "../heads/main", "a b", "x" * 64, ""])
def test_an_environment_that_cannot_name_a_ref_is_refused_before_any_request(
    side: Side, env: str
) -> None:
    with pytest.raises(ValueError, match="cannot name a lock"):
        side.forge.acquire_lock(env, pull=1, sha="a" * 40)
    assert side.log == []


@pytest.mark.parametrize(("pull", "sha"), [(1, "a" * 40), (12345, "0" * 40)])
def test_a_lock_message_reads_back(pull: int, sha: str) -> None:
    text = format_lock("prod", pull=pull, sha=sha)

    assert parse_lock(text, since="2026-01-05T09:00:00Z") == Lock(
        "prod", pull, sha, "2026-01-05T09:00:00Z"
    )
    with pytest.raises(ForgeError, match="not a lock gitops-bot wrote"):
        parse_lock("v1.0.0\n\nrelease notes", since="")


def test_a_held_lock_answers_with_its_holder_in_two_or_three_requests_on_github(
    hub: GitHubServer, github: GitHub
) -> None:
    head = hub.repos[REPO].pulls[1].head_sha
    mine = github.acquire_lock("prod", pull=1, sha=head)
    other = _pull(hub, "other", {"README.md": "other"})
    before = len(hub.log)

    theirs = github.acquire_lock("prod", pull=other, sha=hub.repos[REPO].pulls[other].head_sha)
    again = github.acquire_lock("prod", pull=1, sha="f" * 40)

    assert theirs == mine
    assert again == mine  # held already: the lock keeps the head it was taken at
    # the ref and its tag, and for another pull request whether the holder is still open
    assert len(hub.log[before:]) == 5
    assert hub.log[before + 2] == f"GET {GH_API}/pulls/1"
    assert github.acquire_lock("dev", pull=other, sha=head).pull == other  # another env is free


def test_a_held_lock_answers_with_its_holder_in_one_or_two_requests_on_gitlab(
    lab: GitLabServer, glab: GitLab
) -> None:
    head = lab.merge_request(PROJECT, 1).versions[-1].head
    lock = glab.acquire_lock("prod", pull=1, sha=head)
    lab.log.clear()

    assert glab.lock_holder("prod") == lock
    assert glab.acquire_lock("prod", pull=2, sha=head) == lock  # held: the holder answers
    # and whether its merge request is still open (one merged or closed holds nothing)
    assert (
        lab.log
        == [
            f"GET {GL_API}/repository/tags/gitops-bot/lock/prod",
            f"GET {GL_API}/merge_requests/1",
        ]
        * 2
    )
    lab.log.clear()
    assert glab.acquire_lock("prod", pull=1, sha=head) == lock  # its own: 1 request
    assert lab.log == [f"GET {GL_API}/repository/tags/gitops-bot/lock/prod"]


# -- deployments --------------------------------------------------------------------


def test_an_environment_never_deployed_to_has_no_deployments(side: Side) -> None:
    side.forge.record_deployment("dev", side.main, DeploymentState.SUCCESS, "", ref="main")
    before = len(side.log)

    assert side.forge.deployments("prod", limit=3) == ()
    assert side.log[before:] == [f"GET {side.api}/deployments"]


def test_a_deployment_is_created_once_per_environment_and_commit_on_github(
    hub: GitHubServer, github: GitHub
) -> None:
    main = hub.repos[REPO].refs["heads/main"]

    github.record_deployment("prod", main, DeploymentState.IN_PROGRESS, "applying", "https://ci/1")
    first = list(hub.log)
    github.record_deployment(
        "prod", main, DeploymentState.SUCCESS, "applied to prod at " + main[:7]
    )

    [deployment] = hub.repos[REPO].deployments
    assert (deployment.environment, deployment.sha, deployment.ref) == ("prod", main, main)
    assert [(s.state, s.target_url) for s in deployment.statuses] == [
        ("in_progress", "https://ci/1"),
        ("success", ""),
    ]
    assert deployment.statuses[-1].description == f"applied to prod at {main[:7]}"
    assert first == [
        f"GET {GH_API}/deployments",
        f"POST {GH_API}/deployments",
        f"POST {GH_API}/deployments/{deployment.id}/statuses",
    ]
    assert hub.log[len(first) :] == [
        f"GET {GH_API}/deployments",
        f"POST {GH_API}/deployments/{deployment.id}/statuses",
    ]
    created = next(
        r for r in hub.requests if r.method == "POST" and r.path.endswith("/deployments")
    )
    assert created.body is not None
    assert (created.body["auto_merge"], created.body["required_contexts"]) == (False, [])


def test_another_environment_gets_its_own_deployment_on_github(
    hub: GitHubServer, github: GitHub
) -> None:
    main = hub.repos[REPO].refs["heads/main"]

    github.record_deployment("dev", main, DeploymentState.SUCCESS, "ok")
    github.record_deployment("prod", main, DeploymentState.FAILURE, "x" * 200)

    assert [(d.environment, d.statuses[-1].state) for d in hub.repos[REPO].deployments] == [
        ("dev", "success"),
        ("prod", "failure"),
    ]
    assert len(hub.repos[REPO].deployments[1].statuses[-1].description) == 140


def test_an_environments_newest_deployments_read_back_with_the_start_of_their_state_on_github(
    hub: GitHubServer, github: GitHub
) -> None:
    main = hub.repos[REPO].refs["heads/main"]
    feature = hub.repos[REPO].refs["heads/feature"]
    github.record_deployment("prod", main, DeploymentState.IN_PROGRESS, "applying")
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "applied")
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "still applied")
    github.record_deployment("dev", feature, DeploymentState.SUCCESS, "applied")
    github.record_deployment("prod", feature, DeploymentState.IN_PROGRESS, "applying")
    github.record_deployment("prod", feature, DeploymentState.FAILURE, "apply failed")
    old, _, new = hub.repos[REPO].deployments
    before = len(hub.log)

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
    assert hub.log[before:] == [
        f"GET {GH_API}/deployments",
        f"GET {GH_API}/deployments/{new.id}/statuses",
        f"GET {GH_API}/deployments/{old.id}/statuses",
    ]
    assert hub.requests[before].query["environment"] == "prod"


def test_only_the_newest_deployment_is_read_by_default_on_github(
    hub: GitHubServer, github: GitHub
) -> None:
    main = hub.repos[REPO].refs["heads/main"]
    feature = hub.repos[REPO].refs["heads/feature"]
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "applied")
    github.record_deployment("prod", feature, DeploymentState.IN_PROGRESS, "applying")
    new = hub.repos[REPO].deployments[-1]
    before = len(hub.log)

    [found] = github.deployments("prod")

    assert (found.sha, found.state, found.since) == (
        feature,
        DeploymentState.IN_PROGRESS,
        new.statuses[0].created_at,
    )
    assert hub.log[before:] == [
        f"GET {GH_API}/deployments",
        f"GET {GH_API}/deployments/{new.id}/statuses",
    ]


def test_a_replaced_deployment_is_inactive_on_github_and_keeps_its_state_when_read(
    hub: GitHubServer, github: GitHub
) -> None:
    main = hub.repos[REPO].refs["heads/main"]
    feature = hub.repos[REPO].refs["heads/feature"]
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "applied")
    github.record_deployment("dev", main, DeploymentState.SUCCESS, "applied")
    github.record_deployment("prod", feature, DeploymentState.SUCCESS, "applied")

    old, dev, new = hub.repos[REPO].deployments
    assert [s.state for s in old.statuses] == ["success", "inactive"]
    assert [s.state for s in dev.statuses] == ["success"]  # another environment
    assert [s.state for s in new.statuses] == ["success"]
    assert [(d.sha, d.state, d.since) for d in github.deployments("prod", limit=2)] == [
        (feature, DeploymentState.SUCCESS, new.statuses[0].created_at),
        (main, DeploymentState.SUCCESS, old.statuses[0].created_at),
    ]


def test_a_deployment_back_to_success_after_being_inactive_is_healthy_only_since_then_on_github(
    hub: GitHubServer, github: GitHub
) -> None:
    main = hub.repos[REPO].refs["heads/main"]
    feature = hub.repos[REPO].refs["heads/feature"]
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "applied")
    github.record_deployment("prod", feature, DeploymentState.SUCCESS, "applied")
    github.record_deployment("prod", main, DeploymentState.SUCCESS, "rolled back")

    old = hub.repos[REPO].deployments[0]
    assert [s.state for s in old.statuses] == ["success", "inactive", "success"]
    assert github.deployments("prod", limit=2)[1] == Deployment(
        env="prod",
        sha=main,
        state=DeploymentState.SUCCESS,
        since=old.statuses[2].created_at,  # not the success the inactive status ended
        description="rolled back",
        created_at=old.created_at,
    )


def test_a_deployment_is_created_running_then_moved_to_success_on_gitlab(
    lab: GitLabServer, glab: GitLab
) -> None:
    main = lab.project(PROJECT).branches["main"]

    glab.record_deployment("prod", main, DeploymentState.IN_PROGRESS, "applying")
    first = list(lab.log)
    glab.record_deployment("prod", main, DeploymentState.SUCCESS, "applied")
    glab.record_deployment("prod", main, DeploymentState.SUCCESS, "applied")

    [deployment] = lab.project(PROJECT).deployments
    assert (deployment.environment, deployment.sha, deployment.ref, deployment.tag) == (
        "prod",
        main,
        "main",
        False,
    )
    assert deployment.status == "success"
    assert first == [
        f"GET {GL_API}/deployments",
        f"GET {GL_API}",  # the default branch, once
        f"POST {GL_API}/deployments",
    ]
    assert lab.log[len(first) :] == [
        f"GET {GL_API}/deployments",
        f"PUT {GL_API}/deployments/{deployment.id}",
        f"GET {GL_API}/deployments",  # the same state again: nothing to write
    ]


def test_a_finished_deployment_is_not_rewound_a_new_one_records_the_new_attempt_on_gitlab(
    lab: GitLabServer, glab: GitLab
) -> None:
    main = lab.project(PROJECT).branches["main"]

    glab.record_deployment("prod", main, DeploymentState.FAILURE, "health check failed", ref="main")
    glab.record_deployment("prod", main, DeploymentState.IN_PROGRESS, "retrying", ref="main")
    glab.record_deployment("dev", main, DeploymentState.ERROR, "no cluster", ref="main")

    assert [(d.environment, d.status) for d in lab.project(PROJECT).deployments] == [
        ("prod", "failed"),
        ("prod", "running"),
        ("dev", "failed"),
    ]
    assert lab.count(f"GET {GL_API}") == 0  # `ref` given: the default branch is not read


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_environments_newest_deployments_read_back_in_one_request_on_gitlab(
    lab: GitLabServer, glab: GitLab
) -> None:
    main = lab.project(PROJECT).branches["main"]
    scale = lab.project(PROJECT).branches["scale"]
    glab.record_deployment("prod", main, DeploymentState.SUCCESS, "applied", ref="main")
    glab.record_deployment("dev", scale, DeploymentState.SUCCESS, "applied", ref="scale")
    glab.record_deployment("prod", scale, DeploymentState.IN_PROGRESS, "applying", ref="scale")
    glab.record_deployment("prod", scale, DeploymentState.FAILURE, "apply failed", ref="scale")
    glab.record_deployment("prod", main, DeploymentState.IN_PROGRESS, "rolling back", ref="main")
    _, _, failed, running = lab.project(PROJECT).deployments
    before = len(lab.log)

    found = glab.deployments("prod", limit=2)

    assert found == (
        Deployment(
            env="prod",
            sha=main,
            state=DeploymentState.IN_PROGRESS,
            since=_iso(running.created),
            created_at=_iso(running.created),
        ),
        Deployment(
            env="prod",
            sha=scale,
            state=DeploymentState.FAILURE,
            since=_iso(failed.updated),  # the move to failed, not the start of the attempt
            created_at=_iso(failed.created),
        ),
    )
    assert failed.updated > failed.created
    assert lab.log[before:] == [f"GET {GL_API}/deployments"]


def test_a_deployment_holds_its_state_since_it_moved_there_on_gitlab(
    lab: GitLabServer, glab: GitLab
) -> None:
    main = lab.project(PROJECT).branches["main"]
    glab.record_deployment("prod", main, DeploymentState.IN_PROGRESS, "applying", ref="main")
    glab.record_deployment("prod", main, DeploymentState.SUCCESS, "applied", ref="main")
    [deployment] = lab.project(PROJECT).deployments
    moved = deployment.updated
    glab.record_deployment("prod", main, DeploymentState.SUCCESS, "still applied", ref="main")

    assert glab.deployments("prod") == (
        Deployment(
            env="prod",
            sha=main,
            state=DeploymentState.SUCCESS,
            since=_iso(moved),  # the same state again changed nothing
            created_at=_iso(deployment.created),
        ),
    )
    assert deployment.updated == moved


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("running", DeploymentState.IN_PROGRESS),
        ("success", DeploymentState.SUCCESS),
        ("failed", DeploymentState.FAILURE),
        ("canceled", DeploymentState.ERROR),
    ],
)
def test_gitlabs_deployment_statuses_read_as_ours(
    lab: GitLabServer, glab: GitLab, status: str, state: DeploymentState
) -> None:
    gl = gitlab.Gitlab(url=lab.url, private_token=GL_TOKEN)
    main = lab.project(PROJECT).branches["main"]
    gl.projects.get(PROJECT, lazy=True).deployments.create(
        {"environment": "prod", "sha": main, "ref": "main", "tag": False, "status": status}
    )

    [found] = glab.deployments("prod")

    assert (found.sha, found.state, found.description) == (main, state, "")


# -- committing files: deletions ----------------------------------------------------


def _pull(hub: GitHubServer, branch: str, files: dict[str, str]) -> int:
    hub.push(REPO, branch, files=files, message=branch)
    return hub.add_pull(REPO, title=branch, author="alice", head_ref=branch).number


def test_a_commit_deletes_a_path_with_a_null_sha_in_the_same_tree_on_github(
    hub: GitHubServer, github: GitHub
) -> None:
    main = hub.repos[REPO].refs["heads/main"]
    github.create_branch("promote/dev", from_sha=main)

    sha = github.commit_files(
        "promote/dev",
        files={"deploy/dev/app.yaml": None, "deploy/dev/version.yaml": "v: 2\n"},
        message="Promote v2",
    )

    assert hub.repos[REPO].refs["heads/promote/dev"] == sha
    assert hub.commits[sha].parents == (main,)
    assert hub.file_at(REPO, "promote/dev", "deploy/dev/app.yaml") is None
    assert hub.file_at(REPO, "promote/dev", "deploy/dev/version.yaml") == "v: 2\n"
    assert hub.file_at(REPO, "main", "deploy/dev/app.yaml") == "replicas: 1\n"
    [tree] = [r for r in hub.requests if str(r) == f"POST {GH_API}/git/trees"]
    assert tree.body is not None
    assert tree.body["tree"] == [
        {"path": "deploy/dev/app.yaml", "mode": "100644", "type": "blob", "sha": None},
        {"path": "deploy/dev/version.yaml", "mode": "100644", "type": "blob", "content": "v: 2\n"},
    ]


def test_deleting_a_path_the_commit_lacks_is_refused_and_nothing_is_written_on_github(
    hub: GitHubServer, github: GitHub
) -> None:
    main = hub.repos[REPO].refs["heads/main"]
    before = len(hub.log)

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
    assert hub.log[before:] == [f"GET {GH_API}/git/commits/{main}", f"POST {GH_API}/git/trees"]
    assert hub.requests[-1].status == 422
    assert "heads/promote/dev" not in hub.repos[REPO].refs


def test_a_commit_deletes_updates_and_creates_in_one_request_on_gitlab(
    lab: GitLabServer, glab: GitLab
) -> None:
    main = lab.project(PROJECT).branches["main"]
    lab.commit(PROJECT, "main", {"deploy/prod/old.yaml": "old\n"})
    start = lab.project(PROJECT).branches["main"]
    lab.log.clear()

    sha = glab.commit_files(
        "promote/prod",
        files={
            "deploy/prod/old.yaml": None,
            "deploy/prod/app.yaml": "replicas: 2\n",
            "deploy/prod/version.yaml": "v: 2\n",
        },
        message="Promote v2",
        parent=start,
    )

    assert lab.project(PROJECT).branches["promote/prod"] == sha
    assert lab.parents(sha) == (start,)
    assert lab.file(PROJECT, "promote/prod", "deploy/prod/old.yaml") is None
    assert lab.file(PROJECT, "promote/prod", "deploy/prod/app.yaml") == "replicas: 2\n"
    assert lab.file(PROJECT, "promote/prod", "deploy/prod/version.yaml") == "v: 2\n"
    assert lab.file(PROJECT, main, "deploy/prod/old.yaml") is None  # never there
    assert lab.log == [
        f"HEAD {GL_API}/repository/files/deploy/prod/app.yaml",  # update
        f"HEAD {GL_API}/repository/files/deploy/prod/old.yaml",  # delete
        f"HEAD {GL_API}/repository/files/deploy/prod/version.yaml",  # create
        f"POST {GL_API}/repository/commits",
    ]


def test_deleting_a_file_the_start_lacks_is_refused_before_committing_on_gitlab(
    lab: GitLabServer, glab: GitLab
) -> None:
    main = lab.project(PROJECT).branches["main"]
    lab.log.clear()

    with pytest.raises(ForgeError) as caught:
        glab.commit_files(
            "promote/prod", files={"deploy/prod/gone.yaml": None}, message="m", parent=main
        )

    assert str(caught.value) == (
        f"committing 1 files to 'promote/prod' in {PROJECT}: "
        f"deleting 'deploy/prod/gone.yaml': {main[:12]} has no such file"
    )
    assert lab.log == [f"HEAD {GL_API}/repository/files/deploy/prod/gone.yaml"]
    assert "promote/prod" not in lab.project(PROJECT).branches
    project = gitlab.Gitlab(url=lab.url, private_token=GL_TOKEN).projects.get(PROJECT, lazy=True)
    with pytest.raises(gitlab.GitlabCreateError, match="A file with this name doesn't exist"):
        project.commits.create(  # what GitLab answers the request the adapter does not send
            {
                "branch": "main",
                "commit_message": "m",
                "actions": [{"action": "delete", "file_path": "deploy/prod/gone.yaml"}],
            }
        )


# -- the GitLab emulator's newer answers ----------------------------------------------


def test_gitlab_tags_and_deployments_have_the_documented_shapes(lab: GitLabServer) -> None:
    gl = gitlab.Gitlab(url=lab.url, private_token=GL_TOKEN)
    project = gl.projects.get(PROJECT, lazy=True)
    main = lab.project(PROJECT).branches["main"]
    tag = project.tags.create({"tag_name": "v1", "ref": "main", "message": "Release 1"})
    deployment = project.deployments.create(
        {"environment": "prod", "sha": main, "ref": "main", "tag": False, "status": "running"}
    )
    [listed] = project.deployments.list(
        environment="prod", order_by="id", sort="desc", per_page=1, get_all=False
    )
    answers = {
        "tag.json": (tag.asdict(), frozenset({"$.release"})),
        "deployment.json": (deployment.asdict(), frozenset({"$.environment.external_url"})),
    }
    for name, (answer, nullable) in answers.items():
        example = json.loads((EXAMPLES / name).read_text())
        assert shape_errors(example, answer, nullable=nullable) == [], name
    assert listed.asdict() == deployment.asdict()
    assert tag.target != main  # annotated: the target is the tag object
    assert tag.commit["id"] == main
