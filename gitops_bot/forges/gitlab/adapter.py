"""GitLab through python-gitlab, for one project: every forge port the bot has.

Reached through the descriptor's connect (gitops_bot.forges.gitlab.FORGE).
`GitLab` is one object made of one part per responsibility, each its own
module: client (the connection, bounded retries, errors, GitLab's limits),
pulls (PullRequests, PullQueries), comments (Comments), statuses
(Statuses, Deployments), people (Reviews, Members), changes (Changes) and
locks (Locks). python-gitlab objects never leave these modules. The
choices and their limits are in docs/forges-gitlab.md.
"""

from __future__ import annotations

from gitops_bot.forges.gitlab.changes import ChangesPart
from gitops_bot.forges.gitlab.client import (
    DESCRIPTION_LIMIT,
    MAX_RETRIES,
    MAX_WAIT,
    PER_PAGE,
    STATUS_DESCRIPTION_LIMIT,
    TIMEOUT,
)
from gitops_bot.forges.gitlab.comments import CommentsPart
from gitops_bot.forges.gitlab.facts import COMMENT_LIMIT
from gitops_bot.forges.gitlab.locks import LOCK_TAGS, LocksPart
from gitops_bot.forges.gitlab.people import PeoplePart
from gitops_bot.forges.gitlab.pulls import PullsPart
from gitops_bot.forges.gitlab.statuses import ERROR_PREFIX, StatusesPart

__all__ = [
    "COMMENT_LIMIT",
    "DESCRIPTION_LIMIT",
    "ERROR_PREFIX",
    "LOCK_TAGS",
    "MAX_RETRIES",
    "MAX_WAIT",
    "PER_PAGE",
    "STATUS_DESCRIPTION_LIMIT",
    "TIMEOUT",
    "GitLab",
]


class GitLab(PullsPart, CommentsPart, StatusesPart, PeoplePart, ChangesPart, LocksPart):
    """One GitLab project; see client.Client for the options (all keyword-only)."""
