"""The values a render's error must not show, read before the render runs.

Owns: finding the files an environment's render reads (render.inputs; the
source folder and its values files when that walk itself fails), reading
them within the repository and within a budget, and asking core.secrets.scan
for the values in them; `scrub` puts the two together for an error text.
Refuses: rendering, and scrubbing anything but errors (the helm values it
returns include ordinary words, which would shred a diff).

Why before: a render that fails gives the bot no Secret objects to learn the
values from, yet its error (a helm `fail` quoting a value, kustomize
quoting a malformed Secret) is exactly the text that leaves the process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from gitops_bot.core.repo import config
from gitops_bot.core.repo.affected import Inputs
from gitops_bot.core.secrets import mask, scan
from gitops_bot.errors import BotError
from gitops_bot.render import inputs as inputs_mod
from gitops_bot.render import kustomize

# Files read as manifests, charts or documentation, not as data.
_NOT_DATA = (".yaml", ".yml", ".json", ".tpl", ".md", ".helmignore", ".lock", ".tgz")
# A budget, so that a huge repository cannot make a failed render slow: past
# it the error is shown scrubbed of what was read, and the rest is a known limit.
_MAX_FILES = 5000
_MAX_FILE_BYTES = 4 << 20
_MAX_TOTAL_BYTES = 64 << 20


def candidates(env: config.Environment, *, root: Path) -> frozenset[str]:
    """Every spelling of every value the render of `env` at `root` could quote
    in an error and that may be secret."""
    root = root.resolve()
    try:
        reads = inputs_mod.inputs(env, root=root)
    except (BotError, OSError, RecursionError):
        reads = Inputs(
            files=frozenset(env.source.values), trees=frozenset({env.source.path.strip("/") or "."})
        )
    found: set[str] = set()
    values = {config.normalize_path(v) for v in env.source.values}
    budget = _MAX_TOTAL_BYTES
    for name, path in _files(reads, root=root):
        text = _read(path, root=root)
        if text is None:
            continue
        budget -= len(text)
        if budget < 0:
            break
        found |= scan.in_manifests(text)
        base = Path(name).name
        if base in kustomize.FILE_NAMES:
            found |= scan.in_kustomization(text, _reader(path.parent, root=root))
        elif name in values or (base.startswith("values") and base.endswith((".yaml", ".yml"))):
            found |= scan.in_values(text)
        elif not base.endswith(_NOT_DATA) and "templates" not in Path(name).parts:
            # A data file a template or generator may read (`.Files.Get`,
            # env and key files): any line of it may be a value.
            found |= scan.in_env_file(text)
    return mask.spellings(found)


def shown(env: config.Environment) -> tuple[str, ...]:
    """What `.gitops.yaml` shows of `env` anyway: its name, namespace, release,
    and the folders and files it renders from. A values scalar that is part
    of one of them (`name: podinfo` in podinfo's chart) hides nothing, and
    scrubbing it would make every error about the chart unreadable."""
    source = env.source
    return (
        env.name,
        env.namespace or "",
        source.release or "",
        source.path,
        *source.values,
    )


def scrub(text: str, env: config.Environment, *, root: Path) -> str:
    """`text` (an error from rendering `env` at `root`) without any candidate value."""
    try:
        return mask.scrub(text, mask.without_names(candidates(env, root=root), shown(env)))
    except (BotError, OSError, RecursionError, ValueError) as err:
        # Unable to learn what to hide: show nothing of the tool's words.
        kind = type(err).__name__
        return f"the error text is withheld: its secret values could not be read ({kind})"


def _reader(folder: Path, *, root: Path) -> scan.ReadFile:
    def read(ref: str) -> str | None:
        return _read(folder / ref, root=root)

    return read


def _files(reads: Inputs, *, root: Path) -> Iterator[tuple[str, Path]]:
    count = 0
    seen: set[Path] = set()

    def each(name: str) -> Iterator[tuple[str, Path]]:
        nonlocal count
        path = _resolved(root / name)
        if path is None or path in seen or not path.is_relative_to(root) or not path.is_file():
            return
        seen.add(path)
        count += 1
        if count <= _MAX_FILES:
            yield name, path

    for name in sorted(reads.files):
        yield from each(name)
    for folder in sorted(reads.folders):
        for listed in _listing(root / folder):
            yield from each(f"{folder}/{listed.name}")  # each() skips what is no file
    for tree in sorted(reads.trees):
        start = _resolved(root / tree)
        if start is None or not start.is_relative_to(root):
            continue
        if start.is_file():
            yield from each(tree)
            continue
        for current, folders, names in os.walk(start):
            folders.sort()
            for entry in sorted(names):
                if not entry.endswith((".tgz", ".md")):
                    relative = Path(current, entry).relative_to(root).as_posix()
                    yield from each(relative)
            if count > _MAX_FILES:
                return


def _resolved(path: Path) -> Path | None:
    """`path` with its links followed; None for a link loop (RuntimeError in
    Python 3.11, OSError later) or a path that cannot be read: the render
    refuses those itself, with words worth keeping."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def _listing(folder: Path) -> list[os.DirEntry[str]]:
    try:
        return sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []


def _read(path: Path, *, root: Path) -> str | None:
    """The text of `path` if it is a file inside `root` within the size budget."""
    try:
        real = path.resolve()
        if not real.is_relative_to(root) or not real.is_file():
            return None
        if real.stat().st_size > _MAX_FILE_BYTES:
            return None
        data = real.read_bytes()
        return None if b"\0" in data else data.decode("utf-8", errors="replace")
    except (OSError, RuntimeError):
        return None
