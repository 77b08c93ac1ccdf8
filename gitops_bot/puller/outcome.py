"""What one sync did to one environment: a typed outcome, one word each.

Owns: the outcomes of an environment's sync (applied, unchanged, failed,
refused, not leader), their words (the same in the status object's history,
the `outcome` label of gitops_bot_applies_total and the log line of
--once), which of them leave an environment in sync, and how a sync's
outcomes read in a log line or message. Refuses: deciding an outcome
(puller/loop.py does) and reporting it (puller/report.py does).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class SyncOutcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # not due: reconciled (or failed) within the resync/retry period
    FAILED = "failed"  # the render or the apply failed (recorded, retried later)
    REFUSED = "refused"  # not a descendant, not signed, or not approved (recorded)
    NOT_LEADER = "not leader"  # the Lease was lost before the apply

    @property
    def in_sync(self) -> bool:
        """The environment is at the commit (just applied, or already)."""
        return self in (SyncOutcome.APPLIED, SyncOutcome.UNCHANGED)


def all_in_sync(outcomes: Mapping[str, SyncOutcome]) -> bool:
    """A sync fetched something and every environment is at it (--once exits 0)."""
    return bool(outcomes) and all(o.in_sync for o in outcomes.values())


def show(outcomes: Mapping[str, SyncOutcome]) -> str:
    """The outcomes as log lines and messages print them: {'dev': 'applied'}."""
    return str({env: o.value for env, o in outcomes.items()})
