"""`gitops-bot run` (one CI job, one event) and `gitops-bot serve` (webhooks, many events).

Owns: building the forge adapter, the repository and the puller hand-off
for an event, from the CI variables (run) or from flags and the delivery
(serve), then calling app.dispatch. Refuses: deciding what an event means
(app.dispatch does) and HTTP mechanics (webhook_server does).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitops_bot.cli import common
from gitops_bot.errors import BotError

if TYPE_CHECKING:
    from gitops_bot.app.dispatch import Poke
    from gitops_bot.app.review import ReviewForge
    from gitops_bot.cienv import CiContext
    from gitops_bot.core import events
    from gitops_bot.core.forge import Pull
    from gitops_bot.core.plan import Plan
    from gitops_bot.vcs.git import Git


def _puller_options(f: Callable[..., None]) -> Callable[..., None]:
    f = click.option(
        "--puller-url",
        envvar="GITOPS_BOT_PULLER_URL",
        help="The puller's base URL, poked on a push to the default branch "
        "[env: GITOPS_BOT_PULLER_URL].",
    )(f)
    f = click.option(
        "--puller-secret-file",
        envvar="GITOPS_BOT_PULLER_SECRET_FILE",
        type=click.Path(dir_okay=False, exists=True),
        help="The shared secret that signs pokes [env: GITOPS_BOT_PULLER_SECRET_FILE].",
    )(f)
    return click.option(
        "--live/--offline",
        envvar="GITOPS_BOT_LIVE",
        default=False,
        show_default=True,
        help="Also diff against the live cluster [env: GITOPS_BOT_LIVE].",
    )(f)


def _poke(url: str | None, secret_file: str | None) -> Poke | None:
    if not url:
        return None
    # The secret's value may come straight from a CI secret variable.
    secret = os.environ.get("GITOPS_BOT_PULLER_SECRET", "").encode()
    if secret_file:
        secret = Path(secret_file).read_bytes()
    if not secret.strip():
        raise BotError(
            "--puller-url needs the poke secret: --puller-secret-file or GITOPS_BOT_PULLER_SECRET"
        )
    from gitops_bot import puller_client  # noqa: PLC0415

    return puller_client.Poker(url, secret=secret.strip()).poke


def forge_adapter(
    forge: str, *, repo: str, token: str, api_url: str, bot_login: str | None
) -> tuple[ReviewForge, int]:
    """The adapter for `forge` ("github" or "gitlab"), and its comment limit."""
    if forge == "github":
        from gitops_bot.forges import github  # noqa: PLC0415

        adapter = github.GitHub(repo=repo, token=token, base_url=api_url, bot_login=bot_login)
        return adapter, github.COMMENT_LIMIT
    from gitops_bot.forges import gitlab  # noqa: PLC0415

    return gitlab.GitLab(project=repo, token=token, url=api_url), gitlab.COMMENT_LIMIT


@click.command()
@click.option(
    "--config",
    "config_file",
    envvar="GITOPS_BOT_CONFIG",
    default=".gitops.yaml",
    show_default=True,
    help="The configuration file, relative to the repository root [env: GITOPS_BOT_CONFIG].",
)
@click.option(
    "--env",
    "envs",
    envvar="GITOPS_BOT_ENVS",
    default="",
    metavar="NAMES",
    help="Plan only these environments, comma-separated [env: GITOPS_BOT_ENVS].",
)
@click.option(
    "--comment-mode",
    envvar="GITOPS_BOT_COMMENT_MODE",
    type=click.Choice(["always", "changes", "off"]),
    default="always",
    show_default=True,
    help="always: a comment per environment; changes: only where something changes "
    "(existing comments kept up to date); off: statuses only [env: GITOPS_BOT_COMMENT_MODE].",
)
@_puller_options
@common.tool_options
def run(
    *,
    config_file: str,
    envs: str,
    comment_mode: str,
    live: bool,
    puller_url: str | None,
    puller_secret_file: str | None,
    kubeconfig: str | None,
    helm: str,
    kustomize: str,
) -> None:
    """The CI entry point: act on the event GitHub Actions or GitLab CI started us for.

    A pull/merge request opened, reopened or pushed to: plan it, keep one
    comment per environment, a status `gitops/plan/ENV` per affected
    environment and a summary status `gitops` on its head. Closed without
    merge: resolve its pending statuses. A push to the default branch: poke
    the puller. Exit codes: 0 done (or nothing to do), 2 error.
    """
    from gitops_bot import cienv  # noqa: PLC0415
    from gitops_bot.app import dispatch  # noqa: PLC0415

    ctx = cienv.detect(os.environ, read=lambda path: Path(path).read_text())
    forge, limit = forge_adapter(
        ctx.forge, repo=ctx.repo, token=ctx.token, api_url=ctx.api_url, bot_login=ctx.bot_login
    )
    repo_for = _workspace_or_fetch(ctx)
    with common.clusters(kubeconfig) as cluster_for:
        done = dispatch.handle(
            ctx.event,
            dispatch.Deps(
                forge=forge,
                repo_for=repo_for,
                tools=common.tools(helm, kustomize),
                mask_key=common.mask_key,
                comment_limit=limit,
                cluster_for=cluster_for,
                live=live,
                poke=_poke(puller_url, puller_secret_file),
                envs=tuple(e.strip() for e in envs.split(",") if e.strip()),
                config_file=config_file,
                comment_mode=comment_mode,
            ),
        )
    click.echo(f"gitops-bot: {done.text}")
    if done.plan is not None:
        _github_outputs(done.plan)
    if done.failed:
        sys.exit(2)


def _github_outputs(plan: Plan) -> None:
    """has-changes and summary for the action's outputs, and the job summary,
    when GitHub Actions gives the files for them."""
    from gitops_bot.core.report import markdown  # noqa: PLC0415

    summary = markdown.summary(plan)
    if output := os.environ.get("GITHUB_OUTPUT"):
        delimiter = f"gitops_bot_{os.urandom(8).hex()}"
        with Path(output).open("a") as f:
            f.write(f"has-changes={'true' if plan.has_changes else 'false'}\n")
            f.write(f"summary<<{delimiter}\n{summary.rstrip()}\n{delimiter}\n")
    if step_summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        with Path(step_summary).open("a") as f:
            f.write(summary.rstrip() + "\n")


def _workspace_or_fetch(ctx: CiContext) -> Callable[[Pull], Git]:
    """The CI checkout when it holds the pull request's commits (pull request
    events); else (a comment or a review starts the job on the default
    branch) a copy that fetches them."""
    from gitops_bot.vcs.git import Git, GitError  # noqa: PLC0415
    from gitops_bot.vcs.mirror import Mirror  # noqa: PLC0415

    workspace = Git(Path(ctx.workspace))

    def repo_for(pull: Pull) -> Git:
        try:
            workspace.resolve(pull.base_sha)
            workspace.resolve(pull.head_sha)
        except GitError:
            cache = Path(os.environ.get("RUNNER_TEMP") or tempfile.gettempdir())
            mirror = Mirror(cache / "gitops-bot-mirrors", ctx.git_url, token=ctx.token)
            return mirror.sync(pull.base_sha, pull.head_sha, refs=_pull_refs(ctx.forge, pull))
        return workspace

    return repo_for


def _pull_refs(forge: str, pull: Pull) -> tuple[str, ...]:
    head = (
        f"refs/pull/{pull.number}/head"
        if forge == "github"
        else (f"refs/merge-requests/{pull.number}/head")
    )
    return (f"refs/heads/{pull.base_ref}", head)


def _secret(path: str | None) -> bytes:
    return Path(path).read_bytes().strip() if path else b""


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="GITOPS_BOT_HOST")
@click.option("--port", default=8080, show_default=True, type=int, envvar="GITOPS_BOT_PORT")
@click.option(
    "--forge",
    type=click.Choice(["github", "gitlab"]),
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
@_puller_options
@common.tool_options
def serve(
    *,
    host: str,
    port: int,
    forge: str,
    api_url: str | None,
    git_url: str | None,
    secret_file: str,
    cache: str,
    live: bool,
    puller_url: str | None,
    puller_secret_file: str | None,
    kubeconfig: str | None,
    helm: str,
    kustomize: str,
) -> None:
    """Take webhooks from GitHub or GitLab and act on each, as `run` does in CI.

    The token comes from GITOPS_BOT_TOKEN; GitHub's bot account from
    GITOPS_BOT_LOGIN when the token cannot tell. Deliveries go to
    POST /webhooks/github or /webhooks/gitlab; GET /healthz answers ok.
    Runs until SIGTERM or Ctrl-C, then finishes the running events.
    """
    from gitops_bot import webhook_server  # noqa: PLC0415
    from gitops_bot.app import dispatch  # noqa: PLC0415
    from gitops_bot.vcs.mirror import Mirror  # noqa: PLC0415

    token = os.environ.get("GITOPS_BOT_TOKEN", "")
    if not token:
        raise BotError("reading the token: GITOPS_BOT_TOKEN is not set")
    api = api_url or ("https://api.github.com" if forge == "github" else "https://gitlab.com")
    clone = git_url or _clone_url(forge, api)
    secret = _secret(secret_file)
    tools = common.tools(helm, kustomize)
    poke = _poke(puller_url, puller_secret_file)
    log = logging.getLogger("gitops_bot.serve")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def handle(event: events.Event) -> None:
        repo = getattr(event, "repo", "")
        adapter, limit = forge_adapter(
            forge,
            repo=repo,
            token=token,
            api_url=api,
            bot_login=os.environ.get("GITOPS_BOT_LOGIN") or None,
        )
        mirror = Mirror(Path(cache), clone.format(repo=repo), token=token)
        with common.clusters(kubeconfig) as cluster_for:
            done = dispatch.handle(
                event,
                dispatch.Deps(
                    forge=adapter,
                    repo_for=lambda pull: mirror.sync(
                        pull.base_sha, pull.head_sha, refs=_pull_refs(forge, pull)
                    ),
                    tools=tools,
                    mask_key=common.mask_key,
                    comment_limit=limit,
                    cluster_for=cluster_for,
                    live=live,
                    poke=poke,
                ),
            )
        log.info("%s", done.text)

    settings = webhook_server.Settings(
        github_secret=secret if forge == "github" else b"",
        gitlab_secret=secret.decode() if forge == "gitlab" else "",
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with webhook_server.WebhookServer(
        handler=handle, settings=settings, host=host, port=port, logger=log
    ) as server:
        click.echo(f"gitops-bot: serving {forge} webhooks on {server.url}", err=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


def _clone_url(forge: str, api: str) -> str:
    """https://github.com/{repo}.git for api.github.com; GitHub Enterprise
    (https://HOST/api/v3) and GitLab (https://HOST) clone from the host."""
    if forge == "github":
        if api.rstrip("/") == "https://api.github.com":
            return "https://github.com/{repo}.git"
        return api.rstrip("/").removesuffix("/api/v3") + "/{repo}.git"
    return api.rstrip("/") + "/{repo}.git"
