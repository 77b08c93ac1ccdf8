"""Finding, editing and merging merge requests, and rebuilding promotion
branches, on the GitLab emulator through python-gitlab; in a mirrored real
bare git repository, merges and the commits and branches made through the
API happen in git too. Last, one pass that makes every emulated route answer.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import gitlab
import pytest
from gitlab.exceptions import GitlabCreateError

from gitops_bot.core.pr.model import DeploymentState, Reaction, Status, StatusState
from gitops_bot.errors import ForgeError
from gitops_bot.forges.gitlab.adapter import GitLab
from tests.fakes.gitlab_server import DEVELOPER, GitLabServer

TOKEN = "glpat-SECRET-canary-pulls"
PROJECT = "group/shop"
API = f"/api/v4/projects/{PROJECT}"
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Alice",
    "GIT_AUTHOR_EMAIL": "alice@example.com",
    "GIT_COMMITTER_NAME": "Alice",
    "GIT_COMMITTER_EMAIL": "alice@example.com",
}


@pytest.fixture
def server() -> Iterator[GitLabServer]:
    with GitLabServer() as gl:
        gl.add_user("gitops_bot", bot=True, token=TOKEN)
        gl.add_user("alice")
        gl.add_project(PROJECT, files={"deploy/prod/app.yaml": "replicas: 1\n"})
        gl.add_member("group", "gitops_bot", DEVELOPER)
        gl.add_member(PROJECT, "alice", DEVELOPER)
        yield gl


@pytest.fixture
def forge(server: GitLabServer) -> GitLab:
    return GitLab(project=PROJECT, token=TOKEN, url=server.url)


def _mr(server: GitLabServer, branch: str, files: dict[str, str | None]) -> int:
    server.commit(PROJECT, branch, files, author="alice", message=branch)
    return server.open_merge_request(
        PROJECT, source_branch=branch, title=branch, author="alice"
    ).iid


def _head(server: GitLabServer, iid: int) -> str:
    return server.merge_request(PROJECT, iid).versions[-1].head


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **_GIT_ENV},
    )
    return done.stdout.strip()


def test_open_merge_requests_under_a_source_branch_prefix(
    server: GitLabServer, forge: GitLab
) -> None:
    first = _mr(server, "promote/prod", {"a": "1"})
    _mr(server, "feature", {"b": "1"})
    third = _mr(server, "promote/staging", {"c": "1"})
    closed = _mr(server, "promote/old", {"d": "1"})
    forge.close_pull(closed)

    found = forge.open_pulls(head_prefix="promote/")

    assert [(p.number, p.state, p.head_ref) for p in found] == [
        (first, "open", "promote/prod"),
        (third, "open", "promote/staging"),
    ]
    assert server.merge_request(PROJECT, closed).state == "closed"
    assert forge.pull(closed).state == "closed"


def test_a_merge_request_is_retitled(server: GitLabServer, forge: GitLab) -> None:
    iid = _mr(server, "promote/prod", {"a": "1"})

    updated = forge.update_pull(iid, title="Promote dev to prod", body="Soaked 30m.")

    assert (updated.title, updated.state, updated.head_sha) == (
        "Promote dev to prod",
        "open",
        _head(server, iid),
    )
    assert server.merge_request(PROJECT, iid).description == "Soaked 30m."
    assert server.log[-1] == f"PUT {API}/merge_requests/{iid}"


def test_a_merge_makes_a_merge_commit_and_finds_its_merge_request(
    server: GitLabServer, forge: GitLab
) -> None:
    main = server.project(PROJECT).branches["main"]
    iid = _mr(server, "promote/prod", {"deploy/prod/app.yaml": "replicas: 2\n"})
    head = _head(server, iid)
    assert [p.number for p in forge.pulls_for_commit(head)] == [iid]

    sha = forge.merge_pull(iid, sha=head)

    assert server.project(PROJECT).branches["main"] == sha
    assert server.parents(sha) == (main, head)
    assert server.file(PROJECT, "main", "deploy/prod/app.yaml") == "replicas: 2\n"
    merged = forge.pull(iid)
    assert (merged.state, merged.merged_sha) == ("merged", sha)
    assert [(p.number, p.merged_sha) for p in forge.pulls_for_commit(sha)] == [(iid, sha)]
    assert server.count(f"PUT {API}/merge_requests/{iid}/merge") == 1


def test_a_merge_refuses_a_moved_head_a_merged_request_and_a_conflict(
    server: GitLabServer, forge: GitLab
) -> None:
    iid = _mr(server, "promote/prod", {"deploy/prod/app.yaml": "replicas: 2\n"})
    clash = _mr(server, "clash", {"deploy/prod/app.yaml": "replicas: 9\n"})

    with pytest.raises(ForgeError, match="409: SHA does not match HEAD of source branch"):
        forge.merge_pull(iid, sha="f" * 40)
    forge.merge_pull(iid)
    with pytest.raises(ForgeError, match="405: 405 Method Not Allowed"):
        forge.merge_pull(iid)
    with pytest.raises(ForgeError, match="406: Branch cannot be merged"):
        forge.merge_pull(clash)
    assert server.count(f"PUT {API}/merge_requests/{clash}/merge") == 1  # a write: not retried


def test_a_merge_of_mirrored_commits_is_a_real_commit_a_clone_can_fetch(
    server: GitLabServer, forge: GitLab, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "app.yaml").write_text("replicas: 1\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "base")
    git(work, "checkout", "-qb", "change")
    (work / "app.yaml").write_text("replicas: 2\n")
    git(work, "commit", "-qam", "scale")
    bare = tmp_path / "shop.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    base, head = git(work, "rev-parse", "main"), git(work, "rev-parse", "change")
    server.mirror(PROJECT, "main", sha=base)
    server.mirror(PROJECT, "change", sha=head, parent=base)
    server.attach_git(PROJECT, bare)
    iid = server.open_merge_request(
        PROJECT, source_branch="change", title="Scale", author="alice"
    ).iid

    sha = forge.merge_pull(iid)

    assert git(bare, "rev-parse", "main") == sha
    assert git(bare, "rev-list", "--parents", "-n1", sha).split() == [sha, base, head]
    assert server.project(PROJECT).branches["main"] == sha
    git(work, "fetch", "-q", str(bare), "main")
    assert git(work, "show", "FETCH_HEAD:app.yaml") == "replicas: 2"


def test_a_promotion_branch_is_rebuilt_on_a_new_parent_with_force(
    server: GitLabServer, forge: GitLab
) -> None:
    forge.create_branch("promote/prod", from_sha=server.project(PROJECT).branches["main"])
    forge.commit_files("promote/prod", files={"v.yaml": "v: 1\n"}, message="Promote v1")
    main = server.commit(PROJECT, "main", {"README.md": "newer main"})
    server.log.clear()

    sha = forge.commit_files(
        "promote/prod", files={"v.yaml": "v: 2\n"}, message="Promote v2", parent=main
    )
    fresh = forge.commit_files("promote/new", files={"v.yaml": "v: 1\n"}, message="m", parent=main)

    branches = server.project(PROJECT).branches
    assert (branches["promote/prod"], branches["promote/new"]) == (sha, fresh)
    assert server.file(PROJECT, "promote/prod", "README.md") == "newer main"
    assert server.file(PROJECT, "promote/prod", "v.yaml") == "v: 2\n"
    assert server.log == [
        f"HEAD {API}/repository/files/v.yaml",  # at `parent`: it has no v.yaml yet
        f"POST {API}/repository/commits",
        f"HEAD {API}/repository/files/v.yaml",
        f"POST {API}/repository/commits",
    ]


def test_the_emulator_refuses_to_move_an_existing_branch_without_force(
    server: GitLabServer, forge: GitLab
) -> None:
    forge.create_branch("promote/prod", from_sha=server.project(PROJECT).branches["main"])
    forge.commit_files("promote/prod", files={"v.yaml": "v: 1\n"}, message="v1")
    main = server.project(PROJECT).branches["main"]
    project = gitlab.Gitlab(url=server.url, private_token=TOKEN).projects.get(PROJECT, lazy=True)

    with pytest.raises(GitlabCreateError, match=r"already exists\. Switch to that branch"):
        project.commits.create(
            {
                "branch": "promote/prod",
                "start_sha": main,
                "commit_message": "m",
                "actions": [{"action": "create", "file_path": "w", "content": "x"}],
            }
        )


def _real_repo(tmp_path: Path) -> tuple[Path, Path, str]:
    """A work repository and its bare clone: main with app.yaml, old.yaml and a nested file."""
    work = tmp_path / "work"
    (work / "deploy").mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    (work / "app.yaml").write_text("replicas: 1\n")
    (work / "old.yaml").write_text("old\n")
    (work / "deploy" / "keep.yaml").write_text("keep\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "base")
    bare = tmp_path / "shop.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return work, bare, git(work, "rev-parse", "main")


def test_a_commit_in_a_mirrored_repository_is_a_real_commit_a_clone_can_fetch(
    server: GitLabServer, forge: GitLab, tmp_path: Path
) -> None:
    work, bare, base = _real_repo(tmp_path)
    server.mirror(PROJECT, "main", sha=base)
    server.attach_git(PROJECT, bare)
    forge.create_branch("promote/dev", from_sha=base)

    sha = forge.commit_files(
        "promote/prod",
        files={"app.yaml": "replicas: 3\n", "old.yaml": None, "deploy/v.yaml": "v: 1\n"},
        message="Promote v1",
        parent=base,
    )
    more = forge.commit_files("promote/prod", files={"b.yaml": "b\n"}, message="Promote b")

    assert git(bare, "rev-parse", "promote/dev") == base
    assert git(bare, "cat-file", "-t", sha) == "commit"
    assert git(bare, "rev-list", "--parents", "-n1", sha).split() == [sha, base]
    assert git(bare, "log", "-1", "--format=%an <%ae>: %s", sha) == (
        "Gitops Bot <gitops_bot@example.com>: Promote v1"
    )
    assert git(bare, "show", f"{sha}:app.yaml") == "replicas: 3"
    assert git(bare, "ls-tree", "-r", "--name-only", sha).split() == [
        "app.yaml",
        "deploy/keep.yaml",
        "deploy/v.yaml",
    ]
    assert git(bare, "rev-list", "--parents", "-n1", more).split() == [more, sha]
    assert git(bare, "rev-parse", "promote/prod") == more
    assert server.project(PROJECT).branches["promote/prod"] == more
    assert server.file(PROJECT, sha, "deploy/keep.yaml") == "keep\n"  # the real files
    assert server.file(PROJECT, sha, "old.yaml") is None
    iid = forge.open_pull(head="promote/prod", base="main", title="Promote", body="b").number

    merge = forge.merge_pull(iid)

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", f"file://{bare}", str(clone)], check=True)
    assert git(clone, "rev-parse", "HEAD") == merge
    assert sorted(p.name for p in clone.iterdir() if p.name != ".git") == [
        "app.yaml",
        "b.yaml",
        "deploy",
    ]
    assert (clone / "app.yaml").read_text() == "replicas: 3\n"
    assert server.file(PROJECT, "main", "b.yaml") == "b\n"
    git(work, "fetch", "-q", str(bare), "promote/prod")
    assert git(work, "rev-parse", "FETCH_HEAD") == more


def test_deleting_a_file_the_real_commit_lacks_is_refused(
    server: GitLabServer, forge: GitLab, tmp_path: Path
) -> None:
    _, bare, base = _real_repo(tmp_path)
    server.mirror(PROJECT, "main", sha=base)
    server.attach_git(PROJECT, bare)

    # The emulator's own first commit has deploy/prod/app.yaml; the real one does not.
    with pytest.raises(ForgeError, match=r"deleting 'deploy/prod/app\.yaml': .* has no such file"):
        forge.commit_files(
            "promote/prod", files={"deploy/prod/app.yaml": None}, message="m", parent=base
        )

    assert "promote/prod" not in server.project(PROJECT).branches
    assert git(bare, "branch", "--list", "promote/prod") == ""


def test_every_emulated_route_answers(server: GitLabServer, forge: GitLab) -> None:
    """One pass over the whole adapter, so every route of the emulator is used."""
    iid = _mr(server, "promote/prod", {"deploy/prod/app.yaml": "replicas: 2\n"})
    head = _head(server, iid)
    server.approve(PROJECT, iid, "alice")
    note = server.add_note(PROJECT, iid, author="alice", body="/gitops plan")
    assert forge.pull(iid).head_sha == head
    assert forge.changed_files(iid) == ("deploy/prod/app.yaml",)
    assert [r.user for r in forge.reviews(iid)] == ["alice"]
    forge.upsert_comment(iid, marker="<!-- m -->", body="<!-- m --> v1")
    forge.upsert_comment(iid, marker="<!-- m -->", body="<!-- m --> v2")
    extra = forge.reply(iid, "a duplicate a second planner wrote")
    forge.delete_comment(iid, extra.id)
    forge.delete_comment(iid, extra.id)  # gone already: 404, no error
    forge.react(iid, note.id, Reaction.SEEN)
    forge.set_status(Status(head, "gitops/plan/prod", StatusState.SUCCESS, "ok"))
    assert forge.statuses(head)
    assert forge.permission("alice") > forge.permission("nobody")
    assert forge.in_team("gitops_bot", "group")
    forge.create_branch("promote/dev", from_sha=head)
    forge.commit_files("promote/dev", files={"v.yaml": "1"}, message="m")
    forge.open_pull(head="promote/dev", base="main", title="t", body="b")
    forge.acquire_lock("prod", pull=iid, sha=head)
    assert forge.release_lock("prod", pull=iid)
    forge.record_deployment("prod", head, DeploymentState.IN_PROGRESS, "x")  # reads the project
    forge.record_deployment("prod", head, DeploymentState.SUCCESS, "x", ref="promote/prod")
    assert forge.pulls_for_commit(head)
    assert forge.open_pulls(head_prefix="promote/")
    forge.update_pull(iid, title="t2", body="b2")
    forge.merge_pull(iid)
    forge.close_pull(iid + 1)
    client = gitlab.Gitlab(url=server.url, private_token=TOKEN)  # what the adapter never asks
    mr = client.projects.get(PROJECT, lazy=True).mergerequests.get(iid, lazy=True)

    assert mr.notes.get(note.id).body == "/gitops plan"
    assert {f"{verb} {pattern.pattern}" for verb, pattern, _, _ in server._routes()} == (
        server.routes_hit
    )
