"""The puller's loop: fetch, decide, render, apply, record; for every environment.

Owns: the order of one sync (fetch the tracked branch; for each
environment, serially: decide whether its tip may be applied (descent,
rollback, signature), render it with the bot's own code
(render.render.render, the configuration read at that commit), ask the
Guard, mark the commit attempted in the status object, reconcile with the
apply engine, record status, Events, metrics and a forge status, and point
the drift watcher at what was applied), when syncs happen (every interval,
at once on a poke or when an environment's Lease is gained, again for an
unchanged commit only every resync period, and for a failed one every retry
period) and that each environment is synced and healed only while this
replica holds its Lease (puller.leases; or the one Lease of
puller.leader:Elector for all), read where the last holder left off when
gained, and let go of (no sync of it under way) before it is released;
and that plans asked of the puller (puller.plans) wait while an environment
is being synced. One environment's failure is recorded and the
next one goes on.
Refuses: building its collaborators (puller/wiring.py does) and applying
an environment whose Lease this replica does not hold.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gitops_bot.cluster import apply, applyset
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import ignore
from gitops_bot.core.objects.model import Render
from gitops_bot.core.repo import config
from gitops_bot.core.repo.bounds import Bounds
from gitops_bot.errors import BotError, ConfigError
from gitops_bot.puller import drift as drift_mod
from gitops_bot.puller import report
from gitops_bot.puller import status as status_mod
from gitops_bot.puller.guard import AllowAll, Guard
from gitops_bot.puller.leader import Elector
from gitops_bot.puller.leases import EnvLeases
from gitops_bot.puller.outcome import SyncOutcome
from gitops_bot.puller.settings import Settings
from gitops_bot.puller.source import Move, Source
from gitops_bot.render import fetch
from gitops_bot.render import render as render_mod
from gitops_bot.render.fetch import SourcePolicy
from gitops_bot.render.sandbox import DEFAULT_LIMITS, Limits, Tools


@dataclass
class _Env:
    name: str
    lock: threading.Lock
    ignore_fields: tuple[ignore.Rule, ...] = ()  # the configuration's, at that commit
    last_run: float = float("-inf")  # monotonic time of the last reconcile
    failed: str = ""  # the commit whose render or apply failed last
    drift: drift_mod.DriftWatcher | None = None
    syncing: bool = False  # between deciding and recording (its Lease is not released meanwhile)


class Puller:
    def __init__(
        self,
        settings: Settings,
        *,
        kube: Kube,
        source: Source,
        tools: Tools,
        reporter: report.Reporter,
        elector: Elector | EnvLeases | None = None,
        guard: Guard | None = None,
        limits: Limits = DEFAULT_LIMITS,
        bounds: Bounds | None = None,
        sources: SourcePolicy | None = None,
        log: logging.Logger | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self.kube, self.source, self.tools = settings, kube, source, tools
        self.reporter, self.elector, self.guard = reporter, elector, guard or AllowAll()
        self.limits = limits
        self.bounds = bounds or Bounds()
        self.sources = sources or SourcePolicy()  # the flags'; each commit adds its own list
        self.log = log or logging.getLogger("gitops_bot.puller")
        self._monotonic = monotonic
        self.store = status_mod.Store(kube, namespace=settings.namespace)
        self._envs = {n: _Env(n, threading.Lock()) for n in settings.envs}
        self._wake = threading.Event()
        self._leading: frozenset[str] = frozenset()  # the environments held, as last seen
        self.synced = threading.Event()  # one whole sync of the environments held
        self.tip = ""  # the commit last fetched
        self._applies = threading.Condition()  # plans wait on it (puller.plans)
        self._applying = 0
        self._syncing: list[Callable[[bool], None]] = []  # told when syncs start and end
        self._missed = False  # the last sync skipped an environment held when it began
        self._unread: set[str] = set()  # gained, but its status could not be read
        if isinstance(elector, EnvLeases):
            elector.quiet, elector.changed = self.quiet, self._wake.set

    # -- the outside -----------------------------------------------------------

    def poke(self) -> None:
        self.reporter.metrics.pokes.inc()
        self._wake.set()
        if isinstance(self.elector, EnvLeases):
            self.elector.poke()  # the others may hold environments the push changed

    def holds(self, env: str) -> bool:
        """Whether this replica may apply `env` now (it holds its Lease)."""
        return self.elector is None or self.elector.holds(env)

    def held(self) -> tuple[str, ...]:
        return tuple(env for env in self._envs if self.holds(env))

    def is_leader(self) -> bool:
        """Whether this replica holds any environment."""
        return bool(self.held())

    def ready(self) -> tuple[bool, str]:
        held = self.held()
        if held:
            what = "leader"
            if isinstance(self.elector, EnvLeases):
                what = f"leader of {len(held)}/{len(self._envs)}: {', '.join(held)}"
            if self.synced.is_set():
                return True, f"{what}, synced"
            return False, f"{what}, not synced yet"
        if self.elector is not None and self.elector.observed:
            return True, f"standby; {self.elector.describe()}"
        return False, "standby, the Lease not read yet"

    @contextlib.contextmanager
    def quiet(self, env: str) -> Iterator[bool]:
        """Hold the environment's apply lock if it is free and no sync of it is under
        way (True), else yield False; puller.leases releases a Lease only within it."""
        lock = self._envs[env].lock
        got = lock.acquire(blocking=False)
        if got and self._envs[env].syncing:  # it records what it did outside the lock
            lock.release()
            got = False
        try:
            yield got
        finally:
            if got:
                lock.release()

    def wait_quiet(self, timeout: float) -> bool:
        """Wait until no apply is in progress (plans yield to applies); False at `timeout`."""
        with self._applies:
            return self._applies.wait_for(lambda: self._applying == 0, max(0.0, timeout))

    def on_syncing(self, tell: Callable[[bool], None]) -> None:
        """Call `tell(True)` when a sync starts and `tell(False)` when it ends (the
        plan workers pause meanwhile, puller.planwork)."""
        self._syncing.append(tell)

    @contextlib.contextmanager
    def _apply_in_progress(self) -> Iterator[None]:
        with self._applies:
            self._applying += 1
            if self._applying == 1:
                for tell in self._syncing:
                    tell(True)
        try:
            yield
        finally:
            with self._applies:
                self._applying -= 1
                if self._applying == 0:
                    for tell in self._syncing:
                        tell(False)
                self._applies.notify_all()

    def run(self, stop: threading.Event) -> None:
        """Sync every interval (or at once on a poke) until `stop` is set."""
        try:
            while not stop.is_set():
                self._wake.clear()
                if self._track():
                    self.sync()
                    # One skipped as its Lease lapsed for a moment is tried again soon.
                    soon = self._missed and self.settings.interval_s > 1.0
                    self._wake.wait(1.0 if soon else self.settings.interval_s)
                else:
                    self._wake.wait(min(self.settings.interval_s, 1.0))
        finally:
            self._track(stopping=True)

    def _track(self, *, stopping: bool = False) -> frozenset[str]:
        """Follow what is held: read where the last holder of a gained environment
        left off; stop watching one lost (all when stopping)."""
        held = frozenset() if stopping else frozenset(self.held())
        self._unread = set()
        for name in sorted(held - self._leading):
            try:
                self.store.load(name)
            except BotError as err:  # not followed yet: tried again soon
                self.log.warning("%s: reading its status: %s", name, err)
                held, self._missed = held - {name}, True
                self._unread.add(name)
                continue
            self._envs[name].last_run = float("-inf")
        for name in self._leading - held:
            env = self._envs[name]
            if env.drift is not None:
                env.drift.stop()
                env.drift = None
        self._leading = held
        metrics = self.reporter.metrics
        metrics.leader.set(1 if held else 0)
        for name in self._envs:
            metrics.leased.labels(env=name).set(1 if name in held else 0)
        return held

    # -- one sync ---------------------------------------------------------------

    def sync(self) -> dict[str, SyncOutcome]:
        """Fetch, then bring every environment held to the tip; what happened per environment."""
        self._missed = False
        held = self._track()
        unread = dict.fromkeys(sorted(self._unread), SyncOutcome.FAILED)
        if not held:
            return unread
        try:
            self.tip = self.source.fetch()
        except BotError as err:
            self.reporter.metrics.fetch_errors.inc()
            self.log.warning("fetching %s: %s", self.settings.branch, err)
            return {}
        outcomes: dict[str, SyncOutcome] = dict(unread)
        for env in self._envs.values():
            # One gained meanwhile waits for the next sync (read where its holder left off).
            if env.name not in held:
                continue
            if not self.holds(env.name):
                self._missed = True  # lost (its next holder goes on), or lapsed for a moment
                continue
            env.syncing = True
            try:
                with self._apply_in_progress():  # from its render to its health
                    outcomes[env.name] = self._sync_env(env, self.tip)
                self._missed |= outcomes[env.name] == SyncOutcome.NOT_LEADER
            except BotError as err:  # recorded; the other environments go on
                outcomes[env.name] = SyncOutcome.FAILED
                self.log.warning("%s: %s", env.name, err)
            finally:
                env.syncing = False
        if all(self.holds(name) for name in held):
            self.synced.set()
        return outcomes

    @staticmethod
    def _rollback(asked: str, status: status_mod.EnvStatus) -> str:
        # A rollback followed once is not followed again: a new one needs a new commit.
        return "" if asked and asked == status.rolled_back_to else asked

    def _due(self, env: _Env, status: status_mod.EnvStatus, commit: str) -> bool:
        since = self._monotonic() - env.last_run
        if commit == status.commit and status.outcome == SyncOutcome.APPLIED:
            return since >= self.settings.resync_s
        if commit == env.failed:
            return since >= self.settings.retry_s
        return True

    def _sync_env(self, env: _Env, tip: str) -> SyncOutcome:
        status = self.store.get(env.name)
        rollback = self._rollback(self.settings.rollback_to, status)
        move = self.source.decide(tip, last=status.base, rollback_to=rollback or None)
        if move.rewound and not rollback:  # only then is the annotation worth a request
            rollback = self._rollback(self.store.rollback_to(env.name), status)
            move = self.source.decide(tip, last=status.base, rollback_to=rollback or None)
        if move.refused:
            self.reporter.refused(env.name, tip, move.refused, self.store, self._applyset(env.name))
            return SyncOutcome.REFUSED
        if not self._due(env, status, move.commit):
            return SyncOutcome.UNCHANGED
        started = self._monotonic()
        try:
            render = self._render(env, move.commit)
        except BotError as err:
            env.last_run, env.failed = self._monotonic(), move.commit
            self.reporter.failed(
                env.name, move.commit, str(err), self.store, self._applyset(env.name)
            )
            return SyncOutcome.FAILED
        # A render already applied needs no new approval (a merge that left env alone).
        why = (
            None
            if render.hash == status.render_hash
            else self.guard.allows(env.name, move.commit, render.hash)
        )
        if why is not None:
            self.reporter.refused(env.name, move.commit, why, self.store, self._applyset(env.name))
            return SyncOutcome.REFUSED
        with env.lock:
            if not self.holds(env.name):
                return SyncOutcome.NOT_LEADER
            self._attempting(env.name, move, rollback)
            result = apply.reconcile(
                self.kube,
                render,
                applyset=self._applyset(env.name),
                revision=move.commit,
                options=self._options(),
                ignore_fields=env.ignore_fields,
                log=self.log,
            )
            env.last_run = self._monotonic()
            env.failed = "" if result.ok else move.commit
            self._watch(env, render, result)
        self.reporter.applied(
            env.name,
            result,
            self.store,
            seconds=self._monotonic() - started,
            parent=self._applyset(env.name),
        )
        return SyncOutcome.APPLIED if result.ok else SyncOutcome.FAILED

    def _attempting(self, env: str, move: Move, rollback: str) -> None:
        """Mark the commit attempted (descent is judged from it) and a rollback followed."""
        self.store.update(
            env,
            lambda s: dataclasses.replace(
                s,
                attempted=move.commit,
                rolled_back_to=rollback if move.rollback else s.rolled_back_to,
            ),
        )

    def _render(self, env: _Env, commit: str) -> Render:
        """The environment at `commit`, rendered anew: a render is not kept between
        syncs (at 10,000 objects it is the largest thing a puller would hold; the
        drift watch keeps what it needs compactly), so a re-sync or a retry of the
        same commit renders it again."""
        git = self.source.git
        text = git.read(commit, self.settings.config_file)
        if text is None:
            raise ConfigError(f"{self.settings.config_file}: not found at {commit[:12]}")
        parsed = config.parse(text, file=self.settings.config_file)
        environment = parsed.env(env.name)
        with git.checkout(commit) as tree:
            render = render_mod.render(
                environment,
                root=tree,
                tools=self.tools,
                limits=self.limits,
                meter=self.bounds.meter(env.name),
                # The tracked branch's own list: its commits were reviewed and merged.
                sources=dataclasses.replace(
                    fetch.with_allowed(self.sources, parsed.allow_sources),
                    floating=environment.policy.floating_sources,
                ),
            )
        env.ignore_fields = environment.ignore_fields
        return render

    def _applyset(self, env: str) -> applyset.ApplySetRef:
        return applyset.ApplySetRef(self.settings.parent_name(env), self.settings.namespace)

    def _options(self) -> apply.ApplyOptions:
        a = self.settings.apply
        return apply.ApplyOptions(
            force_conflicts=a.force_conflicts,
            concurrency=a.concurrency,
            prune=a.prune,
            prune_max_share=a.prune_max_share,
            prune_opt_in=a.prune_opt_in,
            wait=a.wait,
            health_timeout=a.health_timeout_s,
        )

    def _watch(self, env: _Env, render: Render, result: apply.ApplyResult) -> None:
        """Point the drift watch at what the cluster holds as applied.

        Objects this reconcile applied or proved unchanged are watched as
        rendered now. After a reconcile that stopped (validation failed, a wave
        failed), an object it never reached is still as the last apply left it:
        watched as before, or not at all if it was never applied; so nothing
        that was never applied is reported "deleted" or healed into existence.
        """
        ref = self._applyset(env.name)
        held = result.in_cluster
        applied, ignored = {}, {}
        for m in render.manifests:
            if m.key not in held:
                continue
            where = f"{m.key} ({m.origin})"
            fields = ignore.fields_for(m.obj, env.ignore_fields, where=where)
            applied[m.key] = ignore.strip(applyset.labelled(m.obj, ref, where=where), fields)
            if fields:
                ignored[m.key] = fields
        if not result.ok and env.drift is not None:
            pruned = set(result.by_outcome(apply.Outcome.PRUNED))
            before = env.drift.watched()
            applied = {**{k: v for k, v in before.items() if k not in pruned}, **applied}
            ignored = {**env.drift.ignored(), **ignored}
        if env.drift is None:
            if not applied:
                return
            env.drift = drift_mod.DriftWatcher(
                self.kube,
                env=env.name,
                selector=ref.selector,
                heal=self.settings.heal,
                lock=env.lock,
                may_act=functools.partial(self.holds, env.name),
                report=functools.partial(self._drifted, env.name, ref),
                log=self.log,
            )
        env.drift.update(applied, ignored=ignored)

    def _drifted(self, env: str, ref: applyset.ApplySetRef, finding: drift_mod.Finding) -> None:
        self.reporter.drifted(env, finding, self.store, ref)

    def drift_watcher(self, env: str) -> drift_mod.DriftWatcher | None:
        """For tests and benchmarks: the environment's drift watcher, once it applied."""
        return self._envs[env].drift
