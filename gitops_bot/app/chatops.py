"""Use case: a `/gitops` command in a pull request comment.

Owns: deciding whether a comment is obeyed (only newly created comments by
people, not the bot's own or edited ones; only by someone with the
permission the command table asks for that environment), acknowledging it
(a reaction when seen, when done, when refused, and a reply that says why),
and carrying it out through the same review the pushes get, so the gate is
judged once, on a fresh plan, with the command's effect on the bot's memory
of the pull request (holds, destroy confirmations) applied. Refuses:
parsing (core.pr.commands), the rules (core.policy.gate) and what a promotion or
rollback carries (app.promote; `promote` without a rule to ENV says so).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from gitops_bot.app import gate as gate_app
from gitops_bot.app import promote as promote_app
from gitops_bot.app import review as review_app
from gitops_bot.core.policy import approvals, codeowners
from gitops_bot.core.policy.destructive import Confirmation
from gitops_bot.core.pr import commands
from gitops_bot.core.pr import state as prstate
from gitops_bot.core.pr.events import CommentAction, CommentEvent
from gitops_bot.core.pr.model import Comment, Pull, Reaction
from gitops_bot.core.promotion import change, routes
from gitops_bot.errors import ConfigError
from gitops_bot.vcs.git import Git, GitError

# The review to run again, given how the command changes the pull request's state.
Rerun = Callable[[Callable[[prstate.State, str], prstate.State] | None, tuple[str, ...]], str]
MARKER = "<!-- gitops-bot:"


class ChatForge(review_app.ReviewForge, promote_app.PromoteForge, Protocol):
    """The ports a command is answered through."""


@dataclass(frozen=True)
class Answer:
    text: str  # for the log
    reaction: Reaction | None = None
    reply: str = ""


@dataclass(frozen=True)
class _Call:
    """One obeyed command and what carrying it out needs."""

    event: CommentEvent
    invocation: commands.Invocation
    pull: Pull
    forge: ChatForge
    rerun: Rerun
    now: datetime
    repo_for: Callable[[Pull], Git] | None = None  # promote and rollback read Git
    config_file: str = ".gitops.yaml"

    @property
    def env(self) -> str:
        """The ENV argument; only called by handlers whose command requires it."""
        if self.invocation.env is None:  # pragma: no cover - the parser requires it
            raise ValueError(f"{self.invocation.name} without ENV")
        return self.invocation.env


def handle(
    event: CommentEvent,
    *,
    forge: ChatForge,
    repo_for: Callable[[Pull], Git],
    rerun: Rerun,
    config_file: str = ".gitops.yaml",
) -> str:
    where = f"{event.repo}#{event.number}"
    if event.action is CommentAction.DELETED:
        return f"{where}: a deleted comment: nothing to do"
    if event.author_is_bot or MARKER in event.body:
        return f"{where}: the bot's own comment: nothing to do"
    parsed = commands.parse(event.body)
    if isinstance(parsed, commands.NoCommand):
        return f"{where}: no command in the comment"
    forge.react(event.number, event.comment_id, Reaction.SEEN)
    answer = _answer(event, parsed, forge=forge, repo_for=repo_for, config_file=config_file)
    if answer is None:
        assert isinstance(parsed, commands.Invocation)  # noqa: S101 (what _answer lets through)
        call = _Call(
            event,
            parsed,
            forge.pull(event.number),
            forge,
            rerun,
            datetime.now(UTC),
            repo_for=repo_for,
            config_file=config_file,
        )
        answer = HANDLERS[parsed.name](call)
    if answer.reply:
        forge.reply(event.number, f"@{event.author} {answer.reply}")
    if answer.reaction:
        forge.react(event.number, event.comment_id, answer.reaction)
    return f"{where}: {answer.text}"


def _answer(
    event: CommentEvent,
    parsed: commands.Result,
    *,
    forge: ChatForge,
    repo_for: Callable[[Pull], Git],
    config_file: str,
) -> Answer | None:
    """The refusal, or None when the command is to be carried out."""
    if event.action is CommentAction.EDITED:
        why = "commands in edited comments are not run; post the command in a new comment."
        return Answer("refused an edited comment", Reaction.REFUSED, why)
    if isinstance(parsed, commands.Unknown | commands.BadArgs):
        return Answer(f"refused: {parsed.message}", Reaction.REFUSED, parsed.message)
    if not isinstance(parsed, commands.Invocation):  # pragma: no cover - NoCommand returned early
        return Answer("no command")
    pull = forge.pull(event.number)
    if pull.state != "open":
        return Answer(f"refused {parsed}: closed", Reaction.REFUSED, "this pull request is closed.")
    permission = forge.permission(event.author)
    is_owner: bool | None = None
    if parsed.spec.owner and parsed.env is not None:
        policies = gate_app.base_policies(repo_for(pull), pull, config_file)
        owners = policies.get(parsed.env, gate_app.NEW_ENVIRONMENT).owners
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
    created = review_app.forge_time(mine.created_at) if mine else None
    if created is None:
        return "the comment is no longer on the pull request (or has no time); nothing was done."
    shown = prstate.shown_since(review_app.own_comments(comments), pull.head_sha)
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
    return Answer(call.rerun(None, (env,) if env else ()), Reaction.DONE)


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


def _promotion_context(call: _Call) -> tuple[promote_app.PromoteForge, Git, str]:
    if call.repo_for is None:  # pragma: no cover - handle() always passes it
        raise ValueError(f"{call.invocation.name} without a repository")
    repo = call.repo_for(call.pull)
    # The adapters implement every port; ChatForge names only those a review needs.
    return call.forge, repo, _base_tip(repo, call.pull)


def _reply(outcome: promote_app.Outcome, what: str) -> Answer:
    if isinstance(outcome, promote_app.Gated):
        verdict = outcome.verdict
        return Answer(
            f"refused {what}: {verdict.reason}",
            Reaction.REFUSED,
            f"Not promoted: {verdict.reason}. The status `gitops/promotion/...` on the "
            "source commit says the same; ask again once it is healthy.",
        )
    if isinstance(outcome, promote_app.Closed):
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
    forge, repo, tip = _promotion_context(call)
    cfg = promote_app.read_config(repo, tip, call.config_file)
    if routes.rule_to(cfg.promotions, call.env) is None:
        return _not_configured(call)
    # By hand: the soak is waived, the source's health is not.
    try:
        outcome = promote_app.promote_gated(
            forge,
            repo,
            cfg=cfg,
            target_env=call.env,
            base_ref=call.pull.base_ref,
            base_sha=tip,
            now=call.now,
            on_demand=True,
            commit_url=change.commit_url(call.pull.url),
            requested_by=call.event.author,
            requested_in=call.pull.number,
        )
    except (GitError, ConfigError) as err:
        return Answer(f"refused {call.invocation}: {err}", Reaction.REFUSED, f"{err}.")
    return _reply(outcome, f"promote to {call.env}")


def _rollback(call: _Call) -> Answer:
    forge, repo, tip = _promotion_context(call)
    cfg = promote_app.read_config(repo, tip, call.config_file)
    if call.env not in {e.name for e in cfg.environments}:
        why = f"{call.config_file} on `{call.pull.base_ref}` has no environment `{call.env}`."
        return Answer(f"refused {call.invocation}: no such environment", Reaction.REFUSED, why)
    sha = call.invocation.sha or ""
    try:
        outcome = promote_app.rollback(
            forge,
            repo,
            cfg=cfg,
            env=call.env,
            sha=sha,
            base_ref=call.pull.base_ref,
            base_sha=tip,
            commit_url=change.commit_url(call.pull.url),
            requested_by=call.event.author,
            requested_in=call.pull.number,
        )
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
    text = call.rerun(None, ())
    reply = f"`{call.env}` is unlocked (it was held by #{holder.pull})."
    return Answer(f"unlocked {call.env} (held by #{holder.pull}); {text}", Reaction.DONE, reply)


def _approve_destroy(call: _Call) -> Answer:
    env, by, now = call.env, call.event.author, call.now

    def confirm(state: prstate.State, head: str) -> prstate.State:
        # Bound to env's render at the head being planned: a later push that
        # changes it makes this confirmation count for nothing.
        render = state.hashes(env).get(head)
        if render is None:  # env did not render at this head: there is nothing to confirm
            return state
        return prstate.with_confirmation(state, env, Confirmation(by, render, now))

    return Answer(call.rerun(confirm, ()), Reaction.DONE)


def _hold(call: _Call) -> Answer:
    env, hold = call.invocation.env, prstate.Hold(by=call.event.author, at=call.now)
    return Answer(call.rerun(lambda s, _h: prstate.with_hold(s, env, hold), ()), Reaction.DONE)


def _unhold(call: _Call) -> Answer:
    env = call.invocation.env
    return Answer(call.rerun(lambda s, _h: prstate.without_hold(s, env), ()), Reaction.DONE)


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
