"""GitHub's webhook payloads, read into core.pr.events values.

Owns: knowing which payload fields carry what, for the events the bot
handles (pull_request, pull_request_review, issue_comment, push,
deployment_status), and what each delivery is about (its identity, for
telling a replay under a new X-GitHub-Delivery), the App installation a
delivery names, and checking the X-Hub-Signature-256. A deployment's new
status is a promotion check: the gates are judged again on the default
branch. Everything else is Ignored
with a reason. Refuses: trusting the payload for decisions (the use cases
re-read state from the API) and reading anything but the dict it is given.
A payload that lacks a field the event needs is a ForgeError naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from gitops_bot.core.pr import deliveries
from gitops_bot.core.pr import events as ev
from gitops_bot.forges.forge import Webhook
from gitops_bot.forges.payload import comment_identity, field, get, identity


def from_github(name: str, payload: Mapping[str, Any]) -> ev.Event:
    """`name` is the X-GitHub-Event header (or GITHUB_EVENT_NAME). A delivery
    to a GitHub App names its installation, which the event keeps."""
    event = _event(name, payload)
    installation = (payload.get("installation") or {}).get("id")
    if isinstance(event, ev.Ignored) or not isinstance(installation, int):
        return event
    return replace(event, installation=installation)


def _event(name: str, payload: Mapping[str, Any]) -> ev.Event:
    if name == "pull_request":
        return _github_pull(payload)
    if name == "pull_request_review":
        return _github_review(payload)
    if name == "issue_comment":
        return _github_comment(payload)
    if name == "push":
        return ev.PushEvent(
            repo=get(payload, "repository.full_name", str, event=name),
            ref=get(payload, "ref", str, event=name),
            before=get(payload, "before", str, event=name),
            after=get(payload, "after", str, event=name),
            default_branch=str((payload.get("repository") or {}).get("default_branch") or ""),
        )
    if name == "deployment_status":
        return ev.PromotionCheck(
            repo=get(payload, "repository.full_name", str, event=name),
            branch=get(payload, "repository.default_branch", str, event=name),
            reason=f"deployment to {get(payload, 'deployment.environment', str, event=name)} "
            f"is {get(payload, 'deployment_status.state', str, event=name)}",
        )
    return ev.Ignored(f"GitHub event {name!r} is not one the bot handles")


_GITHUB_PULL_ACTIONS = {
    "opened": ev.PullAction.OPENED,
    "synchronize": ev.PullAction.PUSHED,
    "reopened": ev.PullAction.REOPENED,
}


def _github_pull(payload: Mapping[str, Any]) -> ev.Event:
    name = "pull_request"
    action = get(payload, "action", str, event=name)
    if action == "closed":
        merged = bool((payload.get("pull_request") or {}).get("merged"))
        pull_action = ev.PullAction.MERGED if merged else ev.PullAction.CLOSED
    elif action in _GITHUB_PULL_ACTIONS:
        pull_action = _GITHUB_PULL_ACTIONS[action]
    else:
        return ev.Ignored(f"pull_request action {action!r} changes nothing the bot plans")
    return ev.PullEvent(
        repo=get(payload, "repository.full_name", str, event=name),
        number=get(payload, "pull_request.number", int, event=name),
        action=pull_action,
        head_sha=get(payload, "pull_request.head.sha", str, event=name),
        sender=get(payload, "sender.login", str, event=name),
    )


def _github_review(payload: Mapping[str, Any]) -> ev.Event:
    name = "pull_request_review"
    action = get(payload, "action", str, event=name)
    actions = {"submitted": ev.ReviewAction.SUBMITTED, "dismissed": ev.ReviewAction.DISMISSED}
    if action not in actions:
        return ev.Ignored(f"pull_request_review action {action!r} does not change approvals")
    return ev.ReviewEvent(
        repo=get(payload, "repository.full_name", str, event=name),
        number=get(payload, "pull_request.number", int, event=name),
        action=actions[action],
        user=get(payload, "review.user.login", str, event=name),
        commit_sha=str((payload.get("review") or {}).get("commit_id") or ""),
    )


def _github_comment(payload: Mapping[str, Any]) -> ev.Event:
    name = "issue_comment"
    if not (payload.get("issue") or {}).get("pull_request"):
        return ev.Ignored("a comment on an issue, not on a pull request")
    action = get(payload, "action", str, event=name)
    try:
        comment_action = ev.CommentAction(action)
    except ValueError:
        return ev.Ignored(f"issue_comment action {action!r} is not one the bot handles")
    return ev.CommentEvent(
        repo=get(payload, "repository.full_name", str, event=name),
        number=get(payload, "issue.number", int, event=name),
        action=comment_action,
        comment_id=get(payload, "comment.id", int, event=name),
        author=get(payload, "comment.user.login", str, event=name),
        body=get(payload, "comment.body", str, event=name),
        author_is_bot=(payload.get("comment") or {}).get("user", {}).get("type") == "Bot",
    )


_GITHUB_IDENTITY: Mapping[str, tuple[str, ...]] = {
    # The pull request's updated_at moves with every close, reopen and push, so
    # closing it twice is two events; a replay carries the same one.
    "pull_request": (
        "repository.full_name",
        "action",
        "pull_request.number",
        "pull_request.head.sha",
        "pull_request.updated_at",
    ),
    "pull_request_review": ("repository.full_name", "action", "review.id", "review.submitted_at"),
    "push": ("repository.full_name", "ref", "before", "after"),
    "deployment_status": (
        "repository.full_name",
        "deployment_status.id",
        "deployment_status.state",
    ),
}


def github_identity(name: str, payload: Mapping[str, Any]) -> str:
    """What a GitHub delivery (X-GitHub-Event `name`) is about: equal for a replay
    of it under any delivery id, different for any other event."""
    if name == "issue_comment":
        return comment_identity(
            "github:issue_comment",
            repo=field(payload, "repository.full_name"),
            comment=field(payload, "comment.id"),
            action=field(payload, "action"),
            updated=field(payload, "comment.updated_at"),
        )
    paths = _GITHUB_IDENTITY.get(name)
    return identity(payload, f"github:{name}", paths) if paths else ""


WEBHOOK = Webhook(
    title="GitHub",
    delivery_header="X-GitHub-Delivery",
    verify=lambda secret, header, body: deliveries.verify_github(
        body, header("X-Hub-Signature-256"), secret=secret
    ),
    read=lambda header, payload: from_github(header("X-GitHub-Event") or "", payload),
    identity=lambda header, payload: github_identity(header("X-GitHub-Event") or "", payload),
)
