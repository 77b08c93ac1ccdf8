"""The GitLab emulator's records: what a small GitLab keeps, as plain dataclasses.

Owns: GitLab's limits and access levels, one dataclass per kind of record
(users, groups, projects with branches, tags and deployments, commits,
merge requests with diff versions, notes, award emoji and approvals,
commit statuses), queued faults, the request a handler gets, GitLab's two
timestamp formats, and the ApiError an endpoint raises. Refuses: behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

NOTE_LIMIT = 1_000_000
DESCRIPTION_LIMIT = 1_048_576
STATUS_TEXT_LIMIT = 255
GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
STATUS_STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
STATE_IDS = {"opened": 1, "closed": 2, "merged": 3, "locked": 4}
Json = dict[str, Any]


class ApiError(Exception):
    """An error answer: GitLab's {"message": ...} body with an HTTP status."""

    def __init__(self, status: int, message: object, *, key: str = "message") -> None:
        super().__init__(f"{status}: {message}")
        self.status, self.body = status, {key: message}


def not_found(what: str) -> ApiError:
    return ApiError(404, f"404 {what} Not Found")


@dataclass
class User:
    id: int
    username: str
    token: str
    bot: bool = False
    state: str = "active"

    @property
    def name(self) -> str:
        return self.username.replace("_", " ").title()

    @property
    def email(self) -> str:
        return f"{self.username}@example.com"


@dataclass
class Group:
    id: int
    full_path: str
    parent: Group | None
    members: dict[int, int] = field(default_factory=dict)
    visibility: str = "private"  # GitLab's own default for a new group


@dataclass
class Commit:
    sha: str
    parents: tuple[str, ...]
    message: str
    tree: dict[str, str]
    author: User
    at: datetime


@dataclass
class Label:
    id: int
    title: str
    project_id: int
    at: datetime


@dataclass
class Project:
    id: int
    path: str
    namespace: Group | None
    default_branch: str
    reset_approvals_on_push: bool
    forked_from: Project | None = None
    members: dict[int, int] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)
    deployments: list[Deployment] = field(default_factory=list)
    git_dir: Path | None = None  # a real bare repository this one mirrors (attach_git)
    labels: dict[str, Label] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class Version:
    id: int
    head: str
    base: str
    start: str
    at: datetime


@dataclass
class Award:
    id: int
    name: str
    user: User
    at: datetime


@dataclass
class Note:
    id: int
    author: User
    body: str
    created: datetime
    updated: datetime
    system: bool = False
    awards: list[Award] = field(default_factory=list)


@dataclass
class Approval:
    user: User
    at: datetime


@dataclass
class MergeRequest:
    id: int
    iid: int
    project: Project
    source: Project
    title: str
    description: str
    author: User
    source_branch: str
    target_branch: str
    created: datetime
    updated: datetime
    state: str = "opened"
    labels: list[str] = field(default_factory=list)
    assignees: list[User] = field(default_factory=list)
    reviewers: list[User] = field(default_factory=list)
    versions: list[Version] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    merge_commit_sha: str | None = None


@dataclass
class CommitStatus:
    id: int
    project: Project
    sha: str
    ref: str
    name: str
    status: str
    description: str | None
    target_url: str | None
    author: User
    created: datetime
    retried: bool = False
    started: datetime | None = None
    finished: datetime | None = None


@dataclass
class Fault:
    status: int
    method: str | None
    path: str | None
    times: int
    headers: dict[str, str]
    message: str


@dataclass
class Request:
    """What a handler gets: who asks, the path's parts, and every parameter."""

    user: User
    parts: dict[str, str]
    params: dict[str, Any]


def iso(moment: datetime | None) -> str | None:
    """GitLab's REST timestamps: `2026-01-05T09:00:01.000Z`."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def hook_time(moment: datetime | None) -> str | None:
    """GitLab's webhook timestamps: `2026-01-05 09:00:01 UTC`."""
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def truthy(value: object) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


@dataclass
class Tag:
    """A tag; annotated when it has a message (its target is then the tag object)."""

    name: str
    commit: str
    target: str
    message: str | None
    created: datetime | None


@dataclass
class Deployment:
    id: int
    iid: int
    environment: str
    environment_id: int
    sha: str
    ref: str
    tag: bool
    status: str
    user: User
    created: datetime
    updated: datetime
