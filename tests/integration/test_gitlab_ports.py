"""The GitLab adapter's newer ports over real HTTP, through python-gitlab: fewer
calls for the sticky note, environment locks as tags, deployments; and the
emulator's new answers against GitLab's documented shapes, and a pass that
makes every emulated route answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime

import gitlab
import pytest

from gitops_bot.core.pr.model import Comment, Deployment, DeploymentState, Lock, format_lock
from gitops_bot.errors import ForgeError
from gitops_bot.forges.gitlab.adapter import GitLab
from tests.fakes.gitlab_server import DEVELOPER, GitLabServer
from tests.integration.test_gitlab import EXAMPLES, shape_errors

TOKEN = "glpat-SECRET-canary-ports"
PROJECT = "group/shop"
API = f"/api/v4/projects/{PROJECT}"
PLAN = "<!-- gitops-bot:plan env=prod part=1/1 -->"
OTHER = "<!-- gitops-bot:plan env=dev part=1/1 -->"


@pytest.fixture
def server() -> Iterator[GitLabServer]:
    """group/shop with merge request !1 from its branch `scale`, by alice."""
    with GitLabServer() as gl:
        gl.add_user("gitops_bot", bot=True, token=TOKEN)
        gl.add_user("alice")
        gl.add_project(PROJECT, files={"deploy/prod/app.yaml": "replicas: 1\n"})
        gl.add_member("group", "gitops_bot", DEVELOPER)
        gl.add_member(PROJECT, "alice", DEVELOPER)
        gl.commit(PROJECT, "scale", {"deploy/prod/app.yaml": "replicas: 3\n"}, author="alice")
        gl.open_merge_request(PROJECT, source_branch="scale", title="Scale", author="alice")
        yield gl


@pytest.fixture
def forge(server: GitLabServer) -> GitLab:
    return GitLab(project=PROJECT, token=TOKEN, url=server.url)


def _head(server: GitLabServer, iid: int = 1) -> str:
    return server.merge_request(PROJECT, iid).versions[-1].head


# -- the sticky note, on notes the caller already listed ---------------------------


@pytest.mark.parametrize(
    ("marker", "body", "expected"),
    [
        (PLAN, f"{PLAN}\nold", []),
        (PLAN, f"{PLAN}\nnew", ["PUT {api}/merge_requests/1/notes/{id}"]),
        (OTHER, f"{OTHER}\ndev", ["POST {api}/merge_requests/1/notes"]),
    ],
    ids=["unchanged: no request", "changed: one PUT", "new: one POST"],
)
def test_an_upsert_on_listed_notes_makes_at_most_one_request(
    server: GitLabServer, forge: GitLab, marker: str, body: str, expected: list[str]
) -> None:
    server.add_note(PROJECT, 1, author="alice", body=f"{OTHER}\nquoted by alice")
    note = server.add_note(PROJECT, 1, author="gitops_bot", body=f"{PLAN}\nold")
    listed = forge.comments(1)
    server.log.clear()

    written = forge.upsert_comment(1, marker=marker, body=body, existing=listed)

    assert server.log == [line.format(api=API, id=note.id) for line in expected]
    assert (written.body, written.is_bot, written.author) == (body, True, "gitops_bot")
    mine = [
        n.body for n in server.merge_request(PROJECT, 1).notes if n.author.username == "gitops_bot"
    ]
    assert body in mine


def test_a_listed_note_someone_else_wrote_is_never_edited(
    server: GitLabServer, forge: GitLab
) -> None:
    forged = Comment(id=99, author="alice", body=f"{PLAN}\nforged", created_at="", is_bot=False)

    written = forge.upsert_comment(1, marker=PLAN, body=f"{PLAN}\nv1", existing=[forged])

    assert server.log == [f"POST {API}/merge_requests/1/notes"]
    assert written.id != forged.id


# -- locks --------------------------------------------------------------------------


def test_a_free_lock_is_an_annotated_tag_read_back_in_one_request(
    server: GitLabServer, forge: GitLab
) -> None:
    head = _head(server)

    lock = forge.acquire_lock("prod", pull=1, sha=head)

    assert (lock.env, lock.pull, lock.sha) == ("prod", 1, head)
    assert lock.since.endswith("Z")
    tag = server.project(PROJECT).tags["gitops-bot/lock/prod"]
    assert (tag.commit, tag.message) == (head, format_lock("prod", pull=1, sha=head).strip())
    assert server.log == [
        f"GET {API}/repository/tags/gitops-bot/lock/prod",
        f"POST {API}/repository/tags",
    ]
    server.log.clear()
    assert forge.lock_holder("prod") == lock
    assert forge.acquire_lock("prod", pull=2, sha=head) == lock  # held: the holder answers
    # and whether its merge request is still open (one merged or closed holds nothing)
    assert (
        server.log
        == [
            f"GET {API}/repository/tags/gitops-bot/lock/prod",
            f"GET {API}/merge_requests/1",
        ]
        * 2
    )
    server.log.clear()
    assert forge.acquire_lock("prod", pull=1, sha=head) == lock  # its own: 1 request
    assert server.log == [f"GET {API}/repository/tags/gitops-bot/lock/prod"]


def test_only_the_holder_releases_a_lock(server: GitLabServer, forge: GitLab) -> None:
    forge.acquire_lock("prod", pull=1, sha=_head(server))

    assert forge.release_lock("prod", pull=2) is False
    assert forge.release_lock("prod", pull=1) is True
    assert forge.lock_holder("prod") is None
    assert forge.release_lock("prod", pull=1) is False
    assert server.count(f"DELETE {API}/repository/tags/gitops-bot/lock/prod") == 1


def _race(server: GitLabServer, env: str, sha: str) -> dict[int, Lock]:
    """Two runs (two adapters, two connections) take `env` at the same moment."""
    start = threading.Barrier(2)
    results: dict[int, Lock] = {}

    def take(pull: int) -> None:
        adapter = GitLab(project=PROJECT, token=TOKEN, url=server.url)
        start.wait()
        results[pull] = adapter.acquire_lock(env, pull=pull, sha=sha)

    threads = [threading.Thread(target=take, args=(pull,)) for pull in (101, 102)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_runs_racing_for_one_lock_both_see_one_winner(server: GitLabServer) -> None:
    head = _head(server)
    for round_ in range(8):
        results = _race(server, f"env-{round_}", head)

        assert results[101] == results[102], round_
        assert results[101].pull in (101, 102)
    assert sorted(server.project(PROJECT).tags) == [f"gitops-bot/lock/env-{i}" for i in range(8)]


def test_a_run_that_loses_the_race_after_its_read_sees_the_winner(
    server: GitLabServer, forge: GitLab
) -> None:
    head = _head(server)
    winner = GitLab(project=PROJECT, token=TOKEN, url=server.url).acquire_lock(
        "prod", pull=101, sha=head
    )
    tag = f"{API}/repository/tags/gitops-bot/lock/prod"
    server.fail(404, method="GET", path=tag, message="404 Tag Not Found")  # read before the win
    server.log.clear()

    assert forge.acquire_lock("prod", pull=102, sha=head) == winner
    assert server.log == [
        f"GET {tag}",
        f"POST {API}/repository/tags",
        f"GET {tag}",
        f"GET {API}/merge_requests/101",  # is the holder open? (no such one: its lock stays)
    ]


def test_a_tag_gitops_bot_did_not_write_is_an_error(server: GitLabServer, forge: GitLab) -> None:
    gl = gitlab.Gitlab(url=server.url, private_token=TOKEN)
    project = gl.projects.get(PROJECT, lazy=True)
    project.tags.create({"tag_name": "gitops-bot/lock/prod", "ref": "main", "message": "v1"})

    with pytest.raises(ForgeError, match="not a lock gitops-bot wrote"):
        forge.lock_holder("prod")


# -- deployments ----------------------------------------------------------------------


def test_a_deployment_is_created_running_then_moved_to_success(
    server: GitLabServer, forge: GitLab
) -> None:
    main = server.project(PROJECT).branches["main"]

    forge.record_deployment("prod", main, DeploymentState.IN_PROGRESS, "applying")
    first = list(server.log)
    forge.record_deployment("prod", main, DeploymentState.SUCCESS, "applied")
    forge.record_deployment("prod", main, DeploymentState.SUCCESS, "applied")

    [deployment] = server.project(PROJECT).deployments
    assert (deployment.environment, deployment.sha, deployment.ref, deployment.tag) == (
        "prod",
        main,
        "main",
        False,
    )
    assert deployment.status == "success"
    assert first == [
        f"GET {API}/deployments",
        f"GET {API}",  # the default branch, once
        f"POST {API}/deployments",
    ]
    assert server.log[len(first) :] == [
        f"GET {API}/deployments",
        f"PUT {API}/deployments/{deployment.id}",
        f"GET {API}/deployments",  # the same state again: nothing to write
    ]


def test_a_finished_deployment_is_not_rewound_a_new_one_records_the_new_attempt(
    server: GitLabServer, forge: GitLab
) -> None:
    main = server.project(PROJECT).branches["main"]

    forge.record_deployment(
        "prod", main, DeploymentState.FAILURE, "health check failed", ref="main"
    )
    forge.record_deployment("prod", main, DeploymentState.IN_PROGRESS, "retrying", ref="main")
    forge.record_deployment("dev", main, DeploymentState.ERROR, "no cluster", ref="main")

    assert [(d.environment, d.status) for d in server.project(PROJECT).deployments] == [
        ("prod", "failed"),
        ("prod", "running"),
        ("dev", "failed"),
    ]
    assert server.count(f"GET {API}") == 0  # `ref` given: the default branch is not read


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_environments_newest_deployments_read_back_in_one_request(
    server: GitLabServer, forge: GitLab
) -> None:
    main = server.project(PROJECT).branches["main"]
    scale = server.project(PROJECT).branches["scale"]
    forge.record_deployment("prod", main, DeploymentState.SUCCESS, "applied", ref="main")
    forge.record_deployment("dev", scale, DeploymentState.SUCCESS, "applied", ref="scale")
    forge.record_deployment("prod", scale, DeploymentState.IN_PROGRESS, "applying", ref="scale")
    forge.record_deployment("prod", scale, DeploymentState.FAILURE, "apply failed", ref="scale")
    forge.record_deployment("prod", main, DeploymentState.IN_PROGRESS, "rolling back", ref="main")
    _, _, failed, running = server.project(PROJECT).deployments
    before = len(server.log)

    found = forge.deployments("prod", limit=2)

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
    assert server.log[before:] == [f"GET {API}/deployments"]


def test_a_deployment_holds_its_state_since_it_moved_there(
    server: GitLabServer, forge: GitLab
) -> None:
    main = server.project(PROJECT).branches["main"]
    forge.record_deployment("prod", main, DeploymentState.IN_PROGRESS, "applying", ref="main")
    forge.record_deployment("prod", main, DeploymentState.SUCCESS, "applied", ref="main")
    [deployment] = server.project(PROJECT).deployments
    moved = deployment.updated
    forge.record_deployment("prod", main, DeploymentState.SUCCESS, "still applied", ref="main")

    assert forge.deployments("prod") == (
        Deployment(
            env="prod",
            sha=main,
            state=DeploymentState.SUCCESS,
            since=_iso(moved),  # the same state again changed nothing
            created_at=_iso(deployment.created),
        ),
    )
    assert deployment.updated == moved


def test_an_environment_never_deployed_to_has_no_deployments(
    server: GitLabServer, forge: GitLab
) -> None:
    main = server.project(PROJECT).branches["main"]
    forge.record_deployment("dev", main, DeploymentState.SUCCESS, "applied", ref="main")
    before = len(server.log)

    assert forge.deployments("prod", limit=3) == ()
    assert server.log[before:] == [f"GET {API}/deployments"]


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
    server: GitLabServer, forge: GitLab, status: str, state: DeploymentState
) -> None:
    gl = gitlab.Gitlab(url=server.url, private_token=TOKEN)
    main = server.project(PROJECT).branches["main"]
    gl.projects.get(PROJECT, lazy=True).deployments.create(
        {"environment": "prod", "sha": main, "ref": "main", "tag": False, "status": status}
    )

    [found] = forge.deployments("prod")

    assert (found.sha, found.state, found.description) == (main, state, "")


# -- committing files: deletions ------------------------------------------------------


def test_a_commit_deletes_updates_and_creates_in_one_request(
    server: GitLabServer, forge: GitLab
) -> None:
    main = server.project(PROJECT).branches["main"]
    server.commit(PROJECT, "main", {"deploy/prod/old.yaml": "old\n"})
    start = server.project(PROJECT).branches["main"]
    server.log.clear()

    sha = forge.commit_files(
        "promote/prod",
        files={
            "deploy/prod/old.yaml": None,
            "deploy/prod/app.yaml": "replicas: 2\n",
            "deploy/prod/version.yaml": "v: 2\n",
        },
        message="Promote v2",
        parent=start,
    )

    assert server.project(PROJECT).branches["promote/prod"] == sha
    assert server.parents(sha) == (start,)
    assert server.file(PROJECT, "promote/prod", "deploy/prod/old.yaml") is None
    assert server.file(PROJECT, "promote/prod", "deploy/prod/app.yaml") == "replicas: 2\n"
    assert server.file(PROJECT, "promote/prod", "deploy/prod/version.yaml") == "v: 2\n"
    assert server.file(PROJECT, main, "deploy/prod/old.yaml") is None  # never there
    assert server.log == [
        f"HEAD {API}/repository/files/deploy/prod/app.yaml",  # update
        f"HEAD {API}/repository/files/deploy/prod/old.yaml",  # delete
        f"HEAD {API}/repository/files/deploy/prod/version.yaml",  # create
        f"POST {API}/repository/commits",
    ]


def test_deleting_a_file_the_start_lacks_is_refused_before_committing(
    server: GitLabServer, forge: GitLab
) -> None:
    main = server.project(PROJECT).branches["main"]
    server.log.clear()

    with pytest.raises(ForgeError) as caught:
        forge.commit_files(
            "promote/prod", files={"deploy/prod/gone.yaml": None}, message="m", parent=main
        )

    assert str(caught.value) == (
        f"committing 1 files to 'promote/prod' in {PROJECT}: "
        f"deleting 'deploy/prod/gone.yaml': {main[:12]} has no such file"
    )
    assert server.log == [f"HEAD {API}/repository/files/deploy/prod/gone.yaml"]
    assert "promote/prod" not in server.project(PROJECT).branches
    project = gitlab.Gitlab(url=server.url, private_token=TOKEN).projects.get(PROJECT, lazy=True)
    with pytest.raises(gitlab.GitlabCreateError, match="A file with this name doesn't exist"):
        project.commits.create(  # what GitLab answers the request the adapter does not send
            {
                "branch": "main",
                "commit_message": "m",
                "actions": [{"action": "delete", "file_path": "deploy/prod/gone.yaml"}],
            }
        )


# -- the emulator's new answers ------------------------------------------------------


def test_tags_and_deployments_have_the_documented_shapes(server: GitLabServer) -> None:
    gl = gitlab.Gitlab(url=server.url, private_token=TOKEN)
    project = gl.projects.get(PROJECT, lazy=True)
    main = server.project(PROJECT).branches["main"]
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
