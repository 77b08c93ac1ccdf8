"""A command counts only if its author saw what it applies to: the plan of the
current head. A comment written before the bot showed that plan (a push
after the comment, or a slow `issue_comment` workflow) is refused with a
reply that says so. Both times are the forge's: the comment's created_at,
and the time the bot's comment first showed the head's plan (core.pr.memory).

Through `gitops-bot run` as GitHub Actions runs it, and `gitops-bot serve`
taking signed webhooks, on the GitHub emulator with the real renderers."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_bot.core.pr import memory
from gitops_bot.testing.binaries import Binaries
from tests.fakes.github_server import GitHubServer
from tests.fakes.gitlab_server import GitLabServer
from tests.integration import servekit
from tests.integration.shop import git
from tests.integration.test_policy_github import (  # fixtures, by name
    BOT,
    REPO,
    Bot,
    bot,
    commit_on,
    github,
    mirror,
)
from tests.integration.test_serve import TOKEN as SERVE_TOKEN
from tests.integration.test_serve import (  # fixtures, by name
    deliver,
    eventually,
    open_pull,
    pull_payload,
    puller,
    serve,
)

__all__ = ["bot", "github", "puller", "serve"]  # pytest finds the fixtures here

pytestmark = pytest.mark.usefixtures("tools_env")

LOCK = "/gitops lock prod"
BEFORE = "before the bot showed the plan of the current head"


def _comment_payload(number: int, comment_id: int, body: str, user: str) -> dict[str, Any]:
    return {
        "action": "created",
        "repository": {"full_name": REPO},
        "issue": {"number": number, "pull_request": {"url": f"{REPO}/pulls/{number}"}},
        "comment": {"id": comment_id, "body": body, "user": {"login": user, "type": "User"}},
        "sender": {"login": user},
    }


def _answer(github: GitHubServer, number: int, comment_id: int) -> tuple[list[str], set[str]]:
    """The bot's replies on the pull request, and its reactions to the comment."""
    comments = github.comments_on(REPO, number)
    record = next(c for c in comments if c.id == comment_id)
    replies = [c.body for c in comments if c.author == BOT and "gitops-bot:" not in c.body]
    return replies, {content for who, content in record.reactions if who == BOT}


def _push(github: GitHubServer, shop: Path, number: int, new: str) -> str:
    old = github.repos[REPO].pulls[number].head_sha
    head = commit_on(shop, "change", "deploy/overlays/prod/replicas.yaml", "replicas: 3", new)
    github.mirror(REPO, "change", sha=head, parent=old)
    github.repos[REPO].pulls[number].head_sha = head
    return head


def test_a_command_written_before_a_push_is_refused_once_the_new_head_is_planned(
    bot: Bot, github: GitHubServer, shop: Path
) -> None:
    number = mirror(github, shop)
    bot.push(number, "opened")
    # bob reads the plan of the first head and writes the command ...
    comment = github.add_comment(REPO, number, author="bob", body=LOCK)
    # ... a push lands and is planned before the slow comment workflow runs.
    head = _push(github, shop, number, "replicas: 4")
    bot.push(number)
    bot.run("issue_comment", _comment_payload(number, comment.id, LOCK, "bob"))

    replies, reactions = _answer(github, number, comment.id)
    assert reactions == {"eyes", "-1"}
    assert len(replies) == 1
    assert replies[0].startswith("@bob this comment was written (")
    assert BEFORE in replies[0]
    assert f"`{head[:12]}`" in replies[0]
    assert "post the command again" in replies[0]

    # Written again, after the plan of the new head: obeyed.
    again = bot.comment(number, "bob", LOCK)
    assert _answer(github, number, again)[1] == {"eyes", "+1"}


