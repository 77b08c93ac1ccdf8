"""GitLab's webhook payloads, read into core.pr.events values.

Owns: knowing which payload fields carry what, for the hooks the bot
handles (Merge Request, Note, Push and Deployment Hooks), and what each
delivery is about (its identity, for telling a replay under a new
X-Gitlab-Event-UUID), and checking the X-Gitlab-Token. A deployment's new
status is a promotion check: the gates are judged again on the default
branch. Everything else is Ignored with a reason. Refuses: trusting the
payload for decisions (the use cases re-read state from the API) and
reading anything but the dict it is given. A payload that lacks a field
the event needs is a ForgeError naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops_bot.core.pr import deliveries
from gitops_bot.core.pr import events as ev
from gitops_bot.forges.forge import Header, Webhook
from gitops_bot.forges.payload import comment_identity, field, get, identity

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
            repo=get(payload, "project.path_with_namespace", str, event=name),
            ref=get(payload, "ref", str, event=name),
            before=get(payload, "before", str, event=name),
            after=get(payload, "after", str, event=name),
            default_branch=str((payload.get("project") or {}).get("default_branch") or ""),
        )
    if kind == "deployment":
        name = "Deployment Hook"
        return ev.PromotionCheck(
            repo=get(payload, "project.path_with_namespace", str, event=name),
            branch=get(payload, "project.default_branch", str, event=name),
            reason=f"deployment to {get(payload, 'environment', str, event=name)} "
            f"is {get(payload, 'status', str, event=name)}",
        )
    return ev.Ignored(f"GitLab hook {kind!r} is not one the bot handles")


def _gitlab_mr(payload: Mapping[str, Any]) -> ev.Event:
    name = "Merge Request Hook"
    attrs = payload.get("object_attributes") or {}
    action = str(attrs.get("action") or "")
    repo = get(payload, "project.path_with_namespace", str, event=name)
    number = get(payload, "object_attributes.iid", int, event=name)
    user = get(payload, "user.username", str, event=name)
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
        head_sha=get(payload, "object_attributes.last_commit.id", str, event=name),
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
        repo=get(payload, "project.path_with_namespace", str, event=name),
        number=get(payload, "merge_request.iid", int, event=name),
        action=action,
        comment_id=get(payload, "object_attributes.id", int, event=name),
        author=get(payload, "user.username", str, event=name),
        body=get(payload, "object_attributes.note", str, event=name),
        author_is_bot=bool((payload.get("user") or {}).get("bot")),
    )


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
    kind = field(payload, "object_kind")
    if kind == "note":
        return comment_identity(
            "gitlab:note",
            repo=field(payload, "project.path_with_namespace"),
            comment=field(payload, "object_attributes.id"),
            action=field(payload, "object_attributes.action") or "update",
            updated=field(payload, "object_attributes.updated_at"),
        )
    paths = _GITLAB_IDENTITY.get(kind)
    return identity(payload, f"gitlab:{kind}", paths) if paths else ""


def _verify(secret: bytes, header: Header, body: bytes) -> None:
    deliveries.verify_gitlab(header("X-Gitlab-Token"), secret=secret.decode())


WEBHOOK = Webhook(
    title="GitLab",
    delivery_header="X-Gitlab-Event-UUID",
    verify=_verify,
    read=lambda header, payload: from_gitlab(payload),
    identity=lambda header, payload: gitlab_identity(payload),
)
