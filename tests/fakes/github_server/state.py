"""The emulator's records: what a small GitHub keeps, as plain dataclasses.

Owns: GitHub's limits and enums the emulator enforces, one dataclass per
kind of record (users, repositories with refs and collaborators, pull
requests and their changed files, comments, reviews, commit statuses,
git commits and annotated tags, deployments and their statuses), queued
faults, the request log entry, and the HttpError an endpoint raises.
Refuses: behaviour; the store, the endpoints and the payloads own that.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HTML = "https://github.com"
DOCS = "https://docs.github.com/rest"
COMMENT_LIMIT = 65_536  # characters GitHub accepts in an issue comment body
STATUS_DESCRIPTION_LIMIT = 140
FILES_LIMIT = 3000  # GitHub lists at most this many files of a pull request
EPOCH = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SECONDARY_RATE_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
ROLES = {  # role_name -> the legacy `permission` GitHub reports next to it
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING")
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")

Json = dict[str, Any]


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "User", "Bot" or "Organization"


@dataclass
class ChangedFile:
    filename: str
    status: str = "modified"
    previous_filename: str | None = None
    additions: int = 1
    deletions: int = 1


@dataclass
class Commit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    date: str


@dataclass
class PullRecord:
    number: int
    title: str
    author: str
    base_ref: str
    base_sha: str
    head_ref: str
    head_sha: str
    head_repo: str
    body: str | None = None
    state: str = "open"
    merged: bool = False
    labels: list[str] = field(default_factory=list)
    files: list[ChangedFile] = field(default_factory=list)
    created_at: str = ""
    merge_commit_sha: str | None = None
    closed_at: str | None = None


@dataclass
class CommentRecord:
    id: int
    repo: str  # "owner/name"
    number: int
    author: str
    body: str
    created_at: str
    updated_at: str
    reactions: list[tuple[str, str]] = field(default_factory=list)  # (login, content)


@dataclass
class ReviewRecord:
    id: int
    repo: str
    number: int
    author: str
    state: str
    commit_id: str
    submitted_at: str
    body: str = ""


@dataclass
class StatusRecord:
    id: int
    sha: str
    context: str
    state: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: str


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    fork: bool = False
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" -> sha
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> role_name
    deployments: list[DeploymentRecord] = field(default_factory=list)
    git_dir: Path | None = None  # a real bare repository this one mirrors (attach_git)
    pulls: dict[int, PullRecord] = field(default_factory=dict)
    statuses: list[StatusRecord] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Fault:
    status: int
    times: int | None  # None: every matching request, forever
    method: str | None = None
    path: str | None = None
    retry_after: int | None = None
    message: str = ""
    reset_in: int | None = None  # a primary rate limit: X-RateLimit-Reset this far ahead

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path == path
        )


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Json | None
    status: int

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


class HttpError(Exception):
    def __init__(self, status: int, message: str, *, errors: list[Json] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors is not None:
            self.body["errors"] = errors


def blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def digest(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts).encode(), usedforsecurity=False).hexdigest()


@dataclass
class TagRecord:
    """An annotated tag object (POST /git/tags); refs may point to it."""

    sha: str
    tag: str
    message: str
    object_sha: str
    object_type: str
    tagger: str
    date: str


@dataclass
class DeploymentStatusRecord:
    id: int
    state: str
    description: str
    target_url: str
    environment: str
    creator: str
    created_at: str


@dataclass
class DeploymentRecord:
    id: int
    sha: str
    ref: str
    environment: str
    description: str | None
    creator: str
    created_at: str
    task: str = "deploy"
    statuses: list[DeploymentStatusRecord] = field(default_factory=list)


@dataclass
class AppRecord:
    """A GitHub App: its id, slug and the public half of its private key (PEM)."""

    id: int
    slug: str
    owner: str
    public_key: str
    created_at: str

    @property
    def bot(self) -> str:
        return f"{self.slug}[bot]"  # the account its installation tokens act as


@dataclass
class InstallationRecord:
    """An App installed on an account, for some of its repositories."""

    id: int
    app_id: int
    account: str
    repos: list[str]  # full names the installation's tokens may reach
    permissions: dict[str, str]
    created_at: str


@dataclass
class InstallationToken:
    token: str
    installation: int
    expires_at: float  # on the emulator's clock (Store.clock)
