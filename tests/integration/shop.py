"""examples/shop as a real git repository, for the end-to-end tests.

Commit dates are fixed, so the same steps give the same SHAs on every run
(golden files may show them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gitops_bot.testing.binaries import Binaries

_FIXED = "2026-01-01T00:00:00Z"
_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_AUTHOR_DATE": _FIXED,
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_COMMITTER_DATE": _FIXED,
}
SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
OLD_PASSWORD = "sample-password-not-real"
NEW_PASSWORD = "rotated-canary-Zq81x"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **_ENV},
    ).stdout


def edit(repo: Path, path: str, old: str, new: str) -> None:
    file = repo / path
    text = file.read_text()
    assert old in text, f"{old!r} not in {path}"
    file.write_text(text.replace(old, new))


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """examples/shop on `main`, and a branch `change` that bumps the image,
    rotates the prod password and scales the prod cache."""
    repo = tmp_path / "shop"
    shutil.copytree(SHOP, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    git(repo, "checkout", "-q", "-b", "change")
    edit(repo, "deploy/base/deployment.yaml", "shop:1.4.0", "shop:1.5.0")
    edit(repo, "deploy/overlays/prod/db-secret.yaml", OLD_PASSWORD, NEW_PASSWORD)
    edit(repo, "envs/prod/cache-values.yaml", "replicas: 2", "replicas: 3")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "change")
    git(repo, "checkout", "-q", "main")
    return repo


@pytest.fixture
def tools_env(binaries: Binaries, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_BOT_HELM", binaries.path("helm"))
    monkeypatch.setenv("GITOPS_BOT_KUSTOMIZE", binaries.path("kustomize"))
