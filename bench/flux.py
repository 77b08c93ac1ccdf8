"""The puller against Flux, side by side, on one local control plane.

Run: make bench-flux BENCH_FLUX_ARGS="--objects 1000 --rounds 3"
  or .venv/bin/python bench/flux.py [--objects 1000] [--rounds 3] [--change 50]
     [--interval 30] [--window 60]

One control plane (its audit policy widened to every request, so requests are
counted per client by User-Agent), one git repository per round served on
127.0.0.1 by git http-backend (tests/integration/gitserver.py), read by both
tools: `--objects` ConfigMaps in envs/dev/. Our puller (`gitops-bot puller`, its
own process, leader election and drift watch on, fetch every `--interval` s)
applies them to one namespace; Flux's source-controller and kustomize-controller
(testenv/flux/build.sh; a GitRepository and a Kustomization, both every
`--interval`) to another. Every round starts both tools afresh and measures:
  (e) full apply: ours from starting its process (Python start-up included),
      Flux's from creating its two objects (controllers already up) to the
      commit applied; one tool after the other, the first one alternating;
  (a) push-to-applied: a commit changes `--change` ConfigMaps; at once our
      puller is poked and Flux's GitRepository is annotated with
      reconcile.fluxcd.io/requestedAt (what `flux reconcile source git` and a
      Receiver do; the Kustomization follows the new artifact by itself);
      both run at once, each timed to its own
      "applied" (our status object names the commit, the Kustomization's
      lastAppliedRevision does);
  (c) drift healed: another client changes one ConfigMap of each, at once;
      the time until each value is back. We heal from a watch; Flux on its
      Kustomization's next interval (`--interval`);
  (b) steady state: over `--window` s with nothing changing, the API requests
      each tool sent (audit log, by User-Agent) per `--interval`, and the CPU
      seconds of each process (utime+stime, children included);
  (d) memory: our puller's RSS against the sum of Flux's two controllers'.
Prints medians with min-max over the rounds, and the ratios ours/Flux.
notification-controller is not built: its Receiver (a webhook) would replace
the annotation, which is what `flux reconcile` uses.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from gitops_bot.testing import flux
from gitops_bot.testing.binaries import Binaries, locate
from gitops_bot.testing.cluster import LocalControlPlane, free_port
from gitops_bot.web.poke import Poker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.puller import _rss
from tests.integration import pullerkit
from tests.integration.gitserver import GitServer, serving

# Every request at Metadata (user agent, verb, URI), once: a watch is counted
# when it starts (ResponseStarted), anything else when it completes.
_AUDIT_ALL = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}
# Who sent a request, by the start of its User-Agent.
CLIENTS = {
    # The puller's own client (cluster.kube), and the kubernetes package's,
    # which only an exec plugin or a proxy brings in. Matching the second
    # alone counted none of ours at 10,000 objects.
    "ours": ("gitops-bot/", "OpenAPI-Generator/"),
    "flux": ("source-controller/", "kustomize-controller/"),
}
TOOLS = ("ours", "flux")
_POLL_S = 0.05
_TIMEOUT_S = 900.0


def _until(probe: Callable[[], bool], what: str, timeout: float = _TIMEOUT_S) -> float:
    """Poll `probe` until true; the monotonic time it first was."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(_POLL_S)
    return time.monotonic()


def _get(cp: LocalControlPlane, path: str) -> dict[str, Any]:
    status, body = cp.request("GET", path)
    return body if status == 200 and isinstance(body, dict) else {}


