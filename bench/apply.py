"""The puller's apply engine against `kubectl apply --server-side`, on the same objects.

Run: .venv/bin/python bench/apply.py [--objects 1000] [--rounds 3]

Starts a local control plane, then, per round and in the same run (each
full apply after the control plane has settled, bench/livediff.py's `settle`:
the other tool's Deployments and Services keep its controllers busy for a
while; the first tool alternates between rounds):
  - full apply: N mixed objects (ConfigMaps, Secrets, Services,
    ServiceAccounts, Deployments; bench/livediff.py's mix) into 4 fresh
    namespaces with gitops_bot.cluster.apply.reconcile (validate every
    object by dry-run, apply, ApplySet parent; wait=False, as kubectl does
    not wait), and the same objects into 4 other fresh namespaces with
    kubectl apply --server-side -f;
  - no-op: both again on the objects they applied, unchanged.
Prints each round, then medians: time, objects/s, and the requests each sent
(ours from Kube.calls, kubectl's from -v=6); and the CPU seconds of the full
applies: the client's own (ours: this process, which runs nothing else
meanwhile; kubectl: its process) and the control plane's (kube-apiserver,
etcd and the controllers, from /proc): on a 2-core machine the two compete.

`--auth` is how both tools prove who they are: `cert` (the default), the
control plane's admin client certificate, which the API server verifies on
every request (an ECDSA signature check, about 0.25 ms of its CPU each);
`token`, a ServiceAccount's token (bound to cluster-admin, from the
TokenRequest API), as the puller in a cluster holds one and CI often does,
which the API server checks once and then caches.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import kubectl_run
import yaml
from livediff import NAMESPACES, cpu_s, objects, settle

from gitops_bot.cluster.apply import ApplyOptions, ApplySetRef, reconcile
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects.model import Key, Manifest, Origin, Render
from gitops_bot.testing.binaries import locate
from gitops_bot.testing.cluster import LocalControlPlane

PARENT_NAMESPACE = "gitops-bot"


def token_kubeconfig(cp: LocalControlPlane, folder: Path) -> Path:
    """A kubeconfig for the control plane as the ServiceAccount gitops-bot/bench,
    bound to cluster-admin, with a token from the TokenRequest API."""
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bench"}}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "bench-cluster-admin"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "bench", "namespace": PARENT_NAMESPACE}],
    }
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
               "spec": {"expirationSeconds": 24 * 3600}}  # fmt: skip
    for path, body in (
        (f"/api/v1/namespaces/{PARENT_NAMESPACE}/serviceaccounts", sa),
        ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding),
        (f"/api/v1/namespaces/{PARENT_NAMESPACE}/serviceaccounts/bench/token", request),
    ):
        status, answer = cp.request("POST", path, body)
        assert status == 201, (path, status, answer)
    config = yaml.safe_load(cp.kubeconfig.read_text())
    config["users"] = [{"name": "bench", "user": {"token": answer["status"]["token"]}}]
    for context in config["contexts"]:
        context["context"]["user"] = "bench"
    out = folder / "token-kubeconfig"
    out.write_text(yaml.safe_dump(config))
    out.chmod(0o600)
    return out


def moved(objs: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The objects, in namespaces `<prefix>-a` .. `<prefix>-d` instead of bench-a .. bench-d.

    Services are headless: the test cluster's service IP range (a /24) cannot
    hold the Services of every round of both tools.
    """
    out = []
    for obj in objs:
        meta = {
            **obj["metadata"],
            "namespace": obj["metadata"]["namespace"].replace("bench", prefix),
        }
        moved_obj = {**obj, "metadata": meta}
        if obj["kind"] == "Service":
            moved_obj["spec"] = {**obj["spec"], "clusterIP": "None"}
        out.append(moved_obj)
    return out


def namespaces(kube: Kube, prefix: str) -> None:
    for ns in NAMESPACES:
        name = ns.replace("bench", prefix)
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def ours(kube: Kube, objs: list[dict[str, Any]], ref: ApplySetRef) -> tuple[float, dict[str, int]]:
    desired = Render.of("bench", [Manifest(Key.of(o), o, Origin("bench.yaml")) for o in objs])
    start = time.perf_counter()
    result = reconcile(kube, desired, applyset=ref, revision="r1", options=ApplyOptions(wait=False))
    took = time.perf_counter() - start
    assert result.ok, result.error
    return took, dict(result.requests)


def kubectl(kubectl_bin: str, env: dict[str, str], manifest: Path) -> tuple[float, dict[str, int]]:
    args = ("apply", "--server-side", "--field-manager=kubectl-bench", "-f", str(manifest))
    took, _done, counts = kubectl_run.timed(kubectl_bin, env, *args)
    return took, counts


