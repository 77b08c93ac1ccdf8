"""Environment locks held by a pull request that is merged or closed count as
released when they are read, on both forges, over real HTTP to the emulators:
no `closed` event is delivered in these tests (a lost delivery, a disabled
workflow), and runs that race to clear one stale lock clear it once and never
take a lock from the run that won it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from gitops_bot.core.pr.model import Lock
from gitops_bot.forges.github.adapter import GitHub
from gitops_bot.forges.gitlab.adapter import GitLab
from tests.fakes.github_server import checked
from tests.fakes.gitlab_server import DEVELOPER, GitLabServer

TOKEN = "glpat-or-ghs-canary-stale-locks"
REPO = "acme/shop"


@dataclass
class Forge:
    """One forge's emulator and a way to make adapters and to end pull requests."""

    name: str
    adapter: Callable[[], GitHub | GitLab]
    head: Callable[[int], str]
    end: Callable[[int, str], None]  # merge or close a pull request, and send no event
    refs: Callable[[], list[str]]  # the lock refs or tags that exist


def _github() -> Iterator[Forge]:
    with checked() as srv:
        srv.add_user("gitops-bot[bot]", type="Bot", token=TOKEN)
        srv.add_repo(REPO, files={"README.md": "x\n"})
        for n in (1, 2, 3):
            srv.push(REPO, f"b{n}", files={"README.md": f"{n}\n"}, message=f"{n}")
            srv.add_pull(REPO, title=f"#{n}", author="alice", head_ref=f"b{n}")

        def end(number: int, how: str) -> None:
            pull = srv.repos[REPO].pulls[number]
            pull.state, pull.merged = "closed", how == "merged"

        yield Forge(
            "github",
            lambda: GitHub(
                repo=REPO,
                token=TOKEN,
                base_url=srv.url,
                bot_login="gitops-bot[bot]",
                sleep=lambda _: None,
                seconds_between_writes=None,
            ),
            lambda n: srv.repos[REPO].pulls[n].head_sha,
            end,
            lambda: sorted(r for r in srv.repos[REPO].refs if r.startswith("gitops-bot/")),
        )


def _gitlab() -> Iterator[Forge]:
    with GitLabServer() as srv:
        srv.add_user("gitops_bot", bot=True, token=TOKEN)
        srv.add_user("alice")
        srv.add_project(REPO, files={"README.md": "x\n"})
        srv.add_member(REPO, "gitops_bot", DEVELOPER)
        srv.add_member(REPO, "alice", DEVELOPER)
        for n in (1, 2, 3):
            srv.commit(REPO, f"b{n}", {"README.md": f"{n}\n"}, author="alice")
            srv.open_merge_request(REPO, source_branch=f"b{n}", title=f"!{n}", author="alice")
        yield Forge(
            "gitlab",
            lambda: GitLab(project=REPO, token=TOKEN, url=srv.url),
            lambda n: srv.merge_request(REPO, n).versions[-1].head,
            lambda n, how: srv.set_state(REPO, n, how),
            lambda: sorted(t for t in srv.project(REPO).tags if t.startswith("gitops-bot/")),
        )


@pytest.fixture(params=["github", "gitlab"])
def forge(request: pytest.FixtureRequest) -> Iterator[Forge]:
    yield from (_github() if request.param == "github" else _gitlab())


LOCK = {"github": ["gitops-bot/locks/prod"], "gitlab": ["gitops-bot/lock/prod"]}


@pytest.mark.parametrize("how", ["merged", "closed"])
def test_the_next_pull_request_gets_a_lock_whose_holder_ended_without_an_event(
    forge: Forge, how: str
) -> None:
    bot = forge.adapter()
    assert bot.acquire_lock("prod", pull=1, sha=forge.head(1)).pull == 1
    assert bot.acquire_lock("prod", pull=2, sha=forge.head(2)).pull == 1  # #1 is open

    forge.end(1, how)

    lock = bot.acquire_lock("prod", pull=2, sha=forge.head(2))
    assert (lock.pull, lock.sha) == (2, forge.head(2))
    assert bot.lock_holder("prod") == lock
    assert forge.refs() == LOCK[forge.name]  # no marker left behind
    assert bot.release_lock("prod", pull=1) is False  # not #1's any more
    assert bot.release_lock("prod", pull=2) is True
    assert forge.refs() == []


def test_reading_a_stale_lock_releases_it(forge: Forge) -> None:
    bot = forge.adapter()
    bot.acquire_lock("prod", pull=1, sha=forge.head(1))
    forge.end(1, "merged")

    assert bot.lock_holder("prod") is None  # what `/gitops unlock` and the gate read
    assert forge.refs() == []


def test_runs_racing_for_a_stale_lock_see_one_winner_and_nobody_loses_it(forge: Forge) -> None:
    """#2 and #3 find #1's stale lock at the same moment; several rounds, since
    the interleavings differ."""
    for round_ in range(4):
        env = f"env-{round_}"
        forge.adapter().acquire_lock(env, pull=1, sha=forge.head(1))
        if round_ == 0:
            forge.end(1, "merged")
        start = threading.Barrier(2)
        got: dict[int, Lock] = {}

        def take(
            pull: int,
            env: str = env,
            start: threading.Barrier = start,
            got: dict[int, Lock] = got,
        ) -> None:
            adapter = forge.adapter()
            start.wait()
            got[pull] = adapter.acquire_lock(env, pull=pull, sha=forge.head(pull))

        threads = [threading.Thread(target=take, args=(pull,)) for pull in (2, 3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert got[2] == got[3], round_  # both see the same holder
        assert got[2].pull in (2, 3)
        assert forge.adapter().lock_holder(env) == got[2]  # and it is the one that stands
    assert len(forge.refs()) == 4  # one lock per environment, no marker left
