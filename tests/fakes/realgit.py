"""Writing to a real git repository that a forge emulator mirrors: trees, commits, refs.

Owns: running git on such a repository (with a fixed identity and a
timeout), which commits and trees it has, a commit's files as a flat tree
(path -> blob SHA and text, what the emulators keep), writing a tree from a
start tree and per-path changes in a temporary index (`git read-tree`;
`git hash-object -w` for each written text; one `git update-index
--index-info` that sets each written path, and removes each deleted one
with mode 0; `git write-tree`), writing a commit of a tree
(`git commit-tree`, dated by the emulator's clock so SHAs repeat from run
to run), and setting and deleting refs (`git update-ref`). Refuses:
merging (merges.py), working trees, file modes other than 100644 for the
files it writes, and deciding when to write (the emulators do: only over
objects the repository has).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

_NULL = "0" * 40
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Forge Emulator",
    "GIT_AUTHOR_EMAIL": "noreply@example.com",
    "GIT_COMMITTER_NAME": "Forge Emulator",
    "GIT_COMMITTER_EMAIL": "noreply@example.com",
}


def _git(
    git_dir: Path,
    *args: str,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), *args],
        input=stdin,
        capture_output=True,
        check=check,
        env={**os.environ, **_IDENTITY, **(env or {})},
        timeout=60,
    )


def _out(
    git_dir: Path, *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None
) -> str:
    return _git(git_dir, *args, stdin=stdin, env=env).stdout.decode().strip()


def known(git_dir: Path, shas: Iterable[str], *, kind: str = "commit") -> set[str]:
    """Which of these SHAs the repository has as objects of `kind` (commit or tree)."""
    wanted = sorted(set(shas))
    if not wanted:
        return set()
    query = "".join(f"{sha}^{{{kind}}}\n" for sha in wanted).encode()
    answers = _git(git_dir, "cat-file", "--batch-check=%(objectname)", stdin=query)
    lines = answers.stdout.decode().splitlines()
    return {sha for sha, line in zip(wanted, lines, strict=True) if not line.endswith("missing")}


def tree_of(git_dir: Path, commit: str) -> str:
    return _out(git_dir, "rev-parse", f"{commit}^{{tree}}")


def files(git_dir: Path, treeish: str) -> dict[str, tuple[str, str]]:
    """Every file of a commit or tree: path -> (blob SHA, text); submodules left out."""
    listing = _git(git_dir, "ls-tree", "-r", "-z", treeish).stdout.decode()
    blobs: dict[str, str] = {}
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        _mode, kind, sha = meta.split()
        if kind == "blob":
            blobs[path] = sha
    query = "".join(f"{sha}\n" for sha in blobs.values()).encode()
    raw = _git(git_dir, "cat-file", "--batch", stdin=query).stdout if blobs else b""
    out: dict[str, tuple[str, str]] = {}
    at = 0
    for path, sha in blobs.items():  # each answer: "<sha> blob <size>\n<data>\n"
        header_end = raw.index(b"\n", at)
        size = int(raw[at:header_end].split()[2])
        data = raw[header_end + 1 : header_end + 1 + size]
        out[path] = (sha, data.decode(errors="replace"))
        at = header_end + 1 + size + 1
    return out


def write_tree(git_dir: Path, *, start: str | None, changes: Mapping[str, str | None]) -> str:
    """A tree: `start`'s (a tree or commit; None: empty) with each path set to its
    text, or, for None, removed."""
    entries = []
    for path, text in sorted(changes.items()):
        if text is None:  # mode 0: remove the path (update-index --force-remove needs a work tree)
            entries.append(f"0 {_NULL}\t{path}")
        else:
            blob = _out(git_dir, "hash-object", "-w", "--stdin", stdin=text.encode())
            entries.append(f"100644 {blob}\t{path}")
    with tempfile.TemporaryDirectory(prefix="emulator-index-") as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(git_dir, "read-tree", *([start] if start else ["--empty"]), env=index)
        lines = "".join(f"{entry}\0" for entry in entries).encode()
        _git(git_dir, "update-index", "-z", "--index-info", stdin=lines, env=index)
        return _out(git_dir, "write-tree", env=index)


def commit(
    git_dir: Path,
    *,
    tree: str,
    parents: Sequence[str],
    message: str,
    date: str,
    author: tuple[str, str] | None = None,
) -> str:
    """A commit of `tree` on `parents`, authored and committed at `date` (ISO 8601)."""
    env = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    if author is not None:
        env |= {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1]}
    flags = [flag for parent in parents for flag in ("-p", parent)]
    return _out(git_dir, "commit-tree", tree, *flags, stdin=message.encode(), env=env)


def set_ref(git_dir: Path, ref: str, sha: str) -> None:
    """Point `ref` (a full name: refs/heads/main) at `sha`, as the emulator just did."""
    _git(git_dir, "update-ref", ref, sha)


def delete_ref(git_dir: Path, ref: str) -> None:
    """Delete `ref` if the repository has it (a lock ref to an emulated tag it has not)."""
    if _git(git_dir, "show-ref", "--verify", "--quiet", ref, check=False).returncode == 0:
        _git(git_dir, "update-ref", "-d", ref)