def cpu(client: str, pids: list[int], run: Any, *args: Any) -> tuple[Any, float, float]:
    """run(*args)'s result, the client's CPU seconds and the control plane's."""
    mine = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = cpu_s(pids)
    result = run(*args)
    server = cpu_s(pids) - server
    if client == "ours":
        return result, time.process_time() - mine, server
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    return result, used, server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--auth", choices=("cert", "token"), default="cert")
    args = parser.parse_args()
    n = args.objects

    binaries = locate()
    times: dict[str, list[float]] = {"ours": [], "kubectl": [], "ours-noop": [], "kubectl-noop": []}
    cpus: dict[str, list[tuple[float, float]]] = {"ours": [], "kubectl": []}
    requests: dict[str, dict[str, int]] = {}
    with LocalControlPlane(binaries) as cp, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **cp.env()}
        kube = Kube.from_kubeconfig(str(cp.kubeconfig))
        kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PARENT_NAMESPACE}}
        )
        if args.auth == "token":
            env["KUBECONFIG"] = str(token_kubeconfig(cp, Path(tmp)))
            kube.close()
            kube = Kube.from_kubeconfig(env["KUBECONFIG"])
        base = objects(n, changed=False)
        for r in range(1, args.rounds + 1):
            mine, theirs = f"ours{r}", f"kubectl{r}"
            namespaces(kube, mine)
            namespaces(kube, theirs)
            ref = ApplySetRef(f"bench-{r}", PARENT_NAMESPACE)
            manifest = Path(tmp) / f"round{r}.yaml"
            manifest.write_text(yaml.safe_dump_all(moved(base, theirs)))

            pids = list(cp.processes().values())
            full: dict[str, tuple[Any, ...]] = {}
            # Each full apply starts on a settled control plane (the other's
            # Deployments and Services keep the controllers busy for a while),
            # and the first tool alternates between rounds.
            for tool in ("ours", "kubectl") if r % 2 else ("kubectl", "ours"):
                settled = settle(pids)
                if tool == "ours":
                    full[tool] = cpu("ours", pids, ours, kube, moved(base, mine), ref)
                else:
                    full[tool] = cpu(
                        "kubectl", pids, kubectl, binaries.path("kubectl"), env, manifest
                    )
                print(f"  {tool}: {full[tool][0][0]:.2f}s (after {settled:.0f}s settling)")
            (t_ours, requests["ours"]), *cpu_ours = full["ours"]
            (t_kubectl, requests["kubectl"]), *cpu_kubectl = full["kubectl"]
            cpus["ours"].append((cpu_ours[0], cpu_ours[1]))
            cpus["kubectl"].append((cpu_kubectl[0], cpu_kubectl[1]))
            t_ours_noop, requests["ours-noop"] = ours(kube, moved(base, mine), ref)
            t_kubectl_noop, requests["kubectl-noop"] = kubectl(
                binaries.path("kubectl"), env, manifest
            )
            for name, took in (
                ("ours", t_ours),
                ("kubectl", t_kubectl),
                ("ours-noop", t_ours_noop),
                ("kubectl-noop", t_kubectl_noop),
            ):
                times[name].append(took)
            print(
                f"round {r}: full apply ours {t_ours:.2f}s "
                f"({n / t_ours:.0f}/s, {requests['ours']}), "
                f"kubectl {t_kubectl:.2f}s ({n / t_kubectl:.0f}/s, {requests['kubectl']}); "
                f"no-op ours {t_ours_noop:.3f}s ({requests['ours-noop']}), "
                f"kubectl {t_kubectl_noop:.2f}s ({requests['kubectl-noop']}); CPU s of the "
                f"full apply (client, control plane): ours {cpu_ours[0]:.1f}, {cpu_ours[1]:.1f}; "
                f"kubectl {cpu_kubectl[0]:.1f}, {cpu_kubectl[1]:.1f}"
            )
            for prefix in (mine, theirs):  # keep the cluster the same size for every round
                for ns in NAMESPACES:
                    kube.delete("v1", "Namespace", ns.replace("bench", prefix))
        kube.close()

    med = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"median of {args.rounds}, {n} objects, --auth {args.auth}:\n"
        f"  full apply: ours {med['ours']:.2f}s ({n / med['ours']:.0f} objects/s), "
        f"kubectl apply --server-side {med['kubectl']:.2f}s ({n / med['kubectl']:.0f} objects/s), "
        f"ratio {med['kubectl'] / med['ours']:.1f}x\n"
        f"  no-op: ours {med['ours-noop']:.3f}s, kubectl {med['kubectl-noop']:.2f}s, "
        f"ratio {med['kubectl-noop'] / med['ours-noop']:.0f}x\n"
        f"  requests (last round): {requests}\n"
        f"  CPU s of the full apply, client and control plane: ours "
        f"{statistics.median(c for c, _ in cpus['ours']):.1f}, "
        f"{statistics.median(s for _, s in cpus['ours']):.1f}; kubectl "
        f"{statistics.median(c for c, _ in cpus['kubectl']):.1f}, "
        f"{statistics.median(s for _, s in cpus['kubectl']):.1f}"
    )


if __name__ == "__main__":
    main()
