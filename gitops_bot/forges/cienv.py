"""Which CI system `gitops-bot run` is in, and what it was started for.

Owns: reading GitHub Actions' variables (GITHUB_EVENT_NAME, the event
payload at GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_API_URL) and GitLab
CI's predefined variables of merge request pipelines (CI_MERGE_REQUEST_IID,
CI_PROJECT_PATH, CI_SERVER_URL, ...) into one CiContext with a core event.
A scheduled or hand-started run (GitHub schedule and workflow_dispatch,
GitLab CI_PIPELINE_SOURCE schedule, web or api on the default branch) is a
promotion check on the branch it runs on.
Refuses: reading os.environ or files itself: the CLI passes the
environment and a file reader in, so tests hand it plain dicts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gitops_bot.core.pr import events
from gitops_bot.errors import BotError
from gitops_bot.forges.events import from_github


@dataclass(frozen=True)
class CiContext:
    forge: str  # "github" or "gitlab"
    repo: str  # owner/name, or the GitLab project path
    api_url: str
    token: str
    event: events.Event
    bot_login: str | None = None  # the bot's account, when the token cannot tell (Actions)
    workspace: str = "."
    git_url: str = ""  # where the repository can be fetched from (with the token)


def _token(env: Mapping[str, str], *names: str) -> str:
    for name in names:
        if env.get(name):
            return env[name]
    raise BotError(f"reading the token: none of {', '.join(names)} is set")


def detect(env: Mapping[str, str], *, read: Callable[[str], str]) -> CiContext:
    if env.get("GITHUB_ACTIONS") == "true" or "GITHUB_EVENT_NAME" in env:
        return _github(env, read)
    if env.get("GITLAB_CI") == "true":
        return _gitlab(env)
    raise BotError(
        "reading the CI environment: this is neither GitHub Actions (GITHUB_EVENT_NAME) "
        "nor GitLab CI (GITLAB_CI); use `gitops-bot plan` outside CI"
    )


_GITHUB_CHECKS = ("schedule", "workflow_dispatch")
_GITLAB_CHECKS = ("schedule", "web", "api")


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
        api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
        token=_token(env, "GITOPS_BOT_TOKEN", "GITHUB_TOKEN"),
        event=event,
        bot_login=env.get("GITOPS_BOT_LOGIN") or None,
        workspace=env.get("GITHUB_WORKSPACE") or ".",
        git_url=f"{env.get('GITHUB_SERVER_URL') or 'https://github.com'}/{repo}.git",
    )


def _gitlab(env: Mapping[str, str]) -> CiContext:
    repo = env.get("CI_PROJECT_PATH", "")
    iid = env.get("CI_MERGE_REQUEST_IID", "")
    event: events.Event
    if iid.isdigit():
        event = events.PullEvent(
            repo=repo,
            number=int(iid),
            action=events.PullAction.PUSHED,
            head_sha=env.get("CI_COMMIT_SHA", ""),
            sender=env.get("GITLAB_USER_LOGIN", ""),
        )
    elif (
        env.get("CI_COMMIT_BRANCH")
        and env.get("CI_COMMIT_BRANCH") == env.get("CI_DEFAULT_BRANCH")
        and env.get("CI_PIPELINE_SOURCE") in _GITLAB_CHECKS
    ):
        event = events.PromotionCheck(
            repo=repo, branch=env["CI_COMMIT_BRANCH"], reason=env["CI_PIPELINE_SOURCE"]
        )
    elif env.get("CI_COMMIT_BRANCH") and env.get("CI_COMMIT_BRANCH") == env.get(
        "CI_DEFAULT_BRANCH"
    ):
        event = events.PushEvent(
            repo=repo,
            ref=f"refs/heads/{env['CI_COMMIT_BRANCH']}",
            before=env.get("CI_COMMIT_BEFORE_SHA", ""),
            after=env.get("CI_COMMIT_SHA", ""),
            default_branch=env.get("CI_DEFAULT_BRANCH", ""),
        )
    else:
        event = events.Ignored(
            "a GitLab pipeline that is neither for a merge request nor for the default branch"
        )
    return CiContext(
        forge="gitlab",
        repo=repo,
        api_url=env.get("CI_SERVER_URL") or "https://gitlab.com",
        # CI_JOB_TOKEN cannot write notes or statuses: a project or bot token is needed.
        token=_token(env, "GITOPS_BOT_TOKEN"),
        event=event,
        workspace=env.get("CI_PROJECT_DIR") or ".",
        git_url=f"{env.get('CI_SERVER_URL') or 'https://gitlab.com'}/{repo}.git",
    )