def test_a_command_written_after_a_push_the_bot_has_not_planned_is_refused(
    bot: Bot, github: GitHubServer, shop: Path
) -> None:
    number = mirror(github, shop)
    bot.push(number, "opened")
    head = _push(github, shop, number, "replicas: 4")  # its workflow has not run yet

    comment = bot.comment(number, "bob", "/gitops approve-destroy prod")

    replies, reactions = _answer(github, number, comment)
    assert reactions == {"eyes", "-1"}
    assert replies == [
        f"@bob the head is now `{head[:12]}` and the bot has not shown its plan yet, so this "
        "command cannot be about it; once the plan is posted, look at the plan of "
        f"`{head[:12]}` and post the command again."
    ]


def test_replanning_the_same_head_after_the_comment_does_not_void_it(
    bot: Bot, github: GitHubServer, shop: Path
) -> None:
    """An approval re-plans the head after the command was written and before
    it is answered: the head the commenter saw is still the one planned."""
    number = mirror(github, shop)
    bot.push(number, "opened")
    comment = github.add_comment(REPO, number, author="bob", body=LOCK)
    bot.approve(number, "bob")  # rewrites the plan comments of the same head
    bot.run("issue_comment", _comment_payload(number, comment.id, LOCK, "bob"))

    assert _answer(github, number, comment.id)[1] == {"eyes", "+1"}
    # The comment remembers, by the forge's clock, since when it showed the head.
    head = github.repos[REPO].pulls[number].head_sha
    own = [(c.body, None) for c in github.comments_on(REPO, number) if c.author == BOT]
    assert memory.shown_since(own, head) is not None


def test_commands_that_do_not_act_on_the_head_are_not_bound(
    bot: Bot, github: GitHubServer, shop: Path
) -> None:
    number = mirror(github, shop)
    bot.push(number, "opened")
    comment = github.add_comment(REPO, number, author="bob", body="/gitops hold prod")
    _push(github, shop, number, "replicas: 4")
    bot.push(number)
    # Holding is the safe direction: a stale hold still holds.
    bot.run("issue_comment", _comment_payload(number, comment.id, "/gitops hold prod", "bob"))
    assert _answer(github, number, comment.id)[1] == {"eyes", "+1"}
    assert bot.policy(number)["prod"][0] == "pending"


@pytest.fixture
def serve_token(github: GitHubServer) -> None:
    """The policy tests' emulator, also answering the token `serve` is given."""
    github.add_user(BOT, type="Bot", token=SERVE_TOKEN)


@pytest.mark.usefixtures("serve_token")
def test_serve_refuses_a_command_delivered_after_a_newer_head_was_planned(
    github: GitHubServer, shop: Path, serve: str
) -> None:
    number, head = open_pull(github, shop)
    assert deliver(serve, "pull_request", pull_payload(number, head, "opened")) == 202
    eventually(lambda: any(s.context == "gitops" for s in github.repos[REPO].statuses))
    comment = github.add_comment(REPO, number, author="bob", body=LOCK)

    new = commit_on(
        shop, "change", "deploy/overlays/prod/replicas.yaml", "replicas: 3", "replicas: 9"
    )
    github.mirror(REPO, "change", sha=new, parent=head)
    github.repos[REPO].pulls[number].head_sha = new
    assert deliver(serve, "pull_request", pull_payload(number, new, "synchronize")) == 202
    eventually(
        lambda: any(s.context == "gitops" and s.sha == new for s in github.repos[REPO].statuses)
    )
    # The comment's delivery arrives late (a retry, a slow queue): it is refused.
    assert deliver(serve, "issue_comment", _comment_payload(number, comment.id, LOCK, "bob")) == 202
    eventually(lambda: "-1" in _answer(github, number, comment.id)[1])
    replies, reactions = _answer(github, number, comment.id)
    assert reactions == {"eyes", "-1"}
    assert any(BEFORE in r for r in replies)


# -- GitLab, through `gitops-bot serve` ------------------------------------------

GL_TOKEN = "glpat-binding-canary-0123456789"
GL_SECRET = "gitlab-hook-token-for-tests"
PROJECT = "acme/shop"


