"""Do plans slow applies? Merge-to-applied with and without plan requests.

Run: .venv/bin/python bench/plans.py [--objects 1000] [--change 50] [--plans 20] [--rounds 3]

Starts a local control plane and a real remote repository (file://) with
`--objects` ConfigMaps in one environment, applied by a puller whose loop
runs (only a poke wakes it) next to its plan endpoint (POST /plan, HMAC,
the default bounds: 1 worker, 4 queued, as `gitops-bot puller` sets them),
in one process as in production. A branch `pr` changes 10% of the objects.

Each round merges a commit that changes `--change` ConfigMaps, pokes the
puller and times until the status object names the commit (fetch, render,
reconcile, status), alternating: once alone, once while `--plans` clients
each ask for a live plan of main..pr at the same moment (a client answered
429 asks again after the Retry-After the puller sends, scaled down to 0.2 s
to keep the pressure on). In the same round `kubectl apply --server-side`
applies the same change to a twin namespace (the peer, apply only).
Prints medians, the plans' own latencies and how many were refused as busy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from puller import _kubectl_apply, _ns, _status_commit

from gitops_bot.cluster.kube import Kube
from gitops_bot.core.pr.deliveries import sign
from gitops_bot.puller.loop import Puller
from gitops_bot.puller.plans import PlanLimits, Planner
from gitops_bot.puller.planwork import Cluster, Workers
from gitops_bot.puller.server import Handlers, PlanHandlers, Server
from gitops_bot.puller.source import Source
from gitops_bot.testing.binaries import locate
from gitops_bot.testing.cluster import LocalControlPlane
from gitops_bot.web import callers
from gitops_bot.web.planwire import PlanAsk
from gitops_bot.web.poke import SIGNATURE_HEADER

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration import pullerkit
from tests.integration.pullerkit import Remote

SECRET = b"bench-plan-secret"


def _ask(url: str, base: str, head: str, *, busy: list[int]) -> float:
    """One client's plan of base..head, asking again after the Retry-After the
    puller sends (scaled down to keep the pressure on) while it is busy."""
    start = time.monotonic()
    while True:
        body = PlanAsk.new(base, head, ("dev",)).body()
        request = urllib.request.Request(  # noqa: S310 (the benchmark's own http server)
            url + "/plan",
            data=body,
            method="POST",
            headers={SIGNATURE_HEADER: sign(body, secret=SECRET)},
        )
        try:
            with urllib.request.urlopen(request, timeout=600) as reply:  # noqa: S310
                answer = json.loads(reply.read())
        except urllib.error.HTTPError as err:
            if err.code != 429:
                raise
            busy.append(1)
            time.sleep(float(err.headers.get("Retry-After", "1")) / 5)
            continue
        assert answer["environments"][0]["live"] is not None, answer
        return time.monotonic() - start


def clients(url: str, base: str, head: str, count: int) -> None:
    """`count` clients at once, in this process (not the puller's): prints
    {"times": [...], "busy": N} when every one has its plan."""
    times: list[float] = []
    busy: list[int] = []
    threads = [
        threading.Thread(target=lambda: times.append(_ask(url, base, head, busy=busy)))
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"times": times, "busy": len(busy)}))


def _load(url: str, base: str, head: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--clients", url, base, head, str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )


def _remote(work: Path, namespace: str, objects: int, change: int) -> tuple[Remote, str]:
    """The remote with main at its first commit: `objects` ConfigMaps, of which the
    merges change `change` (merged-*) and the pull request a tenth (pr-*)."""
    remote = Remote(work / "remote")
    touched = objects // 10
    base = remote.commit(
        {
            ".gitops.yaml": pullerkit.config(namespace),
            **pullerkit.configmaps("dev", objects - change - touched),
            **pullerkit.configmaps("dev", change, prefix="merged"),
            **pullerkit.configmaps("dev", touched, prefix="pr"),
        }
    )
    remote.push()
    return remote, base


def _pull_request(remote: Remote, touched: int) -> str:
    """A branch `pr` on the remote that changes the pr-* ConfigMaps; its commit."""
    pullerkit.git(remote.work, "checkout", "-q", "-b", "pr")
    head = remote.commit(
        pullerkit.configmaps("dev", touched, value="pr", prefix="pr"), "a pull request"
    )
    pullerkit.git(remote.work, "push", "-q", "origin", "pr")
    pullerkit.git(remote.work, "checkout", "-q", "main")
    return head


def _endpoint(
    kubeconfig: Path, remote: Remote, puller: Puller, cache: Path
) -> tuple[Server, Workers]:
    """POST /plan next to `puller`, as `gitops-bot puller` wires it by default."""
    workers = Workers(Cluster(str(kubeconfig)))
    puller.on_syncing(workers.syncing)
    workers.start()
    planner = Planner(
        source=Source(remote.url, "main", cache=cache),
        workers=workers,
        envs=("dev",),
        config_file=".gitops.yaml",
        tools=pullerkit.tools(locate()),
        quiet=puller.wait_quiet,
        limits=PlanLimits(),
    )
    server = Server(
        Handlers(poke=puller.poke, ready=puller.ready, metrics=lambda: b""),
        secret=b"poke",
        plans=PlanHandlers(callers=callers.Callers(secret=SECRET), plan=planner.plan),
    )
    return server, workers


def run(objects: int, change: int, plans: int, rounds: int) -> None:
    binaries = locate()
    with LocalControlPlane(binaries) as cp, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kube = Kube.from_kubeconfig(str(cp.kubeconfig))
        namespace, twin = _ns(kube, "bench-plans"), _ns(kube, "bench-plans-kubectl")
        remote, base = _remote(work, namespace, objects, change)
        puller = pullerkit.make(
            kube,
            remote,
            namespace=namespace,
            cache=work / "cache",
            binaries=binaries,
            interval_s=3600,
        )
        head = _pull_request(remote, objects // 10)
        server, workers = _endpoint(cp.kubeconfig, remote, puller, work / "plan-cache")
        stop = threading.Event()
        loop = threading.Thread(target=puller.run, args=(stop,), daemon=True)
        loop.start()
        alone, loaded, kubectl, plan_times, busy = [], [], [], [], []  # seconds; 429s
        try:
            while not puller.synced.is_set():
                time.sleep(0.05)
            _kubectl_apply(cp, binaries, work, twin, objects, "1")
            _ask(server.url, base, head, busy=[])  # warm: fetch, first renders
            one = statistics.median(_ask(server.url, base, head, busy=[]) for _ in range(3))
            for r in range(rounds * 2):
                with_plans = r % 2 == 1
                value = str(r + 2)
                tip = remote.commit(
                    pullerkit.configmaps("dev", change, value=value, prefix="merged"), f"m{r}"
                )
                remote.push()
                load = _load(server.url, base, head, plans) if with_plans else None
                if load is not None:
                    time.sleep(1.0)  # the clients are up and the first plan is under way
                start = time.monotonic()
                puller.poke()
                while _status_commit(kube, namespace) != tip:
                    time.sleep(0.01)
                (loaded if with_plans else alone).append(time.monotonic() - start)
                if load is not None:
                    out, _ = load.communicate(timeout=1800)
                    done = json.loads(out)
                    plan_times += done["times"]
                    busy.append(done["busy"])
                kubectl.append(_kubectl_apply(cp, binaries, work, twin, change, value))
        finally:
            stop.set()
            puller.poke()
            loop.join(30)
            server.close()
            workers.close()
        print(
            f"merge-to-applied, {change} of {objects} objects changed: "
            f"alone median {statistics.median(alone):.3f} s "
            f"({', '.join(f'{t:.2f}' for t in alone)}); "
            f"with {plans} plan requests median {statistics.median(loaded):.3f} s "
            f"({', '.join(f'{t:.2f}' for t in loaded)}); "
            f"kubectl apply --server-side of the same change median "
            f"{statistics.median(kubectl):.3f} s"
        )
        print(f"one plan alone (nothing else running): median {one:.2f} s")
        print(
            f"plans: {len(plan_times)} made, median {statistics.median(plan_times):.2f} s from "
            f"the first ask to the answer, max {max(plan_times):.2f} s; "
            f"{sum(busy)} asks answered 429 (busy) and asked again"
        )


def main() -> None:
    if sys.argv[1:2] == ["--clients"]:
        url, base, head, count = sys.argv[2:6]
        clients(url, base, head, int(count))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--change", type=int, default=50)
    parser.add_argument("--plans", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.objects, args.change, args.plans, args.rounds)


if __name__ == "__main__":
    main()
