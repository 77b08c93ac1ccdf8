"""Build a running puller from its options, and run it.

Owns: turning the CLI's typed Options into Settings and the collaborators
(Kube, Source, the per-environment Leases, Reporter with Events and an optional forge, the HTTP
server and, when plans are served, its plan endpoint: the callers allowed, a
plan-only client and the planner's bounds), reading the secrets they need
from their files, starting the Leases' campaign and the loop on threads, and
shutting them down in order (stop acting, release the Leases, close the
server and the client); with --once, one sync and its exit code. Refuses:
reading flags or the environment (cli/puller.py does) and logic
(puller/loop.py).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Protocol

from gitops_bot.cluster import recorder
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.pr import claims
from gitops_bot.errors import BotError, ConfigError
from gitops_bot.forges import registry
from gitops_bot.forges.forge import Connection
from gitops_bot.puller import outcome, report
from gitops_bot.puller.guard import ApprovedRenders, GuardForge
from gitops_bot.puller.leases import EnvLeases
from gitops_bot.puller.loop import Puller
from gitops_bot.puller.metrics import Metrics
from gitops_bot.puller.plans import PlanLimits, Planner
from gitops_bot.puller.planwork import Cluster, Workers
from gitops_bot.puller.server import Handlers, PlanHandlers, Server
from gitops_bot.puller.settings import Options, PlanOptions, Settings
from gitops_bot.puller.source import Source
from gitops_bot.web import callers, oidc
from gitops_bot.web.front import HANDLER_THREADS

log = logging.getLogger("gitops_bot.puller")


def settings_from(options: Options) -> Settings:
    if not options.namespace:
        raise ConfigError("starting the puller: --namespace is needed outside a pod")
    return Settings(
        url=options.repo_url,
        branch=options.branch,
        envs=options.envs,
        namespace=options.namespace,
        config_file=options.config_file,
        interval_s=options.interval,
        resync_s=options.resync,
        retry_s=options.retry,
        heal=options.heal,
        rollback_to=options.rollback_to,
        identity=options.identity,
        lease_name=options.lease_name,
        apply=options.apply,
    )


def _read_secret(path: Path | None, *, what: str) -> str:
    if path is None:
        return ""
    try:
        return path.read_text().strip()
    except OSError as err:
        raise BotError(f"reading {what} from {path}: {err.strerror or err}") from err


class PullerForge(GuardForge, report.ReportForge, Protocol):
    """The forge the puller reads approvals from and reports to."""


def _forge(options: Options) -> PullerForge | None:
    if not options.forge:
        return None
    token = _read_secret(options.forge_token_file, what="the forge token")
    if not options.forge_repo or not (token or options.forge_app):
        raise ConfigError(
            "--forge needs --forge-repo and --forge-token-file (or a GitHub App: --github-app-id)"
        )
    return registry.get(options.forge).connect(
        Connection(
            repo=options.forge_repo,
            token=token,
            api_url=options.forge_api_url or None,
            bot_login=options.forge_bot_login or None,
            app=options.forge_app,
        )
    )


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - a pod listens on all
    except ValueError as err:
        raise ConfigError(f"--listen {value!r}: expected HOST:PORT") from err


def main(options: Options, *, stop: threading.Event) -> int:
    settings = settings_from(options)
    kube = Kube.from_kubeconfig(options.kubeconfig, context=options.context)
    own_cache = options.cache_dir is None
    cache_dir = options.cache_dir or Path(tempfile.mkdtemp(prefix="gitops-bot-git-"))
    try:
        puller, elector = _build(options, settings, kube, cache_dir)
        if options.once:
            outcomes = puller.sync()
            log.info("sync: %s", outcome.show(outcomes) if outcomes else "nothing fetched")
            return 0 if outcome.all_in_sync(outcomes) else 1
        return _serve(puller, elector, options, stop)
    finally:
        kube.close()
        if own_cache:
            shutil.rmtree(cache_dir, ignore_errors=True)


def _build(
    options: Options, settings: Settings, kube: Kube, cache_dir: Path
) -> tuple[Puller, EnvLeases | None]:
    source = Source(
        settings.url,
        settings.branch,
        cache=cache_dir / "repo.git",
        credentials=options.credentials,
        allowed_signers=options.allowed_signers_file,
    )
    elector = _elector(options, settings, kube)
    forge = _forge(options)
    if options.require_approved_render and forge is None:
        raise ConfigError("--require-approved-render needs --forge to read the approvals")
    reporter = report.Reporter(
        metrics=Metrics(),
        events=recorder.Recorder(kube, instance=settings.identity),
        forge=forge,
    )
    puller = Puller(
        settings,
        kube=kube,
        source=source,
        tools=options.tools,
        bounds=options.bounds,
        sources=options.sources,
        reporter=reporter,
        elector=elector,
        guard=ApprovedRenders(forge) if forge and options.require_approved_render else None,
    )
    return puller, elector


def _elector(options: Options, settings: Settings, kube: Kube) -> EnvLeases | None:
    """A Lease per environment, unless election is turned off or the puller syncs once."""
    if not options.leader_elect or options.once:
        return None
    duration = options.lease_duration
    return EnvLeases(
        kube,
        namespace=settings.namespace,
        prefix=settings.lease_name,
        envs=settings.envs,
        identity=settings.identity,
        duration_s=duration,
        renew_deadline_s=duration * 2 / 3,
        retry_s=max(0.5, duration / 7.5),
    )


def _serve(
    puller: Puller, elector: EnvLeases | None, options: Options, stop: threading.Event
) -> int:
    host, port = _listen(options.listen)
    secret = _read_secret(options.poke_secret_file, what="the poke secret").encode()
    workers = (
        Workers(Cluster(options.kubeconfig, options.context), workers=options.plans.workers)
        if options.plans.served
        else None
    )
    server = Server(
        Handlers(poke=puller.poke, ready=puller.ready, metrics=puller.reporter.metrics.exposition),
        secret=secret,
        plans=_plans(options, puller, workers) if workers is not None else None,
        host=host,
        port=port,
    )
    log.info(
        "puller: serving on %s; pulling %s@%s",
        server.url,
        puller.settings.url,
        puller.settings.branch,
    )
    # The Leases are given up only after the loop stopped: never while it may still apply.
    lease_stop = threading.Event()
    lease = (
        threading.Thread(target=elector.run, args=(lease_stop,), name="lease", daemon=True)
        if elector is not None
        else None
    )
    loop = threading.Thread(target=puller.run, args=(stop,), name="loop", daemon=True)
    if lease is not None:
        lease.start()
    loop.start()
    try:
        stop.wait()
    finally:
        stop.set()
        puller.poke()  # wake the loop so it sees `stop`
        loop.join(puller.settings.apply.health_timeout_s + 60)
        lease_stop.set()
        if lease is not None:
            lease.join(30)
        server.close()
        if workers is not None:
            workers.close()
    return 0


def _plans(options: Options, puller: Puller, workers: Workers) -> PlanHandlers:
    """POST /plan: who may ask (callers) and the planner, bounded as the options say."""
    plans = options.plans
    if plans.workers + plans.queued > HANDLER_THREADS - 2:  # /healthz must still be answered
        raise ConfigError(
            f"--plan-workers plus --plan-queue is {plans.workers + plans.queued}; at most "
            f"{HANDLER_THREADS - 2} leave the server room for health checks"
        )
    secret = _read_secret(plans.secret_file, what="the plan secret").encode()
    if plans.secret_file is not None and not secret:
        raise ConfigError(f"--plan-secret-file {plans.secret_file}: the file is empty")
    if secret and secret == _read_secret(options.poke_secret_file, what="the poke secret").encode():
        raise ConfigError("the plan secret must not be the poke secret: give each its own")
    metrics = puller.reporter.metrics
    puller.on_syncing(workers.syncing)
    threading.Thread(target=workers.start, name="plan-workers", daemon=True).start()
    return PlanHandlers(
        callers=callers.Callers(secret=secret or None, verifier=_verifier(plans)),
        answered=lambda status: metrics.plan_requests.labels(answer=str(status)).inc(),
        plan=Planner(
            source=puller.source,
            workers=workers,
            envs=puller.settings.envs,
            config_file=puller.settings.config_file,
            tools=options.tools,
            quiet=puller.wait_quiet,
            limits=PlanLimits(plans.workers, plans.queued, plans.deadline_s),
            render_limits=puller.limits,
            bounds=options.bounds,
            sources=options.sources,
        ).plan,
    )


def _verifier(plans: PlanOptions) -> oidc.OidcVerifier | None:
    if not plans.oidc_audience:
        return None
    if not plans.oidc_repository:
        raise ConfigError("--oidc-audience needs --oidc-repository (owner/name)")
    return oidc.OidcVerifier(
        oidc.OidcSettings(
            audience=plans.oidc_audience,
            binding=claims.Binding(
                repository=plans.oidc_repository,
                refs=plans.oidc_refs,
                repository_id=plans.oidc_repository_id,
            ),
            issuer=plans.oidc_issuer,
            ca_file=plans.oidc_ca_file,
        )
    )
