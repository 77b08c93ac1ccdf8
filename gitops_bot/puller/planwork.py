"""The processes the puller's live plans are made in, apart from its applies.

Owns: a small pool of worker processes (started with "spawn": no thread or
lock of the puller is inherited), each at a lower CPU priority (nice 10) so
an apply and the API server win the cores, with its own plan-only client
built from the puller's kubeconfig that waits before every API request
while the puller syncs (a shared event the puller clears for the length of
a sync: plans yield to applies at every request, and a plan's CPU work never
holds the puller's interpreter); one job in (the bare repository, two
SHAs, one environment, the configuration file, tools, limits, bounds), the
plan of that environment out as its JSON (core.report.json), read back
strictly here; a worker that dies is answered as the environment's error
and the pool started anew. Memory a plan of thousands of objects takes is
the worker's, not the puller's. Refuses: admission, deadlines and locks
(puller.plans does them) and fetching (the commits are in the repository
before a job is sent).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from pathlib import Path

from gitops_bot.cluster.kube import Kube
from gitops_bot.core.repo.bounds import Bounds
from gitops_bot.core.report import json as plan_json
from gitops_bot.core.report.plan import EnvPlan, Plan
from gitops_bot.errors import BotError
from gitops_bot.planner import plan as plan_app
from gitops_bot.render.fetch import SourcePolicy
from gitops_bot.render.sandbox import DEFAULT_LIMITS, Limits, Tools
from gitops_bot.vcs.git import Git

NICE = 10  # below the puller (0): the scheduler gives an apply the cores first
YIELD_MAX_S = 900.0  # a sync longer than this does not hold a plan any longer


@dataclass(frozen=True)
class Cluster:
    """Where the workers' plan-only clients connect: the puller's own kubeconfig."""

    kubeconfig: str | None = None
    context: str | None = None


@dataclass(frozen=True)
class Job:
    repo: Path  # the puller's bare repository, holding both commits
    base: str
    head: str
    env: str
    config_file: str
    tools: Tools
    limits: Limits = DEFAULT_LIMITS
    bounds: Bounds = field(default_factory=Bounds)
    sources: SourcePolicy = field(default_factory=SourcePolicy)


_worker: dict[str, Kube] = {}  # in a worker process: its plan-only client


def _start(cluster: Cluster, quiet: Event, nice: int) -> None:
    """A worker's start: lower its priority, connect, and wait while the puller syncs."""
    if nice:
        os.nice(nice)
    kube = Kube.from_kubeconfig(cluster.kubeconfig, context=cluster.context)
    _worker["kube"] = kube.plan_only(yield_to=lambda: _wait(quiet))
    kube.close()


def _wait(quiet: Event) -> None:
    quiet.wait(YIELD_MAX_S)


def _ready() -> bool:
    return "kube" in _worker


def _run(job: Job) -> str:
    """In a worker: the plan of one environment, as the plan JSON (an error that
    stops it is that environment's error: exceptions are not sent back)."""
    try:
        result = plan_app.plan(
            repo=Git(job.repo),
            request=plan_app.Request(
                base=job.base,
                head=job.head,
                envs=(job.env,),
                live=True,
                config_file=job.config_file,
            ),
            tools=job.tools,
            cluster_for=lambda _env: _worker["kube"],
            mask_key=os.urandom(32),
            limits=job.limits,
            bounds=job.bounds,
            sources=job.sources,
        )
    except BotError as err:
        failed = EnvPlan(env=job.env, error=f"planning on the puller: {err}")
        result = Plan(base=job.base, head=job.head, envs=(failed,))
    return plan_json.render(result)


class Workers:
    """The pool; `syncing(True)` while the puller syncs pauses every plan's requests."""

    def __init__(self, cluster: Cluster, *, workers: int = 1, nice: int = NICE) -> None:
        self.cluster, self.workers, self.nice = cluster, max(1, workers), nice
        self._context = multiprocessing.get_context("spawn")
        self.quiet = self._context.Event()
        self.quiet.set()
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.started = 0  # pools started (a dead worker starts a new one)

    def syncing(self, now: bool) -> None:
        if now:
            self.quiet.clear()
        else:
            self.quiet.set()

    def start(self) -> None:
        """Start the workers now (their imports take a second or two), not at the first plan."""
        self._get().submit(_ready).result()

    def plan(self, job: Job) -> EnvPlan:
        """The plan of job.env; its error says when the worker could not make it."""
        pool = self._get()
        try:
            text = pool.submit(_run, job).result()
        except BrokenProcessPool:
            self._reset(pool)
            return EnvPlan(
                env=job.env,
                error="planning on the puller: the plan's worker process died (out of memory?); "
                "a new one is started for the next plan",
            )
        except Exception as err:  # a bug in the worker: said, not raised
            return EnvPlan(
                env=job.env,
                error=f"planning on the puller: the worker failed ({type(err).__name__})",
            )
        (env,) = plan_json.parse(text).envs
        return env

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _get(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=self._context,
                    initializer=_start,
                    initargs=(self.cluster, self.quiet, self.nice),
                )
                self.started += 1
            return self._pool

    def _reset(self, broken: concurrent.futures.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)
