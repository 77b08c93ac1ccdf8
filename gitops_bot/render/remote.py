"""What counts as remote: the one definition every reader of a reference uses.

Owns: `why` (is a kustomization entry remote, and as what) and
`chart_dependency` (the local folder a helm dependency names, if any).
render.kustomize refuses what `why` calls remote before kustomize runs;
render.inputs does not follow it as a file of the repository.
Refuses: deciding whether a remote is allowed (the caller's allow-list) and
whether a local path stays inside the repository (the callers resolve it).

The rules are kustomize's (api/internal/git/repospec.go NewRepoSpecFromURL,
api/internal/loader/fileloader.go IsRemoteFile, and KustTarget's "file first,
then a root" order) and git's (a colon before the first slash is an
scp-like `host:path`, fetched over SSH; git-fetch(1) "GIT URLS"), widened
where a reading could be doubtful, so that nothing kustomize or git would
fetch is ever taken for a local path:

- any colon before the first slash (or without a slash): URL schemes in any
  case (`https:`, `HTTPS:`, `ssh:`, `file:`, `oci:`...), `git::`, `gh:`,
  scp-like `user@host:path` for any user, `github.com:org/repo`;
- any `@` before the first slash (kustomize's `user@host/org/repo`);
- a first segment `github.com` in any case (kustomize's standard GitHub host);
- a first segment that looks like a host name or IPv4 address followed by a
  path (`gitlab.com/org/repo//base`: older kustomize fetched these, and a
  reader cannot tell them from a host);
- a query naming a git ref (`?ref=`, `?version=`, `?submodules=`, `?timeout=`).

Kustomize reads a few of these as local paths when such a file or folder
exists (`ssh://x.yaml` reads the file `ssh:/x.yaml`); here they are remote
all the same. A folder of the repository is always reachable as
`./<name>`: an entry that starts with `./` or `../` is never remote.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

_URL = re.compile(r"(?:git::)?[A-Za-z][A-Za-z0-9+.-]*:/")  # a scheme, any case; "https:/x" too
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = re.compile(
    rf"(?:{_HOST_LABEL}\.)+[A-Za-z]{{2,}}\.?"  # a domain name with a top-level label
    r"|\d{1,3}(?:\.\d{1,3}){3}"  # an IPv4 address
)
_GIT_QUERY = frozenset({"ref", "version", "submodules", "timeout"})  # repospec parseQuery


def why(entry: str) -> str | None:
    """How `entry` (a kustomization reference) would be fetched; None if it is a local path."""
    ref = entry.strip()
    if ref.startswith(("./", "../")) or ref in (".", ".."):
        return None
    path, _, query = ref.partition("?")
    first = ref.partition("/")[0]
    rules = (
        (_URL.match(ref), "a URL"),
        (":" in first, "an scp-like address (host:path), which git fetches over SSH"),
        # kustomize takes ^[a-zA-Z][a-zA-Z0-9-]*@ as a user name; any user here
        ("@" in first, "a git address (user@host), which kustomize clones"),
        (first.lower() == "github.com", "a GitHub repository, which kustomize clones"),
        (
            _HOST.fullmatch(first) and "/" in path.rstrip("/"),
            "a host name followed by a path, which kustomize may clone; "
            "a folder of the repository is written ./" + ref,
        ),
        (
            query and _GIT_QUERY & set(parse_qs(query, keep_blank_values=True)),
            "a git reference (?ref=), which kustomize clones; "
            "a folder of the repository is written ./" + ref,
        ),
    )
    return next((reason for matched, reason in rules if matched), None)


def is_remote(entry: str) -> bool:
    return why(entry) is not None


def chart_dependency(repository: str) -> str | None:
    """The folder (relative to the chart) a Chart.yaml dependency's `repository` names,
    or None when it names a chart repository (https://, oci://, @alias, alias:name).

    Helm reads `file://<path>` as a folder (case-sensitive, as helm does); an
    empty repository means the chart is already in charts/, which the chart's
    own folder covers. `helm template` fetches none of them: a dependency
    missing from charts/ is an error.
    """
    if repository.startswith("file://"):
        return repository.removeprefix("file://")
    return None
