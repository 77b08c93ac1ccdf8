from __future__ import annotations

import json

import pytest

from gitops_bot.core.pr import events
from gitops_bot.errors import BotError
from gitops_bot.forges import cienv

PULL = json.dumps(
    {
        "action": "synchronize",
        "pull_request": {"number": 7, "head": {"sha": "a" * 40}},
        "repository": {"full_name": "acme/shop"},
        "sender": {"login": "alice"},
    }
)
GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_EVENT_NAME": "pull_request",
    "GITHUB_EVENT_PATH": "/github/event.json",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_TOKEN": "t0ken",
    "GITHUB_WORKSPACE": "/github/workspace",
}
GITLAB = {
    "GITLAB_CI": "true",
    "CI_PROJECT_PATH": "group/shop",
    "CI_SERVER_URL": "https://gitlab.example.com",
    "CI_PROJECT_DIR": "/builds/group/shop",
    "GITOPS_BOT_TOKEN": "glpat-x",
}


def read(path: str) -> str:
    assert path == "/github/event.json"
    return PULL


def test_github_actions() -> None:
    ctx = cienv.detect(GITHUB, read=read)
    assert ctx == cienv.CiContext(
        forge="github",
        repo="acme/shop",
        api_url="https://api.github.com",
        token="t0ken",
        event=events.PullEvent("acme/shop", 7, events.PullAction.PUSHED, "a" * 40, "alice"),
        workspace="/github/workspace",
        git_url="https://github.com/acme/shop.git",  # where a comment's job fetches the PR from
    )


def test_a_bot_token_wins_over_github_token_and_the_login_is_taken() -> None:
    ctx = cienv.detect(
        {**GITHUB, "GITOPS_BOT_TOKEN": "app", "GITOPS_BOT_LOGIN": "bot[bot]"}, read=read
    )
    assert (ctx.token, ctx.bot_login) == ("app", "bot[bot]")


def test_gitlab_merge_request_pipeline() -> None:
    env = {
        **GITLAB,
        "CI_MERGE_REQUEST_IID": "12",
        "CI_COMMIT_SHA": "b" * 40,
        "GITLAB_USER_LOGIN": "bob",
    }
    ctx = cienv.detect(env, read=read)
    assert ctx.forge == "gitlab"
    assert ctx.api_url == "https://gitlab.example.com"
    assert ctx.event == events.PullEvent(
        "group/shop", 12, events.PullAction.PUSHED, "b" * 40, "bob"
    )


def test_gitlab_default_branch_pipeline_is_a_push() -> None:
    env = {
        **GITLAB,
        "CI_COMMIT_BRANCH": "main",
        "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_SHA": "b" * 40,
        "CI_COMMIT_BEFORE_SHA": "c" * 40,
    }
    event = cienv.detect(env, read=read).event
    assert isinstance(event, events.PushEvent)
    assert event.to_default_branch


@pytest.mark.parametrize("name", ["schedule", "workflow_dispatch"])
def test_a_scheduled_or_dispatched_github_run_is_a_promotion_check(name: str) -> None:
    env = {**GITHUB, "GITHUB_EVENT_NAME": name, "GITHUB_REF_NAME": "main"}
    ctx = cienv.detect(env, read=lambda _: json.dumps({"schedule": "*/10 * * * *"}))
    assert ctx.event == events.PromotionCheck("acme/shop", "main", name)


def test_a_scheduled_github_run_without_its_branch_says_so() -> None:
    env = {**GITHUB, "GITHUB_EVENT_NAME": "schedule"}
    with pytest.raises(BotError, match="GITHUB_REF_NAME is not set"):
        cienv.detect(env, read=lambda _: "{}")


@pytest.mark.parametrize("source", ["schedule", "web", "api"])
def test_a_gitlab_scheduled_pipeline_on_the_default_branch_is_a_promotion_check(
    source: str,
) -> None:
    env = {
        **GITLAB,
        "CI_COMMIT_BRANCH": "main",
        "CI_DEFAULT_BRANCH": "main",
        "CI_PIPELINE_SOURCE": source,
    }
    assert cienv.detect(env, read=read).event == events.PromotionCheck("group/shop", "main", source)


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({}, "neither GitHub Actions (GITHUB_EVENT_NAME) nor GitLab CI (GITLAB_CI)"),
        ({**GITHUB, "GITHUB_TOKEN": ""}, "none of GITOPS_BOT_TOKEN, GITHUB_TOKEN is set"),
        (
            {k: v for k, v in GITLAB.items() if k != "GITOPS_BOT_TOKEN"},
            "none of GITOPS_BOT_TOKEN is set",
        ),
        ({**GITHUB, "GITHUB_EVENT_PATH": ""}, "GITHUB_EVENT_PATH is not set"),
    ],
)
def test_what_is_missing_is_named(env: dict[str, str], error: str) -> None:
    with pytest.raises(BotError, match=error.replace("(", r"\(").replace(")", r"\)")):
        cienv.detect(env, read=read)
