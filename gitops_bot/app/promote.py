"""Use case: open or update a promotion pull request, or open a rollback one.

Owns: reading the files a promotion or rollback needs from Git (the rule's
copy paths at the source's healthy commit and on the base; an environment's
source files that differ between a commit and the base), asking
core.promotion.change what the pull request carries, and writing it through the
forge's ports: one commit on top of the base on the pull request's own
branch, then the one open pull request for that branch updated (title,
body, head), or opened when there is none, so promotions never pile up; a
proposal the open pull request already carries leaves it alone (its
approvals stand). A promotion that has nothing left to carry closes its
stale pull request. The gate (`gate`): the newest deployment the puller
recorded for the source, judged by core.promotion.soak and shown as the
status `gitops/promotion/<target>` on the source commit; `check` runs it
for every rule (on a schedule, or when a deployment status changes) and
opens the promotions of the `auto_open` rules that are ready;
`merge_if_ready` merges a promotion pull request of an `auto_merge` rule
once its own review passed. Refuses: who may ask (app.chatops checks
permissions) and the target's policy (the review gates the pull request
like any other).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gitops_bot.app import context
from gitops_bot.core.pr.model import Pull, Status
from gitops_bot.core.pr.ports import Changes, Deployments, PullQueries, Statuses
from gitops_bot.core.promotion import change, routes, soak
from gitops_bot.core.repo import config
from gitops_bot.errors import ConfigError
from gitops_bot.vcs.git import Git, GitError


class PromoteForge(Changes, PullQueries, Statuses, Deployments, Protocol):
    """The ports a promotion reads the gate from and writes through."""


@dataclass(frozen=True)
class Opened:
    pull: Pull
    created: bool  # False: the open pull request of the branch was updated
    proposal: change.Proposal
    unchanged: bool = False  # it already carried this proposal: nothing was written

    @property
    def verb(self) -> str:
        return "unchanged" if self.unchanged else "opened" if self.created else "updated"


@dataclass(frozen=True)
class Closed:
    """Nothing to carry; `closed`: the stale pull request that was closed, if any."""

    reason: str
    closed: int | None = None


@dataclass(frozen=True)
class Gated:
    """The gate did not let the promotion through (waiting or blocked)."""

    verdict: soak.Waiting | soak.Blocked


Outcome = Opened | Closed | Gated


@dataclass(frozen=True)
class Onto:
    """Where a promotion or rollback pull request goes (the base branch, at the
    commit its files are read from and its own commit starts), and who asked."""

    base_ref: str
    base_sha: str
    commit_url: str = ""
    requested_by: str = ""
    requested_in: int = 0


def promote(
    forge: PromoteForge,
    repo: Git,
    *,
    cfg: config.Config,
    target_env: str,
    onto: Onto,
    source_sha: str,
    healthy_since: datetime | None = None,
) -> Opened | Closed:
    """Promote into `target_env` from the environment its rule names, whose
    state is taken at `source_sha` (its healthy commit), onto `onto.base_ref`
    at `onto.base_sha`, where the target's files are read and the pull request
    starts (environments are folders of one branch)."""
    rule = _rule(cfg, target_env)
    proposal = change.promotion(
        rule,
        source_sha=source_sha,
        source={p: repo.read(source_sha, p) for p in rule.paths(rule.source)},
        target={p: repo.read(onto.base_sha, p) for p in rule.paths(rule.target)},
        healthy_since=healthy_since,
        commit_url=onto.commit_url,
        requested_by=onto.requested_by,
        requested_in=onto.requested_in,
    )
    existing = _open_pull(forge, change.promote_branch(rule))
    if isinstance(proposal, change.Nothing):
        if existing is None:
            return Closed(proposal.reason)
        forge.close_pull(existing.number)
        return Closed(proposal.reason, closed=existing.number)
    return _write(forge, proposal, onto=onto, existing=existing)


def _holds(repo: Git, sha: str, target_env: str) -> None:
    try:
        repo.resolve(sha)
    except GitError as err:
        raise ConfigError(
            f"promoting to {target_env}: the checkout does not hold the source's healthy "
            f"commit {sha[:12]}; check out the full history (actions/checkout with "
            "fetch-depth: 0, GitLab GIT_DEPTH: 0)"
        ) from err


def _rule(cfg: config.Config, target_env: str) -> routes.Rule:
    rule = routes.rule_to(cfg.promotions, target_env)
    if rule is None:
        raise ConfigError(f"promoting to {target_env}: {cfg.file} has no promotion rule to it")
    return rule


def gate(
    forge: PromoteForge,
    *,
    cfg: config.Config,
    target_env: str,
    now: datetime,
    on_demand: bool = False,
    url: str = "",
) -> soak.Verdict:
    """Judge the source of `target_env`'s rule on its newest deployment, and
    say so as `gitops/promotion/<target>` on that commit."""
    rule = _rule(cfg, target_env)
    newest = next(iter(forge.deployments(rule.source, limit=1)), None)
    verdict = soak.judge(rule, newest, now=now, on_demand=on_demand)
    if verdict.sha:
        forge.set_status(
            Status(
                verdict.sha,
                soak.context(rule),
                soak.status_state(verdict),
                verdict.reason,
                url,
            )
        )
    return verdict


def promote_gated(
    forge: PromoteForge,
    repo: Git,
    *,
    cfg: config.Config,
    target_env: str,
    onto: Onto,
    now: datetime,
    on_demand: bool = False,
    url: str = "",
) -> Outcome:
    """Promote what the source has healthy, if the gate lets it through."""
    verdict = gate(forge, cfg=cfg, target_env=target_env, now=now, on_demand=on_demand, url=url)
    if not isinstance(verdict, soak.Ready):
        return Gated(verdict)
    _holds(repo, verdict.sha, target_env)
    return promote(
        forge,
        repo,
        cfg=cfg,
        target_env=target_env,
        onto=onto,
        source_sha=verdict.sha,
        healthy_since=verdict.healthy_since,
    )


@dataclass(frozen=True)
class Checked:
    target: str
    # What a rule with auto_open did; the gate's verdict alone for the others.
    result: Outcome | soak.Verdict

    @property
    def text(self) -> str:
        result = self.result
        if isinstance(result, Opened):
            return f"promotion to {self.target}: {result.verb} #{result.pull.number}"
        if isinstance(result, Closed):
            closed = f" (closed #{result.closed})" if result.closed else ""
            return f"promotion to {self.target}: {result.reason}{closed}"
        verdict = result.verdict if isinstance(result, Gated) else result
        return f"promotion to {self.target}: {verdict.reason}"


def check(
    forge: PromoteForge,
    repo: Git,
    *,
    cfg: config.Config,
    onto: Onto,
    now: datetime,
    url: str = "",
) -> tuple[Checked, ...]:
    """Every rule's gate, shown on its source's commit; the `auto_open` rules
    whose gate is passed promote."""
    checked = []
    for rule in cfg.promotions:
        result: Outcome | soak.Verdict
        if rule.auto_open:
            result = promote_gated(
                forge,
                repo,
                cfg=cfg,
                target_env=rule.target,
                onto=onto,
                now=now,
                url=url,
            )
        else:
            result = gate(forge, cfg=cfg, target_env=rule.target, now=now, url=url)
        checked.append(Checked(rule.target, result))
    return tuple(checked)


def rollback(
    forge: PromoteForge,
    repo: Git,
    *,
    cfg: config.Config,
    env: str,
    sha: str,
    onto: Onto,
) -> Outcome:
    """A pull request onto `onto.base_ref` (at `onto.base_sha`) that restores
    `env`'s sources (core.promotion.scope) to their texts at `sha`."""
    full = repo.resolve(sha)
    base_sha = onto.base_sha
    sources = change.scope(cfg, env)
    differ = [p for p in repo.changed_files(full, base_sha) if p in sources]
    proposal = change.rollback(
        env,
        sha=full,
        base_sha=base_sha,
        at_sha={p: repo.read(full, p) for p in differ},
        at_base={p: repo.read(base_sha, p) for p in differ},
        commit_url=onto.commit_url,
        requested_by=onto.requested_by,
        requested_in=onto.requested_in,
    )
    if isinstance(proposal, change.Nothing):
        return Closed(proposal.reason)
    existing = _open_pull(forge, proposal.branch)
    return _write(forge, proposal, onto=onto, existing=existing)


