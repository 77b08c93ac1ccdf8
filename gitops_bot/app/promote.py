"""Use case: open or update a promotion pull request, or open a rollback one.

Owns: reading the files a promotion or rollback needs from Git (the rule's
copy paths at the source commit and on the base; an environment's source
files that differ between a commit and the base), asking core.promotion
what the pull request carries, and writing it through the forge's ports:
one commit on top of the base on the pull request's own branch, then the
one open pull request for that branch updated (title, body, head), or
opened when there is none, so promotions never pile up. A promotion that
has nothing left to carry closes its stale pull request. Refuses: who may
ask (app.chatops checks permissions), judging the source's health (the
puller will report it; see docs/promotion.md), and merging.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gitops_bot.core import config, promotion, promotion_config
from gitops_bot.core.forge import Pull
from gitops_bot.errors import ConfigError
from gitops_bot.ports import Changes, PullQueries
from gitops_bot.vcs.git import Git


class PromoteForge(Changes, PullQueries, Protocol):
    """The ports a promotion writes through."""


@dataclass(frozen=True)
class Opened:
    pull: Pull
    created: bool  # False: the open pull request of the branch was updated
    proposal: promotion.Proposal


@dataclass(frozen=True)
class Closed:
    """Nothing to carry; `closed`: the stale pull request that was closed, if any."""

    reason: str
    closed: int | None = None


Outcome = Opened | Closed


def read_config(repo: Git, sha: str, config_file: str = ".gitops.yaml") -> config.Config:
    """The configuration at `sha` (the base branch's: a pull request does not
    choose its own promotion rules)."""
    text = repo.read(sha, config_file)
    if text is None:
        raise ConfigError(f"reading {config_file} at {sha[:12]}: it does not exist there")
    return config.parse(text, file=config_file)


def promote(
    forge: PromoteForge,
    repo: Git,
    *,
    cfg: config.Config,
    target_env: str,
    base_ref: str,
    source_sha: str,
    commit_url: str = "",
    requested_by: str = "",
    requested_in: int = 0,
) -> Outcome:
    """Promote into `target_env` from the environment its rule names, whose
    state is taken at `source_sha`, the head of `base_ref`, which the pull
    request also starts from (environments are folders of one branch)."""
    rule = promotion_config.rule_to(cfg.promotions, target_env)
    if rule is None:
        raise ConfigError(f"promoting to {target_env}: {cfg.file} has no promotion rule to it")
    proposal = promotion.promotion(
        rule,
        source_sha=source_sha,
        source={p: repo.read(source_sha, p) for p in rule.paths(rule.source)},
        target={p: repo.read(source_sha, p) for p in rule.paths(rule.target)},
        commit_url=commit_url,
        requested_by=requested_by,
        requested_in=requested_in,
    )
    existing = _open_pull(forge, promotion.promote_branch(rule))
    if isinstance(proposal, promotion.Nothing):
        if existing is None:
            return Closed(proposal.reason)
        forge.close_pull(existing.number)
        return Closed(proposal.reason, closed=existing.number)
    return _write(forge, proposal, base_ref=base_ref, base_sha=source_sha, existing=existing)


def rollback(
    forge: PromoteForge,
    repo: Git,
    *,
    cfg: config.Config,
    env: str,
    sha: str,
    base_ref: str,
    base_sha: str,
    commit_url: str = "",
    requested_by: str = "",
    requested_in: int = 0,
) -> Outcome:
    """A pull request onto `base_ref` (at `base_sha`) that restores `env`'s
    sources (core.promotion.scope) to their texts at `sha`."""
    full = repo.resolve(sha)
    sources = promotion.scope(cfg, env)
    differ = [p for p in repo.changed_files(full, base_sha) if p in sources]
    proposal = promotion.rollback(
        env,
        sha=full,
        base_sha=base_sha,
        at_sha={p: repo.read(full, p) for p in differ},
        at_base={p: repo.read(base_sha, p) for p in differ},
        commit_url=commit_url,
        requested_by=requested_by,
        requested_in=requested_in,
    )
    if isinstance(proposal, promotion.Nothing):
        return Closed(proposal.reason)
    existing = _open_pull(forge, proposal.branch)
    return _write(forge, proposal, base_ref=base_ref, base_sha=base_sha, existing=existing)


def _open_pull(forge: PromoteForge, branch: str) -> Pull | None:
    """The open pull request whose head is exactly `branch` (the oldest, if the
    forge somehow holds two)."""
    return next((p for p in forge.open_pulls(head_prefix=branch) if p.head_ref == branch), None)


def _write(
    forge: PromoteForge,
    proposal: promotion.Proposal,
    *,
    base_ref: str,
    base_sha: str,
    existing: Pull | None,
) -> Opened:
    # Rebuilt on the newest base with `parent`, not piled on the old branch:
    # the pull request always shows one commit, against today's base.
    forge.commit_files(
        proposal.branch, files=proposal.texts, message=proposal.message, parent=base_sha
    )
    if existing is not None:
        pull = forge.update_pull(existing.number, title=proposal.title, body=proposal.body)
        return Opened(pull, created=False, proposal=proposal)
    pull = forge.open_pull(
        head=proposal.branch, base=base_ref, title=proposal.title, body=proposal.body
    )
    return Opened(pull, created=True, proposal=proposal)
