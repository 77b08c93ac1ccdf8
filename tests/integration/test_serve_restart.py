"""Nothing lost, nothing done twice: `gitops-bot serve` killed with SIGKILL while
deliveries wait, then started again; and two replicas given the same
deliveries. Real processes against the GitHub emulator, a real git remote and
the real render tools; the handler is held inside a render (a kustomize that
waits for a file to go) so the kill lands while the deliveries are queued."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_bot.forges.github.adapter import GitHub
from gitops_bot.testing.binaries import Binaries
from tests.fakes.github_server import GitHubServer, checked
from tests.integration import servekit
from tests.integration.shop import edit, git
from tests.integration.test_serve import (
    REPO,
    SECRET,
    TOKEN,
    deliver,
    eventually,
    open_pull,
    pull_payload,
)

BOT = "gitops-bot[bot]"
COMMAND = "/gitops lock dev"


def _held_kustomize(folder: Path, real: str) -> tuple[str, Path, Path]:
    """A kustomize that, while the file `gate` exists, notes its start in `entered`
    and waits; the script, the gate and the notes."""
    gate, entered = folder / "gate", folder / "entered"
    script = folder / "kustomize"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ -e "{gate}" ]; then echo x >> "{entered}"; '
        f'while [ -e "{gate}" ]; do sleep 0.1; done; fi\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    return str(script), gate, entered


def _second_pull(github: GitHubServer, shop: Path) -> tuple[int, str]:
    """Another pull request, on a commit of its own."""
    base = git(shop, "rev-parse", "main").strip()
    git(shop, "checkout", "-q", "-b", "change2", "main")
    edit(shop, "deploy/base/deployment.yaml", "shop:1.4.0", "shop:1.6.0")
    git(shop, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "change2")
    head = git(shop, "rev-parse", "change2").strip()
    git(shop, "checkout", "-q", "main")
    github.mirror(REPO, "change2", sha=head, parent=base)
    pull = github.add_pull(REPO, title="Bump again", author="alice", head_ref="change2")
    return pull.number, head


def _comment_payload(number: int, comment_id: int, body: str) -> dict[str, Any]:
    return {
        "action": "created",
        "repository": {"full_name": REPO},
        "issue": {"number": number, "pull_request": {"url": "https://x"}},
        "comment": {
            "id": comment_id,
            "body": body,
            "user": {"login": "bob", "type": "User"},
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        },
        "sender": {"login": "bob", "type": "User"},
    }


def _statuses(github: GitHubServer, sha: str) -> dict[str, str]:
    return {s.context: s.state for s in github.repos[REPO].statuses if s.sha == sha}


def _planned(github: GitHubServer, sha: str) -> bool:
    return "gitops" in _statuses(github, sha)


def _replies(github: GitHubServer, number: int) -> list[str]:
    return [
        c.body
        for c in github.comments_on(REPO, number)
        if c.author == BOT and c.body.startswith("@bob")
    ]


def _bot_reactions(github: GitHubServer, number: int, comment_id: int) -> list[str]:
    [comment] = [c for c in github.comments_on(REPO, number) if c.id == comment_id]
    return sorted(content for login, content in comment.reactions if login == BOT)


def _sticky(github: GitHubServer, number: int) -> list[str]:
    return [
        c.body
        for c in github.comments_on(REPO, number)
        if c.author == BOT and "<!-- gitops-bot:" in c.body
    ]


def _locked_once(github: GitHubServer, number: int) -> None:
    """`/gitops lock dev` was carried out once: dev's lock was read once (the
    review takes prod's lock, never dev's), and #number holds it."""
    assert github.log.count(f"GET /repos/{REPO}/git/ref/gitops-bot/locks/dev") == 1
    adapter = GitHub(repo=REPO, token=TOKEN, base_url=github.url, bot_login=BOT)
    holder = adapter.lock_holder("dev")
    assert holder is not None
    assert holder.pull == number


def _serving(
    github: GitHubServer,
    shop: Path,
    binaries: Binaries,
    folder: Path,
    *,
    kustomize: str | None = None,
    interval: str = "0",
) -> Any:
    env = {"GITOPS_BOT_LOGIN": BOT}
    if kustomize:
        env["GITOPS_BOT_KUSTOMIZE"] = kustomize
    return servekit.spawned(
        forge="github",
        api_url=github.url,
        shop=shop,
        binaries=binaries,
        folder=folder,
        token=TOKEN,
        secret=SECRET,
        env=env,
        args=("--repo", REPO, "--sweep-interval", interval),
    )


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    with checked() as srv:
        srv.add_user(BOT, type="Bot", token=TOKEN)
        srv.add_repo(REPO, files={"README.md": "mirrored from a real git repository\n"})
        srv.set_role(REPO, "bob", "write")
        yield srv


