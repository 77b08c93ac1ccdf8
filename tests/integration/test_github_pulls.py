"""Finding, editing, merging pull requests and rebuilding promotion branches on
the GitHub emulator; in a mirrored real bare git repository, merges and the
commits and branches made through the API happen in git too, so their SHAs
are real and a clone can fetch them.

Every exchange is checked against GitHub's OpenAPI description.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_bot.errors import ForgeError
from gitops_bot.forges.github.adapter import GitHub
from tests.fakes.github_server import GitHubServer, checked

TOKEN = "ghs_canary0123456789abcdefPULLS"
BOT = "gitops-bot[bot]"
REPO = "acme/shop"
API = f"/repos/{REPO}"
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Alice",
    "GIT_AUTHOR_EMAIL": "alice@example.com",
    "GIT_COMMITTER_NAME": "Alice",
    "GIT_COMMITTER_EMAIL": "alice@example.com",
}


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with checked() as emulator:
        emulator.add_user(BOT, type="Bot", token=TOKEN)
        emulator.add_repo(REPO, files={"deploy/prod/app.yaml": "replicas: 1\n"})
        yield emulator


@pytest.fixture
def github(server: GitHubServer) -> GitHub:
    return GitHub(
        repo=REPO,
        token=TOKEN,
        base_url=server.url,
        bot_login=BOT,
        sleep=lambda _: None,
        seconds_between_writes=None,
    )


def _pull(server: GitHubServer, branch: str, files: dict[str, str]) -> int:
    server.push(REPO, branch, files=files, message=branch)
    return server.add_pull(REPO, title=branch, author="alice", head_ref=branch).number


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **_GIT_ENV},
    )
    return done.stdout.strip()


# -- finding and editing ----------------------------------------------------------


def test_open_pulls_are_listed_oldest_first_under_a_head_prefix(
    server: GitHubServer, github: GitHub
) -> None:
    first = _pull(server, "promote/prod", {"a": "1"})
    _pull(server, "feature", {"b": "1"})
    third = _pull(server, "promote/staging", {"c": "1"})
    closed = _pull(server, "promote/old", {"d": "1"})
    github.close_pull(closed)

    found = github.open_pulls(head_prefix="promote/")

    assert [p.number for p in found] == [first, third]
    assert [p.state for p in found] == ["open", "open"]
    assert len(github.open_pulls()) == 3
    assert server.repos[REPO].pulls[closed].state == "closed"


def test_a_pull_request_is_retitled_and_closed(server: GitHubServer, github: GitHub) -> None:
    number = _pull(server, "promote/prod", {"a": "1"})

    updated = github.update_pull(number, title="Promote dev to prod", body="Soaked 30m.")
    github.close_pull(number)

    assert (updated.title, updated.state) == ("Promote dev to prod", "open")
    record = server.repos[REPO].pulls[number]
    assert (record.title, record.body, record.state) == (
        "Promote dev to prod",
        "Soaked 30m.",
        "closed",
    )
    assert github.pull(number).state == "closed"
    assert server.log[-3:-1] == [f"PATCH {API}/pulls/{number}", f"PATCH {API}/pulls/{number}"]


def test_an_oversized_body_is_refused_before_sending(server: GitHubServer, github: GitHub) -> None:
    number = _pull(server, "promote/prod", {"a": "1"})

    with pytest.raises(ForgeError, match="more than GitHub's limit of 65,536"):
        github.update_pull(number, title="t", body="x" * 65_537)
    assert server.log == []


# -- merging --------------------------------------------------------------------


def test_a_merge_makes_a_merge_commit_on_the_base_branch(
    server: GitHubServer, github: GitHub
) -> None:
    main = server.repos[REPO].refs["heads/main"]
    number = _pull(server, "promote/prod", {"deploy/prod/app.yaml": "replicas: 2\n"})
    head = server.repos[REPO].pulls[number].head_sha

    sha = github.merge_pull(number, sha=head)

    assert server.repos[REPO].refs["heads/main"] == sha
    assert server.commits[sha].parents == (main, head)
    assert server.file_at(REPO, "main", "deploy/prod/app.yaml") == "replicas: 2\n"
    merged = github.pull(number)
    assert (merged.state, merged.merged_sha) == ("merged", sha)
    assert server.log[-2] == f"PUT {API}/pulls/{number}/merge"


def test_the_pull_requests_of_a_commit(server: GitHubServer, github: GitHub) -> None:
    number = _pull(server, "promote/prod", {"deploy/prod/app.yaml": "replicas: 2\n"})
    head = server.repos[REPO].pulls[number].head_sha
    other = _pull(server, "feature", {"README.md": "x"})

    assert [p.number for p in github.pulls_for_commit(head)] == [number]
    merge = github.merge_pull(number)
    assert [(p.number, p.state, p.merged_sha) for p in github.pulls_for_commit(merge)] == [
        (number, "merged", merge)
    ]
    assert [p.number for p in github.pulls_for_commit(head)] == [number]  # now on main
    assert [
        p.number for p in github.pulls_for_commit(server.repos[REPO].pulls[other].head_sha)
    ] == [other]
    assert github.pulls_for_commit("0" * 40) == ()


def test_a_merge_refuses_a_moved_head_a_closed_pull_and_a_conflict(
    server: GitHubServer, github: GitHub
) -> None:
    number = _pull(server, "promote/prod", {"deploy/prod/app.yaml": "replicas: 2\n"})
    clash = _pull(server, "clash", {"deploy/prod/app.yaml": "replicas: 9\n"})

    with pytest.raises(ForgeError, match="409: Head branch was modified"):
        github.merge_pull(number, sha="f" * 40)
    github.merge_pull(number)
    with pytest.raises(ForgeError, match="405: Pull Request is not mergeable"):
        github.merge_pull(number)  # merged already
    with pytest.raises(ForgeError, match="405: Pull Request is not mergeable"):
        github.merge_pull(clash)  # both changed deploy/prod/app.yaml


def test_a_merge_of_mirrored_commits_is_a_real_commit_a_clone_can_fetch(
    server: GitHubServer, github: GitHub, tmp_path: Path
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
    server.mirror(REPO, "main", sha=base)
    server.mirror(REPO, "change", sha=head, parent=base)
    server.attach_git(REPO, bare)
    number = server.add_pull(REPO, title="Scale", author="alice", head_ref="change").number

    sha = github.merge_pull(number, sha=head)

    assert git(bare, "rev-parse", "main") == sha
    assert git(bare, "rev-list", "--parents", "-n1", sha).split() == [sha, base, head]
    assert server.repos[REPO].refs["heads/main"] == sha
    git(work, "fetch", "-q", str(bare), "main")
    assert git(work, "show", "FETCH_HEAD:app.yaml") == "replicas: 2"
    assert [p.number for p in github.pulls_for_commit(sha)] == [number]


# -- promotion branches ------------------------------------------------------------


def test_a_promotion_branch_is_rebuilt_on_a_new_parent(
    server: GitHubServer, github: GitHub
) -> None:
    github.create_branch("promote/prod", from_sha=server.repos[REPO].refs["heads/main"])
    github.commit_files("promote/prod", files={"v.yaml": "v: 1\n"}, message="Promote v1")
    main = server.push(REPO, "main", files={"README.md": "newer main"}, message="main moved")
    before = len(server.log)

    sha = github.commit_files(
        "promote/prod", files={"v.yaml": "v: 2\n"}, message="Promote v2", parent=main
    )

    assert server.repos[REPO].refs["heads/promote/prod"] == sha
    assert server.commits[sha].parents == (main,)
    assert server.file_at(REPO, "promote/prod", "README.md") == "newer main"
    assert server.file_at(REPO, "promote/prod", "v.yaml") == "v: 2\n"
    assert server.log[before:] == [
        f"GET {API}/git/commits/{main}",
        f"POST {API}/git/trees",
        f"POST {API}/git/commits",
        f"PATCH {API}/git/refs/heads/promote/prod",
    ]


def test_a_promotion_branch_that_does_not_exist_is_created_at_the_commit(
    server: GitHubServer, github: GitHub
) -> None:
    main = server.repos[REPO].refs["heads/main"]

    sha = github.commit_files("promote/new", files={"v.yaml": "v: 1\n"}, message="m", parent=main)

    assert server.repos[REPO].refs["heads/promote/new"] == sha
    assert server.log[-2:] == [
        f"PATCH {API}/git/refs/heads/promote/new",  # 422: Reference does not exist
        f"POST {API}/git/refs",
    ]


# -- commits through the API in a mirrored repository ------------------------------------


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
    server: GitHubServer, github: GitHub, tmp_path: Path
) -> None:
    work, bare, base = _real_repo(tmp_path)
    server.mirror(REPO, "main", sha=base)
    server.attach_git(REPO, bare)

    sha = github.commit_files(
        "promote/prod",
        files={"app.yaml": "replicas: 3\n", "old.yaml": None, "deploy/v.yaml": "v: 1\n"},
        message="Promote v1",
        parent=base,
    )
    more = github.commit_files("promote/prod", files={"b.yaml": "b\n"}, message="Promote b")

    assert git(bare, "cat-file", "-t", sha) == "commit"
    assert git(bare, "rev-list", "--parents", "-n1", sha).split() == [sha, base]
    assert git(bare, "log", "-1", "--format=%s", sha) == "Promote v1"
    assert git(bare, "show", f"{sha}:app.yaml") == "replicas: 3"
    assert git(bare, "ls-tree", "-r", "--name-only", sha).split() == [
        "app.yaml",
        "deploy/keep.yaml",
        "deploy/v.yaml",
    ]
    assert git(bare, "rev-list", "--parents", "-n1", more).split() == [more, sha]
    assert git(bare, "rev-parse", "promote/prod") == more  # created, then fast-forwarded
    assert server.repos[REPO].refs["heads/promote/prod"] == more
    assert server.commits[sha].tree == git(bare, "rev-parse", f"{sha}^{{tree}}")
    assert server.file_at(REPO, sha, "deploy/keep.yaml") == "keep\n"  # the real files
    assert server.file_at(REPO, sha, "old.yaml") is None
    number = github.open_pull(head="promote/prod", base="main", title="Promote", body="b").number

    merge = github.merge_pull(number)

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", f"file://{bare}", str(clone)], check=True)
    assert git(clone, "rev-parse", "HEAD") == merge
    assert sorted(p.name for p in clone.iterdir() if p.name != ".git") == [
        "app.yaml",
        "b.yaml",
        "deploy",
    ]
    assert (clone / "app.yaml").read_text() == "replicas: 3\n"
    assert server.file_at(REPO, "main", "b.yaml") == "b\n"
    git(work, "fetch", "-q", str(bare), "promote/prod")
    assert git(work, "rev-parse", "FETCH_HEAD") == more


def test_deleting_a_file_the_real_commit_lacks_moves_nothing(
    server: GitHubServer, github: GitHub, tmp_path: Path
) -> None:
    _, bare, base = _real_repo(tmp_path)
    server.mirror(REPO, "main", sha=base)
    server.attach_git(REPO, bare)
    github.create_branch("promote/prod", from_sha=base)

    # The emulator's own first commit has deploy/prod/app.yaml; the real one does not.
    with pytest.raises(ForgeError, match=r"deleting deploy/prod/app\.yaml: .*BadObjectState"):
        github.commit_files("promote/prod", files={"deploy/prod/app.yaml": None}, message="m")

    assert git(bare, "rev-parse", "promote/prod") == base  # created through the API, unmoved
    assert server.repos[REPO].refs["heads/promote/prod"] == base
