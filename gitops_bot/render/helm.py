"""`helm template` of one chart folder, with values files from the repository.

Owns: the Command (`helm template <release> ./<chart> --namespace <ns>
--include-crds --no-hooks --values ./<file>...`) after checking that the
chart and every values file are inside the repository, and `origins`, which
gives each rendered object the template it came from (helm's `# Source:`
comments).
Refuses: anything that reaches out: no --enable-dns (getHostByName answers
""), no cluster (`lookup` answers an empty map in template mode, and the
sandbox gives helm no kubeconfig), no `helm dependency build` (a dependency
missing from charts/ is helm's clear error), no values from URLs, no
post-renderers.

Hooks are left out (--no-hooks): their semantics (run once, in order, then
delete) cannot be expressed as desired state applied with server-side apply,
and applying a one-shot Job on every change would fail on its immutable
spec. Test hooks go with them. CRDs in the chart's crds/ folder are part of
the desired state, so --include-crds.
"""

from __future__ import annotations

import bisect
import dataclasses
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path

from gitops_bot.core.objects.model import Manifest, Origin
from gitops_bot.errors import RenderError
from gitops_bot.render import sandbox

_SOURCE = re.compile(r"^# Source: (\S.*)$")


def command(
    chart: str,
    *,
    release: str,
    namespace: str | None,
    values: tuple[str, ...],
    root: Path,
    tools: sandbox.Tools,
) -> sandbox.Command:
    """The Command that renders the chart folder `chart` (repository-relative)."""
    root = root.resolve()
    if not (root / chart).resolve().is_relative_to(root):
        raise RenderError(f"chart {chart}: the path escapes the repository")
    argv = [tools.path("helm"), "template", release, f"./{chart}", "--include-crds", "--no-hooks"]
    if namespace:
        argv += ["--namespace", namespace]
    for file in values:
        argv += ["--values", _values_file(root, file)]
    sandbox.check_tree(root, paths=[root / chart])
    return sandbox.Command(argv=tuple(argv), cwd=str(root), what=f"helm template {release} {chart}")


def _values_file(root: Path, file: str) -> str:
    """`file` as helm's --values takes it: a local path, never a URL, one item."""
    path = (root / file).resolve()  # follows symlinks: a link out is an escape too
    if not path.is_relative_to(root):
        raise RenderError(f"values file {file}: the path escapes the repository")
    if not path.is_file():
        raise RenderError(f"values file {file}: not a file in the repository")
    local = f"./{file}"  # "./" keeps helm from reading "https://..." as a URL
    # --values is a comma-separated list, read as CSV: quote a name with a comma.
    if any(c in local for c in ',"\n'):
        local = '"' + local.replace('"', '""') + '"'
    return local


def origins(manifests: Iterable[Manifest], *, text: str, chart: str) -> tuple[Manifest, ...]:
    """`manifests`, parsed from helm's output `text`, with the template each came from.

    helm writes `# Source: <chart name>/templates/x.yaml` before each document;
    the origin becomes the repository path of that template (`<chart>/templates/x.yaml`)
    and the document's index among those rendered from it. Objects without a
    Source comment keep the origin they were parsed with.
    """
    starts, names = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _SOURCE.match(line):
            starts.append(number)
            names.append(match.group(1).strip())
    documents: dict[str, dict[int, int]] = {}  # file -> parsed document -> index in file
    result = []
    for manifest in manifests:
        at = bisect.bisect_left(starts, manifest.origin.line or 0)
        if at == 0:
            result.append(manifest)
            continue
        # The first part is the chart's name, not its folder; subcharts follow as charts/x/...
        file = posixpath.normpath(posixpath.join(chart, names[at - 1].partition("/")[2]))
        seen = documents.setdefault(file, {})
        document = seen.setdefault(manifest.origin.document, len(seen))
        result.append(dataclasses.replace(manifest, origin=Origin(file=file, document=document)))
    return tuple(result)
