"""Use case: a `/gitops` command in a pull request comment.

Owns: deciding whether a comment is obeyed (only newly created comments by
people, not the bot's own or edited ones; only by someone with the
permission the command table asks for that environment), acknowledging it
(a reaction when seen, when done, when refused, and a reply that says why),
claiming it before anything is done (the `seen` reaction: the forge adds it
atomically and says whether it was new, so a command redelivered, swept
again or received by two replicas is carried out once),
and carrying it out up to the review it asks for: the answer is a value
(Answer) that names the review to run again (Answer.rerun: the
environments to plan, the command's effect on the bot's memory of the pull
request, such as holds and destroy confirmations), which app.dispatch runs,
the same review the pushes get, so the gate is judged once, on a fresh
plan, before the answer is said (acknowledge). Refuses: calling back up
into the dispatcher, parsing (core.pr.commands), the rules
(core.policy.verdict) and what a promotion or rollback carries (app.promote;
`promote` without a rule to ENV says so).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gitops_bot.app import context, promote, review
from gitops_bot.core.policy import approvals, codeowners
from gitops_bot.core.policy.destructive import Confirmation
from gitops_bot.core.pr import commands, memory, ports
from gitops_bot.core.pr.events import CommentAction, CommentEvent
from gitops_bot.core.pr.model import Comment, Pull, Reaction
from gitops_bot.core.promotion import change, routes
from gitops_bot.core.repo import config
from gitops_bot.errors import ConfigError
from gitops_bot.vcs.git import Git, GitError

MARKER = "<!-- gitops-bot:"
ChatForge = ports.Forge  # the ports a command is answered through


@dataclass(frozen=True)
class Answer:
    """What a command comes to: what to say (a line for the log, a reaction, a
    reply) and, when it changes what the review judges, the review to run
    again before saying it (app.dispatch runs it, then `acknowledge`)."""

    text: str  # for the log ("" when the review's line says it all)
    reaction: Reaction | None = None
    reply: str = ""
    rerun: review.Request | None = None


@dataclass(frozen=True)
class _Call:
    """One obeyed command and the pull request it is about."""

    event: CommentEvent
    invocation: commands.Invocation
    change: context.Change

    @property
    def pull(self) -> Pull:
        return self.change.pull

    @property
    def forge(self) -> ChatForge:
        return self.change.forge

    @property
    def now(self) -> datetime:
        return self.change.now

    @property
    def config_file(self) -> str:
        return self.change.settings.config_file

    @property
    def env(self) -> str:
        """The ENV argument; only called by handlers whose command requires it."""
        if self.invocation.env is None:  # pragma: no cover - the parser requires it
            raise ValueError(f"{self.invocation.name} without ENV")
        return self.invocation.env


def handle(event: CommentEvent, ctx: context.Context) -> Answer:
    """What the comment comes to, carried out up to the review it asks for
    (Answer.rerun); nothing is said on the pull request but the reaction
    that it was seen."""
    if event.action is CommentAction.DELETED:
        return Answer("a deleted comment: nothing to do")
    if event.author_is_bot or MARKER in event.body:
        return Answer("the bot's own comment: nothing to do")
    parsed = commands.parse(event.body)
    if isinstance(parsed, commands.NoCommand):
        return Answer("no command in the comment")
    claimed = ctx.forge.react(event.number, event.comment_id, Reaction.SEEN)
    if not claimed and event.action is CommentAction.CREATED:
        # The bot's `seen` was there already: another replica, an earlier run
        # or the sweep (app.sweep) has this command; it is carried out once.
        return Answer("the command is taken already (the bot's seen reaction is on it)")
    answer = _answer(event, parsed, ctx)
    if answer is not None:
        return answer
    assert isinstance(parsed, commands.Invocation)  # noqa: S101 (what _answer lets through)
    call = _Call(event, parsed, ctx.change(ctx.forge.pull(event.number)))
    return HANDLERS[parsed.name](call)


def acknowledge(event: CommentEvent, answer: Answer, forge: ChatForge, reviewed: str = "") -> str:
    """Reply and react as `answer` says, once its review (whose line is
    `reviewed`) is done; the line for the log."""
    if answer.reply:
        forge.reply(event.number, f"@{event.author} {answer.reply}")
    if answer.reaction:
        forge.react(event.number, event.comment_id, answer.reaction)
    text = "; ".join(t for t in (answer.text, reviewed) if t)
    return f"{event.repo}#{event.number}: {text}"


def _answer(event: CommentEvent, parsed: commands.Result, ctx: context.Context) -> Answer | None:
    """The refusal, or None when the command is to be carried out."""
    if event.action is CommentAction.EDITED:
        why = "commands in edited comments are not run; post the command in a new comment."
        return Answer("refused an edited comment", Reaction.REFUSED, why)
    if isinstance(parsed, commands.Unknown | commands.BadArgs):
        return Answer(f"refused: {parsed.message}", Reaction.REFUSED, parsed.message)
    if not isinstance(parsed, commands.Invocation):  # pragma: no cover - NoCommand returned early
        return Answer("no command")
    forge = ctx.forge
    pull = forge.pull(event.number)
    if pull.state != "open":
        return Answer(f"refused {parsed}: closed", Reaction.REFUSED, "this pull request is closed.")
    permission = forge.permission(event.author)
    is_owner: bool | None = None
    if parsed.spec.owner and parsed.env is not None:
        policies = ctx.change(pull).base_policies()
        owners = policies.get(parsed.env, context.NEW_ENVIRONMENT).owners
        is_owner = _is_owner(forge, event.author, owners) if owners else None
    refusal = commands.refusal(parsed.spec, permission=permission, is_owner=is_owner)
    if refusal:
        refusal += "."
    elif parsed.spec.bound:
        refusal = _unseen(event, pull, forge.comments(event.number))
    return Answer(f"refused {parsed}: {refusal}", Reaction.REFUSED, refusal) if refusal else None


def _unseen(event: CommentEvent, pull: Pull, comments: tuple[Comment, ...]) -> str | None:
    """Why the commenter cannot have seen what the command applies to (the plan
    of the current head), or None. Both times are the forge's: when the
    comment was created, and when the bot's comments began to show the head's
    plan (core.prstate.shown_since), so no clock but the forge's is trusted."""
    head = pull.head_sha[:12]
    mine = next((c for c in comments if c.id == event.comment_id), None)
    created = review.forge_time(mine.created_at) if mine else None
    if created is None:
        return "the comment is no longer on the pull request (or has no time); nothing was done."
    shown = memory.shown_since(review.own_comments(comments), pull.head_sha)
    again = f"look at the plan of `{head}` and post the command again."
    if shown is None:
        return (
            f"the head is now `{head}` and the bot has not shown its plan yet, so this "
            f"command cannot be about it; once the plan is posted, {again}"
        )
    if created < shown:
        when = f"{created.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        return (
            f"this comment was written ({when}) before the bot showed the plan of the "
            f"current head `{head}` (a push after the comment, or a comment answered late); "
            f"{again}"
        )
    return None


