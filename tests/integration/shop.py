"""examples/shop as a real git repository, for the end-to-end tests; and its
main branch applied to a control plane of the test's own (live_shop).

Commit dates are fixed, so the same steps give the same SHAs on every run
(golden files may show them).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import health
from gitops_bot.core.objects.model import Manifest
from gitops_bot.core.repo import config
from gitops_bot.errors import ClusterError
from gitops_bot.render import render
from gitops_bot.testing.binaries import Binaries
from gitops_bot.testing.cluster import LocalControlPlane
from tests.waiting import until

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


def _apply_env(kube: Kube, binaries: Binaries, repo: Path, name: str) -> None:
    cfg = config.parse((repo / ".gitops.yaml").read_text())
    rendered = render.render(
        cfg.env(name),
        root=repo,
        tools=render.Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize")),
    )
    first = [
        m for m in rendered.manifests if m.key.kind in ("CustomResourceDefinition", "Namespace")
    ]
    for m in first:
        kube.apply(m.obj)
    for m in first:
        until(functools.partial(_healthy, kube, m), what=f"{m.key} to be ready")
    for m in rendered.manifests:
        if m not in first:
            # Discovery can lag a moment behind a CRD becoming Established.
            until(functools.partial(_applied, kube, m.obj), what=f"{m.key} to be servable")


def _healthy(kube: Kube, m: Manifest) -> bool:
    live = kube.get(m.api_version, m.key.kind, m.key.name) or {}
    return health.assess(live).status is health.Status.HEALTHY


def _applied(kube: Kube, obj: Mapping[str, Any]) -> bool:
    try:
        kube.apply(obj)
    except ClusterError as err:
        if "does not serve" in str(err):
            return False
        raise
    return True


@pytest.fixture
def live_shop(
    shop: Path,
    own_control_plane: LocalControlPlane,
    binaries: Binaries,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Path, Kube]]:
    """The shop's main branch applied to a control plane of this test's own."""
    monkeypatch.setenv("KUBECONFIG", str(own_control_plane.kubeconfig))
    kube = Kube.from_kubeconfig(str(own_control_plane.kubeconfig))
    _apply_env(kube, binaries, shop, "platform")
    for env in ("dev", "prod", "cache-prod"):
        _apply_env(kube, binaries, shop, env)
    yield shop, kube
    kube.close()


def tenants(tmp_path: Path) -> Path:
    """A repository of four tenants over one base; `change` bumps the base's image,
    which tenant d pins to its own tag: a, b and c change alike, d not at all."""
    repo = tmp_path / "tenants"
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n"
        "    metadata: {labels: {app: web}}\n"
        "    spec:\n      containers:\n      - name: web\n        image: web:{tag}\n"
    )
    files = {
        "base/kustomization.yaml": "resources: [deployment.yaml]\n",
        "base/deployment.yaml": deployment.replace("{tag}", "1.0"),
        ".gitops.yaml": "version: 1\nenvironments:\n"
        + "".join(f"  {t}:\n    kustomize: envs/{t}\n" for t in "abcd"),
    }
    for t in "abcd":
        pin = "images: [{name: web, newTag: '0.9'}]\n" if t == "d" else ""
        files[f"envs/{t}/kustomization.yaml"] = (
            f"namePrefix: {t}-\nnamespace: tenant-{t}\nresources: [../../base]\n{pin}"
        )
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    who = ("-c", "user.name=t", "-c", "user.email=t@example.com")
    git(repo, "init", "-q", "-b", "main")
    git(repo, *who, "add", "-A")
    git(repo, *who, "commit", "-qm", "base")
    git(repo, "checkout", "-q", "-b", "change")
    edit(repo, "base/deployment.yaml", "web:1.0", "web:1.1")
    git(repo, *who, "commit", "-qam", "web 1.1")
    git(repo, "checkout", "-q", "main")
    return repo
