"""report.text: the terminal output of `gitops-bot plan`.

Golden files: tests/golden/plan.txt (no colour) and plan_color.txt; rewrite
them with UPDATE_GOLDEN=1 (see test_report_markdown.py).
"""

from __future__ import annotations

from gitops_bot.core.objects.model import Key
from gitops_bot.core.report import text
from gitops_bot.core.report.plan import Action, EnvPlan, Plan, ResourceChange
from tests.unit import plan_samples as samples

GREEN, RED, YELLOW, RESET = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[0m"


def test_golden_plain() -> None:
    out = text.render(samples.sample_plan(), color=False)
    assert "\x1b" not in out
    samples.golden("plan.txt", out)


def test_golden_color() -> None:
    samples.golden("plan_color.txt", text.render(samples.sample_plan(), color=True))


def test_plain_layout() -> None:
    out = text.render(samples.sample_plan(), color=False)
    assert "== prod (0123456..fedcba9) render sha256:3b3b3b3b3b3b\n" in out
    assert "this change: 0 to create, 3 to update, 0 to delete, 1 unchanged\n" in out
    assert "live cluster: 0 to create, 4 to update, 0 to delete, 0 unchanged\n" in out
    assert "    Deployment shop/web .spec.replicas (by kubectl-edit)\n" in out
    assert (
        "~ update ConfigMap shop/web-config-8g7h6d5c2b (renamed from web-config-5f8k2m9t4h)\n"
        "    from deploy/prod/kustomization.yaml:1 (document 1)\n"
        "    note: a generated name whose hash changed (kustomize generators): the old name "
        "web-config-5f8k2m9t4h leaves the render, and the puller prunes it\n"
        "    --- ConfigMap shop/web-config-5f8k2m9t4h (before)\n"
        "    +++ ConfigMap shop/web-config-8g7h6d5c2b (after)\n"
    ) in out
    assert "    -  name: web-config-5f8k2m9t4h\n    +  name: web-config-8g7h6d5c2b\n" in out
    assert "~ update Deployment shop/web\n" in out
    assert "    -      - image: shop/web:1.2.3\n    +      - image: shop/web:1.2.4\n" in out
    assert "    secret keys changed: password; added: token\n" in out
    assert "~ update ConfigMap shop/flags (live cluster only)\n" in out
    assert "error: rendering staging: running helm template:" in out
    assert "== qa (0123456..fedcba9)" in out
    assert "live cluster: not compared (offline plan)\nno changes\n" in out
    assert out.endswith("skipped:\n    dev: no file it reads changed\n")


def test_colors_mark_actions_and_diff_lines() -> None:
    out = text.render(samples.sample_plan(), color=True)
    assert (
        f"{YELLOW}~ update ConfigMap shop/web-config-8g7h6d5c2b "
        f"(renamed from web-config-5f8k2m9t4h){RESET}"
    ) in out
    assert f"{GREEN}+  LOG_LEVEL: debug{RESET}" in out
    assert f"{YELLOW}~ update Deployment shop/web{RESET}" in out
    assert f"{GREEN}+      - image: shop/web:1.2.4{RESET}" in out
    assert f"{RED}-      - image: shop/web:1.2.3{RESET}" in out


def test_control_characters_from_the_pull_request_are_neutralized() -> None:
    key = Key("", "ConfigMap", "shop", "x\x1b]0;owned\x07")
    change = ResourceChange(
        key=key, action=Action.CREATE, diff="+data: \x1b[2J\r\n", note="\x1b[31mred"
    )
    plan = Plan(base="a", head="b", envs=(EnvPlan(env="dev\x1b[1m", changes=(change,)),))
    for color in (False, True):
        out = text.render(plan, color=color)
        assert "\x07" not in out
        assert "\r" not in out
        assert "\\x1b[2J" in out
        assert "x\\x1b]0;owned\\x07" in out
        if not color:
            assert "\x1b" not in out


def test_an_empty_plan() -> None:
    assert text.render(Plan(base="a", head="b"), color=False) == "no environment was planned\n"


def test_a_missing_live_plan_is_said_under_the_header() -> None:
    env = EnvPlan(env="prod", live_missing="the puller refused: signature expired\nretry later")
    out = text.render(Plan(base=samples.BASE, head=samples.HEAD, envs=(env,)), color=False)
    assert out.startswith(
        "== prod (0123456..fedcba9)\n"
        "live plan unavailable: the puller refused: signature expired\n    retry later. "
        "Shown: the offline plan (base render -> head render); the cluster was not compared.\n"
        "this change: 0 to create"
    )
    painted = text.render(Plan(base="a", head="b", envs=(env,)), color=True)
    assert f"{YELLOW}live plan unavailable: the puller refused" in painted
