"""report.markdown: the sticky PR comment per environment and the job summary.

The exact text is pinned by golden files in tests/golden/. After an
intended change of the output, rewrite them with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_report_*.py

and review the difference in git before committing it. The sample plan and
`golden()` live in plan_samples.py.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_bot.core.objects import diff
from gitops_bot.core.objects.model import Key, Origin
from gitops_bot.core.report import markdown
from gitops_bot.core.report.plan import (
    Action,
    Drift,
    EnvPlan,
    Plan,
    ResourceChange,
    SecretKeys,
)
from tests.objects import configmap
from tests.unit.plan_samples import (
    BASE,
    CANARY,
    CANARY_B64,
    HEAD,
    MASK_KEY,
    every_output,
    golden,
    sample_plan,
)


def test_golden_prod_comment() -> None:
    plan = sample_plan()
    (part,) = markdown.env_comment(plan, plan.envs[0])
    golden("plan_prod.md", part)


def test_golden_error_comment() -> None:
    plan = sample_plan()
    (part,) = markdown.env_comment(plan, plan.envs[1])
    assert "[!CAUTION]" in part
    assert "<details>" not in part
    assert "| this change" not in part
    golden("plan_staging.md", part)


def test_golden_job_summary() -> None:
    golden("plan_summary.md", markdown.summary(sample_plan()))


def test_canary_never_appears_in_any_output() -> None:
    outputs = every_output(sample_plan())
    for out in outputs:
        assert CANARY not in out
        assert CANARY_B64 not in out
        assert "old-password" not in out
    assert any("changed: `password`" in out for out in outputs)


def test_prod_comment_content() -> None:
    plan = sample_plan()
    (part,) = markdown.env_comment(plan, plan.envs[0])
    assert part.startswith(markdown.marker("prod", 1, 1) + "\n")
    assert "`0123456`..`fedcba9`" in part
    assert "**2 fields drifted in the cluster**, changed by `kubectl-edit`." in part
    assert "`.spec.replicas`" in part
    assert "<summary>update Deployment shop/web</summary>" in part
    assert "<summary>update ConfigMap shop/flags (live cluster only)</summary>" in part
    assert (
        "<summary>update ConfigMap shop/web-config-8g7h6d5c2b "
        "(renamed from web-config-5f8k2m9t4h)</summary>"
    ) in part
    assert "delete ConfigMap" not in part
    assert "create ConfigMap" not in part
    assert "_a generated name whose hash changed (kustomize generators): the old name " in part
    assert "changed: `password`; added: `token`" in part
    assert "+      - image: shop/web:1.2.4" in part


@pytest.mark.parametrize(
    ("env", "part", "parts"),
    [("prod", 1, 1), ("eu-west-1", 3, 12), ("we ird -->name", 2, 2), ("ünï/cödé", 1, 2)],
)
def test_marker_round_trips(env: str, part: int, parts: int) -> None:
    text = markdown.marker(env, part, parts)
    assert text.startswith("<!-- gitops-bot:plan env=")
    assert text.count("-->") == 1
    assert markdown.parse_marker(f"some text\n{text}\nmore") == (env, part, parts)


@pytest.mark.parametrize(
    "body",
    [
        "no marker here",
        "<!-- gitops-bot:plan env=prod part=3/2 -->",
        "<!-- gitops-bot:plan env=prod part=0/2 -->",
        "<!-- gitops-bot:plan env=prod -->",
    ],
)
def test_parse_marker_refuses(body: str) -> None:
    assert markdown.parse_marker(body) is None


def _cm_change(index: int, lines: int = 8) -> ResourceChange:
    old = configmap(f"cm-{index:03d}", **{f"k{i}": f"v{i}" for i in range(lines)})
    new = configmap(f"cm-{index:03d}", **{f"k{i}": f"w{i}" for i in range(lines)})
    # Above the default line-diff cap (core.repo.bounds) on purpose: this is about
    # how the comment cuts a diff that was made.
    return diff.compare(Key.of(old), old, new, mask_key=MASK_KEY, max_lines=4 * lines)


def _check_parts(parts: tuple[str, ...], env: str, budget: int) -> None:
    for number, part in enumerate(parts, start=1):
        assert len(part) <= budget
        assert part.startswith(markdown.marker(env, number, len(parts)) + "\n")
        assert markdown.parse_marker(part) == (env, number, len(parts))


def test_300_resources_split_into_parts_within_the_budget() -> None:
    env = EnvPlan(env="prod", changes=tuple(_cm_change(i) for i in range(300)))
    parts = markdown.env_comment(Plan(base=BASE, head=HEAD, envs=(env,)), env, budget=10_000)
    assert len(parts) > 5
    _check_parts(parts, "prod", 10_000)
    assert "| this change" in parts[0]
    assert all("| this change" not in p for p in parts[1:])
    assert "(part 2 of" in parts[1]
    joined = "".join(parts)
    for i in range(300):
        assert joined.count(f"<summary>update ConfigMap shop/cm-{i:03d}</summary>") == 1
    assert "lines omitted" not in joined  # each section fit whole into some part


def test_a_500_kb_diff_is_cut_in_the_middle_and_the_summary_kept() -> None:
    big = _cm_change(1, lines=16_000)
    assert len(big.diff) > 500_000
    env = EnvPlan(env="prod", changes=(big,))
    parts = markdown.env_comment(Plan(base=BASE, head=HEAD, envs=(env,)), env)
    assert len(parts) == 1
    _check_parts(parts, "prod", markdown.GITHUB_LIMIT)
    (part,) = parts
    assert "| this change" in part
    assert re.search(r"^… \d+ lines omitted …$", part, re.MULTILINE)
    first_lines = big.diff.splitlines()[:4]
    last_lines = big.diff.splitlines()[-3:]
    assert all(line in part for line in first_lines + last_lines)
    assert part.rstrip().endswith("</details>")


def test_a_single_huge_line_is_cut_too() -> None:
    old = configmap("one", blob="a" * 300_000)
    new = configmap("one", blob="b" * 300_000)
    change = diff.compare(Key.of(old), old, new, mask_key=MASK_KEY)
    env = EnvPlan(env="prod", changes=(change,))
    (part,) = markdown.env_comment(Plan(base=BASE, head=HEAD, envs=(env,)), env, budget=5_000)
    assert len(part) <= 5_000
    assert "characters omitted" in part
    assert part.rstrip().endswith("</details>")


def test_backticks_in_a_diff_cannot_close_the_fence() -> None:
    old = configmap("readme", md="```\ncode\n```\n")
    new = configmap("readme", md="````\nmore code\n````\n")
    change = diff.compare(Key.of(old), old, new, mask_key=MASK_KEY)
    env = EnvPlan(env="prod", changes=(change,))
    (part,) = markdown.env_comment(Plan(base=BASE, head=HEAD, envs=(env,)), env)
    assert "`````diff\n" in part
    assert "\n`````\n" in part


def test_budget_below_the_minimum_is_refused() -> None:
    plan = sample_plan()
    with pytest.raises(ValueError, match="below"):
        markdown.env_comment(plan, plan.envs[0], budget=500)


def test_no_changes_says_so() -> None:
    plan = sample_plan()
    (part,) = markdown.env_comment(plan, plan.envs[2])
    assert "No changes." in part
    assert "The live cluster was not compared (offline plan)." in part


def test_summary_lists_every_env_and_the_skipped() -> None:
    out = markdown.summary(sample_plan())
    assert re.search(r"\| `prod` +\| 0 +\| 3 +\| 0 +\| 1 +\| \+0 ~4 -0 +\| 2 +\| changes", out)
    # Drift that was not counted is never 0: unknown after an error, "-" offline.
    assert re.search(r"\| `staging` +\| - +\| - +\| - +\| - +\| - +\| unknown +\| error", out)
    assert re.search(r"\| `qa` .*\| offline +\| - +\| no changes", out)
    assert "- `dev`: no file it reads changed" in out


def test_skipped_environments_stay_out_of_env_comments() -> None:
    plan = sample_plan()
    for env in plan.envs:
        for part in markdown.env_comment(plan, env):
            assert "no file it reads changed" not in part


def test_html_and_pipes_from_the_render_are_escaped() -> None:
    key = Key("", "ConfigMap", "shop", "<img src=x onerror=alert(1)>")
    change = ResourceChange(key=key, action=Action.CREATE, diff="+x\n", note="<b>|</b>")
    drift = Drift(key=key, path=("data", "a|b"), manager="<script>")
    env = EnvPlan(env="prod", changes=(change,), live=(), drift=(drift,))
    (part,) = markdown.env_comment(Plan(base=BASE, head=HEAD, envs=(env,)), env)
    assert "<img" not in part
    assert part.count("<script>") == part.count("`<script>`")  # code spans show it verbatim
    assert "<b>" not in part
    assert "&lt;img src=x onerror=alert(1)&gt;" in part
    assert '`.data["a\\|b"]`' in part  # the pipe cannot end the table cell


def test_many_drifted_fields_are_cut_to_fit_part_one() -> None:
    key = Key("apps", "Deployment", "shop", "web")
    drift = tuple(
        Drift(key=key, path=("spec", f"field{i:04d}"), manager="kubectl") for i in range(500)
    )
    env = EnvPlan(env="prod", live=(), drift=drift)
    parts = markdown.env_comment(Plan(base=BASE, head=HEAD, envs=(env,)), env, budget=5_000)
    _check_parts(parts, "prod", 5_000)
    assert len(parts) == 1
    assert "**500 fields drifted in the cluster**" in parts[0]
    assert re.search(r"… and \d+ more drifted fields \(the JSON report lists all\)", parts[0])
    assert "`.spec.field0000`" in parts[0]


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=20)
_lines = st.text(alphabet="abc `<>|*_\n\t-+é", max_size=400)
_keys = st.builds(
    Key, st.sampled_from(["", "apps"]), st.sampled_from(["ConfigMap", "Secret"]), _names, _names
)
_changes = st.builds(
    ResourceChange,
    key=_keys,
    action=st.sampled_from(list(Action)),
    diff=st.one_of(_lines, st.integers(0, 3000).map(lambda n: "+line with words\n" * n)),
    secret_keys=st.one_of(st.none(), st.builds(SecretKeys, added=st.tuples(_names))),
    origin=st.one_of(st.none(), st.builds(Origin, _names, st.integers(0, 9))),
    note=_lines,
)
_drift = st.builds(
    Drift,
    key=_keys,
    path=st.tuples(_names, st.integers(0, 3)),
    manager=st.one_of(st.none(), _names),
)
_envs = st.builds(
    EnvPlan,
    env=st.text(min_size=1, max_size=30),
    render_hash=st.text(alphabet="0123456789abcdef", max_size=64),
    changes=st.lists(_changes, max_size=40).map(tuple),
    live=st.one_of(st.none(), st.lists(_changes, max_size=10).map(tuple)),
    drift=st.lists(_drift, max_size=60).map(tuple),
    error=st.one_of(st.none(), _lines, st.integers(0, 5000).map(lambda n: "boom\n" * n)),
    live_missing=st.one_of(st.none(), _lines, st.integers(0, 5000).map(lambda n: "down " * n)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env=_envs, budget=st.integers(markdown.MIN_BUDGET, 20_000))
def test_env_comment_never_exceeds_the_budget(env: EnvPlan, budget: int) -> None:
    plan = Plan(base=BASE, head=HEAD, envs=(env,))
    _check_parts(markdown.env_comment(plan, env, budget=budget), env.env, budget)


def _unavailable(**fields: object) -> EnvPlan:
    change = _cm_change(1)
    return EnvPlan(
        env="prod",
        changes=(change,),
        live_missing="the puller at https://puller.example did not answer within 30 s",
        **fields,  # type: ignore[arg-type]
    )


LIVE_MISSING = (
    "> [!WARNING]\n> **Live plan unavailable:** the puller at https://puller.example did not "
    "answer within 30 s. Shown: the offline plan (base render → head render); the cluster "
    "was not compared.\n"
)


def test_a_missing_live_plan_is_said_first() -> None:
    env = _unavailable()
    (part,) = markdown.env_comment(Plan(base=BASE, head=HEAD, envs=(env,)), env)
    assert LIVE_MISSING in part
    # Right under the heading, before the counts: no one reads an offline plan as live.
    assert part.index(LIVE_MISSING) < part.index("| this change")
    assert part.index("### gitops-bot plan for `prod`") < part.index(LIVE_MISSING)
    assert "<summary>update ConfigMap shop/cm-001</summary>" in part


def test_a_missing_live_plan_is_said_with_an_error_too() -> None:
    env = _unavailable(error="rendering prod: running kustomize build: exit 1")
    (part,) = markdown.env_comment(Plan(base=BASE, head=HEAD, envs=(env,)), env)
    assert part.index(LIVE_MISSING) < part.index("[!CAUTION]")


def test_a_long_reason_is_one_line_cut_to_fit() -> None:
    env = EnvPlan(env="prod", live_missing="<b>refused</b>\n" + "x" * 50_000)
    parts = markdown.env_comment(Plan(base=BASE, head=HEAD, envs=(env,)), env, budget=4_000)
    _check_parts(parts, "prod", 4_000)
    (part,) = parts
    assert re.search(r"&lt;b&gt;refused&lt;/b&gt; x+ … [\d,]+ characters omitted\. Shown", part)
    assert "<b>" not in part


def test_the_summary_says_which_live_plans_are_unavailable() -> None:
    env = _unavailable()
    out = markdown.summary(Plan(base=BASE, head=HEAD, envs=(env,)))
    assert re.search(r"\| `prod` .*\| unavailable +\| - +\| changes", out)
    assert (
        "**`prod`: live plan unavailable:** the puller at https://puller.example did not "
        "answer within 30 s. Shown: the offline plan.\n"
    ) in out
