"""Our live diff against `kubectl diff --server-side`, on the same objects.

Run: .venv/bin/python bench/livediff.py [--objects 1000] [--rounds 3] [--change-every 10]
     [--ours-only] [--cli]

Starts a local control plane, applies N mixed objects (ConfigMaps, Secrets,
Services, ServiceAccounts, Deployments) across 4 namespaces as field manager
gitops-bot, changes 10% of them in the desired state, then, in the same run,
times:
  - ours: gitops_bot.planner.plan.live_diff (one LIST per kind and namespace, one
    server-side dry-run per object, concurrent), as `plan --live` runs it;
  - kubectl diff --server-side --field-manager=gitops-bot -f <all objects>.
Both must find the same changed objects, each timed on a settled control
plane (`settle`: the Deployments' pods keep the controllers busy for a while
after the objects are applied). Prints medians, the ratio, and the requests
each sent (ours from the client's counter, kubectl's from -v=6).
With --ours-only, kubectl is not run (at 10,000 objects one kubectl diff
takes minutes on a shared machine). Above 1,000 objects the Services are
headless: the test cluster's service range (a /24) cannot hold more.

With --cli, "ours" is `gitops-bot plan --live --format json` end to end, as a
user runs it: a fresh process, on a git repository whose main holds the applied
objects in envs/dev/ (100 per file) and whose branch `change` holds the
desired ones; it renders and parses both sides, diffs them, diffs the head
against the cluster and prints the JSON plan. Its peak RSS is read with
os.wait4. Both tools must still find the same changed objects.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import kubectl_run
import yaml
from envs import plan_once

from gitops_bot.cluster import pool
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects.model import Key, Manifest, Origin, Render
from gitops_bot.core.report.plan import Action
from gitops_bot.planner.plan import live_diff
from gitops_bot.testing.binaries import locate
from gitops_bot.testing.cluster import LocalControlPlane

NAMESPACES = ("bench-a", "bench-b", "bench-c", "bench-d")


def objects(n: int, *, changed: bool, every: int = 10) -> list[dict[str, Any]]:
    """n mixed objects; with changed=True, every `every`-th one differs."""
    out: list[dict[str, Any]] = []
    headless = {"clusterIP": "None"} if n > 1000 else {}
    for i in range(n):
        ns = NAMESPACES[i % len(NAMESPACES)]
        bump = changed and i % every == 0
        meta = {"name": f"obj-{i}", "namespace": ns, "labels": {"bench": "livediff"}}
        kind = i % 10
        if kind < 4:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": meta,
                    "data": {"value": f"{i}-{'new' if bump else 'old'}", "static": "x" * 200},
                }
            )
        elif kind < 6:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": meta,
                    "type": "Opaque",
                    "stringData": {"token": f"secret-{i}-{'new' if bump else 'old'}"},
                }
            )
        elif kind < 8:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": meta,
                    "spec": {
                        **headless,
                        "selector": {"app": f"obj-{i}"},
                        "ports": [{"port": 8080 if bump else 80, "targetPort": 8080}],
                    },
                }
            )
        elif kind < 9:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {**meta, "annotations": {"rev": "2" if bump else "1"}},
                }
            )
        else:
            out.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": meta,
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {"app": f"obj-{i}"}},
                        "template": {
                            "metadata": {"labels": {"app": f"obj-{i}"}},
                            "spec": {
                                "containers": [
                                    {"name": "app", "image": f"nginx:{'1.28' if bump else '1.27'}"}
                                ]
                            },
                        },
                    },
                }
            )
    return out


def cpu_s(pids: list[int]) -> float:
    """utime+stime of these processes."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def settle(
    pids: list[int], *, quiet: float = 0.25, window: float = 5.0, most: float = 180
) -> float:
    """Wait until the control plane used less than `quiet` of a core over
    `window` seconds (at most `most` seconds); how long it took."""
    start = time.monotonic()
    while time.monotonic() - start < most:
        before = cpu_s(pids)
        time.sleep(window)
        if (cpu_s(pids) - before) / window < quiet:
            break
    return time.monotonic() - start


def render(objs: list[dict[str, Any]]) -> Render:
    return Render.of("bench", [Manifest(Key.of(o), o, Origin("bench.yaml")) for o in objs])


def ours(kubeconfig: str, desired: Render) -> tuple[float, set[Key], dict[str, int], int]:
    kube = Kube.from_kubeconfig(kubeconfig)
    try:
        start = time.perf_counter()
        changes, _drift, errors = live_diff(
            kube, render([]), desired, mask_key=b"k" * 32, secrets=set()
        )
        took = time.perf_counter() - start
    finally:
        kube.close()
    assert not errors, errors
    changed = {c.key for c in changes if c.action is not Action.UNCHANGED}
    return took, changed, dict(kube.requests), 0


