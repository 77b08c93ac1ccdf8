"""The local demo: a real control plane on this machine, a sample applied.

Owns: the smoke story behind `gitops-bot demo`: start the local control
plane, dry-run every object of the sample on the server, then apply them
with server-side apply (namespaces and CRDs first), wait until each is
healthy, and print what happened. Later issues grow this into the whole
pull-request story.
Refuses: touching any cluster but the one it started.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import Any, TextIO

import yaml
from tabulate import tabulate

from gitops_bot.cluster import kube as kube_mod
from gitops_bot.core import health
from gitops_bot.errors import BotError
from gitops_bot.testing.binaries import Binaries
from gitops_bot.testing.cluster import LocalControlPlane

_FIRST = ("CustomResourceDefinition", "Namespace")
_HEALTH_TIMEOUT_S = 60.0


def sample() -> list[dict[str, Any]]:
    text = resources.files("gitops_bot.testing").joinpath("samples/smoke.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


def stages(objs: Iterable[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """CRDs and Namespaces, then the rest, each in the order given.

    The server can only dry-run an object whose namespace and kind exist, so
    the objects that define namespaces and kinds form a stage of their own.
    """
    objs = list(objs)
    first = [o for o in objs if o.get("kind") in _FIRST]
    rest = [o for o in objs if o.get("kind") not in _FIRST]
    return [stage for stage in (first, rest) if stage]


def wait_healthy(
    kube: kube_mod.Kube,
    objs: list[Mapping[str, Any]],
    *,
    timeout: float = _HEALTH_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[health.Health]:
    """Poll until every object is healthy or the time is up; the last verdicts."""
    deadline = clock() + timeout
    while True:
        verdicts = []
        for obj in objs:
            meta = obj["metadata"]
            live = kube.get(
                obj["apiVersion"], obj["kind"], meta["name"], namespace=meta.get("namespace")
            )
            verdicts.append(
                health.assess(live) if live else health.Health(health.Status.DEGRADED, "missing")
            )
        if all(v.status is health.Status.HEALTHY for v in verdicts) or clock() > deadline:
            return verdicts
        sleep(0.2)


def run(*, binaries: Binaries, out: TextIO, keep: bool = False) -> int:
    started = time.monotonic()
    with LocalControlPlane(binaries) as cp:
        out.write(
            f"local control plane ready at {cp.server} in {time.monotonic() - started:.1f}s\n"
        )
        kube = kube_mod.Kube.from_kubeconfig(str(cp.kubeconfig))
        try:
            applied_at = time.monotonic()
            objs: list[Mapping[str, Any]] = []
            for stage in stages(sample()):
                for obj in stage:  # validate the whole stage before mutating any of it
                    kube.apply(obj, dry_run=True)
                for obj in stage:
                    kube.apply(obj)
                out.write(f"stage of {len(stage)}: dry-run accepted, applied\n")
                objs += stage
                verdicts = wait_healthy(kube, objs)
            rows = [
                (
                    o["kind"],
                    o["metadata"].get("namespace", ""),
                    o["metadata"]["name"],
                    v.status.value,
                    v.message,
                )
                for o, v in zip(objs, verdicts, strict=True)
            ]
            out.write(tabulate(rows, headers=("KIND", "NAMESPACE", "NAME", "HEALTH", "DETAIL")))
            out.write(
                f"\napplied and checked in {time.monotonic() - applied_at:.1f}s "
                f"(field manager {kube.field_manager!r})\n"
            )
            healthy = all(v.status is health.Status.HEALTHY for v in verdicts)
            if keep:
                out.write(
                    f"\nThe cluster stays up until Ctrl-C. Try:\n"
                    f"  export KUBECONFIG={cp.kubeconfig}\n"
                    f"  {binaries.path('kubectl')} -n gitops-demo get deploy,rs,pods\n"
                )
                out.flush()
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
        finally:
            kube.close()
    if not healthy:
        raise BotError(
            "the sample did not become healthy within "
            f"{_HEALTH_TIMEOUT_S:.0f}s; see the table above"
        )
    out.write("control plane stopped. Next: `make test` runs every test against such a cluster.\n")
    return 0