def _open_pull(forge: PromoteForge, branch: str) -> Pull | None:
    """The open pull request whose head is exactly `branch` (the oldest, if the
    forge somehow holds two)."""
    return next((p for p in forge.open_pulls(head_prefix=branch) if p.head_ref == branch), None)


def _write(
    forge: PromoteForge,
    proposal: change.Proposal,
    *,
    onto: Onto,
    existing: Pull | None,
) -> Opened:
    if existing is not None and existing.body == proposal.body and existing.title == proposal.title:
        # Rewriting the same change would push a new head and void its approvals.
        return Opened(existing, created=False, proposal=proposal, unchanged=True)
    # Rebuilt on the newest base with `parent`, not piled on the old branch:
    # the pull request always shows one commit, against today's base.
    forge.commit_files(
        proposal.branch, files=proposal.texts, message=proposal.message, parent=onto.base_sha
    )
    if existing is not None:
        pull = forge.update_pull(existing.number, title=proposal.title, body=proposal.body)
        return Opened(pull, created=False, proposal=proposal)
    pull = forge.open_pull(
        head=proposal.branch, base=onto.base_ref, title=proposal.title, body=proposal.body
    )
    return Opened(pull, created=True, proposal=proposal)


def merge_if_ready(pull_change: context.Change) -> str:
    """Merge the change's pull request if it is the bot's own promotion pull
    request for a rule with `auto_merge` (in the base's configuration) and its
    review just passed; what was done, or "" when it is not such a pull request."""
    forge, pull = pull_change.forge, pull_change.pull
    if (
        pull.state != "open"
        or pull.from_fork
        or not pull.head_ref.startswith(change.PROMOTE_PREFIX)
    ):
        return ""
    cfg = pull_change.require_config(pull.base_sha)
    rule = next((r for r in cfg.promotions if change.promote_branch(r) == pull.head_ref), None)
    if rule is None or not rule.auto_merge:
        return ""
    if pull.author != forge.own_login():
        return (
            f"#{pull.number} is not the bot's own promotion (opened by {pull.author}): not merged"
        )
    merged = forge.merge_pull(pull.number, sha=pull.head_sha)
    return f"merged #{pull.number} ({rule.source} to {rule.target}, auto_merge) as {merged[:12]}"
