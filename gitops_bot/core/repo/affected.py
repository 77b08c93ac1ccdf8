"""Which environments a change affects.

Owns: `Inputs` (the files one environment's render reads, as exact files,
folders and whole trees) and `decide`, which matches the changed files of a
change against them and says, per environment, whether it is affected and
why. Refuses: finding the inputs (render.inputs reads the checkout) and
listing changed files (the caller asks git; a rename is both of its paths).

Paths are repository-relative POSIX paths as git prints them; "." is the
repository root.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

_NAMED = 3  # how many files a reason names before "and N more"


def _parents(path: str) -> Iterator[str]:
    """The folders that contain `path`, innermost first, ending with "."."""
    while "/" in path:
        path = path.rpartition("/")[0]
        yield path
    yield "."


@dataclass(frozen=True)
class Inputs:
    """What one environment's render reads."""

    files: frozenset[str] = frozenset()  # exact files
    folders: frozenset[str] = frozenset()  # files directly inside these folders
    trees: frozenset[str] = frozenset()  # anything below these folders (and the path itself)

    def union(self, other: Inputs) -> Inputs:
        return Inputs(
            files=self.files | other.files,
            folders=self.folders | other.folders,
            trees=self.trees | other.trees,
        )

    def matches(self, path: str) -> bool:
        """Whether a change to `path` can change the render."""
        if path in self.files or path in self.trees:
            return True
        parents = tuple(_parents(path))
        return parents[0] in self.folders or any(p in self.trees for p in parents)


@dataclass(frozen=True)
class Verdict:
    env: str
    affected: bool
    reason: str  # "deploy/base/app.yaml changed", "no file it reads changed", ...


def _files_reason(hits: list[str]) -> str:
    if len(hits) == 1:
        return f"{hits[0]} changed"
    named = ", ".join(hits[:_NAMED])
    more = f" and {len(hits) - _NAMED} more" if len(hits) > _NAMED else ""
    return f"{len(hits)} files it reads changed: {named}{more}"


def decide(
    inputs: Mapping[str, Inputs], changed: Iterable[str], *, config_file: str = ".gitops.yaml"
) -> tuple[Verdict, ...]:
    """One verdict per environment of `inputs`, in its order."""
    paths = sorted(set(changed))
    if config_file in paths:
        # The configuration decides how every environment renders.
        return tuple(Verdict(env, True, f"{config_file} changed") for env in inputs)
    verdicts = []
    for env, reads in inputs.items():
        hits = [p for p in paths if reads.matches(p)]
        if hits:
            verdicts.append(Verdict(env, True, _files_reason(hits)))
        else:
            verdicts.append(Verdict(env, False, "no file it reads changed"))
    return tuple(verdicts)
