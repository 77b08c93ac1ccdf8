"""vcs.mirror.Mirror on real git repositories: the webhook server's copy of a remote."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from gitops_bot.vcs.git import GitError
from gitops_bot.vcs.mirror import Mirror
from tests.integration.gitserver import GitServer, gitserver

__all__ = ["gitserver"]  # fixtures


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, str, str]:
    """A remote whose main has one commit and whose pull request head lives
    only under refs/pull/1/head, as on GitHub."""
    src = tmp_path / "remote"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    git(src, "config", "user.email", "t@example.com")
    git(src, "config", "user.name", "t")
    (src / "a.txt").write_text("one\n")
    git(src, "add", "a.txt")
    git(src, "commit", "-q", "-m", "one")
    base = git(src, "rev-parse", "HEAD")
    git(src, "checkout", "-q", "-b", "change")
    (src / "a.txt").write_text("two\n")
    git(src, "commit", "-q", "-am", "two")
    head = git(src, "rev-parse", "HEAD")
    git(src, "checkout", "-q", "main")
    git(src, "update-ref", "refs/pull/1/head", head)
    git(src, "branch", "-q", "-D", "change")
    return src, base, head


def test_fetches_the_commits_a_pull_request_needs_and_checks_them_out(
    remote: tuple[Path, str, str], tmp_path: Path
) -> None:
    src, base, head = remote
    mirror = Mirror(tmp_path / "cache", f"file://{src}")

    repo = mirror.sync(base, head)

    assert repo.read(head, "a.txt") == "two\n"
    assert repo.changed_files(base, head) == ("a.txt",)
    with repo.checkout(head) as tree:
        assert (tree / "a.txt").read_text() == "two\n"


def test_a_second_sync_of_known_commits_does_not_fetch(
    remote: tuple[Path, str, str], tmp_path: Path
) -> None:
    src, base, head = remote
    mirror = Mirror(tmp_path / "cache", f"file://{src}")
    mirror.sync(base, head)
    moved = tmp_path / "moved"
    src.rename(moved)  # the remote is gone: a fetch would fail

    assert mirror.sync(base, head).read(base, "a.txt") == "one\n"


def test_falls_back_to_the_pull_request_ref_when_the_server_refuses_shas(
    remote: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, base, head = remote
    # The head moved on after the event: the commit asked for is no longer a
    # ref's tip, and this server (protocol v0, no SHA wants) serves only tips.
    git(src, "checkout", "-q", head)
    (src / "a.txt").write_text("three\n")
    git(src, "commit", "-q", "-am", "three")
    git(src, "update-ref", "refs/pull/1/head", git(src, "rev-parse", "HEAD"))
    git(src, "checkout", "-q", "main")
    git(src, "config", "uploadpack.allowReachableSHA1InWant", "false")
    git(src, "config", "uploadpack.allowAnySHA1InWant", "false")
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'protocol.version=0'")
    mirror = Mirror(tmp_path / "cache", f"file://{src}")

    repo = mirror.sync(base, head, refs=("refs/heads/main", "refs/pull/1/head"))

    assert repo.read(head, "a.txt") == "two\n"
    assert git(mirror.root, "rev-parse", "refs/gitops-bot/fetched/1^") == head


def test_a_missing_commit_is_named_and_the_token_never_shown(
    remote: tuple[Path, str, str], tmp_path: Path
) -> None:
    src, base, _ = remote
    token = "ghs_mirror_canary_0123456789"
    mirror = Mirror(tmp_path / "cache", f"file://{src}", token=token)

    with pytest.raises(GitError, match=r"0123456789ab.*(not our ref|not found)") as err:
        mirror.sync(base, "0123456789ab" + "0" * 28)
    assert token not in str(err.value)

    unreachable = Mirror(tmp_path / "cache2", "http://127.0.0.1:9/x.git", token=token)
    with pytest.raises(GitError) as err2:
        unreachable.sync(base)
    assert token not in str(err2.value)


def test_a_branch_is_fetched_anew_each_time_with_its_history(
    remote: tuple[Path, str, str], tmp_path: Path
) -> None:
    src, base, _ = remote
    mirror = Mirror(tmp_path / "cache", f"file://{src}")

    repo, tip = mirror.branch("main")
    assert tip == base
    (src / "a.txt").write_text("three\n")
    git(src, "commit", "-q", "-am", "three")
    newer = git(src, "rev-parse", "HEAD")

    repo, tip = mirror.branch("main")

    assert tip == newer, "a promotion check reads today's tip, not the cached one"
    assert repo.read(base, "a.txt") == "one\n", "and the older commits the gate may name"
    with pytest.raises(GitError, match="fetching nope from file://"):
        mirror.branch("nope")


def test_a_token_that_changes_is_read_again_for_every_fetch(
    gitserver: GitServer, tmp_path: Path
) -> None:
    """A GitHub App's installation token is replaced before it expires: each
    fetch carries the token current then, and no error shows any of them."""
    first = gitserver.repo("shop", {"a.txt": "one\n"})
    tokens = iter(["ghs_first_canary_0123", "ghs_second_canary_4567", "ghs_third_canary_89"])
    current = [next(tokens)]
    mirror = Mirror(tmp_path / "cache", f"{gitserver.url}shop.git", token=lambda: current[0])

    mirror.sync(first)
    current[0] = next(tokens)
    second = gitserver.repo("shop", {"a.txt": "two\n"})
    mirror.sync(second)
    current[0] = next(tokens)
    gitserver.auth["/shop.git"] = "Basic " + base64.b64encode(b"x-access-token:other").decode()
    with pytest.raises(GitError) as refused:
        mirror.sync("0" * 40)

    used = {base64.b64decode(a.removeprefix("Basic ")).decode() for a in gitserver.authorizations}
    assert used >= {"x-access-token:ghs_first_canary_0123", "x-access-token:ghs_second_canary_4567"}
    assert "ghs_" not in str(refused.value)
