"""The plan every report test renders, and the golden-file check.

Shared by test_report_markdown.py, test_report_text.py and
test_report_json.py. Golden files live in tests/golden/; after an intended
change of the output, rewrite them with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_report_*.py

and review the difference in git before committing it.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from gitops_bot.core.objects import diff
from gitops_bot.core.objects.model import Key, Manifest, Origin
from gitops_bot.core.report import json as report_json
from gitops_bot.core.report import markdown, text
from gitops_bot.core.report.plan import Drift, EnvPlan, Plan, Skipped
from gitops_bot.core.secrets import mask
from tests.objects import configmap, deployment, secret

GOLDEN = Path(__file__).parent.parent / "golden"
MASK_KEY = b"golden-mask-key"
BASE = "0123456789abcdef0123456789abcdef01234567"
HEAD = "fedcba9876543210fedcba9876543210fedcba98"
CANARY = "canary-S3cr3t-value-9f2"
CANARY_B64 = base64.b64encode(CANARY.encode()).decode()


def golden(name: str, actual: str) -> None:
    """Compare with tests/golden/<name>; rewrite it instead under UPDATE_GOLDEN=1."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs; see the module docstring"


def manifests(*pairs: tuple[dict[str, Any], str]) -> dict[Key, Manifest]:
    return {Key.of(o): Manifest(Key.of(o), o, Origin(f, 0, 1)) for o, f in pairs}


def prod_plan() -> EnvPlan:
    """A realistic change: an image bump, a generated ConfigMap renamed, a
    Secret value rotated (the canary), with live drift by kubectl edit."""
    before = manifests(
        (deployment(image="shop/web:1.2.3"), "deploy/prod/web.yaml"),
        (configmap("web-config-5f8k2m9t4h", LOG_LEVEL="info"), "deploy/prod/kustomization.yaml"),
        (secret(password="old-password", user="shop"), "deploy/prod/secret.yaml"),
        (configmap("flags", beta="off"), "deploy/prod/flags.yaml"),
    )
    after = manifests(
        (deployment(image="shop/web:1.2.4"), "deploy/prod/web.yaml"),
        (configmap("web-config-8g7h6d5c2b", LOG_LEVEL="debug"), "deploy/prod/kustomization.yaml"),
        (secret(password=CANARY, user="shop", token=CANARY), "deploy/prod/secret.yaml"),
        (configmap("flags", beta="off"), "deploy/prod/flags.yaml"),
    )
    changes = diff.compute(before, after, mask_key=MASK_KEY)
    web_key = Key("apps", "Deployment", "shop", "web")
    flags_key = Key("", "ConfigMap", "shop", "flags")
    live = (
        diff.compare(
            web_key,
            deployment(image="shop/web:1.2.3", replicas=5),
            after[web_key].obj,
            mask_key=MASK_KEY,
            origin=after[web_key].origin,
        ),
        diff.compare(
            flags_key,
            configmap("flags", beta="on"),
            after[flags_key].obj,
            mask_key=MASK_KEY,
            origin=after[flags_key].origin,
        ),
        *(c for c in changes if c.key not in (web_key, flags_key)),
    )
    drift = (
        Drift(
            key=web_key,
            path=("spec", "replicas"),
            manager="kubectl-edit",
            diff=diff.unified({"spec": {"replicas": 5}}, {"spec": {"replicas": 2}}, label="web"),
        ),
        Drift(
            key=flags_key,
            path=("data", "beta"),
            manager="kubectl-edit",
            diff=diff.unified({"data": {"beta": "on"}}, {"data": {"beta": "off"}}, label="flags"),
        ),
    )
    return EnvPlan(
        env="prod",
        render_hash="3b" * 32,
        changes=changes,
        live=tuple(sorted(live, key=lambda c: c.key)),
        drift=drift,
    )


def sample_plan() -> Plan:
    secrets = mask.collect_secret_values([secret(password=CANARY)])
    error = mask.scrub(
        f'rendering staging: running helm template: Secret "db": value "{CANARY}" '
        f"(base64 {CANARY_B64}) is not valid",
        secrets,
    )
    qa = EnvPlan(
        env="qa",
        render_hash="c4" * 32,
        changes=diff.compute(
            manifests((configmap("flags", beta="off"), "deploy/qa/flags.yaml")),
            manifests((configmap("flags", beta="off"), "deploy/qa/flags.yaml")),
            mask_key=MASK_KEY,
        ),
    )
    return Plan(
        base=BASE,
        head=HEAD,
        envs=(prod_plan(), EnvPlan(env="staging", error=error), qa),
        skipped=(Skipped(env="dev", reason="no file it reads changed"),),
    )


def every_output(plan: Plan) -> list[str]:
    comments = [part for env in plan.envs for part in markdown.env_comment(plan, env)]
    return [
        *comments,
        markdown.summary(plan),
        text.render(plan, color=False),
        text.render(plan, color=True),
        report_json.render(plan),
    ]
