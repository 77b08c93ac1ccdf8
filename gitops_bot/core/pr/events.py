"""What happened on the forge, in the bot's words: a closed set of events.

Owns: the event values the dispatcher acts on, one class per thing the bot
does something about, and `Ignored` (with a reason) for everything else.
Refuses: trusting an event beyond what it names: a payload is a hint; the
use cases re-read the pull request from the API before acting (SECURITY.md
promise 9).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class PullAction(enum.Enum):
    OPENED = "opened"
    PUSHED = "pushed"  # new commits on the head (GitHub synchronize, GitLab update with oldrev)
    REOPENED = "reopened"
    CLOSED = "closed"  # closed without merge
    MERGED = "merged"


class ReviewAction(enum.Enum):
    SUBMITTED = "submitted"  # GitHub review submitted; GitLab approved
    DISMISSED = "dismissed"  # GitHub review dismissed; GitLab unapproved


class CommentAction(enum.Enum):
    CREATED = "created"
    EDITED = "edited"  # commands in edited comments are refused, never obeyed
    DELETED = "deleted"


@dataclass(frozen=True)
class PullEvent:
    repo: str
    number: int
    action: PullAction
    head_sha: str
    sender: str
    # The GitHub App installation the delivery came through (a hint: which
    # installation's token reaches the repository); None where none is named.
    installation: int | None = None


@dataclass(frozen=True)
class ReviewEvent:
    repo: str
    number: int
    action: ReviewAction
    user: str
    commit_sha: str  # "" where the forge does not say
    # The GitHub App installation the delivery came through (a hint: which
    # installation's token reaches the repository); None where none is named.
    installation: int | None = None


@dataclass(frozen=True)
class CommentEvent:
    repo: str
    number: int  # the pull request's number (GitLab: the MR iid)
    action: CommentAction
    comment_id: int
    author: str
    body: str
    # What the payload says. GitLab's hook does not say (its `user` has no
    # `bot` field), so the use case compares the author with the bot's own
    # account, as Comments.comments() does, and never trusts this alone.
    author_is_bot: bool
    # The GitHub App installation the delivery came through (a hint: which
    # installation's token reaches the repository); None where none is named.
    installation: int | None = None


@dataclass(frozen=True)
class PushEvent:
    repo: str
    ref: str  # "refs/heads/main"
    before: str
    after: str
    default_branch: str  # the repository's default branch name, "" if unknown
    # The GitHub App installation the delivery came through (a hint: which
    # installation's token reaches the repository); None where none is named.
    installation: int | None = None

    @property
    def to_default_branch(self) -> bool:
        return bool(self.default_branch) and self.ref == f"refs/heads/{self.default_branch}"


@dataclass(frozen=True)
class PromotionCheck:
    """Time to judge the promotion gates: a schedule, a run by hand, or a
    deployment's status changed (GitHub deployment_status)."""

    repo: str
    branch: str  # where the environments live and promotions are opened against
    reason: str  # "schedule", "workflow_dispatch", "deployment_status", ...
    # The GitHub App installation the delivery came through (a hint: which
    # installation's token reaches the repository); None where none is named.
    installation: int | None = None


@dataclass(frozen=True)
class Ignored:
    reason: str


Event = PullEvent | ReviewEvent | CommentEvent | PushEvent | PromotionCheck | Ignored
