"""Merging for both forge emulators: with git itself, or three-way on flat trees.

Owns: making a merge commit in a real bare repository that an emulated
repository mirrors (`git merge-tree --write-tree`, `git commit-tree` with
the base first and the head second, and a compare-and-swap
`git update-ref`, so the branch moves only if it still is where the
emulator thinks), and the three-way merge of two flat trees (path -> blob
or text) from their common ancestor. Refuses: to resolve a conflict
(None: the emulator answers as its forge does).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Forge Emulator",
    "GIT_AUTHOR_EMAIL": "noreply@example.com",
    "GIT_COMMITTER_NAME": "Forge Emulator",
    "GIT_COMMITTER_EMAIL": "noreply@example.com",
}


def _git(git_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), *args],
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, **_GIT_ENV},
        timeout=60,
    )


def has(git_dir: Path, sha: str) -> bool:
    """Whether the repository has this commit."""
    return _git(git_dir, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0


def git_merge(git_dir: Path, branch: str, *, base: str, head: str, message: str) -> str | None:
    """Merge `head` into `branch` (which must be at `base`); the merge commit's SHA,
    or None when the changes conflict."""
    tree = _git(git_dir, "merge-tree", "--write-tree", base, head, check=False)
    if tree.returncode != 0:
        return None
    commit = _git(
        git_dir, "commit-tree", tree.stdout.split()[0], "-p", base, "-p", head, "-m", message
    )
    sha = commit.stdout.strip()
    _git(git_dir, "update-ref", f"refs/heads/{branch}", sha, base)
    return sha


def merge_trees(
    start: Mapping[str, str], ours: Mapping[str, str], theirs: Mapping[str, str]
) -> dict[str, str] | None:
    """Their changes since `start` applied to ours; None when both changed a path differently."""
    merged = dict(ours)
    for path in set(ours) | set(theirs) | set(start):
        was, mine, their = start.get(path), ours.get(path), theirs.get(path)
        if their in (was, mine):
            continue
        if mine != was:
            return None
        if their is None:
            merged.pop(path, None)
        else:
            merged[path] = their
    return merged
