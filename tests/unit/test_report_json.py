"""report.json: the stable `gitops-bot/plan/v1` document.

Golden file: tests/golden/plan.json; rewrite it with UPDATE_GOLDEN=1 (see
test_report_markdown.py). A change to the golden file that renames or
removes a field breaks v1 and needs a new schema name.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.report import json as report_json
from gitops_bot.core.report.plan import EnvPlan, Plan
from tests.unit import plan_samples as samples


def test_golden() -> None:
    samples.golden("plan.json", report_json.render(samples.sample_plan()))


def test_stable_bytes_sorted_keys_two_space_indent() -> None:
    out = report_json.render(samples.sample_plan())
    assert out == report_json.render(samples.sample_plan())
    assert out.endswith("}\n")
    assert json.dumps(json.loads(out), sort_keys=True, indent=2, ensure_ascii=False) + "\n" == out


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(report_json.render(samples.sample_plan()))
    return doc


def test_top_level_fields() -> None:
    doc = _doc()
    assert set(doc) == {
        "schema",
        "base",
        "head",
        "has_changes",
        "has_errors",
        "environments",
        "skipped",
        "sandbox",
    }
    assert doc["schema"] == "gitops-bot/plan/v1"
    assert (doc["base"], doc["head"]) == (samples.BASE, samples.HEAD)
    assert doc["has_changes"] is True
    assert doc["has_errors"] is True
    assert [e["name"] for e in doc["environments"]] == ["prod", "staging", "qa"]
    assert doc["skipped"] == [{"name": "dev", "reason": "no file it reads changed"}]


def test_environment_fields() -> None:
    prod, staging, qa = _doc()["environments"]
    assert set(prod) == {
        "name",
        "render_hash",
        "error",
        "has_changes",
        "counts",
        "changes",
        "live",
        "drift",
        "live_missing",
        "sources",
    }
    assert prod["counts"] == {"create": 0, "update": 3, "delete": 0, "unchanged": 1}
    assert prod["error"] is None
    assert staging["error"].startswith("rendering staging: running helm template:")
    assert qa["live"] is None
    assert qa["has_changes"] is False
    assert prod["drift"][0] == {
        "key": {"group": "apps", "kind": "Deployment", "namespace": "shop", "name": "web"},
        "path": ".spec.replicas",
        "manager": "kubectl-edit",
        "diff": prod["drift"][0]["diff"],
    }
    assert "-  replicas: 5" in prod["drift"][0]["diff"]


def test_change_fields() -> None:
    prod = _doc()["environments"][0]
    by_name = {c["key"]["name"]: c for c in prod["changes"]}
    db = by_name["db"]
    assert set(db) == {"key", "action", "diff", "secret_keys", "origin", "note", "renamed_from"}
    assert db["renamed_from"] is None
    renamed = by_name["web-config-8g7h6d5c2b"]
    assert renamed["action"] == "update"
    assert renamed["renamed_from"] == {
        "group": "",
        "kind": "ConfigMap",
        "namespace": "shop",
        "name": "web-config-5f8k2m9t4h",
    }
    assert "web-config-5f8k2m9t4h" not in by_name
    assert db["action"] == "update"
    assert db["secret_keys"] == {"added": ["token"], "changed": ["password"], "removed": []}
    assert db["origin"] == {"file": "deploy/prod/secret.yaml", "document": 0, "line": 1}
    assert by_name["web"]["secret_keys"] is None
    assert by_name["flags"]["action"] == "unchanged"
    assert by_name["flags"]["diff"] == ""
    assert {c["key"]["name"] for c in prod["live"]} == set(by_name)


def test_an_offline_plan_without_environments() -> None:
    doc = json.loads(report_json.render(Plan(base="a", head="b", envs=(EnvPlan(env="x"),))))
    assert doc["has_changes"] is False
    assert doc["environments"][0]["live"] is None
    assert doc["environments"][0]["changes"] == []


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(_JSONISH)
def test_the_plan_text_is_what_json_dumps_writes(doc: Any) -> None:
    # orjson writes it; what a plan holds (no floats) must read exactly as
    # json.dumps(indent=2, sort_keys=True) wrote it, integers beyond 64 bits too.
    expected = json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert report_json.text(doc) == expected
