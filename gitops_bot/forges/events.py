"""Webhook payloads of GitHub and GitLab, read into core.pr.events values.

Owns: knowing which payload fields carry what, for the events the bot
handles (GitHub pull_request, pull_request_review, issue_comment, push,
deployment_status; GitLab Merge Request, Note, Push and Deployment Hooks).
A deployment's new status is a promotion check: the gates are judged again
on the default branch. Everything else is Ignored with
a reason. Refuses: trusting the payload for decisions (the use cases re-read
state from the API) and reading anything but the dict it is given. A payload
that lacks a field the event needs is a ForgeError naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from gitops_bot.core.pr import events as ev
from gitops_bot.errors import ForgeError

T = TypeVar("T")


def _get(payload: Mapping[str, Any], path: str, kind: type[T], *, event: str) -> T:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ForgeError(f"reading the {event} event: the payload has no {path}")
        value = value[part]
    if kind is int and isinstance(value, bool):  # bool is an int in Python, not in JSON
        raise ForgeError(f"reading the {event} event: {path} is not a number")
    if not isinstance(value, kind):
        raise ForgeError(
            f"reading the {event} event: {path} is a {type(value).__name__}, "
            f"expected a {kind.__name__}"
        )
    return value


def from_github(name: str, payload: Mapping[str, Any]) -> ev.Event:
    """`name` is the X-GitHub-Event header (or GITHUB_EVENT_NAME)."""
    if name == "pull_request":
        return _github_pull(payload)
    if name == "pull_request_review":
        return _github_review(payload)
    if name == "issue_comment":
        return _github_comment(payload)
    if name == "push":
        return ev.PushEvent(
            repo=_get(payload, "repository.full_name", str, event=name),
            ref=_get(payload, "ref", str, event=name),
            before=_get(payload, "before", str, event=name),
            after=_get(payload, "after", str, event=name),
            default_branch=str((payload.get("repository") or {}).get("default_branch") or ""),
        )
    if name == "deployment_status":
        return ev.PromotionCheck(
            repo=_get(payload, "repository.full_name", str, event=name),
            branch=_get(payload, "repository.default_branch", str, event=name),
            reason=f"deployment to {_get(payload, 'deployment.environment', str, event=name)} "
            f"is {_get(payload, 'deployment_status.state', str, event=name)}",
        )
    return ev.Ignored(f"GitHub event {name!r} is not one the bot handles")


_GITHUB_PULL_ACTIONS = {
    "opened": ev.PullAction.OPENED,
    "synchronize": ev.PullAction.PUSHED,
    "reopened": ev.PullAction.REOPENED,
}


def _github_pull(payload: Mapping[str, Any]) -> ev.Event:
    name = "pull_request"
    action = _get(payload, "action", str, event=name)
    if action == "closed":
        merged = bool((payload.get("pull_request") or {}).get("merged"))
        pull_action = ev.PullAction.MERGED if merged else ev.PullAction.CLOSED
    elif action in _GITHUB_PULL_ACTIONS:
        pull_action = _GITHUB_PULL_ACTIONS[action]
    else:
        return ev.Ignored(f"pull_request action {action!r} changes nothing the bot plans")
    return ev.PullEvent(
        repo=_get(payload, "repository.full_name", str, event=name),
        number=_get(payload, "pull_request.number", int, event=name),
        action=pull_action,
        head_sha=_get(payload, "pull_request.head.sha", str, event=name),
        sender=_get(payload, "sender.login", str, event=name),
    )


def _github_review(payload: Mapping[str, Any]) -> ev.Event:
    name = "pull_request_review"
    action = _get(payload, "action", str, event=name)
    actions = {"submitted": ev.ReviewAction.SUBMITTED, "dismissed": ev.ReviewAction.DISMISSED}
    if action not in actions:
        return ev.Ignored(f"pull_request_review action {action!r} does not change approvals")
    return ev.ReviewEvent(
        repo=_get(payload, "repository.full_name", str, event=name),
        number=_get(payload, "pull_request.number", int, event=name),
        action=actions[action],
        user=_get(payload, "review.user.login", str, event=name),
        commit_sha=str((payload.get("review") or {}).get("commit_id") or ""),
    )


def _github_comment(payload: Mapping[str, Any]) -> ev.Event:
    name = "issue_comment"
    if not (payload.get("issue") or {}).get("pull_request"):
        return ev.Ignored("a comment on an issue, not on a pull request")
    action = _get(payload, "action", str, event=name)
    try:
        comment_action = ev.CommentAction(action)
    except ValueError:
        return ev.Ignored(f"issue_comment action {action!r} is not one the bot handles")
    return ev.CommentEvent(
        repo=_get(payload, "repository.full_name", str, event=name),
        number=_get(payload, "issue.number", int, event=name),
        action=comment_action,
        comment_id=_get(payload, "comment.id", int, event=name),
        author=_get(payload, "comment.user.login", str, event=name),
        body=_get(payload, "comment.body", str, event=name),
        author_is_bot=(payload.get("comment") or {}).get("user", {}).get("type") == "Bot",
    )


_GITLAB_MR_ACTIONS = {
    "open": ev.PullAction.OPENED,
    "reopen": ev.PullAction.REOPENED,
    "close": ev.PullAction.CLOSED,
    "merge": ev.PullAction.MERGED,
}


def from_gitlab(payload: Mapping[str, Any]) -> ev.Event:
    """A GitLab webhook body (its object_kind says which hook it is)."""
    kind = payload.get("object_kind")
    if kind == "merge_request":
        return _gitlab_mr(payload)
    if kind == "note":
        return _gitlab_note(payload)
    if kind == "push":
        name = "Push Hook"
        return ev.PushEvent(
            repo=_get(payload, "project.path_with_namespace", str, event=name),
            ref=_get(payload, "ref", str, event=name),
            before=_get(payload, "before", str, event=name),
            after=_get(payload, "after", str, event=name),
            default_branch=str((payload.get("project") or {}).get("default_branch") or ""),
        )
    if kind == "deployment":
        name = "Deployment Hook"
        return ev.PromotionCheck(
            repo=_get(payload, "project.path_with_namespace", str, event=name),
            branch=_get(payload, "project.default_branch", str, event=name),
            reason=f"deployment to {_get(payload, 'environment', str, event=name)} "
            f"is {_get(payload, 'status', str, event=name)}",
        )
    return ev.Ignored(f"GitLab hook {kind!r} is not one the bot handles")


def _gitlab_mr(payload: Mapping[str, Any]) -> ev.Event:
    name = "Merge Request Hook"
    attrs = payload.get("object_attributes") or {}
    action = str(attrs.get("action") or "")
    repo = _get(payload, "project.path_with_namespace", str, event=name)
    number = _get(payload, "object_attributes.iid", int, event=name)
    user = _get(payload, "user.username", str, event=name)
    if action in ("approved", "unapproved", "approval", "unapproval"):
        return ev.ReviewEvent(
            repo=repo,
            number=number,
            action=ev.ReviewAction.SUBMITTED
            if action in ("approved", "approval")
            else ev.ReviewAction.DISMISSED,
            user=user,
            commit_sha="",  # GitLab does not say which commit an approval was for
        )
    if action == "update" and not attrs.get("oldrev"):
        return ev.Ignored("merge request update without new commits (title, labels, ...)")
    pull_action = ev.PullAction.PUSHED if action == "update" else _GITLAB_MR_ACTIONS.get(action)
    if pull_action is None:
        return ev.Ignored(f"merge request action {action!r} changes nothing the bot plans")
    return ev.PullEvent(
        repo=repo,
        number=number,
        action=pull_action,
        head_sha=_get(payload, "object_attributes.last_commit.id", str, event=name),
        sender=user,
    )


def _gitlab_note(payload: Mapping[str, Any]) -> ev.Event:
    name = "Note Hook"
    attrs = payload.get("object_attributes") or {}
    if attrs.get("noteable_type") != "MergeRequest":
        return ev.Ignored("a note on something other than a merge request")
    if attrs.get("system"):
        return ev.Ignored("a system note")
    # GitLab sends the Note Hook for new notes (action "create") and for edits
    # ("update"). A hook that does not say is not known to be new: it is refused
    # as an edit would be, never obeyed (SECURITY.md promise 8).
    action = (
        ev.CommentAction.CREATED if attrs.get("action") == "create" else ev.CommentAction.EDITED
    )
    return ev.CommentEvent(
        repo=_get(payload, "project.path_with_namespace", str, event=name),
        number=_get(payload, "merge_request.iid", int, event=name),
        action=action,
        comment_id=_get(payload, "object_attributes.id", int, event=name),
        author=_get(payload, "user.username", str, event=name),
        body=_get(payload, "object_attributes.note", str, event=name),
        author_is_bot=bool((payload.get("user") or {}).get("bot")),
    )


# -- what an event is, whatever delivery carried it ------------------------------
#
# GitHub's signature covers the body only and GitLab's token is a static header,
# so X-GitHub-Delivery / X-Gitlab-Event-UUID can be changed at will: a replay of
# a captured delivery under a new id must be recognised by what it says. Each
# identity names the thing that happened once on the forge (a comment created,
# a comment edited at a time, a review submitted, a head pushed), so a replay
# matches it and a new event (the same comment edited again, the pull request
# closed a second time) does not.


def _field(payload: Mapping[str, Any], path: str) -> str:
    value: Any = payload
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def _identity(payload: Mapping[str, Any], kind: str, paths: tuple[str, ...]) -> str:
    return "|".join((kind, *(_field(payload, p) for p in paths)))


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
        return _comment_identity(
            "github:issue_comment",
            repo=_field(payload, "repository.full_name"),
            comment=_field(payload, "comment.id"),
            action=_field(payload, "action"),
            updated=_field(payload, "comment.updated_at"),
        )
    paths = _GITHUB_IDENTITY.get(name)
    return _identity(payload, f"github:{name}", paths) if paths else ""


def _comment_identity(kind: str, *, repo: str, comment: str, action: str, updated: str) -> str:
    # A comment is created once and deleted once whatever its timestamps say;
    # each edit is its own event, named by the time it was made.
    when = updated if action not in ("created", "create", "deleted") else ""
    return "|".join((kind, repo, comment, action, when))


_GITLAB_IDENTITY: Mapping[str, tuple[str, ...]] = {
    "merge_request": (
        "project.path_with_namespace",
        "object_attributes.action",
        "object_attributes.id",
        "object_attributes.last_commit.id",
        "object_attributes.updated_at",
        "user.id",  # approvals by two people in the same second are two events
    ),
    "push": ("project.path_with_namespace", "ref", "before", "after"),
    "deployment": ("project.path_with_namespace", "deployment_id", "status", "status_changed_at"),
}


def gitlab_identity(payload: Mapping[str, Any]) -> str:
    """What a GitLab hook body is about: equal for a replay of it under any
    X-Gitlab-Event-UUID, different for any other event."""
    kind = _field(payload, "object_kind")
    if kind == "note":
        return _comment_identity(
            "gitlab:note",
            repo=_field(payload, "project.path_with_namespace"),
            comment=_field(payload, "object_attributes.id"),
            action=_field(payload, "object_attributes.action") or "update",
            updated=_field(payload, "object_attributes.updated_at"),
        )
    paths = _GITLAB_IDENTITY.get(kind)
    return _identity(payload, f"gitlab:{kind}", paths) if paths else ""
