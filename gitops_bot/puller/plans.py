"""Live plans the puller makes when CI asks (POST /plan), without slowing its applies.

Owns: making the plan a request asks for, with only what the puller
trusts: the request's SHAs are fetched from the puller's own remote (a
commit it cannot fetch is refused), rendered in its sandbox with its own
tools, and dry-run with a client that cannot write (Kube.plan_only: every
write it sends carries dryRun=All), through the same use case as `plan
--live` (planner.plan), in a worker process (puller.planwork), so the
answer is that plan, masked in the cluster.
And the bounds that keep plans from slowing applies: a fixed number of
plans made at once and a short queue behind them (more is refused at
once as busy, never queued without end), at most one plan of an
environment at a time, no plan of an environment started while the
puller syncs (plans yield to applies), and a deadline from arrival: an
environment not started by then is answered as not planned, and why.
Environments this puller does not manage are answered as skipped.
Refuses: authenticating the request (gitops_bot.web.callers, before this),
applying anything, and stopping a plan already started (it is bounded by
the render limits and the plan's own bounds instead).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gitops_bot.core.repo.bounds import Bounds
from gitops_bot.core.report.plan import EnvPlan, Plan, Skipped
from gitops_bot.errors import BotError
from gitops_bot.puller.planwork import Job, Workers
from gitops_bot.puller.source import Source
from gitops_bot.render import render as render_mod
from gitops_bot.render.fetch import SourcePolicy
from gitops_bot.render.sandbox import DEFAULT_LIMITS, Limits, Tools
from gitops_bot.web.planwire import PlanAsk


@dataclass(frozen=True)
class PlanLimits:
    workers: int = 1  # plans made at once (each renders and dry-runs one environment at a time)
    queued: int = 4  # plans admitted to wait behind those; more are refused as busy
    deadline_s: float = 120.0  # from arrival to the start of each environment's plan


class BusyError(BotError):
    """The puller is making as many plans as it admits: ask again shortly."""


class UnfetchableError(BotError):
    """A commit the request names is not in the puller's remote."""


class Planner:
    def __init__(
        self,
        *,
        source: Source,
        workers: Workers,  # the processes plans are made in
        envs: tuple[str, ...],
        config_file: str,
        tools: Tools,
        quiet: Callable[[float], bool],  # wait until no sync is in progress; False at the timeout
        limits: PlanLimits = PlanLimits(),
        render_limits: Limits = DEFAULT_LIMITS,
        bounds: Bounds | None = None,
        sources: SourcePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
    ) -> None:
        self.source, self.workers, self.envs = source, workers, envs
        self.config_file, self.tools, self.quiet = config_file, tools, quiet
        self.limits, self.render_limits = limits, render_limits
        self.bounds = bounds or Bounds()
        self.sources = sources or SourcePolicy()
        self._clock = clock
        self.log = log or logging.getLogger("gitops_bot.puller.plans")
        self._admitted = 0
        self._lock = threading.Lock()
        self._workers = threading.BoundedSemaphore(max(1, limits.workers))
        self._env_locks = {name: threading.Lock() for name in envs}
        self.made = 0  # plans answered (for tests and metrics)
        self.busy = 0  # refused as busy

    def plan(self, ask: PlanAsk) -> Plan:
        """The live plan of `ask`; BusyError, UnfetchableError, or a Plan whose
        environments say what could not be planned."""
        deadline = self._clock() + self.limits.deadline_s
        with self._admission(), self._worker(deadline):
            try:
                self.source.fetch_commits(ask.base, ask.head)
            except BotError as err:
                raise UnfetchableError(str(err)) from None
            try:
                return self._plan(ask, deadline)
            finally:
                self.source.forget_commits(ask.base, ask.head)

    def _plan(self, ask: PlanAsk, deadline: float) -> Plan:
        envs: list[EnvPlan] = []
        skipped: list[Skipped] = []
        for name in ask.envs:
            if name not in self._env_locks:
                managed = ", ".join(self.envs) or "none"
                skipped.append(Skipped(name, f"not managed by this puller (it manages {managed})"))
                continue
            planned = self._env(ask, name, deadline)
            if isinstance(planned, Skipped):
                skipped.append(planned)
            else:
                envs.append(planned)
        self.made += 1
        return Plan(
            base=ask.base,
            head=ask.head,
            envs=tuple(envs),
            skipped=tuple(skipped),
            sandbox=render_mod.isolation(),
        )

    @contextlib.contextmanager
    def _admission(self) -> Iterator[None]:
        admits = max(1, self.limits.workers) + max(0, self.limits.queued)
        with self._lock:
            if self._admitted >= admits:
                self.busy += 1
                raise BusyError(
                    f"the puller is making or holding {self._admitted} plans, as many as it "
                    "admits: ask again in a moment"
                )
            self._admitted += 1
        try:
            yield
        finally:
            with self._lock:
                self._admitted -= 1

    @contextlib.contextmanager
    def _worker(self, deadline: float) -> Iterator[None]:
        if not self._workers.acquire(timeout=max(0.0, deadline - self._clock())):
            raise BusyError(
                f"the plans ahead of this one took its whole deadline "
                f"({self.limits.deadline_s:g} s): ask again in a moment"
            )
        try:
            yield
        finally:
            self._workers.release()

    def _env(self, ask: PlanAsk, name: str, deadline: float) -> EnvPlan | Skipped:
        lock = self._env_locks[name]
        if not lock.acquire(timeout=max(0.0, deadline - self._clock())):
            return Skipped(name, "not planned: another plan of it took the whole deadline")
        try:
            if not self.quiet(deadline - self._clock()):
                return Skipped(name, "not planned: the puller was applying until the deadline")
            return self._make(ask, name)
        finally:
            lock.release()

    def _make(self, ask: PlanAsk, name: str) -> EnvPlan:
        started = self._clock()
        env = self.workers.plan(
            Job(
                repo=self.source.git.root,
                base=ask.base,
                head=ask.head,
                env=name,
                config_file=self.config_file,
                tools=self.tools,
                limits=self.render_limits,
                bounds=self.bounds,
                sources=self.sources,
            )
        )
        self.log.info(
            "planned %s at %s live in %.1f s", name, ask.head[:12], self._clock() - started
        )
        return env