def repository(root: Path, applied: list[dict[str, Any]], desired: list[dict[str, Any]]) -> None:
    """A git repository: main holds `applied` in envs/dev/, branch `change` holds `desired`."""

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)

    def write(objs: list[dict[str, Any]]) -> None:
        folder = root / "envs" / "dev"
        folder.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(objs), 100):
            chunk = objs[start : start + 100]
            (folder / f"objects-{start // 100:04d}.yaml").write_text(yaml.safe_dump_all(chunk))

    root.mkdir()
    git("init", "-q", "-b", "main")
    git("config", "user.email", "bench@example.com")
    git("config", "user.name", "bench")
    (root / ".gitops.yaml").write_text("version: 1\nenvironments:\n  dev:\n    plain: envs/dev\n")
    write(applied)
    git("add", "-A")
    git("commit", "-q", "-m", "applied")
    git("checkout", "-q", "-b", "change")
    write(desired)
    git("commit", "-q", "-am", "change")


def cli(root: Path, env: dict[str, str]) -> tuple[float, set[Key], float]:
    """(seconds, changed keys live, peak RSS in MiB) of one `gitops-bot plan --live`."""
    took, rss, plan = plan_once(root, env, "--live")
    (planned,) = plan["environments"]
    changed = {
        Key(c["key"]["group"], c["key"]["kind"], c["key"]["namespace"], c["key"]["name"])
        for c in planned["live"]
        if c["action"] != "unchanged"
    }
    return took, changed, rss


def kubectl(
    kubectl_bin: str, env: dict[str, str], manifest: Path
) -> tuple[float, set[Key], dict[str, int]]:
    args = ("diff", "--server-side", "--field-manager=gitops-bot", "-f", str(manifest))
    took, done, counts = kubectl_run.timed(kubectl_bin, env, *args, ok=(0, 1))
    changed = set()
    for header in re.finditer(r"^diff -u -N \S+/(\S+)\.(\S+)\.(\S+)\.(\S+) ", done.stdout, re.M):
        group_version_kind, ns, name = header.group(1), header.group(3), header.group(4)
        changed.add((group_version_kind, ns, name))
    return took, {Key("", "", ns, name) for _, ns, name in changed}, counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--change-every",
        type=int,
        default=10,
        help="change every N-th object (10: 10%%; 1: all of them)",
    )
    parser.add_argument("--ours-only", action="store_true", help="do not run kubectl diff")
    parser.add_argument(
        "--cli", action="store_true", help="ours: `gitops-bot plan --live` end to end"
    )
    args = parser.parse_args()

    binaries = locate()
    with LocalControlPlane(binaries) as cp, tempfile.TemporaryDirectory() as tmp:
        kube = Kube.from_kubeconfig(str(cp.kubeconfig))
        for ns in NAMESPACES:
            kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        start = time.perf_counter()
        pool.run_all(
            kube.apply,
            objects(args.objects, changed=False),
            limit=pool.AdaptiveLimit(start=16, maximum=32),
        )
        print(f"applied {args.objects} objects in {time.perf_counter() - start:.1f}s")
        kube.close()

        desired = objects(args.objects, changed=True, every=args.change_every)
        manifest = Path(tmp) / "desired.yaml"
        manifest.write_text(yaml.safe_dump_all(desired))
        env = {**os.environ, **cp.env()}
        if args.cli:
            repository(Path(tmp) / "repo", objects(args.objects, changed=False), desired)

        our_times, their_times = [], []
        pids = list(cp.processes().values())
        for r in range(args.rounds):
            # The objects' controllers (1,000 Deployments' pods) settle first,
            # and again before kubectl: both time a quiet control plane.
            print(f"  settled after {settle(pids):.0f}s", flush=True)
            if args.cli:
                t_ours, our_changed, rss = cli(Path(tmp) / "repo", env)
                our_requests = {"peak RSS MiB": round(rss)}
            else:
                t_ours, our_changed, our_requests, _ = ours(str(cp.kubeconfig), render(desired))
            our_times.append(t_ours)
            if args.ours_only:
                print(
                    f"round {r + 1}: ours {t_ours:.2f}s ({len(our_changed)} changed, "
                    f"requests {our_requests})"
                )
                continue
            settle(pids)
            t_kubectl, their_changed, their_requests = kubectl(
                binaries.path("kubectl"), env, manifest
            )
            their_times.append(t_kubectl)
            same = {(k.namespace, k.name) for k in our_changed} == {
                (k.namespace, k.name) for k in their_changed
            }
            print(
                f"round {r + 1}: ours {t_ours:.2f}s ({len(our_changed)} changed, requests "
                f"{our_requests}); kubectl {t_kubectl:.2f}s ({len(their_changed)} changed, "
                f"requests {their_requests}); same objects found: {same}"
            )
        if args.ours_only:
            print(
                f"median of {args.rounds}: ours {statistics.median(our_times):.2f}s "
                f"(min {min(our_times):.2f}s, max {max(our_times):.2f}s)"
            )
            return
        ours_median, theirs_median = statistics.median(our_times), statistics.median(their_times)
        print(
            f"median of {args.rounds}: ours {ours_median:.2f}s, kubectl diff --server-side "
            f"{theirs_median:.2f}s, ratio {theirs_median / ours_median:.1f}x"
        )


if __name__ == "__main__":
    main()
