"""What a GitLab CI pipeline was started for.

Owns: reading GitLab CI's predefined variables of merge request pipelines
(CI_MERGE_REQUEST_IID, CI_PROJECT_PATH, CI_SERVER_URL, ...) into a
CiContext with a core event. A scheduled or hand-started pipeline
(CI_PIPELINE_SOURCE schedule, web or api on the default branch) is a
promotion check on that branch. Refuses: reading os.environ itself
(forges.cienv passes it in).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gitops_bot.core.pr import events
from gitops_bot.forges.forge import Ci, CiContext
from gitops_bot.forges.gitlab.facts import API_URL
from gitops_bot.forges.payload import token

_GITLAB_CHECKS = ("schedule", "web", "api")


def _gitlab(env: Mapping[str, str], read: Callable[[str], str]) -> CiContext:
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
        api_url=env.get("CI_SERVER_URL") or API_URL,
        # CI_JOB_TOKEN cannot write notes or statuses: a project or bot token is needed.
        token=token(env, "GITOPS_BOT_TOKEN"),
        event=event,
        workspace=env.get("CI_PROJECT_DIR") or ".",
        git_url=f"{env.get('CI_SERVER_URL') or API_URL}/{repo}.git",
    )


CI = Ci(
    described="GitLab CI (GITLAB_CI)",
    runs_in=lambda env: env.get("GITLAB_CI") == "true",
    context=_gitlab,
)
