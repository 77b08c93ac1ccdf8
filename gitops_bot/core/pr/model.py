"""A neutral model of pull requests, in the bot's words, for GitHub and GitLab.

Owns: the values the forge adapters hand to the core and the use cases
(pull requests, comments, reviews, permissions, statuses, reactions) and
the enums that name forge concepts once for both forges, an environment's
lock, a deployment and its state, and the text a lock records (format_lock,
parse_lock: the same on both forges). Refuses: any
vendor object: adapters copy PyGithub and python-gitlab data into these at
the border. GitLab's merge requests are "pulls" here, its notes "comments",
its approvals "reviews" with state APPROVED.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from gitops_bot.errors import ForgeError


class Permission(enum.IntEnum):
    """A user's role on the repository, ordered: a higher one includes the lower."""

    NONE = 0
    READ = 1  # GitHub read, GitLab Guest/Reporter
    TRIAGE = 2  # GitHub triage
    WRITE = 3  # GitHub write, GitLab Developer
    MAINTAIN = 4  # GitHub maintain, GitLab Maintainer
    ADMIN = 5  # GitHub admin, GitLab Owner


class ReviewState(enum.Enum):
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    COMMENTED = "commented"
    DISMISSED = "dismissed"


class StatusState(enum.Enum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


class Reaction(enum.Enum):
    """How the bot acknowledges a command: seen, done, refused."""

    SEEN = "eyes"
    DONE = "+1"
    REFUSED = "-1"
    CONFUSED = "confused"


@dataclass(frozen=True)
class Pull:
    number: int
    title: str
    author: str
    base_ref: str  # target branch name
    base_sha: str
    head_ref: str
    head_sha: str
    from_fork: bool
    state: str  # "open", "closed" or "merged"
    labels: tuple[str, ...] = ()
    url: str = ""
    merged_sha: str = ""  # the commit the merge made on the base branch, once merged
    body: str = ""  # the description (GitLab's MR description)


@dataclass(frozen=True)
class Comment:
    id: int
    author: str
    body: str
    created_at: str  # ISO 8601, as the forge says
    updated_at: str = ""
    is_bot: bool = False  # written by this bot's own account


@dataclass(frozen=True)
class Review:
    user: str
    state: ReviewState
    commit_sha: str  # the head the reviewer saw when approving
    submitted_at: str = ""


@dataclass(frozen=True)
class Status:
    sha: str
    context: str  # e.g. "gitops/plan/prod"
    state: StatusState
    description: str = ""  # forges cut this (GitHub: 140 characters)
    url: str = ""


class DeploymentState(enum.Enum):
    """Where a deployment of one commit to one environment stands."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


@dataclass(frozen=True)
class Deployment:
    """What the forge recorded of one commit's deployment to one environment."""

    env: str
    sha: str
    state: DeploymentState
    since: str  # ISO 8601: when it came to `state` (the start of the latest run of it)
    description: str = ""  # GitLab records none
    created_at: str = ""  # ISO 8601: when the deployment was first recorded


@dataclass(frozen=True)
class Lock:
    """Who holds an environment: the pull request, the head it locked at, and since when."""

    env: str
    pull: int
    sha: str
    since: str  # ISO 8601, as the forge recorded it


LOCK_TITLE = "gitops-bot lock"
_LOCK_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")  # a DNS-1123 label, as config requires
_LOCK_NAME_MAX = 63


def check_lock_env(env: str) -> str:
    """`env`, checked: it becomes part of a git ref name, so only a DNS-1123 label will do."""
    if not _LOCK_NAME.fullmatch(env) or len(env) > _LOCK_NAME_MAX:
        raise ValueError(f"{env!r} cannot name a lock: environment names are DNS-1123 labels")
    return env


def format_lock(env: str, *, pull: int, sha: str) -> str:
    """The message a lock's tag carries: readable, and parsed back by parse_lock."""
    return f"{LOCK_TITLE}\n\nenv: {env}\npull: {pull}\nsha: {sha}\n"


def parse_lock(message: str, *, since: str) -> Lock:
    """The lock a tag message records; ForgeError if it is not one of ours."""
    fields = dict(line.split(": ", 1) for line in message.splitlines()[1:] if ": " in line)
    if not message.startswith(LOCK_TITLE) or not fields.get("pull", "").isdigit():
        raise ForgeError(f"reading a lock: {message[:80]!r} is not a lock gitops-bot wrote")
    return Lock(
        env=fields.get("env", ""), pull=int(fields["pull"]), sha=fields.get("sha", ""), since=since
    )


def check_length(text: str, *, limit: int, forge: str, doing: str, what: str = "body") -> None:
    """Refuse, before anything is sent, a text over the forge's limit."""
    if len(text) > limit:
        raise ForgeError(
            f"{doing}: the {what} has {len(text):,} characters, more than {forge}'s limit "
            f"of {limit:,}; split it before sending"
        )
