"""What a reconcile of an unchanged render still sends, and why.

Run: .venv/bin/python bench/steady_state.py [CHART]
(default CHART: tests/integration/charts/upstream)

Starts a local control plane, renders CHART with the real helm into a fresh
namespace, reconciles it once, then lists each object core.objects.noop does not
prove unchanged, with every path where the render's value (normalized) is
not the live one; then reconciles again from a fresh client and prints the
requests that reconcile sent. Run it at an older commit (same command) to
see what that commit's proof re-applied.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from gitops_bot.cluster import scope
from gitops_bot.cluster.apply import ApplyOptions, ApplySetRef, reconcile
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import noop, normalize
from gitops_bot.core.repo.config import Environment, Source, SourceKind
from gitops_bot.render import render as render_mod
from gitops_bot.render.sandbox import Tools
from gitops_bot.testing.binaries import locate
from gitops_bot.testing.cluster import LocalControlPlane

CHART = Path(__file__).resolve().parent.parent / "tests" / "integration" / "charts" / "upstream"


def differences(want: Any, have: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Every path where `want` is not in `have` (as core.objects.noop's subset reads it)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [(path, want, have)]
        found = []
        for key, value in want.items():
            if key not in have:
                found.append((f"{path}.{key}", value, "<absent>"))
            else:
                found += differences(value, have[key], f"{path}.{key}")
        return found
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return [(path, want, have)]
        return [d for i, (w, h) in enumerate(zip(want, have, strict=True)) for d in
                differences(w, h, f"{path}[{i}]")]  # fmt: skip
    return [] if type(want) is type(have) and want == have else [(path, want, have)]


def main(chart: Path) -> None:
    binaries = locate()
    with LocalControlPlane(binaries) as cp, tempfile.TemporaryDirectory() as tmp:
        kube = Kube.from_kubeconfig(str(cp.kubeconfig))
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        root = Path(tmp) / "repo"
        shutil.copytree(chart, root / "chart")
        env = Environment(
            name="dev", source=Source(kind=SourceKind.AUTO, path="chart"), namespace=namespace
        )
        tools = Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))
        render = render_mod.render(env, root=root, tools=tools)
        ref = ApplySetRef("gitops-bot-bench", namespace)
        options = ApplyOptions(wait=False)
        first = reconcile(kube, render, applyset=ref, revision="c1", options=options)
        print(f"first reconcile: ok={first.ok} {first.error}")
        desired, _ = scope.check(render.manifests, ref)
        unproven = 0
        for m in render.manifests:
            live = kube.get(
                m.api_version, m.key.kind, m.key.name, namespace=m.key.namespace or None
            )
            if live is None or noop.apply_is_noop(desired[m.key], live, manager=kube.field_manager):
                continue
            unproven += 1
            print(f"not proven unchanged: {m.key}")
            for path, want, have in differences(
                normalize.for_diff(desired[m.key]), normalize.for_diff(live)
            ):
                print(f"    {path}: render {want!r}, live {have!r}")
        fresh = Kube.from_kubeconfig(str(cp.kubeconfig))
        second = reconcile(fresh, render, applyset=ref, revision="c1", options=options)
        print(f"{len(render.manifests)} objects, {unproven} not proven unchanged")
        print(f"second reconcile (fresh client) sent: {dict(sorted(second.requests.items()))}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else CHART)
