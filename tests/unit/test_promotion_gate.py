"""The promotion gate: the source's newest deployment against the rule's soak."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gitops_bot.core.pr.model import Deployment, DeploymentState, StatusState
from gitops_bot.core.promotion import soak
from gitops_bot.core.promotion.routes import Rule

SHA = "a" * 40
SINCE = "2026-01-05T09:00:00Z"
AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
RULE = Rule(source="dev", target="prod", copy=("d/{env}/v.yaml",), soak=timedelta(hours=1))


def _deployed(state: DeploymentState, description: str = "") -> Deployment:
    return Deployment("dev", SHA, state, SINCE, description, SINCE)


def test_healthy_for_the_soak_is_ready_at_that_commit() -> None:
    verdict = soak.judge(RULE, _deployed(DeploymentState.SUCCESS), now=AT + timedelta(hours=1))
    assert verdict == soak.Ready(SHA, AT, f"dev healthy at {SHA[:12]} since {SINCE} (soak 1h)")
    assert soak.status_state(verdict) is StatusState.SUCCESS


def test_healthy_but_not_for_the_soak_waits_and_says_how_long() -> None:
    verdict = soak.judge(
        RULE, _deployed(DeploymentState.SUCCESS), now=AT + timedelta(minutes=20, seconds=0.5)
    )
    assert verdict == soak.Waiting(
        SHA,
        f"dev healthy at {SHA[:12]} since {SINCE}; soaking 1h, 39m59s left",
        ready_at=AT + timedelta(hours=1),
    )
    assert soak.status_state(verdict) is StatusState.PENDING


def test_asked_for_by_hand_waives_the_soak_and_says_so() -> None:
    verdict = soak.judge(RULE, _deployed(DeploymentState.SUCCESS), now=AT, on_demand=True)
    assert isinstance(verdict, soak.Ready)
    assert verdict.reason.endswith("(soak 1h waived: asked for by hand)")


@pytest.mark.parametrize("state", [DeploymentState.FAILURE, DeploymentState.ERROR])
@pytest.mark.parametrize("on_demand", [False, True])
def test_an_unhealthy_source_blocks_even_by_hand(state: DeploymentState, on_demand: bool) -> None:
    verdict = soak.judge(
        RULE,
        _deployed(state, "applied to dev: 1 not healthy"),
        now=AT + timedelta(days=9),
        on_demand=on_demand,
    )
    assert verdict == soak.Blocked(
        SHA, f"dev is not healthy at {SHA[:12]}: applied to dev: 1 not healthy"
    )
    assert soak.status_state(verdict) is StatusState.FAILURE


@pytest.mark.parametrize("state", [DeploymentState.PENDING, DeploymentState.IN_PROGRESS])
def test_a_source_still_being_applied_waits(state: DeploymentState) -> None:
    verdict = soak.judge(RULE, _deployed(state), now=AT + timedelta(days=9))
    assert verdict == soak.Waiting(SHA, f"dev is still being applied at {SHA[:12]}")


def test_a_source_never_deployed_blocks() -> None:
    verdict = soak.judge(RULE, None, now=AT)
    assert verdict == soak.Blocked(
        "", "dev has no deployment recorded yet: the puller has not applied it"
    )


def test_no_soak_is_ready_at_once() -> None:
    rule = Rule(source="dev", target="prod", copy=("d/{env}/v.yaml",))
    verdict = soak.judge(rule, _deployed(DeploymentState.SUCCESS), now=AT)
    assert verdict == soak.Ready(SHA, AT, f"dev healthy at {SHA[:12]} since {SINCE}")


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-01-05T09:00:00Z", AT),
        ("2026-01-05T10:00:00+01:00", AT),
        ("2026-01-05T09:00:00.123Z", AT + timedelta(milliseconds=123)),
        ("2026-01-05T09:00:00", AT),
    ],
)
def test_forge_times_are_read_in_utc(text: str, moment: datetime) -> None:
    assert soak.parse_time(text) == moment


def test_the_status_context_names_the_target() -> None:
    assert soak.context(RULE) == "gitops/promotion/prod"
