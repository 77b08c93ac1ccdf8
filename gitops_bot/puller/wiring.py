"""Build a running puller from its flags, and run it.

Owns: turning the CLI's flag values into Settings and the collaborators
(Kube, Source, Elector, Reporter with Events and an optional forge, the
HTTP server), starting the leader election and the loop on threads, and
shutting them down in order (stop acting, release the Lease, close the
server and the client). Refuses: parsing flags (command.py) and logic.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

from gitops_bot.cluster import events as events_mod
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.repo.bounds import Bounds
from gitops_bot.errors import BotError, ConfigError
from gitops_bot.puller import outcome
from gitops_bot.puller import report as report_mod
from gitops_bot.puller.command import read_secret
from gitops_bot.puller.guard import ApprovedRenders, GuardForge
from gitops_bot.puller.leader import Elector
from gitops_bot.puller.loop import Puller
from gitops_bot.puller.metrics import Metrics
from gitops_bot.puller.server import Handlers, Server
from gitops_bot.puller.settings import ApplySettings, Settings
from gitops_bot.puller.source import Credentials, Source
from gitops_bot.render.sandbox import Tools

log = logging.getLogger("gitops_bot.puller")


def settings_from(flags: dict[str, Any]) -> Settings:
    envs = tuple(e for value in flags["envs"] for e in str(value).split() if e)
    if not flags.get("namespace"):
        raise ConfigError("starting the puller: --namespace is needed outside a pod")
    return Settings(
        url=flags["repo_url"],
        branch=flags["branch"],
        envs=envs,
        namespace=flags["namespace"],
        config_file=flags["config_file"],
        interval_s=flags["interval"],
        resync_s=flags["resync"],
        retry_s=flags["retry"],
        heal=flags["heal"],
        rollback_to=flags["rollback_to"],
        identity=flags["identity"],
        apply=ApplySettings(
            force_conflicts=flags["force_conflicts"],
            prune=flags["prune"],
            prune_max_share=flags["prune_max_share"],
            prune_opt_in=frozenset(k for v in flags["prune_opt_in"] for k in str(v).split()),
            wait=flags["wait"],
            health_timeout_s=flags["health_timeout"],
        ),
    )


class PullerForge(GuardForge, report_mod.ReportForge, Protocol):
    """The forge the puller reads approvals from and reports to."""


def _forge(flags: dict[str, Any]) -> PullerForge | None:
    kind = flags.get("forge")
    if not kind:
        return None
    token = read_secret(flags.get("forge_token_file"), what="the forge token")
    if not flags.get("forge_repo") or not token:
        raise ConfigError("--forge needs --forge-repo and --forge-token-file")
    if kind == "github":
        from gitops_bot.forges import github  # noqa: PLC0415

        return github.GitHub(
            repo=flags["forge_repo"],
            token=token,
            base_url=flags.get("forge_api_url") or "https://api.github.com",
            bot_login=flags.get("forge_bot_login") or None,
        )
    from gitops_bot.forges import gitlab  # noqa: PLC0415

    return gitlab.GitLab(
        project=flags["forge_repo"],
        token=token,
        url=flags.get("forge_api_url") or "https://gitlab.com",
    )


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - a pod listens on all
    except ValueError as err:
        raise ConfigError(f"--listen {value!r}: expected HOST:PORT") from err


def main(flags: dict[str, Any], *, stop: threading.Event, once: bool) -> int:
    settings = settings_from(flags)
    kube = Kube.from_kubeconfig(flags.get("kubeconfig"), context=flags.get("context"))
    cache: Path | None = flags.get("cache_dir")
    own_cache = cache is None
    cache_dir = Path(tempfile.mkdtemp(prefix="gitops-bot-git-")) if cache is None else cache
    metrics = Metrics()
    try:
        source = Source(
            settings.url,
            settings.branch,
            cache=cache_dir / "repo.git",
            credentials=Credentials(
                token_file=flags.get("git_token_file"),
                token_user=flags["git_token_user"],
                ssh_key_file=flags.get("ssh_key_file"),
                known_hosts_file=flags.get("known_hosts_file"),
            ),
            allowed_signers=flags.get("allowed_signers_file"),
        )
        elector = (
            Elector(
                kube,
                namespace=settings.namespace,
                name=settings.lease_name,
                identity=settings.identity,
                duration_s=flags["lease_duration"],
                renew_deadline_s=flags["lease_duration"] * 2 / 3,
                retry_s=max(0.5, flags["lease_duration"] / 7.5),
            )
            if flags["leader_elect"] and not once
            else None
        )
        forge = _forge(flags)
        if flags.get("require_approved_render") and forge is None:
            raise ConfigError("--require-approved-render needs --forge to read the approvals")
        reporter = report_mod.Reporter(
            metrics=metrics,
            events=events_mod.Recorder(kube, instance=settings.identity),
            forge=forge,
        )
        puller = Puller(
            settings,
            kube=kube,
            source=source,
            tools=Tools(helm=flags["helm"], kustomize=flags["kustomize"]),
            bounds=Bounds(max_objects=flags.get("max_objects") or Bounds().max_objects),
            reporter=reporter,
            elector=elector,
            guard=ApprovedRenders(forge)
            if forge and flags.get("require_approved_render")
            else None,
        )
        if once:
            outcomes = puller.sync()
            log.info("sync: %s", outcome.show(outcomes) if outcomes else "nothing fetched")
            return 0 if outcome.all_in_sync(outcomes) else 1
        return _serve(puller, elector, flags, stop)
    except BotError:
        raise
    finally:
        kube.close()
        if own_cache:
            shutil.rmtree(cache_dir, ignore_errors=True)


def _serve(
    puller: Puller, elector: Elector | None, flags: dict[str, Any], stop: threading.Event
) -> int:
    host, port = _listen(flags["listen"])
    secret = read_secret(flags.get("poke_secret_file"), what="the poke secret").encode()
    server = Server(
        Handlers(poke=puller.poke, ready=puller.ready, metrics=puller.reporter.metrics.exposition),
        secret=secret,
        host=host,
        port=port,
    )
    log.info(
        "puller: serving on %s; pulling %s@%s",
        server.url,
        puller.settings.url,
        puller.settings.branch,
    )
    # The Lease is given up only after the loop stopped: never while it may still apply.
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
    return 0
