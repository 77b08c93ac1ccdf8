"""Every format says which network isolation the renders had (issue 15, item 4)."""

from __future__ import annotations

import json

import pytest

from gitops_bot.core.report import json as report_json
from gitops_bot.core.report import markdown, text
from gitops_bot.core.report.plan import EnvPlan, Plan
from gitops_bot.render import sandbox

BASE, HEAD = "0" * 40, "f" * 40


@pytest.mark.parametrize("words", [sandbox.NETWORK_NAMESPACE, sandbox.NO_NETWORK_NAMESPACE])
def test_every_format_names_the_isolation(words: str) -> None:
    plan = Plan(
        base=BASE, head=HEAD, envs=(EnvPlan(env="prod", render_hash="ab" * 32),), sandbox=words
    )
    assert f"sandbox: {words}\n" in text.render(plan, color=False)
    assert json.loads(report_json.render(plan))["sandbox"] == words
    [comment] = markdown.env_comment(plan, plan.envs[0])
    assert f" · sandbox: {words}\n" in comment
    assert f"Sandbox: {words}\n" in markdown.summary(plan)


def test_a_plan_that_was_not_told_says_nothing() -> None:
    plan = Plan(base=BASE, head=HEAD, envs=(EnvPlan(env="prod", render_hash="ab" * 32),))
    assert "sandbox" not in text.render(plan, color=False)
    assert json.loads(report_json.render(plan))["sandbox"] is None
    assert "sandbox" not in markdown.env_comment(plan, plan.envs[0])[0].lower()