def _cm_path(namespace: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps" + (f"/{name}" if name else "")


def _namespace(cp: LocalControlPlane, name: str) -> str:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    status, answer = cp.request("POST", "/api/v1/namespaces", body)
    if status not in (201, 409):
        raise RuntimeError(f"creating namespace {name}: HTTP {status}: {answer}")
    return name


def _cpu_s(pid: int) -> float:
    """utime+stime of the process and of its children it waited for (git, kustomize)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Ours:
    """Our puller, as its own process (`gitops-bot puller`), on `namespace`."""

    def __init__(  # noqa: PLR0917 - a benchmark's knobs
        self,
        cp: LocalControlPlane,
        binaries: Binaries,
        work: Path,
        url: str,
        namespace: str,
        interval: float,
    ) -> None:
        self.cp, self.namespace = cp, namespace
        secret = work / "poke-secret"
        secret.write_text("bench-poke-secret")
        port = free_port()
        self.poker = Poker(f"http://127.0.0.1:{port}", secret=b"bench-poke-secret")
        self.argv = [
            sys.executable,
            "-c",
            "from gitops_bot.cli.puller import puller; puller(prog_name='gitops-bot puller')",
            *("--repo-url", url, "--env", "dev", "--namespace", namespace),
            *("--kubeconfig", str(cp.kubeconfig), "--listen", f"127.0.0.1:{port}"),
            *("--interval", str(interval), "--identity", "bench"),
            *("--poke-secret-file", str(secret), "--cache-dir", str(work / "cache")),
            *("--helm", binaries.path("helm"), "--kustomize", binaries.path("kustomize")),
            *("--log-level", "WARNING"),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)

    def pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid]

    def applied(self, commit: str) -> bool:
        status = _get(self.cp, _cm_path(self.namespace, "gitops-bot-status-dev"))
        return (status.get("data") or {}).get("commit") == commit

    def trigger(self, commit: str) -> None:
        self.poker.poke("refs/heads/main", commit)


class Flux:
    """Flux's controllers (running) and its two objects for one round."""

    def __init__(self, cp: LocalControlPlane, running: flux.LocalFlux, url: str, ns: str) -> None:
        self.cp, self.running, self.url, self.namespace = cp, running, url, ns

    def create(self, interval: float) -> None:
        every = f"{interval:g}s"
        flux.create(self.cp, flux.git_repository("bench", self.namespace, self.url, interval=every))
        flux.create(
            self.cp,
            flux.kustomization(
                "bench",
                self.namespace,
                source="bench",
                path="./envs/dev",
                target_namespace=self.namespace,
                interval=every,
            ),
        )

    def pids(self) -> list[int]:
        return list(self.running.processes().values())

    def applied(self, commit: str) -> bool:
        ks = flux.get(self.cp, "Kustomization", self.namespace, "bench") or {}
        return (ks.get("status") or {}).get("lastAppliedRevision") == f"main@sha1:{commit}"

    def trigger(self, commit: str) -> None:
        """Ask the GitRepository to fetch now (what a Receiver does); the
        Kustomization follows its new artifact. Annotating the Kustomization
        at once as well only makes it apply the old artifact first."""
        del commit  # Flux fetches the branch itself, as we do
        flux.request_reconcile(self.cp, "GitRepository", self.namespace, "bench")

    def remove(self) -> None:
        """Delete the two objects without pruning (fast), so the next round's
        controllers do not reconcile this round's objects too."""
        ks = flux.get(self.cp, "Kustomization", self.namespace, "bench")
        if ks is not None:
            ks["spec"]["prune"] = False
            self.cp.request("PUT", _flux_path("Kustomization", self.namespace, "bench"), ks)
        for kind in ("Kustomization", "GitRepository"):
            self.cp.request("DELETE", _flux_path(kind, self.namespace, "bench"))
        _until(
            lambda: (
                flux.get(self.cp, "Kustomization", self.namespace, "bench") is None
                and flux.get(self.cp, "GitRepository", self.namespace, "bench") is None
            ),
            "Flux's objects to be deleted",
            timeout=_TIMEOUT_S,  # after the reconcile under way: 8 minutes at 10,000 objects
        )


def _flux_path(kind: str, namespace: str, name: str) -> str:
    api = flux.SOURCE_API if kind == "GitRepository" else flux.KUSTOMIZE_API
    plural = {"GitRepository": "gitrepositories", "Kustomization": "kustomizations"}[kind]
    return f"/apis/{api}/namespaces/{namespace}/{plural}/{name}"


def _at_once(probes: dict[str, Callable[[], bool]], start: float, what: str) -> dict[str, float]:
    """Poll every probe in one loop; each one's seconds from `start` to true."""
    done: dict[str, float] = {}
    deadline = start + _TIMEOUT_S
    while len(done) < len(probes):
        for name, probe in probes.items():
            if name not in done and probe():
                done[name] = time.monotonic() - start
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited for {what}: only {', '.join(done) or 'none'} done")
        time.sleep(_POLL_S)
    return done


def _requests(
    cp: LocalControlPlane, since: datetime, until: datetime
) -> tuple[Counter[str], Counter[tuple[str, str, str]]]:
    """Requests per tool received in [since, until), from the audit log; and
    per (client, verb, resource) for every client, to say what they were."""
    counts: Counter[str] = Counter()
    what: Counter[tuple[str, str, str]] = Counter()
    seen: set[str] = set()
    for event in cp.audit_events():
        received = datetime.fromisoformat(event["requestReceivedTimestamp"])
        if not since <= received < until or event["auditID"] in seen:
            continue
        seen.add(event["auditID"])
        agent = str(event.get("userAgent", ""))
        ref = event.get("objectRef") or {}
        what[agent.partition(" ")[0], event["verb"], ref.get("resource", event["requestURI"])] += 1
        for tool, prefixes in CLIENTS.items():
            if agent.startswith(prefixes):
                counts[tool] += 1
    return counts, what


def _drift(cp: LocalControlPlane, namespace: str, name: str, value: str) -> None:
    """Change one ConfigMap as another client would (an update that takes data.v)."""
    obj = _get(cp, _cm_path(namespace, name))
    obj["data"]["v"] = value
    status, body = cp.request("PUT", _cm_path(namespace, name), obj)
    if status != 200:
        raise RuntimeError(f"drifting {namespace}/{name}: HTTP {status}: {body}")


def _value(cp: LocalControlPlane, namespace: str, name: str) -> str:
    return str((_get(cp, _cm_path(namespace, name)).get("data") or {}).get("v", ""))


@contextlib.contextmanager
def _ours(*args: Any) -> Iterator[Ours]:
    ours = Ours(*args)
    try:
        yield ours
    finally:
        ours.stop()


def one_round(  # noqa: PLR0917 - a benchmark's knobs
    cp: LocalControlPlane,
    binaries: Binaries,
    flux_bin: Path,
    server: GitServer,
    work: Path,
    r: int,
    args: argparse.Namespace,
) -> dict[str, dict[str, float]]:
    ns = {t: _namespace(cp, f"{t}-{r}") for t in TOOLS}
    name = f"bench-{r}"
    # `--change` of the objects in hot.yaml (what a push changes), the rest in cm.yaml.
    tip = server.repo(
        name,
        {
            ".gitops.yaml": pullerkit.config(ns["ours"]),
            **pullerkit.configmaps("dev", args.change, prefix="hot"),
            **pullerkit.configmaps("dev", args.objects - args.change),
        },
    )
    url = f"{server.url}{name}.git"
    out: dict[str, dict[str, float]] = {t: {} for t in TOOLS}
    rng = random.Random(r)  # noqa: S311 - a benchmark's schedule, reproducible
    rdir = work / f"round-{r}"
    rdir.mkdir()
    with (
        flux.LocalFlux(cp, flux_bin, workdir=rdir / "flux") as running,
        _ours(cp, binaries, rdir, url, ns["ours"], args.interval) as ours,
    ):
        theirs = Flux(cp, running, url, ns["flux"])
        tools: dict[str, Ours | Flux] = {"ours": ours, "flux": theirs}
        # (e) full apply, one after the other, the first alternating by round.
        order = TOOLS if r % 2 == 0 else TOOLS[::-1]
        for tool in order:
            start = time.monotonic()
            if tool == "ours":
                ours.start()
            else:
                theirs.create(args.interval)
            end = _until(lambda t=tool: tools[t].applied(tip), f"{tool} to apply")
            out[tool]["full_apply_s"] = end - start
            print(f"  round {r}: {tool} applied {args.objects} objects in {end - start:.1f} s")
        # (a) push-to-applied, both triggered at once.
        tip = server.repo(name, pullerkit.configmaps("dev", args.change, value="2", prefix="hot"))
        start = time.monotonic()
        threads = [threading.Thread(target=t.trigger, args=(tip,)) for t in tools.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = _at_once({t: lambda t=t: tools[t].applied(tip) for t in TOOLS}, start, "the push")
        for tool in TOOLS:
            out[tool]["push_to_applied_s"] = took[tool]
        # (c) drift, in both at once, at a random point of Flux's interval (it
        # heals on its next one; right after the push would be its worst case).
        time.sleep(2 + rng.uniform(0, args.interval))
        start = time.monotonic()
        for tool in TOOLS:
            _drift(cp, ns[tool], "hot-0", "drifted")
        took = _at_once(
            {t: lambda t=t: _value(cp, ns[t], "hot-0") == "2" for t in TOOLS}, start, "the drift"
        )
        for tool in TOOLS:
            out[tool]["drift_healed_s"] = took[tool]
        # (b) steady state over the window, (d) memory at its end.
        cpu0 = {t: sum(_cpu_s(p) for p in tools[t].pids()) for t in TOOLS}
        since = datetime.now().astimezone()
        time.sleep(args.window)
        until = datetime.now().astimezone()
        cpu1 = {t: sum(_cpu_s(p) for p in tools[t].pids()) for t in TOOLS}
        time.sleep(1)  # the last requests' audit events
        counts, what = _requests(cp, since, until)
        if args.verbose:
            for (agent, verb, resource), n in what.most_common(25):
                print(f"    window: {n:6d} {verb:6s} {resource:30s} {agent}")
        per_interval = args.interval / args.window
        for tool in TOOLS:
            out[tool]["requests_per_interval"] = counts[tool] * per_interval
            out[tool]["cpu_s_per_interval"] = (cpu1[tool] - cpu0[tool]) * per_interval
            rss = [_rss(p) for p in tools[tool].pids()]
            out[tool]["rss_mib"] = sum(m["VmRSS"] for m in rss)
            out[tool]["peak_rss_mib"] = sum(m["VmHWM"] for m in rss)
        # Printed before the clean-up: at 10,000 objects Flux takes the
        # deletion only after the reconcile it is in, minutes later.
        print(f"  round {r}: {json.dumps(out)}", flush=True)
        if r + 1 < args.rounds:  # the last round's objects go with the control plane
            theirs.remove()
    return out


_ROWS = (
    ("full_apply_s", "(e) full apply, s"),
    ("push_to_applied_s", "(a) push-to-applied, s"),
    ("drift_healed_s", "(c) drift healed, s"),
    ("requests_per_interval", "(b) API requests per interval"),
    ("cpu_s_per_interval", "(b) CPU s per interval"),
    ("rss_mib", "(d) RSS, MiB"),
    ("peak_rss_mib", "(d) peak RSS, MiB"),
)


def _cell(values: list[float]) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.2f}"
    return f"{med:.2f} ({min(values):.2f}-{max(values):.2f})"


def table(rounds: list[dict[str, dict[str, float]]]) -> str:
    lines = [
        "| measure | ours | Flux | ours/Flux (median of per-round ratios) |",
        "|---|---|---|---|",
    ]
    for key, label in _ROWS:
        ours = [r["ours"][key] for r in rounds]
        theirs = [r["flux"][key] for r in rounds]
        ratios = [o / t for o, t in zip(ours, theirs, strict=True) if t]
        ratio = f"{statistics.median(ratios):.3f}" if ratios else "-"
        lines.append(f"| {label} | {_cell(ours)} | {_cell(theirs)} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--change", type=int, default=50)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--verbose", action="store_true", help="the window's requests by client")
    parser.add_argument("--json", type=Path, help="also write every round's figures here")
    args = parser.parse_args()
    # A SIGTERM (a background run stopped) still stops the puller and Flux.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    binaries = locate()
    flux_bin = flux.locate()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        policy = work / "audit-all.yaml"
        policy.write_text(yaml.safe_dump(_AUDIT_ALL))
        extra = {"kube-apiserver": [f"--audit-policy-file={policy}"]}  # the last one wins
        (work / "git").mkdir()
        with (
            LocalControlPlane(binaries, workdir=work / "cp", extra_args=extra) as cp,
            serving(work / "git") as server,
        ):
            rounds = []
            for r in range(args.rounds):
                rounds.append(one_round(cp, binaries, flux_bin, server, work, r, args))
    if args.json is not None:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": None}, "rounds": rounds}))
    print(
        f"\n{args.objects} ConfigMaps, {args.rounds} round(s), {args.change} changed per push, "
        f"interval {args.interval:g} s (our fetch; Flux's GitRepository and Kustomization), "
        f"window {args.window:g} s; median (min-max):\n"
    )
    print(table(rounds))


if __name__ == "__main__":
    main()
