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
from gitops_bot.puller.plans import PlanLimits, Planner
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
    """One client's plan of base..head, asking again while the puller is busy."""
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
            time.sleep(0.2)
            continue
        assert answer["environments"][0]["live"] is not None, answer
        return time.monotonic() - start


def run(objects: int, change: int, plans: int, rounds: int) -> None:
    binaries = locate()
    with LocalControlPlane(binaries) as cp, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kube = Kube.from_kubeconfig(str(cp.kubeconfig))
        namespace, twin = _ns(kube, "bench-plans"), _ns(kube, "bench-plans-kubectl")
        remote = Remote(work / "remote")
        touched = objects // 10  # what the pull request changes
        base = remote.commit(
            {
                ".gitops.yaml": pullerkit.config(namespace),
                **pullerkit.configmaps("dev", objects - change - touched),
                **pullerkit.configmaps("dev", change, prefix="merged"),
                **pullerkit.configmaps("dev", touched, prefix="pr"),
            }
        )
        remote.push()
        puller = pullerkit.make(
            kube,
            remote,
            namespace=namespace,
            cache=work / "cache",
            binaries=binaries,
            interval_s=3600,
        )
        pullerkit.git(remote.work, "checkout", "-q", "-b", "pr")
        head = remote.commit(
            pullerkit.configmaps("dev", touched, value="pr", prefix="pr"), "a pull request"
        )
        pullerkit.git(remote.work, "push", "-q", "origin", "pr")
        pullerkit.git(remote.work, "checkout", "-q", "main")
        plan_kube = kube.plan_only()
        planner = Planner(
            source=Source(remote.url, "main", cache=work / "plan-cache"),
            kube=plan_kube,
            envs=("dev",),
            config_file=".gitops.yaml",
            tools=pullerkit.tools(binaries),
            quiet=puller.wait_quiet,
            limits=PlanLimits(),
        )
        server = Server(
            Handlers(poke=puller.poke, ready=puller.ready, metrics=lambda: b""),
            secret=b"poke",
            plans=PlanHandlers(callers=callers.Callers(secret=SECRET), plan=planner.plan),
        )
        stop = threading.Event()
        loop = threading.Thread(target=puller.run, args=(stop,), daemon=True)
        loop.start()
        alone, loaded, kubectl, plan_times, busy = [], [], [], [], []
        try:
            while not puller.synced.is_set():
                time.sleep(0.05)
            _kubectl_apply(cp, binaries, work, twin, objects, "1")
            _ask(server.url, base, head, busy=[])  # warm: fetch, first renders
            for r in range(rounds * 2):
                with_plans = r % 2 == 1
                value = str(r + 2)
                tip = remote.commit(
                    pullerkit.configmaps("dev", change, value=value, prefix="merged"), f"m{r}"
                )
                remote.push()
                clients = [
                    threading.Thread(
                        target=lambda: plan_times.append(_ask(server.url, base, head, busy=busy))
                    )
                    for _ in range(plans if with_plans else 0)
                ]
                for client in clients:
                    client.start()
                if clients:
                    time.sleep(0.3)  # the first plan is under way when the merge lands
                start = time.monotonic()
                puller.poke()
                while _status_commit(kube, namespace) != tip:
                    time.sleep(0.01)
                (loaded if with_plans else alone).append(time.monotonic() - start)
                for client in clients:
                    client.join(900)
                kubectl.append(_kubectl_apply(cp, binaries, work, twin, change, value))
        finally:
            stop.set()
            puller.poke()
            loop.join(30)
            server.close()
            plan_kube.close()
        print(
            f"merge-to-applied, {change} of {objects} objects changed: "
            f"alone median {statistics.median(alone):.3f} s "
            f"({', '.join(f'{t:.2f}' for t in alone)}); "
            f"with {plans} plan requests median {statistics.median(loaded):.3f} s "
            f"({', '.join(f'{t:.2f}' for t in loaded)}); "
            f"kubectl apply --server-side of the same change median "
            f"{statistics.median(kubectl):.3f} s"
        )
        print(
            f"plans: {len(plan_times)} made, median {statistics.median(plan_times):.2f} s from "
            f"the first ask to the answer, max {max(plan_times):.2f} s; "
            f"{len(busy)} asks answered 429 (busy) and asked again"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--change", type=int, default=50)
    parser.add_argument("--plans", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.objects, args.change, args.plans, args.rounds)


if __name__ == "__main__":
    main()