@pytest.fixture
def gitlab() -> Iterator[GitLabServer]:
    with GitLabServer() as srv:
        srv.add_user("gitops-bot", bot=True, token=GL_TOKEN)
        srv.add_user("alice")
        srv.add_user("bob")
        srv.add_project(PROJECT, files={"README.md": "mirrored\n"})
        srv.add_member(PROJECT, "gitops-bot", 40)
        srv.add_member(PROJECT, "bob", 30)  # Developer: write
        yield srv


@pytest.fixture
def gitlab_serve(
    gitlab: GitLabServer, shop: Path, binaries: Binaries, tmp_path: Path
) -> Iterator[str]:
    """`gitops-bot serve --forge gitlab` in a process of its own; its URL."""
    with servekit.running(
        forge="gitlab",
        api_url=gitlab.url,
        shop=shop,
        binaries=binaries,
        folder=tmp_path,
        token=GL_TOKEN,
        secret=GL_SECRET.encode(),
    ) as url:
        yield url


def _hook(url: str, hook: str, payload: dict[str, Any]) -> int:
    request = urllib.request.Request(  # noqa: S310 (the test's own http URL)
        f"{url}/webhooks/gitlab",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={
            "X-Gitlab-Event": hook,
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "X-Gitlab-Token": GL_SECRET,
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
        return int(reply.status)


def _planned(gitlab: GitLabServer, sha: str) -> bool:
    return any(s.sha == sha and s.name == "gitops" for s in gitlab._statuses)


def _awards(gitlab: GitLabServer, iid: int, note_id: int) -> set[str]:
    note = next(n for n in gitlab.merge_request(PROJECT, iid).notes if n.id == note_id)
    return {a.name for a in note.awards if a.user.username == "gitops-bot"}


def test_serve_on_gitlab_refuses_a_note_written_before_the_head_it_would_act_on(
    gitlab: GitLabServer, shop: Path, gitlab_serve: str
) -> None:
    base = git(shop, "rev-parse", "main").strip()
    head = git(shop, "rev-parse", "change").strip()
    gitlab.mirror(PROJECT, "main", sha=base)
    gitlab.mirror(PROJECT, "change", sha=head, parent=base)
    iid = gitlab.open_merge_request(
        PROJECT, source_branch="change", title="Bump", author="alice"
    ).iid
    git(shop, "update-ref", f"refs/merge-requests/{iid}/head", head)
    opened = gitlab.merge_request_hook(PROJECT, iid, action="open", user="alice")
    assert _hook(gitlab_serve, "Merge Request Hook", opened) == 202
    eventually(lambda: _planned(gitlab, head))

    # bob reads the plan and writes the command; a push lands and is planned first.
    note = gitlab.add_note(PROJECT, iid, author="bob", body=f"LGTM\n\n{LOCK}")
    new = commit_on(
        shop, "change", "deploy/overlays/prod/replicas.yaml", "replicas: 3", "replicas: 4"
    )
    gitlab.mirror(PROJECT, "change", sha=new, parent=head)
    git(shop, "update-ref", f"refs/merge-requests/{iid}/head", new)
    pushed = gitlab.merge_request_hook(PROJECT, iid, action="update", user="alice", oldrev=head)
    assert _hook(gitlab_serve, "Merge Request Hook", pushed) == 202
    eventually(lambda: _planned(gitlab, new))

    assert _hook(gitlab_serve, "Note Hook", gitlab.note_hook(PROJECT, iid, note.id)) == 202
    eventually(lambda: "thumbsdown" in _awards(gitlab, iid, note.id))
    replies = [
        n.body
        for n in gitlab.merge_request(PROJECT, iid).notes
        if n.author.username == "gitops-bot" and n.body.startswith("@bob")
    ]
    assert len(replies) == 1
    assert BEFORE in replies[0]
    assert f"`{new[:12]}`" in replies[0]

    # Written again now: obeyed.
    again = gitlab.add_note(PROJECT, iid, author="bob", body=LOCK)
    assert _hook(gitlab_serve, "Note Hook", gitlab.note_hook(PROJECT, iid, again.id)) == 202
    eventually(lambda: "thumbsup" in _awards(gitlab, iid, again.id))
