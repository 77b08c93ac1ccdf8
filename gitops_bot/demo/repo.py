"""The demo's sample repository: examples/shop as a real git repository.

Owns: copying examples/shop into a folder, committing it on `main`, making
the demo's change on a branch, and the "merge" (a fast-forward of `main`).
Commit dates and authors are fixed, so every run gives the same SHAs.
Refuses: touching any repository but the one it made.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import gitops_bot
from gitops_bot.errors import BotError

BRANCH = "bump-shop"
# (file, old text, new text): the change a developer pushes on the branch.
CHANGE = (
    ("deploy/base/deployment.yaml", "shop:1.4.0", "shop:1.5.0"),
    ("deploy/overlays/prod/replicas.yaml", "replicas: 3", "replicas: 4"),
)
_FIXED = "2026-01-01T00:00:00Z"
_ENV = {
    "GIT_AUTHOR_NAME": "demo",
    "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_AUTHOR_DATE": _FIXED,
    "GIT_COMMITTER_NAME": "demo",
    "GIT_COMMITTER_EMAIL": "demo@example.com",
    "GIT_COMMITTER_DATE": _FIXED,
    "GIT_CONFIG_GLOBAL": os.devnull,  # the user's hooks and signing stay out of it
    "GIT_CONFIG_NOSYSTEM": "1",
}
_TIMEOUT_S = 30.0


def sample_source() -> Path:
    """examples/shop in this checkout (the demo runs from a source checkout)."""
    shop = Path(gitops_bot.__file__).resolve().parents[1] / "examples" / "shop"
    if not (shop / ".gitops.yaml").is_file():
        raise BotError(f"starting the demo: the sample repository {shop} is missing")
    return shop


def git(repo: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args],  # noqa: S607 - git from PATH, like the puller
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, **_ENV},
            timeout=_TIMEOUT_S,
        ).stdout.strip()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        detail = getattr(err, "stderr", "") or str(err)
        raise BotError(f"preparing the demo repository {repo}: git {args[0]}: {detail}") from err


def create(folder: Path) -> Path:
    """examples/shop committed on `main`, with BRANCH holding CHANGE; `main` checked out."""
    repo = folder / "shop"
    shutil.copytree(sample_source(), repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "The shop, as it runs today")
    git(repo, "checkout", "-q", "-b", BRANCH)
    for path, old, new in CHANGE:
        file = repo / path
        text = file.read_text()
        if old not in text:
            raise BotError(f"preparing the demo change: {old!r} is not in {path}")
        file.write_text(text.replace(old, new))
    git(repo, "commit", "-qam", "Ship shop 1.5.0; one more replica in prod")
    git(repo, "checkout", "-q", "main")
    return repo


def merge(repo: Path) -> str:
    """Fast-forward `main` to BRANCH, as a merge button would; the new tip."""
    git(repo, "merge", "-q", "--ff-only", BRANCH)
    return git(repo, "rev-parse", "HEAD")
