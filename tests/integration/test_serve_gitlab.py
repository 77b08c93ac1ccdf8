"""`gitops-bot serve --forge gitlab` as a team runs it next to GitLab: a real
process taking "Merge Request Hook" deliveries from the GitLab emulator,
with the quick start's project access token and owners in a private group.
Whatever goes wrong shows on the merge request, never only in the log."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_bot.testing.binaries import Binaries
from tests.fakes.gitlab_server import GitLabServer
from tests.integration import servekit
from tests.integration.test_policy_gitlab import GROUP_HIDDEN, policy, server
from tests.integration.test_run_gitlab import PROJECT, TOKEN, notes, open_mr

SECRET = "gitlab-webhook-secret-for-tests"
__all__ = ["server"]  # the fixture: acme/shop, its project token, the private group acme/sre


@pytest.fixture
def serve(server: GitLabServer, shop: Path, binaries: Binaries, tmp_path: Path) -> Iterator[str]:
    with servekit.running(
        forge="gitlab",
        api_url=server.url,
        shop=shop,
        binaries=binaries,
        folder=tmp_path,
        token=TOKEN,
        secret=SECRET.encode(),
    ) as url:
        yield url


def deliver(url: str, payload: dict[str, Any]) -> int:
    request = urllib.request.Request(  # noqa: S310 (the test's own http URL)
        f"{url}/webhooks/gitlab",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={
            "X-Gitlab-Event": "Merge Request Hook",
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "X-Gitlab-Token": SECRET,
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
        return int(reply.status)


def eventually(check: Callable[[], bool], *, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_an_approval_the_token_cannot_judge_is_answered_on_the_merge_request(
    server: GitLabServer, shop: Path, serve: str
) -> None:
    iid = open_mr(server, shop)
    assert deliver(serve, server.merge_request_hook(PROJECT, iid, action="open", user="alice"))
    eventually(lambda: "gitops" in policy(server, iid))
    assert policy(server, iid)["gitops/policy/prod"][0] == "pending"

    server.approve(PROJECT, iid, "bob")  # bob is in acme/sre, which the token cannot see
    hook = server.merge_request_hook(PROJECT, iid, action="approved", user="bob")
    assert deliver(serve, hook) == 202

    # The statuses are written one after the other: wait for the summary, the last.
    eventually(lambda: policy(server, iid)["gitops"][0] == "failed")
    assert policy(server, iid)["gitops/policy/prod"][0] == "failed"
    assert policy(server, iid)["gitops/policy/prod"][1].startswith(GROUP_HIDDEN)
    assert set(notes(server, iid)) == {"dev", "prod", "cache-prod"}  # the plan still stands


def test_a_handler_that_fails_says_so_on_the_merge_request(
    server: GitLabServer, shop: Path, serve: str
) -> None:
    iid = open_mr(server, shop)
    notes_path = f"/api/v4/projects/{PROJECT}/merge_requests/{iid}/notes"
    server.fail(403, method="GET", path=notes_path, times=99, message="403 Forbidden")

    assert deliver(serve, server.merge_request_hook(PROJECT, iid, action="open", user="alice"))

    eventually(lambda: "gitops" in policy(server, iid))
    state, text = policy(server, iid)["gitops"]
    assert state == "failed"
    assert text == (
        "error: gitops-bot could not handle this: "
        f"reading the notes of {PROJECT}!{iid}: GitLab answered 403: 403 Forbidden"
    )
    assert TOKEN not in text


def test_a_command_the_server_cannot_act_on_gets_a_reply(
    server: GitLabServer, shop: Path, serve: str
) -> None:
    iid = open_mr(server, shop)
    command = server.add_note(PROJECT, iid, author="bob", body="/gitops plan")
    notes_path = f"/api/v4/projects/{PROJECT}/merge_requests/{iid}/notes"
    server.fail(403, method="GET", path=notes_path, times=99, message="403 Forbidden")

    assert deliver(serve, server.note_hook(PROJECT, iid, command.id)) == 202

    def replied() -> list[str]:
        mr = server.merge_request(PROJECT, iid)
        return [n.body for n in mr.notes if n.author.username == "gitops-bot"]

    eventually(lambda: bool(replied()))
    [reply] = replied()
    assert reply.startswith(
        f"gitops-bot could not act on this comment: reading the notes of {PROJECT}!{iid}: "
        "GitLab answered 403: 403 Forbidden"
    )
    eventually(lambda: "gitops" in policy(server, iid))
    assert policy(server, iid)["gitops"][0] == "failed"


def test_two_replicas_sweeping_answer_a_command_nobody_delivered_once(
    server: GitLabServer, shop: Path, binaries: Binaries, tmp_path: Path
) -> None:
    """No delivery at all: the sweep alone (through the Forge port, as on GitHub)
    plans the merge request and finds the command; the award claims it."""
    iid = open_mr(server, shop)

    def bot_notes() -> list[str]:
        mr = server.merge_request(PROJECT, iid)
        return [n.body for n in mr.notes if n.author.username == "gitops-bot"]

    def swept(served: servekit.Served) -> int:
        return sum("swept acme/shop" in line for line in served.logs)

    replicas = [
        servekit.spawned(
            forge="gitlab",
            api_url=server.url,
            shop=shop,
            binaries=binaries,
            folder=tmp_path / name,
            token=TOKEN,
            secret=SECRET.encode(),
            args=("--repo", PROJECT, "--sweep-interval", "1"),
        )
        for name in ("a", "b")
    ]
    with replicas[0] as one, replicas[1] as two:
        eventually(lambda: "gitops" in policy(server, iid) and len(bot_notes()) == 3)
        command = server.add_note(PROJECT, iid, author="bob", body="/gitops lock dev")
        eventually(lambda: any(b.startswith("@bob") for b in bot_notes()))
        counts = swept(one), swept(two)
        eventually(lambda: swept(one) >= counts[0] + 2 and swept(two) >= counts[1] + 2)

    [note] = [n for n in server.merge_request(PROJECT, iid).notes if n.id == command.id]
    assert sorted(a.name for a in note.awards if a.user.username == "gitops-bot") == [
        "eyes",
        "thumbsup",
    ]
    assert [b for b in bot_notes() if b.startswith("@bob")] == [
        "@bob `dev` is locked for this change."
    ]
    assert len(bot_notes()) == 3 + 1  # one plan note per environment, one reply
