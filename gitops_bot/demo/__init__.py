"""The local demo: the whole pull-request story on a real control plane.

Owns: the story behind `gitops-bot demo`, told in order: start the local
control plane; make examples/shop a git repository and let one pass of the
real puller (puller.loop.Puller.sync, the engine cluster.apply.reconcile)
apply `main`; push a change on a branch and print the live plan exactly as
the PR comment shows it (planner.plan, core.report.markdown); fast-forward
`main` and let the puller apply it, with per-object outcomes and health;
sync once more to show that an unchanged commit costs no mutating request;
end with what to read next. Cleans up its folders and processes unless
asked to keep them.
Refuses: touching any cluster or repository but the ones it made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from gitops_bot.cluster import apply
from gitops_bot.cluster.applyset import ApplySetRef
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.report import markdown
from gitops_bot.core.report.plan import Plan
from gitops_bot.demo import repo as repo_mod
from gitops_bot.demo import show
from gitops_bot.errors import BotError
from gitops_bot.planner import plan as plan_app
from gitops_bot.puller import outcome, report, status
from gitops_bot.puller.loop import Puller
from gitops_bot.puller.metrics import Metrics
from gitops_bot.puller.settings import ApplySettings, Settings
from gitops_bot.puller.source import Source
from gitops_bot.render.sandbox import Tools
from gitops_bot.testing.binaries import Binaries
from gitops_bot.testing.cluster import LocalControlPlane
from gitops_bot.vcs.git import Git

__all__ = ["run"]

ENVS = ("platform", "dev", "prod", "cache-prod")  # platform first: it makes the namespaces
PULLER_NAMESPACE = "gitops-bot"
_HEALTH_TIMEOUT_S = 60.0


class _Recording(report.Reporter):
    """The puller's reporter, keeping each environment's last ApplyResult to show it."""

    def __init__(self) -> None:
        super().__init__(metrics=Metrics(), log=logging.getLogger("gitops_bot.demo"))
        self.results: dict[str, apply.ApplyResult] = {}

    def applied(
        self,
        env: str,
        result: apply.ApplyResult,
        store: status.Store,
        *,
        seconds: float,
        parent: ApplySetRef,
    ) -> None:
        self.results[env] = result
        super().applied(env, result, store, seconds=seconds, parent=parent)


def _sync(puller: Puller, reporter: _Recording) -> dict[str, apply.ApplyResult]:
    reporter.results.clear()
    outcomes = puller.sync()
    if not outcome.all_in_sync(outcomes):
        errors = "; ".join(f"{e}: {r.error}" for e, r in reporter.results.items() if r.error)
        raise BotError(
            f"the puller's sync of {puller.tip[:12] or 'main'}: {outcome.show(outcomes)} {errors}"
        )
    return dict(reporter.results)


@contextlib.contextmanager
def _folder(keep: bool) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="gitops-bot-demo-"))
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _print_plan(out: TextIO, plan: Plan) -> None:
    for env in plan.envs:
        out.write(f"--- the comment on the pull request for `{env.env}` ---\n\n")
        for part in markdown.env_comment(plan, env):
            out.write(part + "\n")
    out.write("--- the job summary ---\n\n" + markdown.summary(plan) + "\n")


def run(*, binaries: Binaries, out: TextIO, keep: bool = False) -> int:
    started = time.monotonic()
    tools = Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))
    with _folder(keep) as folder, LocalControlPlane(binaries) as cp:
        show.step(out, 1, "A local Kubernetes control plane")
        out.write(f"kube-apiserver ready at {cp.server} in {time.monotonic() - started:.1f}s\n")
        kube = Kube.from_kubeconfig(str(cp.kubeconfig))
        try:
            _story(out, kubeconfig=str(cp.kubeconfig), kube=kube, tools=tools, folder=folder)
            show.step(out, 6, "Next")
            kept = (cp.kubeconfig, folder / "shop") if keep else None
            show.next_steps(out, kept=kept, kubectl=binaries.path("kubectl"))
            if keep:
                with contextlib.suppress(KeyboardInterrupt):
                    threading.Event().wait()
        finally:
            kube.close()
    gone = "the cluster is stopped" + (
        f"; the repository stays in {folder / 'shop'}" if keep else ", the folders removed"
    )
    out.write(f"\nThe whole story took {time.monotonic() - started:.1f}s; {gone}.\n")
    return 0


def _story(out: TextIO, *, kubeconfig: str, kube: Kube, tools: Tools, folder: Path) -> None:
    repo = repo_mod.create(folder)
    show.step(out, 2, "The puller applies `main` of a sample repository")
    out.write(f"sample repository: {repo} (from examples/shop), environments {', '.join(ENVS)}\n")
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PULLER_NAMESPACE}})
    settings = Settings(
        url=str(repo),
        branch="main",
        envs=ENVS,
        namespace=PULLER_NAMESPACE,
        resync_s=0.0,  # reconcile an unchanged commit again at once: the no-op of step 5
        heal=False,
        identity="gitops-bot-demo",
        apply=ApplySettings(health_timeout_s=_HEALTH_TIMEOUT_S),
    )
    reporter = _Recording()
    puller = Puller(
        settings,
        kube=kube,
        source=Source(settings.url, settings.branch, cache=folder / "puller" / "repo.git"),
        tools=tools,
        reporter=reporter,
    )
    try:
        t = time.monotonic()
        first = _sync(puller, reporter)
        out.write(f"one puller sync in {time.monotonic() - t:.1f}s:\n\n")
        show.applied(out, first, puller.tip)

        show.step(out, 3, f"A pull request: branch `{repo_mod.BRANCH}` into `main`")
        for path, old, new in repo_mod.CHANGE:
            out.write(f"  {path}: {old} -> {new}\n")
        out.write("\nThe bot plans it against the live cluster (server-side dry-run):\n\n")
        # As a PR job plans: the same field manager as the puller's applies.
        planner = Kube.from_kubeconfig(kubeconfig)
        try:
            plan = plan_app.plan(
                repo=Git(repo),
                request=plan_app.Request(base="main", head=repo_mod.BRANCH, live=True),
                tools=tools,
                cluster_for=lambda _env: planner,
                mask_key=os.urandom(32),
            )
        finally:
            planner.close()
        _print_plan(out, plan)

        show.step(out, 4, "Merged: the puller applies the new `main`")
        tip = repo_mod.merge(repo)
        out.write(f"main fast-forwarded to {tip[:12]}\n")
        t = time.monotonic()
        second = _sync(puller, reporter)
        out.write(f"one puller sync in {time.monotonic() - t:.1f}s:\n\n")
        show.applied(out, second, puller.tip)

        show.step(out, 5, "Nothing changed since: the next sync is a no-op")
        third = _sync(puller, reporter)
        total = sum(show.mutating(r) for r in third.values())
        for env, result in third.items():
            out.write(f"{env}: {show.requests(result)}\n")
        out.write(f"\nsecond reconcile of {tip[:12]}: {total} mutating requests in all\n")
    finally:
        # run() with `stop` already set syncs nothing and stops the drift watchers.
        stop = threading.Event()
        stop.set()
        puller.run(stop)
