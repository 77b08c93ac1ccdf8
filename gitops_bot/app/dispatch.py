"""Use case: act on one forge event; the one table both `run` (CI) and `serve` (webhooks) use.

Owns: building the event's context once (app.context: the forge, the run's
settings, the clock, the configurations read) and passing it down, and
which use case each event starts: a pull request opened, reopened or
pushed to, and a review submitted or dismissed, is reviewed (planned and
gated); a comment goes to ChatOps; one merged or closed is cleaned up (its
environment locks released; closed without merge, its pending gitops
statuses resolved, so nothing waits on a closed change); a push to the
default branch is handed to the puller (poked, when one is configured); a
promotion check (a schedule, a deployment's new status) judges every
promotion gate and opens the promotions that are due; a promotion pull
request of an `auto_merge` rule whose review passed is merged. A command's
review runs here, as ChatOps's answer asks (chatops.Answer.rerun), before
the answer is said. Refuses: reading the
CI environment or HTTP (the entry points do), trusting the event beyond what
it names (the use cases re-read the pull request), and failing silently:
every call returns a line that says what happened, and an entry point whose
call raised says so on the pull request (answer_failure).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gitops_bot.app import chatops, context, promote, review
from gitops_bot.core.policy import verdict
from gitops_bot.core.pr import events
from gitops_bot.core.pr.model import Pull, Status, StatusState
from gitops_bot.core.report.plan import Plan
from gitops_bot.errors import BotError
from gitops_bot.vcs.git import Git

Poke = Callable[[str, str], str]  # (ref, sha) -> what the puller answered


@dataclass(frozen=True)
class Deps:
    """What an entry point gives: the forge, the repositories, the run's settings."""

    forge: chatops.ChatForge
    repo_for: Callable[[Pull], Git]  # a repository holding the pull request's base and head
    settings: context.Settings
    poke: Poke | None = None
    # a repository holding the branch, and the branch's tip (promotion checks)
    branch_repo: Callable[[str], tuple[Git, str]] | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass(frozen=True)
class Done:
    text: str  # one line for the log: what was done, or why nothing
    failed: bool = False  # the run should exit non-zero (e.g. a plan with errors)
    plan: Plan | None = None  # when a review planned


_REVIEWED = (events.PullAction.OPENED, events.PullAction.PUSHED, events.PullAction.REOPENED)


def handle(event: events.Event, deps: Deps) -> Done:
    """The event's context is built here, once, and passed down."""
    if isinstance(event, events.Ignored):
        return Done(f"nothing to do: {event.reason}")
    ctx = context.Context.start(deps.forge, deps.repo_for, deps.settings, deps.now())
    if isinstance(event, events.PullEvent):
        return _review(event, ctx) if event.action in _REVIEWED else _cleanup(event, ctx)
    if isinstance(event, events.ReviewEvent):
        # An approval or a dismissal: the gate is judged again on a fresh plan.
        return _review(event, ctx)
    if isinstance(event, events.CommentEvent):
        return _comment(event, ctx)
    if isinstance(event, events.PromotionCheck):
        return _check_promotions(event, ctx, deps.branch_repo)
    return _hand_off(event, deps.poke)


def _comment(event: events.CommentEvent, ctx: context.Context) -> Done:
    """ChatOps answers what the command comes to; the review it asks for runs
    here, before the answer is said."""
    answer = chatops.handle(event, ctx)
    reviewed = "" if answer.rerun is None else _review(event, ctx, answer.rerun).text
    return Done(chatops.acknowledge(event, answer, ctx.forge, reviewed))


def _review(
    event: events.PullEvent | events.ReviewEvent | events.CommentEvent,
    ctx: context.Context,
    request: review.Request = review.Request(),  # noqa: B008
) -> Done:
    change = ctx.change(ctx.forge.pull(event.number))
    outcome = review.review(change, request)
    where = f"{event.repo}#{event.number}"
    if outcome.stale:
        return Done(f"{where}: wrote nothing: {outcome.stale}")
    merged = ""
    if outcome.summary is StatusState.SUCCESS and outcome.pull is not None:
        merged = promote.merge_if_ready(change)
    return Done(
        f"{where}: {outcome.comments} comment(s) and {outcome.statuses} status(es) written"
        + (f"; {merged}" if merged else ""),
        failed=outcome.plan.has_errors,
        plan=outcome.plan,
    )


