"""Whether a promotion may go ahead: the source environment's health and soak.

Owns: judging the newest deployment the puller recorded for the source
environment of a rule against the rule's soak time: `Ready` (healthy at a
commit, and for long enough; that commit is what the promotion carries),
`Waiting` (healthy, but not for `soak` yet; or still being applied) or
`Blocked` (failed or degraded, or never deployed); and the commit status
that says so on the source commit (`gitops/promotion/<target>`). A
promotion asked for by hand (`/gitops promote`) waives the soak, never the
health. Refuses: I/O (app.promote reads the deployments and writes the
status) and reading the clock (the caller passes `now`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gitops_bot.core.pr.model import Deployment, DeploymentState, StatusState
from gitops_bot.core.promotion.routes import Rule

CONTEXT = "gitops/promotion/{target}"
SHORT = 12


@dataclass(frozen=True)
class Ready:
    sha: str  # the source's healthy commit: what the promotion carries
    healthy_since: datetime
    reason: str


@dataclass(frozen=True)
class Waiting:
    sha: str  # "" when there is no deployment to wait on
    reason: str
    ready_at: datetime | None = None  # when the soak ends, if it is soaking


@dataclass(frozen=True)
class Blocked:
    sha: str  # "" when the source was never deployed
    reason: str


Verdict = Ready | Waiting | Blocked


def parse_time(text: str) -> datetime:
    """An ISO 8601 moment as the forges write it (`Z` or an offset), in UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _soak(soak: timedelta) -> str:
    total = int(soak.total_seconds())
    parts = [(total // 86400, "d"), (total % 86400 // 3600, "h"), (total % 3600 // 60, "m")]
    text = "".join(f"{n}{unit}" for n, unit in parts if n) + (
        f"{total % 60}s" if total % 60 else ""
    )
    return text or "0s"


def judge(
    rule: Rule, newest: Deployment | None, *, now: datetime, on_demand: bool = False
) -> Verdict:
    """May `rule.target` be given `rule.source`'s state, judged on the newest
    deployment of `rule.source` the puller recorded?"""
    source = rule.source
    if newest is None:
        return Blocked(
            "", f"{source} has no deployment recorded yet: the puller has not applied it"
        )
    short = newest.sha[:SHORT]
    detail = f": {newest.description}" if newest.description else ""
    if newest.state in (DeploymentState.FAILURE, DeploymentState.ERROR):
        return Blocked(newest.sha, f"{source} is not healthy at {short}{detail}")
    if newest.state is not DeploymentState.SUCCESS:
        return Waiting(newest.sha, f"{source} is still being applied at {short}{detail}")
    since = parse_time(newest.since)
    ready_at = since + rule.soak
    if on_demand or now >= ready_at:
        soaked = "" if not rule.soak else f" (soak {_soak(rule.soak)})"
        if on_demand and now < ready_at:
            soaked = f" (soak {_soak(rule.soak)} waived: asked for by hand)"
        return Ready(newest.sha, since, f"{source} healthy at {short} since {newest.since}{soaked}")
    left = timedelta(seconds=int((ready_at - now).total_seconds()))
    return Waiting(
        newest.sha,
        f"{source} healthy at {short} since {newest.since}; soaking "
        f"{_soak(rule.soak)}, {_soak(left)} left",
        ready_at=ready_at,
    )


def status_state(verdict: Verdict) -> StatusState:
    """The commit status a verdict is shown as on the source commit."""
    if isinstance(verdict, Ready):
        return StatusState.SUCCESS
    if isinstance(verdict, Waiting):
        return StatusState.PENDING
    return StatusState.FAILURE


def context(rule: Rule) -> str:
    return CONTEXT.format(target=rule.target)