def test_a_sigkill_while_deliveries_wait_loses_nothing_and_does_nothing_twice(
    github: GitHubServer,
    shop: Path,
    binaries: Binaries,
    tmp_path: Path,
) -> None:
    kustomize, gate, entered = _held_kustomize(tmp_path, binaries.path("kustomize"))
    first, head = open_pull(github, shop)

    # The first process: its start-up sweep plans #1, no delivery needed.
    with _serving(github, shop, binaries, tmp_path / "a", kustomize=kustomize) as served:
        eventually(lambda: _planned(github, head))
        gate.touch()  # from here every render waits
        second, head2 = _second_pull(github, shop)
        command = github.add_comment(REPO, first, author="bob", body=COMMAND)
        assert deliver(served.url, "pull_request", pull_payload(second, head2, "opened")) == 202
        assert deliver(served.url, "pull_request", pull_payload(first, head, "synchronize")) == 202
        assert deliver(served.url, "issue_comment", _comment_payload(first, command.id, COMMAND))
        # A review is inside a render; the command waits behind #1's.
        eventually(entered.exists)
        assert _bot_reactions(github, first, command.id) == []
        served.kill()
    gate.unlink()
    assert not _planned(github, head2), "".join(served.logs)
    assert _replies(github, first) == []

    # Started again, sweeping every second: the forge says what is left to do.
    # The same cache folder: whatever the kill left half-written in the mirror is met.
    with _serving(github, shop, binaries, tmp_path / "a", interval="1") as again:
        eventually(lambda: _planned(github, head2) and bool(_replies(github, first)))
        swept = sum("swept acme/shop" in line for line in again.logs)
        eventually(lambda: sum("swept acme/shop" in line for line in again.logs) >= swept + 2)

    # #2 reached what its delivery would have given it: it changes the image of
    # dev and prod (not the cache), and prod waits for an approval.
    assert _statuses(github, head2) == {
        "gitops": "pending",
        "gitops/plan/dev": "success",
        "gitops/plan/prod": "success",
        "gitops/policy/dev": "success",
        "gitops/policy/prod": "pending",
    }
    assert sorted(re.search(r"env=([\w-]+)", b)[1] for b in _sticky(github, second)) == [  # type: ignore[index]
        "dev",
        "prod",
    ]
    assert len(_sticky(github, first)) == 3
    # The command: claimed once, carried out once, answered once, however often swept.
    assert _bot_reactions(github, first, command.id) == ["+1", "eyes"]
    assert _replies(github, first) == ["@bob `dev` is locked for this change."]
    _locked_once(github, first)


def test_two_replicas_given_the_same_deliveries_act_once(
    github: GitHubServer,
    shop: Path,
    binaries: Binaries,
    tmp_path: Path,
) -> None:
    number, head = open_pull(github, shop)
    with (
        _serving(github, shop, binaries, tmp_path / "a") as one,
        _serving(github, shop, binaries, tmp_path / "b") as two,
    ):
        for served in (one, two):
            assert deliver(served.url, "pull_request", pull_payload(number, head, "opened")) == 202
        eventually(lambda: _planned(github, head) and len(_sticky(github, number)) == 3)
        command = github.add_comment(REPO, number, author="bob", body=COMMAND)
        payload = _comment_payload(number, command.id, COMMAND)
        for served in (one, two):
            assert deliver(served.url, "issue_comment", payload) == 202
        eventually(lambda: "+1" in _bot_reactions(github, number, command.id))
        eventually(lambda: any("taken already" in line for line in one.logs + two.logs))
        time.sleep(1)  # room for a second answer, were there one

    assert _bot_reactions(github, number, command.id) == ["+1", "eyes"]
    assert _replies(github, number) == ["@bob `dev` is locked for this change."]
    _locked_once(github, number)
    # Both reviewed the same head: one comment per environment, the same statuses.
    assert len(_sticky(github, number)) == 3
    assert _statuses(github, head)["gitops"] == "pending"
