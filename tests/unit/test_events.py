"""Webhook payloads -> core events, for GitHub and GitLab.

The GitHub cases run over every example GitHub publishes for the events the
bot handles (`@octokit/webhooks-examples`, installed by `make test` into
tests/fakes/node_modules); the GitLab cases follow the documented hooks.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gitops_bot.core.pr import events as ev
from gitops_bot.errors import ForgeError
from gitops_bot.forges.github.webhook import from_github, github_identity
from gitops_bot.forges.gitlab.webhook import from_gitlab, gitlab_identity

EXAMPLES = (
    Path(__file__).resolve().parents[1]
    / "fakes/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
)
HANDLED = ("pull_request", "pull_request_review", "issue_comment", "push", "deployment_status")


def github_examples() -> list[tuple[str, dict[str, Any]]]:
    assert EXAMPLES.is_file(), f"{EXAMPLES} is missing: run `make test` (it runs npm ci)"
    found = [
        (entry["name"], example)
        for entry in json.loads(EXAMPLES.read_text())
        if entry["name"] in HANDLED
        for example in entry["examples"]
    ]
    assert {name for name, _ in found} == set(HANDLED)
    return found


@pytest.mark.parametrize(
    ("name", "payload"),
    github_examples(),
    ids=lambda v: v if isinstance(v, str) else str(v.get("action", "")),
)
def test_every_published_github_example_reads_as_the_right_event(
    name: str, payload: dict[str, Any]
) -> None:
    event = from_github(name, payload)

    # The App installation the delivery came through, when it names one.
    installation = (payload.get("installation") or {}).get("id")
    if not isinstance(event, ev.Ignored):
        assert event.installation == installation
    action = payload.get("action")
    if name == "pull_request":
        if action in ("opened", "synchronize", "reopened", "closed"):
            assert isinstance(event, ev.PullEvent)
            assert event.number == payload["pull_request"]["number"]
            assert event.head_sha == payload["pull_request"]["head"]["sha"]
            if action == "closed":
                merged = payload["pull_request"]["merged"]
                assert event.action is (ev.PullAction.MERGED if merged else ev.PullAction.CLOSED)
        else:
            assert isinstance(event, ev.Ignored)
    elif name == "pull_request_review":
        assert isinstance(event, ev.ReviewEvent)
        assert event.user == payload["review"]["user"]["login"]
        assert event.commit_sha == payload["review"]["commit_id"]
    elif name == "issue_comment":
        if payload["issue"].get("pull_request"):
            assert isinstance(event, ev.CommentEvent)
            assert event.action.value == action
            assert event.body == payload["comment"]["body"]
            assert event.author_is_bot is (payload["comment"]["user"]["type"] == "Bot")
        else:
            assert isinstance(event, ev.Ignored)
    elif name == "deployment_status":
        repo = payload["repository"]
        state = payload["deployment_status"]["state"]
        environment = payload["deployment"]["environment"]
        assert event == ev.PromotionCheck(
            repo["full_name"],
            repo["default_branch"],
            f"deployment to {environment} is {state}",
            installation=installation,
        )
    else:
        assert isinstance(event, ev.PushEvent)
        assert event.after == payload["after"]
        expected = payload["ref"] == f"refs/heads/{payload['repository']['default_branch']}"
        assert event.to_default_branch is expected


REPO = {"full_name": "acme/shop", "default_branch": "main"}


@pytest.mark.parametrize(
    ("name", "payload", "error"),
    [
        (
            "pull_request",
            {"action": "opened", "repository": REPO},
            "reading the pull_request event: the payload has no pull_request.number",
        ),
        (
            "pull_request",
            {
                "action": "opened",
                "repository": REPO,
                "sender": {"login": "a"},
                "pull_request": {"number": "7", "head": {"sha": "abc"}},
            },
            "reading the pull_request event: pull_request.number is a str, expected a int",
        ),
        (
            "issue_comment",
            {
                "action": "created",
                "repository": REPO,
                "issue": {"number": True, "pull_request": {"url": "https://x"}},
            },
            "reading the issue_comment event: issue.number is not a number",
        ),
        (
            "deployment_status",
            {"repository": REPO, "deployment_status": {"state": "success"}},
            "reading the deployment_status event: the payload has no deployment.environment",
        ),
    ],
)
def test_malformed_github_payloads_name_the_field(
    name: str, payload: dict[str, Any], error: str
) -> None:
    with pytest.raises(ForgeError) as caught:
        from_github(name, payload)
    assert str(caught.value) == error


def test_unknown_github_events_are_ignored_with_a_reason() -> None:
    event = from_github("star", {"action": "created"})
    assert event == ev.Ignored("GitHub event 'star' is not one the bot handles")


PROJECT = {"path_with_namespace": "group/shop", "default_branch": "main"}
USER = {"username": "alice", "bot": False}


def mr_hook(action: str, **attrs: Any) -> dict[str, Any]:
    return {
        "object_kind": "merge_request",
        "user": USER,
        "project": PROJECT,
        "object_attributes": {"iid": 7, "action": action, "last_commit": {"id": "a" * 40}, **attrs},
    }


def note_hook(**attrs: Any) -> dict[str, Any]:
    return {
        "object_kind": "note",
        "user": USER,
        "project": PROJECT,
        "merge_request": {"iid": 7},
        "object_attributes": {
            "id": 99,
            "note": "/gitops plan",
            "noteable_type": "MergeRequest",
            "system": False,
            **attrs,
        },
    }


@pytest.mark.parametrize(
    ("payload", "event"),
    [
        (mr_hook("open"), ev.PullEvent("group/shop", 7, ev.PullAction.OPENED, "a" * 40, "alice")),
        (
            mr_hook("update", oldrev="b" * 40),
            ev.PullEvent("group/shop", 7, ev.PullAction.PUSHED, "a" * 40, "alice"),
        ),
        (
            mr_hook("update"),
            ev.Ignored("merge request update without new commits (title, labels, ...)"),
        ),
        (mr_hook("merge"), ev.PullEvent("group/shop", 7, ev.PullAction.MERGED, "a" * 40, "alice")),
        (mr_hook("close"), ev.PullEvent("group/shop", 7, ev.PullAction.CLOSED, "a" * 40, "alice")),
        (
            mr_hook("approved"),
            ev.ReviewEvent("group/shop", 7, ev.ReviewAction.SUBMITTED, "alice", ""),
        ),
        (
            mr_hook("unapproved"),
            ev.ReviewEvent("group/shop", 7, ev.ReviewAction.DISMISSED, "alice", ""),
        ),
        (
            note_hook(action="create"),
            ev.CommentEvent(
                "group/shop", 7, ev.CommentAction.CREATED, 99, "alice", "/gitops plan", False
            ),
        ),
        (
            note_hook(action="update"),
            ev.CommentEvent(
                "group/shop", 7, ev.CommentAction.EDITED, 99, "alice", "/gitops plan", False
            ),
        ),
        # No action: not known to be a new note, so refused as an edit, never obeyed.
        *(
            (
                note_hook(**extra),
                ev.CommentEvent(
                    "group/shop", 7, ev.CommentAction.EDITED, 99, "alice", "/gitops plan", False
                ),
            )
            for extra in ({}, {"action": None}, {"action": ""}, {"action": "Create"})
        ),
        (note_hook(system=True), ev.Ignored("a system note")),
        (
            note_hook(noteable_type="Issue"),
            ev.Ignored("a note on something other than a merge request"),
        ),
        (
            {
                "object_kind": "push",
                "project": PROJECT,
                "ref": "refs/heads/main",
                "before": "b" * 40,
                "after": "a" * 40,
            },
            ev.PushEvent("group/shop", "refs/heads/main", "b" * 40, "a" * 40, "main"),
        ),
        (
            {
                "object_kind": "deployment",
                "status": "success",
                "environment": "dev",
                "project": PROJECT,
                "deployment_id": 15,
            },
            ev.PromotionCheck("group/shop", "main", "deployment to dev is success"),
        ),
        (
            {"object_kind": "pipeline"},
            ev.Ignored("GitLab hook 'pipeline' is not one the bot handles"),
        ),
    ],
)
def test_gitlab_hooks(payload: dict[str, Any], event: ev.Event) -> None:
    assert from_gitlab(payload) == event


# -- identities: what an event is, whatever delivery carries it -------------------

_GH_COMMENT = {
    "action": "created",
    "repository": {"full_name": "org/shop"},
    "comment": {"id": 5, "updated_at": "2026-12-06T10:00:00Z"},
}


def _changed(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    node = out
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "same"),
    [
        ("comment.body", "edited text", True),  # the body is not what the event is
        ("sender.login", "mallory", True),
        ("comment.id", 6, False),
        ("action", "deleted", False),
        ("repository.full_name", "org/other", False),
        # A new comment is created once, whatever its updated_at says.
        ("comment.updated_at", "2026-12-06T11:00:00Z", True),
    ],
)
def test_github_comment_identity(path: str, value: Any, same: bool) -> None:
    before = github_identity("issue_comment", _GH_COMMENT)
    assert (github_identity("issue_comment", _changed(_GH_COMMENT, path, value)) == before) is same


def test_each_edit_of_a_comment_is_its_own_event() -> None:
    edit = _changed(_GH_COMMENT, "action", "edited")
    later = _changed(edit, "comment.updated_at", "2026-12-06T11:00:00Z")
    assert github_identity("issue_comment", edit) != github_identity("issue_comment", later)
    note = _changed(note_hook(action="update"), "object_attributes.updated_at", "t1")
    assert gitlab_identity(note) != gitlab_identity(
        _changed(note, "object_attributes.updated_at", "t2")
    )
    # A note hook without action is an edit: its time tells two apart.
    bare = _changed(note_hook(), "object_attributes.updated_at", "t1")
    assert gitlab_identity(bare) != gitlab_identity(
        _changed(bare, "object_attributes.updated_at", "t2")
    )


def test_events_the_server_does_not_name_have_no_identity() -> None:
    assert github_identity("star", {}) == ""
    assert gitlab_identity({"object_kind": "pipeline"}) == ""
