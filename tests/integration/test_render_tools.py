"""`gitops-bot plan` needs only the renderers the repository uses (issue 15, item 19).

Run as a user runs it: the CLI in a subprocess, with a PATH that holds git and
one of helm and kustomize, never both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitops_bot.testing.binaries import Binaries

PLAN = [sys.executable, "-m", "gitops_bot", "plan", "--base", "main", "--head", "change"]
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: '{value}'\n"
CHART = "apiVersion: v2\nname: web\nversion: 1.0.0\n"
KUSTOMIZE_ENV = "  app:\n    kustomize: app\n"
HELM_ENV = "  web:\n    helm:\n      chart: chart\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
    )


def _repository(root: Path, envs: str) -> Path:
    """A repository whose `change` branch changes every environment in `envs`."""
    repo = root / "repo"
    files = {
        ".gitops.yaml": "version: 1\nenvironments:\n" + envs,
        "app/kustomization.yaml": "resources: [cm.yaml]\n",
        "app/cm.yaml": CM.format(name="app", value="1"),
        "chart/Chart.yaml": CHART,
        "chart/templates/cm.yaml": CM.format(name="web", value="{{ .Values.v }}"),
        "chart/values.yaml": "v: '1'\n",
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "checkout", "-q", "-b", "change")
    (repo / "app/cm.yaml").write_text(CM.format(name="app", value="2"))
    (repo / "chart/values.yaml").write_text("v: '2'\n")
    _git(repo, "commit", "-qam", "change both")
    return repo


def _plan(repo: Path, tmp_path: Path, binaries: Binaries, only: str) -> tuple[int, Any, str]:
    """`gitops-bot plan --format json` with only `only` of the two renderers on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / only).symlink_to(binaries.path(only))
    env = {
        k: v for k, v in os.environ.items() if k not in ("GITOPS_BOT_HELM", "GITOPS_BOT_KUSTOMIZE")
    }
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    done = subprocess.run(
        [*PLAN, "--repo", str(repo), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    document = json.loads(done.stdout) if done.stdout.startswith("{") else None
    return done.returncode, document, done.stderr


@pytest.mark.parametrize(("envs", "only"), [(KUSTOMIZE_ENV, "kustomize"), (HELM_ENV, "helm")])
def test_a_repository_needs_only_the_renderer_it_uses(
    binaries: Binaries, tmp_path: Path, envs: str, only: str
) -> None:
    code, document, stderr = _plan(_repository(tmp_path, envs), tmp_path, binaries, only)
    assert code == 1, stderr  # 1: changes, planned without the other tool
    [env] = document["environments"]
    assert env["error"] is None
    assert [c["action"] for c in env["changes"]] == ["update"]


def test_a_missing_renderer_fails_only_the_environments_that_use_it(
    binaries: Binaries, tmp_path: Path
) -> None:
    repo = _repository(tmp_path, KUSTOMIZE_ENV + HELM_ENV)
    code, document, stderr = _plan(repo, tmp_path, binaries, "kustomize")
    assert code == 2, stderr
    envs = {e["name"]: e for e in document["environments"]}
    assert envs["app"]["error"] is None
    assert [c["action"] for c in envs["app"]["changes"]] == ["update"]
    assert envs["web"]["error"] == (
        "rendering web: looking for helm: helm not found on PATH (set --helm or GITOPS_BOT_HELM)"
    )
