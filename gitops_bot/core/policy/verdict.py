"""The policy gate of one environment: success, pending or failure, and why.

Owns: `evaluate(inputs) -> Decision`, the whole decision for one
environment of one pull request at one head, from values the caller
gathered (docs/policy.md explains each rule and why), and
`needed_lookups(inputs)`, the permissions and team memberships that
decision depends on, so the caller asks the forge only those.
Refuses: any I/O, and reading the policy from anywhere: the caller passes
the base branch's policy, so a change cannot loosen the rules that judge it.

A decision is `failure` when something must be fixed (the plan failed, a
required check failed, the policy names a file the base branch lacks, a
lookup the decision needs failed: the token may not read a group),
`pending` while something is missing (approvals, a confirmation, a check, a
deploy window, a hold, a lock, a live plan the policy requires), `success`
otherwise. `reasons` are the
sentences for the comment, failures first; `notes` say what did not count.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from gitops_bot.core.objects.model import Key
from gitops_bot.core.policy import approvals, codeowners, destructive, windows
from gitops_bot.core.policy.destructive import Confirmation
from gitops_bot.core.policy.rules import Policy
from gitops_bot.core.pr.model import Permission, Review, ReviewState, StatusState
from gitops_bot.core.report.plan import Action, EnvPlan

__all__ = ["Confirmation", "Decision", "Inputs", "Lookups", "Verdict", "evaluate", "needed_lookups"]

DESCRIPTION_LIMIT = 140  # GitHub's limit for a status description
CONTEXT = "gitops/policy/{env}"


class Verdict(enum.Enum):
    """Values spelled as core.forge.StatusState's, so StatusState(v.value) works."""

    FAILURE = "failure"
    PENDING = "pending"
    SUCCESS = "success"

    @property
    def rank(self) -> int:
        return list(Verdict).index(self)


@dataclass(frozen=True)
class Inputs:
    env: str
    policy: Policy  # from the base branch
    pull: int
    author: str
    head_sha: str
    render_hash: str | None  # core.model.Render.hash of env at head_sha; None: it did not render
    plan: EnvPlan
    now: datetime  # aware
    changed_files: tuple[str, ...] = ()  # files of this change that env's render reads
    reviews: tuple[Review, ...] = ()
    render_hashes: Mapping[str, str] = field(default_factory=dict)  # commit -> env's hash there
    permissions: Mapping[str, Permission] = field(default_factory=dict)  # login -> permission
    memberships: Mapping[tuple[str, str], bool] = field(default_factory=dict)  # (login, @team)
    checks: Mapping[str, StatusState] = field(default_factory=dict)  # context -> state at head
    codeowners: codeowners.Codeowners | None = None  # policy.codeowners, parsed from the base
    held_by: str | None = None  # who put the hold on env, if any
    lock_holder: int | None = None  # the pull request that holds env's lock, if any
    confirmations: tuple[Confirmation, ...] = ()
    recreates: tuple[Key, ...] = ()  # objects applying would delete and create again
    # lookups the forge refused or failed, each a sentence naming the lookup and,
    # when the forge said, what the token needs; what they would have told
    # counted as nothing (no approval, membership, check or lock)
    failed_lookups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    env: str
    state: Verdict
    description: str  # one line, at most DESCRIPTION_LIMIT characters
    reasons: tuple[str, ...] = ()  # what keeps it from success, failures first
    notes: tuple[str, ...] = ()  # what did not count, and why
    approved_by: tuple[str, ...] = ()  # logins whose approval counted
    confirmed_by: str | None = None  # login whose destroy confirmation counted

    @property
    def context(self) -> str:
        return CONTEXT.format(env=self.env)


@dataclass(frozen=True)
class Lookups:
    """What the caller asks the forge before `evaluate`."""

    users: tuple[str, ...] = ()  # logins whose permission matters
    memberships: tuple[tuple[str, str], ...] = ()  # (login, @team) pairs


def _owners_text(owners: tuple[str, ...]) -> str:
    return " or ".join(owners)


def _changed_keys(plan: EnvPlan) -> tuple[Key, ...]:
    keys = {c.key for c in (*plan.changes, *(plan.live or ())) if c.action is not Action.UNCHANGED}
    return tuple(sorted(keys))


def _codeowned(inputs: Inputs) -> dict[tuple[str, ...], list[str]]:
    """Owners -> the changed files they own."""
    owned: dict[tuple[str, ...], list[str]] = {}
    if inputs.codeowners is None:
        return owned
    for path in inputs.changed_files:
        owners = inputs.codeowners.owners_of(path)
        if owners:
            owned.setdefault(owners, []).append(path)
    return owned


def _teams(inputs: Inputs) -> set[str]:
    policy = inputs.policy
    teams = set(policy.owners)
    changed = _changed_keys(inputs.plan)
    for rule in policy.rules:
        if any(rule.matches(k) for k in changed):
            teams.update(rule.owners)
    for owners in _codeowned(inputs):
        teams.update(owners)
    return {t for t in teams if codeowners.is_team(t)}


def needed_lookups(inputs: Inputs) -> Lookups:
    """The permissions and memberships `evaluate(inputs)` depends on; the
    `permissions` and `memberships` of `inputs` are not read."""
    users = {
        approvals.login(r.user)
        for r in inputs.reviews
        if r.state in (ReviewState.APPROVED, ReviewState.CHANGES_REQUESTED)
    }
    users |= {approvals.login(c.by) for c in inputs.confirmations}
    users.discard(approvals.login(inputs.author))
    teams = _teams(inputs)
    return Lookups(
        users=tuple(sorted(users)),
        memberships=tuple(sorted((u, t) for u in users for t in teams)),
    )


