"""GitHub: the forge's descriptor (forges.registry lists it).

The adapter (`adapter.GitHub`, every forge port through PyGithub) is made of
one part per responsibility, each its own module: client (the connection,
retries, errors, GitHub's limits), pulls (PullRequests, PullQueries),
comments (Comments), statuses (Statuses, Deployments), people (Reviews,
Members), changes (Changes) and locks (Locks); a GitHub App's installation tokens
(app). PyGithub objects never leave these modules: everything is copied
into gitops_bot.core.pr.model values. The webhook (webhook) and GitHub
Actions (ci) are read without PyGithub, which only `connect` and
`git_token` import. The calls each method makes, and the token
permissions they need, are in docs/forges-github.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gitops_bot.errors import BotError
from gitops_bot.forges.forge import Connection, Forge
from gitops_bot.forges.github.ci import CI
from gitops_bot.forges.github.facts import API_URL, COMMENT_LIMIT
from gitops_bot.forges.github.webhook import WEBHOOK

if TYPE_CHECKING:
    from gitops_bot.forges.github.adapter import GitHub as GitHub


def write_interval(env: Mapping[str, str]) -> float | None:
    """Seconds between GitHub writes: 1 by default, as GitHub asks of
    integrations (secondary rate limits); 0 where nobody limits them (a GitHub
    Enterprise Server without them, the test emulator)."""
    raw = env.get("GITOPS_BOT_GITHUB_WRITE_INTERVAL", "1")
    try:
        seconds = float(raw)
    except ValueError:
        raise BotError(
            f"GITOPS_BOT_GITHUB_WRITE_INTERVAL={raw!r}: not a number of seconds"
        ) from None
    if seconds < 0:
        raise BotError(f"GITOPS_BOT_GITHUB_WRITE_INTERVAL={raw!r}: must be 0 or more")
    return seconds or None


def _connect(conn: Connection) -> GitHub:
    from gitops_bot.forges.github.adapter import GitHub  # noqa: PLC0415

    return GitHub(
        repo=conn.repo,
        token=conn.token,
        app=conn.app,
        installation=conn.installation,
        base_url=conn.api_url or API_URL,
        bot_login=conn.bot_login,
        seconds_between_writes=write_interval(os.environ),
    )


def _git_token(conn: Connection) -> str:
    """The token, or the App installation's current one (the same one the
    adapter's requests carry: one token per installation)."""
    if conn.app is None:
        return conn.token
    from gitops_bot.forges.github import app  # noqa: PLC0415

    auth = app.installation_auth(
        conn.app, repo=conn.repo, base_url=conn.api_url or API_URL, installation=conn.installation
    )
    return app.first_token(auth, conn.app, conn.repo)


def _clone_url(api: str) -> str:
    """https://github.com/{repo}.git for api.github.com; GitHub Enterprise
    (https://HOST/api/v3) clones from the host."""
    if api.rstrip("/") == API_URL:
        return "https://github.com/{repo}.git"
    return api.rstrip("/").removesuffix("/api/v3") + "/{repo}.git"


FORGE = Forge(
    name="github",
    default_api_url=API_URL,
    comment_limit=COMMENT_LIMIT,
    connect=_connect,
    clone_url=_clone_url,
    pull_head_ref="refs/pull/{number}/head",
    webhook=WEBHOOK,
    ci=CI,
    git_token=_git_token,
)
