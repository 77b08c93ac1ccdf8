"""The offline plan made in CI joined with the live part the puller answered."""

from __future__ import annotations

from gitops_bot.core.objects.model import Key
from gitops_bot.core.report.plan import Action, Drift, EnvPlan, Plan, ResourceChange, Skipped
from gitops_bot.planner.plan import _with_live

KEY = Key("apps", "Deployment", "shop", "web")
OFFLINE = EnvPlan(
    env="prod", render_hash="h" * 64, changes=(ResourceChange(KEY, Action.UPDATE, "-a\n+b"),)
)
LIVE = (ResourceChange(KEY, Action.UPDATE, "-z\n+b"),)
DRIFT = (Drift(KEY, ("spec", "replicas"), "kubectl", "-1\n+4"),)


def answer(*envs: EnvPlan, skipped: tuple[Skipped, ...] = ()) -> Plan:
    return Plan(base="b" * 40, head="c" * 40, envs=envs, skipped=skipped)


def test_the_live_part_joins_the_offline_plan_made_here() -> None:
    theirs = EnvPlan(env="prod", render_hash="h" * 64, changes=(), live=LIVE, drift=DRIFT)
    joined = _with_live(OFFLINE, answer(theirs))
    assert joined.changes == OFFLINE.changes  # this change is what CI rendered
    assert (joined.live, joined.drift, joined.live_missing) == (LIVE, DRIFT, None)


def test_without_an_answer_the_offline_plan_stands_and_says_why() -> None:
    joined = _with_live(OFFLINE, "the puller at http://p/plan could not be reached: refused")
    assert joined.live is None
    assert joined.changes == OFFLINE.changes
    assert joined.live_missing == "the puller at http://p/plan could not be reached: refused"


def test_an_environment_the_puller_did_not_plan_says_its_reason() -> None:
    skipped = Skipped("prod", "not managed by this puller (it manages dev)")
    joined = _with_live(OFFLINE, answer(skipped=(skipped,)))
    assert joined.live is None
    assert joined.live_missing == (
        "the puller did not plan prod: not managed by this puller (it manages dev)"
    )


def test_a_different_render_on_the_puller_is_not_passed_off_as_this_plans_live_diff() -> None:
    theirs = EnvPlan(env="prod", render_hash="x" * 64, live=LIVE, drift=DRIFT)
    joined = _with_live(OFFLINE, answer(theirs))
    assert joined.live is None
    assert joined.drift == ()
    assert joined.live_missing is not None
    assert "rendered prod differently" in joined.live_missing


def test_an_error_on_the_puller_is_the_environments_error() -> None:
    theirs = EnvPlan(env="prod", render_hash="h" * 64, error="dry-run of Deployment: forbidden")
    joined = _with_live(OFFLINE, answer(theirs))
    assert joined.error == "dry-run of Deployment: forbidden"
