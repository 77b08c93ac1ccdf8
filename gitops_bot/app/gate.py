"""Use case: the policy gate of each planned environment of a pull request.

Owns: gathering what core.policy.evaluate needs, through the ports and
nothing more: the policy from the BASE branch's configuration (a change
cannot loosen the rules that judge it; an environment the base does not
know needs one approval; read through the change's context, which parses
it once per event), the reviews, the permissions and team memberships
the decision depends on (asked once each per run), the required checks'
statuses, the environment's lock (taken for this pull request when its plan
changes something), and the holds, confirmations and render hashes of
earlier heads that the bot keeps in its comments (core.pr.memory). A lookup
the forge refuses or fails (a private group the token cannot see, a
permission it lacks, a forge that is down) never stops the review: it
becomes a failed lookup of the decisions that needed it (core.policy.verdict makes
those a failure that names the lookup and what the token needs), and what
it would have told counts as nothing (no approval, no membership, no lock).
Refuses: writing comments or statuses (review does, once), and evaluating
(core.policy.verdict does).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Protocol, TypeVar

from gitops_bot.app import context
from gitops_bot.core.policy import codeowners, verdict
from gitops_bot.core.policy.rules import Policy
from gitops_bot.core.pr import memory
from gitops_bot.core.pr.model import Permission, Pull, Review, StatusState
from gitops_bot.core.pr.ports import Locks, Members, Reviews, Statuses
from gitops_bot.core.report.plan import EnvPlan, Plan
from gitops_bot.errors import ForgeError
from gitops_bot.vcs.git import Git, GitError

NEW_ENVIRONMENT = context.NEW_ENVIRONMENT
_T = TypeVar("_T")


class GateForge(Reviews, Members, Locks, Statuses, Protocol):
    """The ports a gate reads through."""


class _Asked:
    """Permissions, memberships and statuses asked of the forge, once each per run;
    what the forge could not answer is recorded once (the first error of a group
    or team stands for all its members) and answered with `nothing`."""

    def __init__(self, forge: GateForge, head: str) -> None:
        self._forge = forge
        self._head = head
        self._permissions: dict[str, Permission] = {}
        self._memberships: dict[tuple[str, str], bool] = {}
        self._checks: dict[str, StatusState] | None = None
        self._failed: dict[str, str] = {}  # what was asked -> why the forge did not tell

    def ask(self, key: str, call: Callable[[], _T], nothing: _T) -> tuple[_T, tuple[str, ...]]:
        """call()'s answer and (), or `nothing` and the failed lookup's sentence."""
        if key in self._failed:
            return nothing, (self._failed[key],)
        try:
            return call(), ()
        except ForgeError as err:
            self._failed[key] = str(err)
            return nothing, (str(err),)

    def permissions(self, users: tuple[str, ...]) -> tuple[dict[str, Permission], tuple[str, ...]]:
        failed: list[str] = []
        for user in users:
            if user not in self._permissions:
                found, why = self.ask(
                    f"permission {user}",
                    functools.partial(self._forge.permission, user),
                    Permission.NONE,
                )
                failed += why
                if not why:
                    self._permissions[user] = found
        return {u: self._permissions.get(u, Permission.NONE) for u in users}, tuple(failed)

    def memberships(
        self, pairs: tuple[tuple[str, str], ...]
    ) -> tuple[dict[tuple[str, str], bool], tuple[str, ...]]:
        failed: list[str] = []
        for user, team in pairs:
            if (user, team) not in self._memberships:
                slug = team.removeprefix("@")
                # One team the token cannot read fails once, not once per reviewer.
                found, why = self.ask(
                    f"team {slug}", functools.partial(self._forge.in_team, user, slug), False
                )
                failed += why
                if not why:
                    self._memberships[(user, team)] = found
        answers = {p: self._memberships.get(p, False) for p in pairs}
        return answers, tuple(dict.fromkeys(failed))

    def checks(self, contexts: tuple[str, ...]) -> tuple[dict[str, StatusState], tuple[str, ...]]:
        if not contexts:
            return {}, ()
        if self._checks is None:
            nothing: dict[str, StatusState] = {}
            found, why = self.ask(
                "statuses",
                lambda: {s.context: s.state for s in self._forge.statuses(self._head)},
                nothing,
            )
            if why:
                return {}, why
            self._checks = found
        return {c: self._checks[c] for c in contexts if c in self._checks}, ()


def gate(
    change: context.Change, *, result: Plan, state: memory.State
) -> dict[str, verdict.Decision]:
    """A decision per planned environment (skipped ones are not gated: they change nothing)."""
    policies = change.base_policies()
    rules = {e.env: policies.get(e.env, NEW_ENVIRONMENT) for e in result.envs}
    forge, pull = change.forge, change.pull
    # Approvals cost a call; only ask when some planned environment's rules use them.
    want_reviews = any(r.needs_review for r in rules.values())
    asked = _Asked(forge, pull.head_sha)
    no_reviews: tuple[Review, ...] = ()
    reviews, reviews_failed = (
        asked.ask("reviews", lambda: forge.reviews(pull.number), no_reviews)
        if want_reviews
        else (no_reviews, ())
    )
    judge = _Judge(change, asked, state, reviews, reviews_failed)
    return {env.env: judge.decide(env, rules[env.env]) for env in result.envs}


class _Judge:
    """Decides each environment of one review, sharing what was asked."""

    def __init__(
        self,
        change: context.Change,
        asked: _Asked,
        state: memory.State,
        reviews: tuple[Review, ...],
        reviews_failed: tuple[str, ...],
    ) -> None:
        self._change = change
        self._asked = asked
        self._state = state
        self._reviews = reviews
        self._reviews_failed = reviews_failed
        self._changed: tuple[str, ...] | None = None  # the change's files, once needed

    def _changed_files(self) -> tuple[str, ...]:
        if self._changed is None:
            repo, pull = self._change.repo, self._change.pull
            self._changed = repo.changed_files(
                repo.merge_base(pull.base_sha, pull.head_sha), pull.head_sha
            )
        return self._changed

    def decide(self, env: EnvPlan, rules: Policy) -> verdict.Decision:
        change, asked, state = self._change, self._asked, self._state
        pull = change.pull
        owners_file = None
        owners_failed: tuple[str, ...] = ()
        if rules.codeowners:
            owners_file, owners_failed = _codeowners(change.repo, pull, rules.codeowners)
            self._changed_files()
        hold = state.hold_on(env.env)
        confirmation = state.confirmations.get(env.env)
        checks, checks_failed = asked.checks(rules.checks)
        holder, lock_failed = asked.ask(
            f"lock {env.env}", functools.partial(_lock, change.forge, pull, env, rules), None
        )
        inputs = verdict.Inputs(
            env=env.env,
            policy=rules,
            pull=pull.number,
            author=pull.author,
            head_sha=pull.head_sha,
            render_hash=env.render_hash,
            plan=env,
            now=change.now,
            changed_files=self._changed or (),
            # an environment whose policy needs no review asks nothing about reviewers
            reviews=self._reviews if rules.needs_review else (),
            render_hashes=state.hashes(env.env),
            checks=checks,
            codeowners=owners_file,
            held_by=hold.by if hold else None,
            lock_holder=holder,
            confirmations=(confirmation,) if confirmation else (),
        )
        failed = (self._reviews_failed if rules.needs_review else ()) + owners_failed
        return self._evaluate(inputs, failed + checks_failed + lock_failed)

    def _evaluate(self, inputs: verdict.Inputs, failed: tuple[str, ...]) -> verdict.Decision:
        needed = verdict.needed_lookups(inputs)
        permissions, permissions_failed = self._asked.permissions(needed.users)
        memberships, memberships_failed = self._asked.memberships(needed.memberships)
        inputs = dataclasses.replace(
            inputs,
            permissions=permissions,
            memberships=memberships,
            failed_lookups=tuple(dict.fromkeys(failed + permissions_failed + memberships_failed)),
        )
        return verdict.evaluate(inputs)


def _lock(forge: GateForge, pull: Pull, env: EnvPlan, rules: Policy) -> int | None:
    """The other pull request holding env's lock, if any; takes it when free and
    this change does something to env."""
    if not rules.lock_gate or env.error or not env.has_changes:
        return None
    lock = forge.acquire_lock(env.env, pull=pull.number, sha=pull.head_sha)
    return None if lock.pull == pull.number else lock.pull


def _codeowners(repo: Git, pull: Pull, path: str) -> tuple[codeowners.Codeowners, tuple[str, ...]]:
    """The base branch's CODEOWNERS, and the failed lookup when it could not be read
    (then no file owns anything, and the decision fails on the lookup)."""
    try:
        text = repo.read(pull.base_sha, path)
    except GitError as err:
        return codeowners.Codeowners(file=path), (f"cannot read {path}: {err}",)
    if text is None:
        none = codeowners.Codeowners(problems=(f"{path}: not found on the base branch",), file=path)
        return none, ()
    return codeowners.parse(text, file=path), ()
