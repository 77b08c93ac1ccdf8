"""The puller's latencies and memory, on a local control plane.

Run: .venv/bin/python bench/puller.py [--drifts 25] [--change 50] [--rounds 3] [--objects 1000]
     [--only drift|merge|memory]

Starts a local control plane and a real remote repository (file://), then:
  - drift: applies 20 ConfigMaps with the puller, starts its drift watch,
    and `--drifts` times changes one of them as another field manager
    (kubectl-style, force), timing from the change to the moment a GET sees
    our value back. Prints p50/p95/max. kubectl has no drift healing to
    compare with.
  - merge-to-applied: the loop runs with a long interval, so only a poke
    wakes it; a commit changes `--change` ConfigMaps, is pushed, the puller is
    poked, and the time until the status object names the new commit is
    taken (fetch, render, reconcile, status). In the same round, `kubectl
    apply --server-side` applies the same rendered change (the next one) to
    a twin namespace. Medians of `--rounds`.
  - memory: `--objects` ConfigMaps applied by the puller run as its own
    process (`gitops-bot puller`, --interval 5), leader election and drift
    watch on; its RSS (VmRSS) once the status names the commit, then every
    0.5 s for 10 s (two re-syncs: median, min, max), and the peak (VmHWM).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from gitops_bot.cluster.kube import Kube
from gitops_bot.testing.binaries import Binaries, locate
from gitops_bot.testing.cluster import LocalControlPlane

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration import pullerkit
from tests.integration.pullerkit import Remote


def _status_commit(kube: Kube, namespace: str) -> str:
    obj = kube.get("v1", "ConfigMap", "gitops-bot-status-dev", namespace=namespace)
    return str(((obj or {}).get("data") or {}).get("commit", ""))


def _ns(kube: Kube, name: str) -> str:
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def drift(cp: LocalControlPlane, binaries: Binaries, work: Path, count: int) -> list[float]:
    kube = Kube.from_kubeconfig(str(cp.kubeconfig))
    intruder = Kube.from_kubeconfig(str(cp.kubeconfig), field_manager="intruder")
    namespace = _ns(kube, "bench-drift")
    remote = Remote(work / "drift")
    remote.commit({".gitops.yaml": pullerkit.config(namespace), **pullerkit.configmaps("dev", 20)})
    remote.push()
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=work / "drift-cache", binaries=binaries
    )
    assert puller.sync() == {"dev": "applied"}
    watcher = puller.drift_watcher("dev")
    assert watcher is not None
    assert watcher.wait_synced()
    times = []
    try:
        for i in range(count):
            name = f"cm-{i % 20}"
            start = time.monotonic()
            intruder.apply(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": namespace},
                    "data": {"v": f"drift-{i}"},
                },
                force=True,
            )
            while (kube.get("v1", "ConfigMap", name, namespace=namespace) or {})["data"][
                "v"
            ] != "1":
                time.sleep(0.01)
            times.append(time.monotonic() - start)
            time.sleep(0.2)
    finally:
        watcher.stop()
    return times


def merge_to_applied(
    cp: LocalControlPlane, binaries: Binaries, work: Path, change: int, rounds: int
) -> tuple[list[float], list[float]]:
    kube = Kube.from_kubeconfig(str(cp.kubeconfig))
    namespace, twin = _ns(kube, "bench-merge"), _ns(kube, "bench-merge-kubectl")
    remote = Remote(work / "merge")
    remote.commit(
        {".gitops.yaml": pullerkit.config(namespace), **pullerkit.configmaps("dev", change)}
    )
    remote.push()
    puller = pullerkit.make(
        kube,
        remote,
        namespace=namespace,
        cache=work / "merge-cache",
        binaries=binaries,
        interval_s=3600,
    )
    stop = threading.Event()
    loop = threading.Thread(target=puller.run, args=(stop,), daemon=True)
    loop.start()
    ours, theirs = [], []
    try:
        while not puller.synced.is_set():
            time.sleep(0.05)
        _kubectl_apply(cp, binaries, work, twin, change, "1")
        for r in range(rounds):
            value = str(r + 2)
            tip = remote.commit(pullerkit.configmaps("dev", change, value=value), f"round {r}")
            remote.push()
            start = time.monotonic()
            puller.poke()
            while _status_commit(kube, namespace) != tip:
                time.sleep(0.01)
            ours.append(time.monotonic() - start)
            theirs.append(_kubectl_apply(cp, binaries, work, twin, change, value))
    finally:
        stop.set()
        puller.poke()
        loop.join(30)
    return ours, theirs


def _kubectl_apply(  # noqa: PLR0917 - a benchmark's knobs
    cp: LocalControlPlane, binaries: Binaries, work: Path, ns: str, n: int, value: str
) -> float:
    docs = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i}", "namespace": ns},
            "data": {"v": value},
        }
        for i in range(n)
    ]
    path = work / "kubectl.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    start = time.monotonic()
    subprocess.run(
        [
            binaries.path("kubectl"),
            "apply",
            "--server-side",
            "--field-manager=gitops-bot",
            "-f",
            str(path),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, **cp.env()},
    )
    return time.monotonic() - start


def memory(cp: LocalControlPlane, binaries: Binaries, work: Path, objects: int) -> dict[str, Any]:
    kube = Kube.from_kubeconfig(str(cp.kubeconfig))
    namespace = _ns(kube, "bench-memory")
    remote = Remote(work / "memory")
    tip = remote.commit(
        {".gitops.yaml": pullerkit.config(namespace), **pullerkit.configmaps("dev", objects)}
    )
    remote.push()
    argv = [
        sys.executable,
        "-c",
        "from gitops_bot.cli.puller import puller; puller(prog_name='gitops-bot puller')",
        "--repo-url",
        remote.url,
        "--env",
        "dev",
        "--namespace",
        namespace,
        "--kubeconfig",
        str(cp.kubeconfig),
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "5",
        "--identity",
        "bench",
        "--cache-dir",
        str(work / "memory-cache"),
        "--helm",
        binaries.path("helm"),
        "--kustomize",
        binaries.path("kustomize"),
        "--log-level",
        "WARNING",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        started = time.monotonic()
        while _status_commit(kube, namespace) != tip:
            time.sleep(0.1)
        applied_s = time.monotonic() - started
        at_apply = _rss(proc.pid)
        samples = []  # the loop re-syncs every 5 s (LIST, no-op proof): RSS moves with it
        for _ in range(20):
            time.sleep(0.5)
            samples.append(_rss(proc.pid)["VmRSS"])
        later = _rss(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    return {"applied_s": applied_s, "at_apply": at_apply, "later": later, "samples": samples}


def _rss(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # MiB
    return fields


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drifts", type=int, default=25)
    parser.add_argument("--change", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument(
        "--only", choices=("drift", "merge", "memory"), help="run one of the three parts"
    )
    args = parser.parse_args()
    run = {args.only} if args.only else {"drift", "merge", "memory"}
    binaries = locate()
    with LocalControlPlane(binaries) as cp, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "drift" in run:
            heal = sorted(drift(cp, binaries, work, args.drifts))
            p95 = heal[max(0, round(0.95 * len(heal)) - 1)]
            print(
                f"drift heal ({len(heal)} drifts): p50 {statistics.median(heal):.3f} s, "
                f"p95 {p95:.3f} s, max {heal[-1]:.3f} s"
            )
        if "merge" in run:
            ours, theirs = merge_to_applied(cp, binaries, work, args.change, args.rounds)
            print(
                f"merge-to-applied, {args.change} objects after a poke: "
                f"median {statistics.median(ours):.3f} s "
                f"(runs {', '.join(f'{t:.2f}' for t in ours)}); "
                f"kubectl apply --server-side of the same change: "
                f"median {statistics.median(theirs):.3f} s"
            )
        if "memory" in run:
            mem = memory(cp, binaries, work, args.objects)
            rss = mem["samples"]
            print(
                f"puller process with {args.objects} objects applied "
                f"(in {mem['applied_s']:.1f} s): RSS {mem['at_apply']['VmRSS']:.1f} MiB at "
                f"apply; over the next 10 s (every 0.5 s) median {statistics.median(rss):.1f} "
                f"MiB, min {min(rss):.1f}, max {max(rss):.1f}; "
                f"peak {mem['later']['VmHWM']:.1f} MiB"
            )


if __name__ == "__main__":
    main()
