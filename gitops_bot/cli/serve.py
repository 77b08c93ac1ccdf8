"""`gitops-bot serve`: webhooks from GitHub or GitLab, each acted on as `run` does in CI.

Owns: the server's flags, one forge adapter and one repository mirror per
delivery's repository, answering a handler's failure on the pull request
(app.dispatch.answer_failure: nothing fails only in this log), the sweep's
thread (app.sweep over the --repo repositories at start and every
--sweep-interval, its events into the server's queue), and the shutdown on
SIGTERM. Refuses: HTTP mechanics
(web.webhooks) and deciding what an event means (app.dispatch).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitops_bot.cli import common
from gitops_bot.cli.ci import (
    LiveVia,
    forge_adapter,
    git_token,
    live_plans,
    pull_refs,
    puller_options,
)
from gitops_bot.cli.ci import poke as make_poke
from gitops_bot.errors import BotError
from gitops_bot.forges import registry

if TYPE_CHECKING:
    from gitops_bot.app import context
    from gitops_bot.app.dispatch import Poke
    from gitops_bot.core.pr import events
    from gitops_bot.forges.appkey import AppKey
    from gitops_bot.forges.forge import Adapter
    from gitops_bot.vcs.mirror import Mirror
    from gitops_bot.web import webhooks


def _secret(path: str | None) -> bytes:
    return Path(path).read_bytes().strip() if path else b""


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="GITOPS_BOT_HOST")
@click.option("--port", default=8080, show_default=True, type=int, envvar="GITOPS_BOT_PORT")
@click.option(
    "--forge",
    type=click.Choice(registry.names()),
    required=True,
    envvar="GITOPS_BOT_FORGE",
    help="The forge whose webhooks this server takes [env: GITOPS_BOT_FORGE].",
)
@click.option(
    "--api-url",
    envvar="GITOPS_BOT_API_URL",
    help="GitHub's API URL (https://api.github.com) or GitLab's URL (https://gitlab.com) "
    "[env: GITOPS_BOT_API_URL].",
)
@click.option(
    "--git-url",
    envvar="GITOPS_BOT_GIT_URL",
    help="Clone URL with {repo} for the repository path; derived from --api-url when unset "
    "[env: GITOPS_BOT_GIT_URL].",
)
@click.option(
    "--secret-file",
    envvar="GITOPS_BOT_WEBHOOK_SECRET_FILE",
    type=click.Path(dir_okay=False, exists=True),
    required=True,
    help="The webhook secret (GitHub: HMAC key; GitLab: X-Gitlab-Token) "
    "[env: GITOPS_BOT_WEBHOOK_SECRET_FILE].",
)
@click.option(
    "--cache",
    envvar="GITOPS_BOT_CACHE",
    type=click.Path(file_okay=False),
    default=str(Path.home() / ".cache" / "gitops-bot" / "mirrors"),
    show_default=True,
    help="Where the copies of the repositories are kept [env: GITOPS_BOT_CACHE].",
)
@click.option(
    "--repo",
    "repos",
    multiple=True,
    envvar="GITOPS_BOT_REPOS",
    help="A repository (owner/name, or the GitLab project path) whose open pull requests "
    "the sweep looks at; repeat it, or separate them with spaces in the environment "
    "[env: GITOPS_BOT_REPOS]. Without one, nothing is swept.",
)
@click.option(
    "--sweep-interval",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    envvar="GITOPS_BOT_SWEEP_INTERVAL",
    help="Seconds between sweeps for work a lost delivery left undone (docs/serve.md); "
    "one always runs at start; 0: only that one [env: GITOPS_BOT_SWEEP_INTERVAL].",
)
@puller_options
@common.tool_options
@common.bounds_options
@common.github_app_options
def serve(
    *,
    github_app_id: str | None,
    github_app_key_file: str | None,
    host: str,
    port: int,
    forge: str,
    api_url: str | None,
    git_url: str | None,
    secret_file: str,
    cache: str,
    repos: tuple[str, ...],
    sweep_interval: float,
    live: bool,
    live_via: str,
    puller_url: str | None,
    puller_secret_file: str | None,
    plan_secret_file: str | None,
    plan_audience: str | None,
    puller_ca_file: str | None,
    kubeconfig: str | None,
    helm: str,
    kustomize: str,
    allow_sources: tuple[str, ...],
    source_cache: str,
    source_credentials: str | None,
    max_objects: int,
    plan_timeout: float,
) -> None:
    """Take webhooks from GitHub or GitLab and act on each, as `run` does in CI.

    The token comes from GITOPS_BOT_TOKEN; GitHub's bot account from
    GITOPS_BOT_LOGIN when the token cannot tell. As a GitHub App
    (--github-app-id), each delivery is acted on with the installation token
    of the installation it names (else the repository's). Deliveries go to
    POST /webhooks/github or /webhooks/gitlab; GET /healthz answers ok.
    Runs until SIGTERM or Ctrl-C, then finishes the running events.
    At start and every --sweep-interval, the open pull requests of each
    --repo are swept for work a lost delivery left undone (docs/serve.md).
    """
    from gitops_bot.app import context  # noqa: PLC0415
    from gitops_bot.web import webhooks  # noqa: PLC0415

    app = common.github_app(
        github_app_id,
        github_app_key_file,
        forge=forge,
        env=os.environ,
        tokens=("GITOPS_BOT_TOKEN",),
    )
    token = os.environ.get("GITOPS_BOT_TOKEN", "")
    if not token and app is None:
        raise BotError(
            "reading the token: GITOPS_BOT_TOKEN is not set (or give a GitHub App: --github-app-id)"
        )
    descriptor = registry.get(forge)
    api = descriptor.api(api_url)
    secret = _secret(secret_file)
    log = logging.getLogger("gitops_bot.serve")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    handle = _Handler(
        forge=forge,
        api=api,
        clone=git_url or descriptor.clone_url(api),
        token=token,
        app=app,
        cache=Path(cache),
        kubeconfig=kubeconfig,
        # The comment limit is the forge's, set per event with its adapter.
        settings=context.Settings(
            tools=common.tools(helm, kustomize),
            sources=common.sources(allow_sources, source_cache, source_credentials),
            mask_key=common.mask_key,
            comment_limit=descriptor.comment_limit,
            live=live or live_via == "puller",
            live_via=live_plans(
                LiveVia(
                    live_via,
                    puller_url,
                    plan_secret_file,
                    plan_audience,
                    puller_ca_file,
                    forge=forge,
                )
            ),
            bounds=common.bounds(max_objects, plan_timeout),
        ),
        poke=make_poke(puller_url, puller_secret_file),
        log=log,
    )
    settings = webhooks.Settings(secrets={forge: secret})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with webhooks.WebhookServer(
        handler=handle, settings=settings, host=host, port=port, logger=log
    ) as server:
        click.echo(f"gitops-bot: serving {forge} webhooks on {server.url}", err=True)
        sweeper = threading.Thread(
            target=_sweeping,
            args=(server, handle, repos, sweep_interval, stop),
            name="sweep",
            daemon=True,
        )
        sweeper.start()
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        stop.set()


def _sweeping(
    server: webhooks.WebhookServer,
    handle: _Handler,
    repos: tuple[str, ...],
    interval: float,
    stop: threading.Event,
) -> None:
    """The sweep (app.sweep) of every repository, at start and then every `interval`
    seconds (0: at start only) until `stop`; what it finds goes into the server's
    queue as a delivery's event would."""
    from gitops_bot.app import sweep  # noqa: PLC0415

    names = [name for repo in repos for name in repo.split()]
    while not stop.is_set():
        for repo in names:
            try:
                found = list(sweep.sweep(handle.adapter(repo), repo))
            except Exception:
                handle.log.exception("sweeping %s: the forge could not be read", repo)
                continue
            queued = sum(server.submit(handle.forge, event) for event in found)
            handle.log.info("swept %s: %d event(s) found, %d queued", repo, len(found), queued)
        if interval <= 0 or stop.wait(interval):
            return


@dataclass(frozen=True)
class _Handler:
    """Acts on one delivery's event: an adapter and a mirror for its
    repository, the run's settings, and a failure answered on the pull request."""

    forge: str
    api: str
    clone: str  # with {repo}
    token: str  # "" with an app
    app: AppKey | None
    cache: Path
    kubeconfig: str | None
    settings: context.Settings
    poke: Poke | None
    log: logging.Logger
    mirrors: dict[str, Mirror] = field(default_factory=dict)  # by clone URL
    mirrors_lock: threading.Lock = field(default_factory=threading.Lock)
    installations: dict[str, int] = field(default_factory=dict)  # repo -> the App's, if told

    def _connect(self, repo: str, installation: int | None = None) -> tuple[Adapter, int]:
        return forge_adapter(
            self.forge,
            repo=repo,
            token=self.token,
            api_url=self.api,
            bot_login=os.environ.get("GITOPS_BOT_LOGIN") or None,
            app=self.app,
            installation=installation,
        )

    def adapter(self, repo: str) -> Adapter:
        """The forge's adapter for `repo` (what the sweep reads through)."""
        return self._connect(repo)[0]

    def _token(self, repo: str) -> Callable[[], str]:
        def token() -> str:  # read for every fetch: an App's token is replaced before it expires
            return git_token(
                self.forge,
                repo=repo,
                token=self.token,
                api_url=self.api,
                app=self.app,
                installation=self.installations.get(repo),
            )

        return token

    def __call__(self, event: events.Event) -> None:
        from gitops_bot.app import dispatch  # noqa: PLC0415
        from gitops_bot.vcs.mirror import Mirror  # noqa: PLC0415

        repo = getattr(event, "repo", "")
        installation = getattr(event, "installation", None)  # the delivery's App installation
        if installation is not None:
            self.installations[repo] = installation  # the shared mirror's token uses it too
        adapter, limit = self._connect(repo, installation)
        url = self.clone.format(repo=repo)
        with self.mirrors_lock:
            # One Mirror per repository, shared by the workers: its lock keeps
            # their fetches into the one cache folder one at a time.
            mirror = self.mirrors.setdefault(url, Mirror(self.cache, url, token=self._token(repo)))
        with common.clusters(self.kubeconfig) as cluster_for:
            deps = dispatch.Deps(
                forge=adapter,
                repo_for=lambda pull: mirror.sync(
                    pull.base_sha, pull.head_sha, refs=pull_refs(self.forge, pull)
                ),
                branch_repo=mirror.branch,
                settings=replace(self.settings, comment_limit=limit, cluster_for=cluster_for),
                poke=self.poke,
            )
            try:
                done = dispatch.handle(event, deps)
            except Exception as err:
                # Nobody reads this log: say it on the pull request too.
                try:
                    answered = dispatch.answer_failure(event, err, deps)
                except Exception as again:
                    answered = f"and answering on the pull request failed too: {again}"
                self.log.error("%s: %s", type(err).__name__, answered)
                raise
        self.log.info("%s", done.text)
