"""GitLab: the forge's descriptor (forges.registry lists it).

The adapter (`adapter.GitLab`, every forge port for one project through
python-gitlab) is made of one part per responsibility, each its own module:
client (the connection, bounded retries, errors, GitLab's limits), pulls
(PullRequests, PullQueries), comments (Comments), statuses (Statuses,
Deployments), people (Reviews, Members), changes (Changes) and locks
(Locks). python-gitlab objects never leave these modules. The webhook
(webhook) and GitLab CI (ci) are read without python-gitlab, which only
`connect` imports. The choices and their limits are in docs/forges-gitlab.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitops_bot.errors import ConfigError
from gitops_bot.forges.forge import Connection, Forge
from gitops_bot.forges.gitlab.ci import CI
from gitops_bot.forges.gitlab.facts import API_URL, COMMENT_LIMIT
from gitops_bot.forges.gitlab.webhook import WEBHOOK

if TYPE_CHECKING:
    from gitops_bot.forges.gitlab.adapter import GitLab as GitLab


def _connect(conn: Connection) -> GitLab:
    from gitops_bot.forges.gitlab.adapter import GitLab  # noqa: PLC0415

    if conn.app is not None:
        raise ConfigError("GitLab has no GitHub Apps: give GitLab a token")
    return GitLab(project=conn.repo, token=conn.token, url=conn.api_url or API_URL)


FORGE = Forge(
    name="gitlab",
    default_api_url=API_URL,
    comment_limit=COMMENT_LIMIT,
    connect=_connect,
    clone_url=lambda api: api.rstrip("/") + "/{repo}.git",
    pull_head_ref="refs/merge-requests/{number}/head",
    webhook=WEBHOOK,
    ci=CI,
)
