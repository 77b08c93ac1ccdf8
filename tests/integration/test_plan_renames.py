"""A kustomize generator change, rendered by the real kustomize and planned by
`gitops-bot plan`: each generated ConfigMap and Secret whose hash changed is
one rename with its data change, the Deployment that uses them changes only
by following them, no delete and no create are shown, Secret values never."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitops_bot.cli import cli
from tests.integration.shop import git

OLD_TOKEN, NEW_TOKEN = "token-canary-Old-7Qz", "token-canary-New-3Rx"

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: app
resources: [deployment.yaml]
configMapGenerator:
  - name: app-config
    literals: [LOG_LEVEL={level}, REGION=eu]
secretGenerator:
  - name: app-secret
    literals: [token={token}, user=app]
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: web:1.0
          envFrom:
            - configMapRef: {name: app-config}
            - secretRef: {name: app-secret}
      volumes:
        - name: config
          configMap: {name: app-config}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / ".gitops.yaml").write_text("version: 1\nenvironments:\n  prod:\n    kustomize: app\n")
    (root / "app/deployment.yaml").write_text(DEPLOYMENT)
    git(root, "init", "-q", "-b", "main")
    for branch, level, token in (("main", "info", OLD_TOKEN), ("change", "debug", NEW_TOKEN)):
        if branch == "change":
            git(root, "checkout", "-q", "-b", "change")
        (root / "app/kustomization.yaml").write_text(KUSTOMIZATION.format(level=level, token=token))
        git(root, "add", "-A")
        git(root, "commit", "-qm", branch)
    git(root, "checkout", "-q", "main")
    return root


def plan(repo: Path, fmt: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["plan", "--repo", str(repo), "--base", "main", "--head", "change", "--format", fmt],
    )


@pytest.mark.usefixtures("tools_env")
def test_a_generator_change_is_one_rename_per_generated_object(repo: Path) -> None:
    result = plan(repo, "json")

    assert result.exit_code == 1, result.output
    (env,) = json.loads(result.output)["environments"]
    changes = {(c["key"]["kind"], c["key"]["name"]): c for c in env["changes"]}
    assert env["counts"] == {"create": 0, "update": 3, "delete": 0, "unchanged": 0}
    config = next(c for (kind, _), c in changes.items() if kind == "ConfigMap")
    secret = next(c for (kind, _), c in changes.items() if kind == "Secret")
    for change, prefix in ((config, "app-config-"), (secret, "app-secret-")):
        old, new = change["renamed_from"]["name"], change["key"]["name"]
        assert old.startswith(prefix)
        assert new.startswith(prefix)
        assert old != new
        assert change["renamed_from"]["namespace"] == "app"
        assert f"the old name {old} leaves the render, and the puller prunes it" in change["note"]
    assert "-  LOG_LEVEL: info\n+  LOG_LEVEL: debug\n" in config["diff"]
    assert secret["secret_keys"] == {"added": [], "changed": ["token"], "removed": []}
    web = changes[("Deployment", "web")]
    assert web["renamed_from"] is None
    assert web["note"] == (
        "changes only by following the rename of "
        f"ConfigMap {config['renamed_from']['name']} to {config['key']['name']}, "
        f"Secret {secret['renamed_from']['name']} to {secret['key']['name']}"
    )


@pytest.mark.usefixtures("tools_env")
@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_every_format_shows_the_rename_and_no_secret_value(repo: Path, fmt: str) -> None:
    result = plan(repo, fmt)

    assert result.exit_code == 1, result.output
    assert "(renamed from app-config-" in result.output or fmt == "json"
    assert "(renamed from app-secret-" in result.output or fmt == "json"
    assert "delete Secret" not in result.output
    assert "delete ConfigMap" not in result.output
    assert "changes only by following the rename" in result.output
    for value in (OLD_TOKEN, NEW_TOKEN):
        assert value not in result.output
