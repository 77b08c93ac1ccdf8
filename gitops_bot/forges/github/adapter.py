"""GitHub through PyGithub: every forge port (gitops_bot.core.pr.ports) for one repository.

Reached through the descriptor's connect (gitops_bot.forges.github.FORGE).
`GitHub` is one object made of one part per responsibility, each its own
module: client (the connection, retries, errors, GitHub's limits), pulls
(PullRequests, PullQueries), comments (Comments), statuses (Statuses,
Deployments), people (Reviews, Members), changes (Changes) and locks
(Locks). PyGithub objects never leave these modules: everything is copied
into gitops_bot.core.pr.model values. The calls each method makes, and the
token permissions they need, are in docs/forges-github.md.
"""

from __future__ import annotations

from gitops_bot.forges.github.changes import ChangesPart
from gitops_bot.forges.github.client import (
    FILES_LIMIT,
    MAX_TRIES,
    MAX_WAIT,
    PER_PAGE,
    RETRIED_STATUSES,
    STATUS_DESCRIPTION_LIMIT,
)
from gitops_bot.forges.github.comments import CommentsPart
from gitops_bot.forges.github.facts import COMMENT_LIMIT
from gitops_bot.forges.github.locks import LOCK_REFS, LocksPart
from gitops_bot.forges.github.people import PeoplePart
from gitops_bot.forges.github.pulls import PullsPart
from gitops_bot.forges.github.statuses import StatusesPart

__all__ = [
    "COMMENT_LIMIT",
    "FILES_LIMIT",
    "LOCK_REFS",
    "MAX_TRIES",
    "MAX_WAIT",
    "PER_PAGE",
    "RETRIED_STATUSES",
    "STATUS_DESCRIPTION_LIMIT",
    "GitHub",
]


class GitHub(PullsPart, CommentsPart, StatusesPart, PeoplePart, ChangesPart, LocksPart):
    """The forge ports for one GitHub repository ("owner/name"); see client.Client
    for the options (all keyword-only)."""
