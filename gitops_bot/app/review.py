"""Use case: review a pull request (what `gitops-bot run` does when one is
opened, reopened or pushed to).

Owns: planning the pull request's base..head, then keeping one sticky
comment per environment (per part, when a plan is split) and one commit
status per environment (`gitops/plan/ENV`) up to date. A run whose head has
moved by the time it would write writes nothing: the newer run reports.
Refuses: deciding approval (the policy use case does) and reading the
environment (the CLI does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gitops_bot.app import plan as plan_app
from gitops_bot.core.forge import Status, StatusState
from gitops_bot.core.plan import Action, EnvPlan, Plan
from gitops_bot.core.report import markdown
from gitops_bot.ports import Comments, PullRequests, Statuses
from gitops_bot.render.render import Tools
from gitops_bot.vcs.git import Git

CONTEXT = "gitops/plan/{env}"


class ReviewForge(PullRequests, Comments, Statuses, Protocol):
    """The ports a review writes through."""


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    comments: int = 0  # comment parts written or confirmed
    statuses: int = 0
    stale: str = ""  # why nothing was written, when the head moved


def _marker_prefix(env: str) -> str:
    """What finds part 1 of env's comment however many parts it had."""
    return markdown.marker(env, 1, 1).rsplit("/", 1)[0] + "/"


def _describe(env: EnvPlan) -> tuple[StatusState, str]:
    if env.error:
        return StatusState.FAILURE, "the plan could not be made; see the comment"
    changes = env.changes if env.live is None else env.live
    counts = {a: sum(1 for c in changes if c.action is a) for a in Action}
    parts = [
        f"{counts[a]} to {a.value}"
        for a in (Action.CREATE, Action.UPDATE, Action.DELETE)
        if counts[a]
    ]
    return StatusState.SUCCESS, ", ".join(parts) if parts else "no changes"


def review(
    *,
    forge: ReviewForge,
    repo: Git,
    number: int,
    tools: Tools,
    mask_key: bytes,
    comment_limit: int,
    cluster_for: plan_app.ClusterFor | None = None,
    live: bool = False,
    url: str = "",
) -> Outcome:
    pull = forge.pull(number)
    result = plan_app.plan(
        repo=repo,
        request=plan_app.Request(base=pull.base_sha, head=pull.head_sha, live=live),
        tools=tools,
        cluster_for=cluster_for,
        mask_key=mask_key,
    )
    now = forge.pull(number)
    if now.head_sha != pull.head_sha:
        return Outcome(
            plan=result,
            stale=f"the head moved from {pull.head_sha[:12]} to {now.head_sha[:12]} while "
            "planning; the run for the new head reports",
        )

    comments = statuses = 0
    for env in result.envs:
        parts = markdown.env_comment(result, env, budget=comment_limit)
        for i, body in enumerate(parts, start=1):
            prefix = _marker_prefix(env.env).replace("part=1/", f"part={i}/")
            forge.upsert_comment(number, marker=prefix, body=body)
            comments += 1
        state, description = _describe(env)
        forge.set_status(
            Status(pull.head_sha, CONTEXT.format(env=env.env), state, description, url)
        )
        statuses += 1
    for skipped in result.skipped:
        # Branch protection may require every environment's status: say why
        # this one has nothing to report, rather than leave it missing.
        forge.set_status(
            Status(
                pull.head_sha,
                CONTEXT.format(env=skipped.env),
                StatusState.SUCCESS,
                f"not affected: {skipped.reason}",
                url,
            )
        )
        statuses += 1
    return Outcome(plan=result, comments=comments, statuses=statuses)