def _is_owner(forge: ChatForge, user: str, owners: tuple[str, ...]) -> bool:
    teams = {
        (user, t): forge.in_team(user, t.removeprefix("@")) for t in owners if codeowners.is_team(t)
    }
    return approvals.is_owner(user, owners, teams)


def _help(_call: _Call) -> Answer:
    return Answer("answered help", Reaction.DONE, "\n\n" + commands.help_text())


def _plan(call: _Call) -> Answer:
    env = call.invocation.env
    return Answer("", Reaction.DONE, rerun=review.Request(envs=(env,) if env else ()))


def _not_configured(call: _Call) -> Answer:
    why = (
        f"`{call.invocation}` needs a promotion rule to `{call.env}` in {call.config_file} "
        f"on `{call.pull.base_ref}` (`promotion: [{{from: ..., to: {call.env}, copy: [...]}}]`), "
        "and there is none; nothing was done."
    )
    return Answer(f"refused {call.invocation}: promotion not configured", Reaction.REFUSED, why)


def _base_tip(repo: Git, pull: Pull) -> str:
    """The head of the pull request's base branch: the local branch when the
    checkout has it (CI checks out the default branch for comments), else the
    base the forge reports."""
    try:
        return repo.resolve(f"refs/heads/{pull.base_ref}")
    except GitError:
        return pull.base_sha


def _promotion_context(call: _Call) -> tuple[Git, config.Config, promote.Onto]:
    """The repository, the base branch's configuration at its tip, and where
    the pull request goes."""
    repo = call.change.repo
    tip = _base_tip(repo, call.pull)
    onto = promote.Onto(
        base_ref=call.pull.base_ref,
        base_sha=tip,
        commit_url=change.commit_url(call.pull.url),
        requested_by=call.event.author,
        requested_in=call.pull.number,
    )
    return repo, call.change.require_config(tip), onto