def _approval_reasons(inputs: Inputs, counted: tuple[str, ...]) -> list[str]:
    policy = inputs.policy

    def any_owner(owners: tuple[str, ...]) -> bool:
        return any(approvals.is_owner(u, owners, inputs.memberships) for u in counted)

    reasons = []
    missing = max(0, policy.approvals - len(counted))
    owner_missing = bool(policy.owners) and not any_owner(policy.owners)
    owners = _owners_text(policy.owners)
    if owner_missing and missing <= 1:
        reasons.append(f"needs 1 more approval from {owners}")
    elif owner_missing:
        reasons.append(f"needs {missing} more approvals, at least one from {owners}")
    elif missing:
        reasons.append(f"needs {missing} more approval{'' if missing == 1 else 's'}")
    for file_owners, paths in _codeowned(inputs).items():
        if not any_owner(file_owners):
            more = f" (+{len(paths) - 1} more)" if len(paths) > 1 else ""
            reasons.append(
                f"needs an approval from {_owners_text(file_owners)} for {paths[0]}{more} "
                f"(CODEOWNERS)"
            )
    changed = _changed_keys(inputs.plan)
    for rule in policy.rules:
        touched = [k for k in changed if rule.matches(k)]
        if touched and not any_owner(rule.owners):
            more = f" (+{len(touched) - 1} more)" if len(touched) > 1 else ""
            reasons.append(
                f"changes to {touched[0]}{more} need an approval from {_owners_text(rule.owners)}"
            )
    return reasons


def _approval_needed(inputs: Inputs) -> bool:
    """Whether the policy asks for an approval of this change at all (approvals,
    owners, a CODEOWNERS entry or a rule that matches what it changes)."""
    policy = inputs.policy
    if policy.approvals > 0 or policy.owners or _codeowned(inputs):
        return True
    changed = _changed_keys(inputs.plan)
    return any(rule.matches(k) for rule in policy.rules for k in changed)


def _describe(state: Verdict, reasons: list[str], counted: tuple[str, ...], *, needed: bool) -> str:
    """One line that is true now: success names the approvals only when the
    policy asked for one (approving an environment that needs none changes nothing)."""
    if state is Verdict.SUCCESS:
        text = (
            "approved by " + ", ".join(approvals.show(u) for u in counted)
            if counted and needed
            else "the policy needs no approval"
        )
    else:
        text = reasons[0] + (f"; +{len(reasons) - 1} more" if len(reasons) > 1 else "")
    text = " ".join(text.split())
    if len(text) > DESCRIPTION_LIMIT:
        text = text[: DESCRIPTION_LIMIT - 1] + "…"
    return text


def evaluate(inputs: Inputs) -> Decision:
    """The gate of `inputs.env` at `inputs.head_sha`."""
    policy, env = inputs.policy, inputs.env
    # A lookup that failed leaves the decision unknown: fail closed, and say
    # first which lookup and what it needs, since that is what must be fixed.
    failures: list[str] = list(inputs.failed_lookups)
    pending: list[str] = []
    if inputs.plan.error:
        failures.append(f"the plan of {env} failed; see its comment, fix it and push")
    if policy.codeowners and inputs.codeowners is None:
        failures.append(
            f"the policy of {env} names {policy.codeowners} as CODEOWNERS, "
            "which the base branch does not have"
        )
    for context in policy.checks:
        status = inputs.checks.get(context)
        if status in (StatusState.FAILURE, StatusState.ERROR):
            failures.append(f"required check {context} is {status.value}")
        elif status is not StatusState.SUCCESS:
            pending.append(f"waits for required check {context}")

    result = approvals.tally(
        inputs.reviews,
        env=env,
        author=inputs.author,
        head_sha=inputs.head_sha,
        render_hash=inputs.render_hash,
        render_hashes=inputs.render_hashes,
        permissions=inputs.permissions,
    )
    pending += _approval_reasons(inputs, result.counted)
    pending += [f"changes requested by {approvals.show(u)}" for u in result.changes_requested]
    notes = list(result.notes)
    if inputs.codeowners is not None:
        notes += inputs.codeowners.problems

    found = destructive.gated(
        policy, destructive.destructive(inputs.plan, recreates=inputs.recreates)
    )
    check = destructive.confirmed(
        inputs.confirmations,
        env=env,
        policy=policy,
        render_hash=inputs.render_hash,
        permissions=inputs.permissions,
        memberships=inputs.memberships,
    )
    notes += check.notes
    if found and check.confirmed_by is None:
        who = f" from {_owners_text(policy.owners)}" if policy.owners else ""
        verb = "awaits" if len(found) == 1 else "await"
        pending.append(f"{destructive.describe(found)} {verb} `/gitops approve-destroy {env}`{who}")

    if not windows.open_at(policy.windows, inputs.now):
        pending.append(windows.closed_message(policy.windows, inputs.now))
    if policy.require_live and inputs.plan.live is None:
        # Pending, not failure: the puller being unreachable is transient, and
        # a run that reaches it clears this without any change to the code.
        why = inputs.plan.live_missing or "this run planned offline"
        pending.append(f"a live plan is required: {why}")
    if inputs.held_by is not None:
        pending.append(f"held by {approvals.show(inputs.held_by)}: `/gitops unhold` to release")
    if policy.lock_gate and inputs.lock_holder is not None and inputs.lock_holder != inputs.pull:
        pending.append(f"locked by #{inputs.lock_holder}")

    reasons = failures + pending
    state = Verdict.FAILURE if failures else Verdict.PENDING if pending else Verdict.SUCCESS
    return Decision(
        env=env,
        state=state,
        description=_describe(state, reasons, result.counted, needed=_approval_needed(inputs)),
        reasons=tuple(reasons),
        notes=tuple(notes),
        approved_by=result.counted,
        confirmed_by=check.confirmed_by if found else None,
    )
