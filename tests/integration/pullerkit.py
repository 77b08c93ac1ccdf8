"""What the puller's tests share: a real remote git repository and a wired puller."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gitops_bot.cluster import recorder
from gitops_bot.cluster.kube import Kube
from gitops_bot.puller import report
from gitops_bot.puller.leader import Elector
from gitops_bot.puller.leases import EnvLeases
from gitops_bot.puller.loop import Puller
from gitops_bot.puller.metrics import Metrics
from gitops_bot.puller.settings import ApplySettings, Settings
from gitops_bot.puller.source import Source
from gitops_bot.render.sandbox import Tools
from gitops_bot.testing.binaries import Binaries

_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **_ENV},
    ).stdout.strip()


class Remote:
    """A bare repository (the remote, file://) and a clone to commit and push from."""

    def __init__(self, root: Path, *, branch: str = "main") -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        self.branch = branch
        self.bare.mkdir(parents=True)
        git(self.bare, "init", "-q", "--bare", "-b", branch)
        self.work.mkdir()
        git(self.work, "init", "-q", "-b", branch)
        git(self.work, "remote", "add", "origin", str(self.bare))
        self.url = self.bare.as_uri()

    def commit(self, files: dict[str, str | None], message: str = "change") -> str:
        for path, text in files.items():
            target = self.work / path
            if text is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.work, "rev-parse", "HEAD")

    def push(self, *, force: bool = False) -> None:
        git(self.work, "push", "-q", *(["--force"] if force else []), "origin", self.branch)

    def reset(self, commit: str) -> None:
        git(self.work, "reset", "-q", "--hard", commit)


def config(namespace: str, envs: tuple[str, ...] = ("dev",)) -> str:
    return yaml.safe_dump(
        {
            "version": 1,
            "environments": {e: {"plain": f"envs/{e}", "namespace": namespace} for e in envs},
        }
    )


def configmaps(env: str, count: int, *, value: str = "1", prefix: str = "cm") -> dict[str, str]:
    """`count` ConfigMaps in one file of the environment."""
    docs = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{prefix}-{i}"},
            "data": {"v": value},
        }
        for i in range(count)
    ]
    return {f"envs/{env}/{prefix}.yaml": yaml.safe_dump_all(docs)}


def tools(binaries: Binaries) -> Tools:
    return Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))


def make(
    kube: Kube,
    remote: Remote,
    *,
    namespace: str,
    cache: Path,
    binaries: Binaries,
    envs: tuple[str, ...] = ("dev",),
    elector: Elector | EnvLeases | None = None,
    identity: str = "test",
    allowed_signers: Path | None = None,
    **overrides: Any,
) -> Puller:
    apply = overrides.pop("apply", ApplySettings(wait=False))
    settings = Settings(
        url=remote.url,
        branch=remote.branch,
        envs=envs,
        namespace=namespace,
        interval_s=overrides.pop("interval_s", 0.5),
        identity=identity,
        apply=apply,
        **overrides,
    )
    source = Source(remote.url, remote.branch, cache=cache, allowed_signers=allowed_signers)
    reporter = report.Reporter(metrics=Metrics(), events=recorder.Recorder(kube, instance=identity))
    return Puller(
        settings,
        kube=kube,
        source=source,
        tools=tools(binaries),
        reporter=reporter,
        elector=elector,
    )


def eventually(check: Callable[[], Any], *, timeout: float = 20.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        time.sleep(every)


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
