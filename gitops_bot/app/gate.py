"""Use case: the policy gate of each planned environment of a pull request.

Owns: gathering what core.policy.evaluate needs, through the ports and
nothing more: the policy from the BASE branch's configuration (a change
cannot loosen the rules that judge it; an environment the base does not
know needs one approval), the reviews, the permissions and team memberships
the decision depends on (asked once each per run), the required checks'
statuses, the environment's lock (taken for this pull request when its plan
changes something), and the holds, confirmations and render hashes of
earlier heads that the bot keeps in its comments (core.prstate).
Refuses: writing comments or statuses (review does, once), and evaluating
(core.policy does).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Protocol

from gitops_bot.core import codeowners, config, policy, prstate
from gitops_bot.core.forge import Permission, Pull, StatusState
from gitops_bot.core.plan import EnvPlan, Plan
from gitops_bot.core.policy_config import Policy
from gitops_bot.errors import ConfigError
from gitops_bot.ports import Locks, Members, Reviews, Statuses
from gitops_bot.vcs.git import Git

NEW_ENVIRONMENT = Policy(approvals=1)


class GateForge(Reviews, Members, Locks, Statuses, Protocol):
    """The ports a gate reads through."""


class _Asked:
    """Permissions, memberships and statuses asked of the forge, once each per run."""

    def __init__(self, forge: GateForge, head: str) -> None:
        self._forge = forge
        self._head = head
        self._permissions: dict[str, Permission] = {}
        self._memberships: dict[tuple[str, str], bool] = {}
        self._checks: dict[str, StatusState] | None = None

    def permissions(self, users: tuple[str, ...]) -> dict[str, Permission]:
        for user in users:
            if user not in self._permissions:
                self._permissions[user] = self._forge.permission(user)
        return {u: self._permissions[u] for u in users}

    def memberships(self, pairs: tuple[tuple[str, str], ...]) -> dict[tuple[str, str], bool]:
        for user, team in pairs:
            if (user, team) not in self._memberships:
                slug = team.removeprefix("@")
                self._memberships[(user, team)] = self._forge.in_team(user, slug)
        return {p: self._memberships[p] for p in pairs}

    def checks(self, contexts: tuple[str, ...]) -> dict[str, StatusState]:
        if not contexts:
            return {}
        if self._checks is None:
            self._checks = {s.context: s.state for s in self._forge.statuses(self._head)}
        return {c: self._checks[c] for c in contexts if c in self._checks}


def base_policies(repo: Git, pull: Pull, config_file: str) -> dict[str, Policy]:
    """env -> its policy on the base branch; {} when the base has no configuration."""
    text = repo.read(pull.base_sha, config_file)
    if text is None:
        return {}
    try:
        parsed = config.parse(text, file=f"{config_file} (base branch)")
    except ConfigError as err:
        raise ConfigError(f"reading the policy from the base branch: {err}") from err
    return {env.name: env.policy for env in parsed.environments}


def gate(
    *,
    forge: GateForge,
    repo: Git,
    pull: Pull,
    result: Plan,
    state: prstate.State,
    now: datetime,
    config_file: str = ".gitops.yaml",
) -> dict[str, policy.Decision]:
    """A decision per planned environment (skipped ones are not gated: they change nothing)."""
    policies = base_policies(repo, pull, config_file)
    # Approvals cost a call; only ask when some planned environment's rules use them.
    want_reviews = any(policies.get(e.env, NEW_ENVIRONMENT).needs_review for e in result.envs)
    reviews = forge.reviews(pull.number) if want_reviews else ()
    asked = _Asked(forge, pull.head_sha)
    changed: tuple[str, ...] | None = None
    decisions = {}
    for env in result.envs:
        rules = policies.get(env.env, NEW_ENVIRONMENT)
        owners_file = None
        if rules.codeowners:
            owners_file = _codeowners(repo, pull, rules.codeowners)
            if changed is None:
                changed = repo.changed_files(
                    repo.merge_base(pull.base_sha, pull.head_sha), pull.head_sha
                )
        hold = state.hold_on(env.env)
        confirmation = state.confirmations.get(env.env)
        inputs = policy.Inputs(
            env=env.env,
            policy=rules,
            pull=pull.number,
            author=pull.author,
            head_sha=pull.head_sha,
            render_hash=env.render_hash,
            plan=env,
            now=now,
            changed_files=changed or (),
            reviews=reviews,
            render_hashes=state.hashes(env.env),
            checks=asked.checks(rules.checks),
            codeowners=owners_file,
            held_by=hold.by if hold else None,
            lock_holder=_lock(forge, pull, env, rules),
            confirmations=(confirmation,) if confirmation else (),
        )
        needed = policy.needed_lookups(inputs)
        inputs = dataclasses.replace(
            inputs,
            permissions=asked.permissions(needed.users),
            memberships=asked.memberships(needed.memberships),
        )
        decisions[env.env] = policy.evaluate(inputs)
    return decisions


def _lock(forge: GateForge, pull: Pull, env: EnvPlan, rules: Policy) -> int | None:
    """The other pull request holding env's lock, if any; takes it when free and
    this change does something to env."""
    if not rules.lock_gate or env.error or not env.has_changes:
        return None
    lock = forge.acquire_lock(env.env, pull=pull.number, sha=pull.head_sha)
    return None if lock.pull == pull.number else lock.pull


def _codeowners(repo: Git, pull: Pull, path: str) -> codeowners.Codeowners:
    text = repo.read(pull.base_sha, path)
    if text is None:
        return codeowners.Codeowners(problems=(f"{path}: not found on the base branch",), file=path)
    return codeowners.parse(text, file=path)