def _check_promotions(
    event: events.PromotionCheck,
    ctx: context.Context,
    branch_repo: Callable[[str], tuple[Git, str]] | None,
) -> Done:
    if branch_repo is None:
        return Done(f"{event.reason}: no repository to read {event.branch} from", failed=True)
    repo, tip = branch_repo(event.branch)
    cfg = ctx.configs.require(repo, tip)
    if not cfg.promotions:
        return Done(f"{event.reason}: {cfg.file} has no promotion rules: nothing to check")
    onto = promote.Onto(base_ref=event.branch, base_sha=tip)
    checked = promote.check(ctx.forge, repo, cfg=cfg, onto=onto, now=ctx.now, url=ctx.settings.url)
    return Done(f"{event.reason}: " + "; ".join(c.text for c in checked))


def _cleanup(event: events.PullEvent, ctx: context.Context) -> Done:
    """Merged or closed: its environment locks are released; closed without
    merge, its pending gitops statuses are resolved too."""
    forge = ctx.forge
    pull = forge.pull(event.number)
    where = f"{event.repo}#{event.number}"
    if pull.state == "open":
        return Done(f"{where} is open again: nothing to clean up")
    released = [
        env for env in ctx.change(pull).base_policies() if forge.release_lock(env, pull=pull.number)
    ]
    freed = f"; locks released: {', '.join(released)}" if released else ""
    if pull.state == "merged":
        return Done(f"{where} merged{freed}; the push to its target branch hands off")
    resolved = 0
    for status in forge.statuses(pull.head_sha):
        if status.context.startswith("gitops/") and status.state is StatusState.PENDING:
            forge.set_status(
                Status(
                    pull.head_sha,
                    status.context,
                    StatusState.ERROR,
                    "closed without merge: nothing will be applied",
                    ctx.settings.url,
                )
            )
            resolved += 1
    return Done(f"{where} closed: {resolved} pending status(es) resolved{freed}")


def _hand_off(event: events.PushEvent, poke: Poke | None) -> Done:
    if not event.to_default_branch:
        return Done(f"a push to {event.ref} is not to the default branch: nothing to apply")
    if poke is None:
        return Done(
            f"{event.after[:12]} on {event.ref}: no puller endpoint is configured "
            "(GITOPS_BOT_PULLER_URL); the puller finds the commit at its next fetch"
        )
    answer = poke(event.ref, event.after)
    return Done(f"{event.after[:12]} on {event.ref}: handed to the puller: {answer}")


def answer_failure(event: events.Event, err: Exception, deps: Deps) -> str:
    """Say on the pull request that handling `event` failed, so nobody waits on a
    change the bot gave up on: the summary status `gitops` becomes an error that
    says why (it is the context branch protection requires, so nothing merges past
    it), and a command also gets a reply. A line for the log; nothing is written
    for an event that names no pull request."""
    number = getattr(event, "number", None)
    if not isinstance(number, int):
        return "the event names no pull request to answer on"
    # A BotError's message is written for people and carries no secret; anything
    # else is a bug whose text may quote anything.
    why = str(err) if isinstance(err, BotError) else f"an unexpected {type(err).__name__}"
    why = " ".join(why.split())
    pull = deps.forge.pull(number)
    text = f"gitops-bot could not handle this: {why}"
    if len(text) > verdict.DESCRIPTION_LIMIT:
        text = text[: verdict.DESCRIPTION_LIMIT - 1] + "…"
    deps.forge.set_status(
        Status(pull.head_sha, review.SUMMARY_CONTEXT, StatusState.ERROR, text, deps.settings.url)
    )
    if isinstance(event, events.CommentEvent):
        deps.forge.reply(
            number, f"gitops-bot could not act on this comment: {why}\n\nThe next event retries."
        )
        return f"{event.repo}#{number}: replied and set {review.SUMMARY_CONTEXT} to error"
    return f"{getattr(event, 'repo', '')}#{number}: set {review.SUMMARY_CONTEXT} to error"