def _reply(outcome: promote.Outcome, what: str) -> Answer:
    if isinstance(outcome, promote.Gated):
        verdict = outcome.verdict
        return Answer(
            f"refused {what}: {verdict.reason}",
            Reaction.REFUSED,
            f"Not promoted: {verdict.reason}. The status `gitops/promotion/...` on the "
            "source commit says the same; ask again once it is healthy.",
        )
    if isinstance(outcome, promote.Closed):
        closed = f"; closed the stale #{outcome.closed}" if outcome.closed else ""
        return Answer(
            f"{what}: nothing to do{closed}", Reaction.DONE, outcome.reason + closed + "."
        )
    verb = outcome.verb
    number = outcome.pull.number
    files = ", ".join(f"`{path}`" for path, _ in outcome.proposal.files)
    reply = f"{verb} #{number}: {outcome.proposal.title} ({files})."
    return Answer(f"{what}: {verb} #{number}", Reaction.DONE, reply)


def _promote(call: _Call) -> Answer:
    repo, cfg, onto = _promotion_context(call)
    if routes.rule_to(cfg.promotions, call.env) is None:
        return _not_configured(call)
    # By hand: the soak is waived, the source's health is not.
    try:
        outcome = promote.promote_gated(
            call.forge, repo, cfg=cfg, target_env=call.env, onto=onto, now=call.now, on_demand=True
        )
    except (GitError, ConfigError) as err:
        return Answer(f"refused {call.invocation}: {err}", Reaction.REFUSED, f"{err}.")
    return _reply(outcome, f"promote to {call.env}")


def _rollback(call: _Call) -> Answer:
    repo, cfg, onto = _promotion_context(call)
    if call.env not in {e.name for e in cfg.environments}:
        why = f"{call.config_file} on `{call.pull.base_ref}` has no environment `{call.env}`."
        return Answer(f"refused {call.invocation}: no such environment", Reaction.REFUSED, why)
    sha = call.invocation.sha or ""
    try:
        outcome = promote.rollback(call.forge, repo, cfg=cfg, env=call.env, sha=sha, onto=onto)
    except (GitError, ConfigError) as err:
        return Answer(f"refused {call.invocation}: {err}", Reaction.REFUSED, f"{err}.")
    return _reply(outcome, f"roll {call.env} back to {sha}")


def _lock(call: _Call) -> Answer:
    lock = call.forge.acquire_lock(call.env, pull=call.pull.number, sha=call.pull.head_sha)
    if lock.pull != call.pull.number:
        why = f"`{call.env}` is locked by #{lock.pull}; `/gitops unlock {call.env}` frees it."
        return Answer(f"{call.env} is locked by #{lock.pull}", Reaction.REFUSED, why)
    return Answer(f"locked {call.env}", Reaction.DONE, f"`{call.env}` is locked for this change.")


def _unlock(call: _Call) -> Answer:
    holder = call.forge.lock_holder(call.env)
    if holder is None:
        return Answer(f"{call.env} was not locked", Reaction.DONE, f"`{call.env}` was not locked.")
    call.forge.release_lock(call.env, pull=holder.pull)
    reply = f"`{call.env}` is unlocked (it was held by #{holder.pull})."
    text = f"unlocked {call.env} (held by #{holder.pull})"
    return Answer(text, Reaction.DONE, reply, rerun=review.Request())


def _approve_destroy(call: _Call) -> Answer:
    env, by, now = call.env, call.event.author, call.now

    def confirm(state: memory.State, head: str) -> memory.State:
        # Bound to env's render at the head being planned: a later push that
        # changes it makes this confirmation count for nothing.
        render = state.hashes(env).get(head)
        if render is None:  # env did not render at this head: there is nothing to confirm
            return state
        return memory.with_confirmation(state, env, Confirmation(by, render, now))

    return Answer("", Reaction.DONE, rerun=review.Request(change_state=confirm))


def _hold(call: _Call) -> Answer:
    env, hold = call.invocation.env, memory.Hold(by=call.event.author, at=call.now)
    held = review.Request(change_state=lambda s, _h: memory.with_hold(s, env, hold))
    return Answer("", Reaction.DONE, rerun=held)


def _unhold(call: _Call) -> Answer:
    env = call.invocation.env
    freed = review.Request(change_state=lambda s, _h: memory.without_hold(s, env))
    return Answer("", Reaction.DONE, rerun=freed)


# One handler per command of core.commands.TABLE (a test checks they agree).
HANDLERS: dict[str, Callable[[_Call], Answer]] = {
    "help": _help,
    "plan": _plan,
    "lock": _lock,
    "unlock": _unlock,
    "approve-destroy": _approve_destroy,
    "hold": _hold,
    "unhold": _unhold,
    "promote": _promote,
    "rollback": _rollback,
}
