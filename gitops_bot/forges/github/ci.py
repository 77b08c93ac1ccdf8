"""What a GitHub Actions job was started for.

Owns: reading GitHub Actions' variables (GITHUB_EVENT_NAME, the event
payload at GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_API_URL) into a
CiContext with a core event. A scheduled or hand-started run (schedule,
workflow_dispatch) is a promotion check on the branch it runs on.
Refuses: reading os.environ or files itself (forges.cienv passes them in).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from gitops_bot.core.pr import events
from gitops_bot.errors import BotError
from gitops_bot.forges.forge import Ci, CiContext
from gitops_bot.forges.github import oidc
from gitops_bot.forges.github.facts import API_URL
from gitops_bot.forges.github.webhook import from_github
from gitops_bot.forges.payload import token

_GITHUB_CHECKS = ("schedule", "workflow_dispatch")


def _github(env: Mapping[str, str], read: Callable[[str], str]) -> CiContext:
    name = env.get("GITHUB_EVENT_NAME", "")
    path = env.get("GITHUB_EVENT_PATH", "")
    if not path:
        raise BotError("reading the GitHub event: GITHUB_EVENT_PATH is not set")
    try:
        payload = json.loads(read(path))
    except (OSError, ValueError) as err:
        raise BotError(f"reading the GitHub event at {path}: {err}") from err
    repo = env.get("GITHUB_REPOSITORY", "")
    if not repo:
        raise BotError("reading the GitHub event: GITHUB_REPOSITORY is not set")
    event: events.Event
    if name in _GITHUB_CHECKS:
        branch = env.get("GITHUB_REF_NAME") or env.get("GITHUB_REF", "").removeprefix("refs/heads/")
        if not branch:
            raise BotError(f"reading the GitHub {name} event: GITHUB_REF_NAME is not set")
        event = events.PromotionCheck(repo=repo, branch=branch, reason=name)
    else:
        event = from_github(name, payload)
    return CiContext(
        forge="github",
        repo=repo,
        api_url=env.get("GITHUB_API_URL") or API_URL,
        # A GitHub App (`run --github-app-id`) brings its own installation token.
        token="" if env.get("GITOPS_BOT_GITHUB_APP_ID") else _token(env),
        event=event,
        bot_login=env.get("GITOPS_BOT_LOGIN") or None,
        workspace=env.get("GITHUB_WORKSPACE") or ".",
        git_url=f"{env.get('GITHUB_SERVER_URL') or 'https://github.com'}/{repo}.git",
    )


def _token(env: Mapping[str, str]) -> str:
    return token(env, "GITOPS_BOT_TOKEN", "GITHUB_TOKEN")


CI = Ci(
    described="GitHub Actions (GITHUB_EVENT_NAME)",
    runs_in=lambda env: env.get("GITHUB_ACTIONS") == "true" or "GITHUB_EVENT_NAME" in env,
    context=_github,
    id_token=lambda env, audience: oidc.request_token(env, audience=audience),
)
