"""Per-environment Leases: spread over replicas, and take-over after a SIGKILL.

Run: .venv/bin/python bench/leases.py [--replicas 3] [--envs 30] [--rounds 3] [--duration 5]

Starts a local control plane and a real remote repository (file://) with
`--envs` environments of one ConfigMap each, then per round, in a fresh
namespace: `--replicas` real `gitops-bot puller` processes (each its own
Leases, `--lease-duration --duration`) are started together; timed are
all environments applied (every ConfigMap holds the commit's value) and
the spread settled (every environment's Lease held, each replica holding
at most ceil(envs / replicas)); the environments per replica are read from
the Leases' holders. One replica is then SIGKILLed (nothing given up), and
timed are: from the kill, and from its last renewTime, until every one of
its environments' Leases is held by a survivor; then a change is pushed,
one survivor poked (the other wakes on its note; the interval is 30 s), and
the time until all ConfigMaps hold it. Applies
per replica are counted from the Events (reason Applied, reportingInstance).
Medians over `--rounds`, with the runs. With `--replicas 1`, only the
first figure (the baseline of what one replica applies alone).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import math
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from gitops_bot.cluster import lease as lease_mod
from gitops_bot.cluster.kube import Kube
from gitops_bot.testing.binaries import Binaries, locate
from gitops_bot.testing.cluster import LocalControlPlane

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration import pullerkit
from tests.integration.pullerkit import Remote

PREFIX = "gitops-bot-puller"
SECRET = b"bench-poke-secret"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _repo(
    remote: Remote, namespace: str, envs: tuple[str, ...], value: str, *, first: bool
) -> None:
    files: dict[str, str | None] = {}
    if first:
        files[".gitops.yaml"] = pullerkit.config(namespace, envs)
    for env in envs:
        files.update(pullerkit.configmaps(env, 1, value=value, prefix=f"cm-{env}"))
    remote.commit(files)
    remote.push()


def _applied(kube: Kube, namespace: str, envs: tuple[str, ...], value: str) -> bool:
    found = kube.list_objects("v1", "ConfigMap", namespace=namespace)
    values = {o["metadata"]["name"]: (o.get("data") or {}).get("v") for o in found}
    return all(values.get(f"cm-{env}-0") == value for env in envs)


def _holders(kube: Kube, namespace: str, envs: tuple[str, ...]) -> dict[str, str]:
    leases = {lease.name: lease for lease in lease_mod.list_all(kube, namespace)}
    return {env: getattr(leases.get(f"{PREFIX}-{env}"), "holder", "") for env in envs}


def _poke(port: int) -> None:
    body = b"{}"
    sig = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/poke",
        data=body,
        headers={"X-Gitops-Bot-Signature-256": sig},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - a local URL
        pass


def _start(  # noqa: PLR0917 - a benchmark's knobs
    cp: LocalControlPlane,
    binaries: Binaries,
    remote: Remote,
    namespace: str,
    envs: tuple[str, ...],
    name: str,
    port: int,
    work: Path,
    duration: int,
) -> subprocess.Popen[bytes]:
    secret = work / "poke-secret"
    secret.write_bytes(SECRET)
    argv = [
        sys.executable,
        "-c",
        "from gitops_bot.cli.puller import puller; puller(prog_name='gitops-bot puller')",
        "--repo-url",
        remote.url,
        *(a for env in envs for a in ("--env", env)),
        "--namespace",
        namespace,
        "--kubeconfig",
        str(cp.kubeconfig),
        "--listen",
        f"127.0.0.1:{port}",
        "--poke-secret-file",
        str(secret),
        "--interval",
        "30",
        "--identity",
        name,
        "--lease-duration",
        str(duration),
        "--no-wait",
        "--cache-dir",
        str(work / f"cache-{name}"),
        "--helm",
        binaries.path("helm"),
        "--kustomize",
        binaries.path("kustomize"),
        "--log-level",
        "WARNING",
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL)


def _until(check: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"not within {timeout} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def one_round(
    cp: LocalControlPlane, binaries: Binaries, work: Path, args: argparse.Namespace, n: int
) -> dict[str, Any]:
    kube = Kube.from_kubeconfig(str(cp.kubeconfig))
    namespace = f"bench-leases-{n}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    envs = tuple(f"env-{i:03d}" for i in range(args.envs))
    remote = Remote(work / f"git-{n}")
    _repo(remote, namespace, envs, "1", first=True)
    names = [f"r{i}" for i in range(args.replicas)]
    ports = {name: _port() for name in names}
    (work / f"{n}").mkdir()
    started = time.monotonic()
    procs = {
        name: _start(
            cp, binaries, remote, namespace, envs, name, ports[name], work / f"{n}", args.duration
        )
        for name in names
    }
    cap = math.ceil(len(envs) / len(names))

    def settled(alive: list[str]) -> bool:
        holders = _holders(kube, namespace, envs)
        per = Counter(holders.values())
        cap_now = math.ceil(len(envs) / len(alive))
        return set(per) == set(alive) and max(per.values()) <= cap_now

    try:
        _until(lambda: _applied(kube, namespace, envs, "1"), 300, "all applied")
        applied_s = time.monotonic() - started
        _until(lambda: settled(names), 120, "the spread settled")
        settled_s = time.monotonic() - started
        spread = dict(sorted(Counter(_holders(kube, namespace, envs).values()).items()))
        if len(names) == 1:  # the baseline: nothing to take over
            return {"applied_s": applied_s, "settled_s": settled_s, "spread": spread, "cap": cap}
        victim = names[1]
        lost = {env for env, holder in _holders(kube, namespace, envs).items() if holder == victim}
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(10)
        killed_at = time.monotonic()
        renewed = max(  # its last renewal (the same clock: one machine)
            lease.renewed.timestamp()
            for lease in lease_mod.list_all(kube, namespace)
            if lease.holder == victim and lease.renewed is not None
        )
        survivors = [name for name in names if name != victim]
        _until(
            lambda: all(_holders(kube, namespace, envs)[env] in survivors for env in lost),
            60,
            "the victim's environments taken over",
        )
        takeover_s = time.monotonic() - killed_at
        since_renewal_s = time.time() - renewed
        _until(lambda: settled(survivors), 60, "the spread settled again")
        after = dict(sorted(Counter(_holders(kube, namespace, envs).values()).items()))
        _repo(remote, namespace, envs, "2", first=False)
        pushed = time.monotonic()
        _poke(ports[survivors[0]])  # one, as the Service would: the others see its note
        _until(lambda: _applied(kube, namespace, envs, "2"), 120, "the change applied")
        change_s = time.monotonic() - pushed
        events = kube.list_objects("events.k8s.io/v1", "Event", namespace=namespace)
        applies = Counter(e.get("reportingInstance") for e in events if e["reason"] == "Applied")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            proc.wait(60)
        kube.close()
    return {
        "cap": cap,
        "applied_s": applied_s,
        "settled_s": settled_s,
        "spread": spread,
        "lost": len(lost),
        "takeover_s": takeover_s,
        "since_renewal_s": since_renewal_s,
        "after": after,
        "change_s": change_s,
        "applies": dict(sorted(applies.items())),
    }


def _med(runs: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in runs]
    return (
        f"median {statistics.median(values):.2f} s "
        f"(min {min(values):.2f}, max {max(values):.2f}; runs "
        f"{', '.join(f'{v:.2f}' for v in values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--envs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="--lease-duration of each")
    args = parser.parse_args()
    binaries = locate()
    with LocalControlPlane(binaries) as cp, tempfile.TemporaryDirectory() as tmp:
        runs = []
        for n in range(args.rounds):
            run = one_round(cp, binaries, Path(tmp), args, n)
            print(f"round {n}: {run}", flush=True)
            runs.append(run)
        print(
            f"{args.replicas} replicas, {args.envs} environments, lease duration {args.duration} s:"
        )
        print(f"  all applied after start: {_med(runs, 'applied_s')}")
        print(f"  spread settled after start: {_med(runs, 'settled_s')}")
        print(f"  spread: {[r['spread'] for r in runs]} (cap {runs[0]['cap']})")
        if args.replicas == 1:
            return
        print(f"  take-over after SIGKILL: {_med(runs, 'takeover_s')}")
        print(f"  take-over after the victim's last renewal: {_med(runs, 'since_renewal_s')}")
        print(f"  spread after: {[r['after'] for r in runs]}")
        print(f"  push-to-applied on the survivors: {_med(runs, 'change_s')}")
        print(f"  applies per replica (Events): {[r['applies'] for r in runs]}")


if __name__ == "__main__":
    main()
