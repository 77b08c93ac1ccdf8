"""A stateful GitHub REST emulator on 127.0.0.1, checked against GitHub's OpenAPI description.

Owns, one module each: the records (state), the state and how tests
arrange it (store), the JSON shapes (payloads, git_payloads), the routing
table (routing), HTTP, faults, the request log and the contract check of
every exchange (server), merging (merging), and the endpoints PyGithub
calls for gitops_bot.forges.github, by subject: pull requests (ep_pulls),
comments (ep_comments), statuses and deployments (ep_statuses), people
(ep_people), the Git database (ep_git) and GitHub Apps: installations
and their tokens (ep_apps). Importing this package
registers every endpoint.

Refuses: to be GitHub. Only the endpoints above exist (anything else is a
404 and a violation), trees are kept flat (one entry per file path), and
authorization is per token only (no scopes, no branch protection; an App
installation's token reaches its installation's repositories only).
"""

from tests.fakes.github_server import (
    ep_apps,
    ep_comments,
    ep_git,
    ep_people,
    ep_pulls,
    ep_statuses,
)
from tests.fakes.github_server.routing import ROUTES
from tests.fakes.github_server.server import GitHubServer, checked
from tests.fakes.github_server.state import (
    ChangedFile,
    CommentRecord,
    Commit,
    PullRecord,
    Repo,
    ReviewRecord,
    StatusRecord,
    User,
)

ENDPOINT_MODULES = (ep_apps, ep_comments, ep_git, ep_people, ep_pulls, ep_statuses)

__all__ = [
    "ENDPOINT_MODULES",
    "ROUTES",
    "ChangedFile",
    "CommentRecord",
    "Commit",
    "GitHubServer",
    "PullRecord",
    "Repo",
    "ReviewRecord",
    "StatusRecord",
    "User",
    "checked",
]
