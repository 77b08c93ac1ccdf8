"""Use case: the promotion history of some environments, read from the forge.

Owns: for each environment, its newest deployments (what the puller
recorded: commit, state, since when), the merged pull request that brought
each commit (title, author, the marker that says promotion or rollback and
from where) and who approved it. Refuses: formatting (core.promotion.ledger) and
writing anything.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from gitops_bot.core.pr.model import ReviewState
from gitops_bot.core.pr.ports import Deployments, PullQueries, Reviews
from gitops_bot.core.promotion import ledger

APPROVED = ReviewState.APPROVED


class HistoryForge(Deployments, PullQueries, Reviews, Protocol):
    """What the history reads."""


def history_of(
    forge: HistoryForge, envs: tuple[str, ...], *, limit: int = 5
) -> tuple[ledger.Entry, ...]:
    """Newest first per environment, in the order of `envs`: 1 + `limit`
    requests per environment for the deployments, then 2 per commit."""
    entries: list[ledger.Entry] = []
    for env in envs:
        for deployment in forge.deployments(env, limit=limit):
            merged = [p for p in forge.pulls_for_commit(deployment.sha) if p.state == "merged"]
            entry = ledger.Entry(
                env=env,
                sha=deployment.sha,
                state=deployment.state.value,
                since=deployment.since,
            )
            if merged:
                pull = merged[0]
                kind, origin = ledger.origin(pull.body)
                latest = {r.user: r.state for r in forge.reviews(pull.number)}  # oldest first
                entry = dataclasses.replace(
                    entry,
                    pull=pull.number,
                    title=pull.title,
                    author=pull.author,
                    approved_by=tuple(sorted(u for u, s in latest.items() if s is APPROVED)),
                    kind=kind,
                    origin=origin,
                )
            entries.append(entry)
    return tuple(entries)
