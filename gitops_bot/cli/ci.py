"""`gitops-bot run`: one CI job, one event.

Owns: building the forge adapter, the repository and the puller hand-off
for an event from the CI variables, calling app.dispatch, and the GitHub
Actions outputs and job summary; the pieces `serve` shares (forge_adapter,
git_token, poke, pull_refs, puller_options). Refuses: deciding what an event means
(app.dispatch does).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitops_bot.cli import common
from gitops_bot.errors import BotError

if TYPE_CHECKING:
    from gitops_bot.app.chatops import ChatForge
    from gitops_bot.app.dispatch import Poke
    from gitops_bot.core.pr.model import Pull
    from gitops_bot.core.report.plan import Plan
    from gitops_bot.forges.appkey import AppKey
    from gitops_bot.forges.forge import CiContext, Connection
    from gitops_bot.planner.plan import LivePlans
    from gitops_bot.vcs.git import Git
    from gitops_bot.vcs.mirror import Mirror


def puller_url_option(f: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--puller-url",
        envvar="GITOPS_BOT_PULLER_URL",
        help="The puller's base URL: poked on a push to the default branch, asked for live "
        "plans with --live-via puller [env: GITOPS_BOT_PULLER_URL].",
    )(f)


def live_via_options(f: Callable[..., None]) -> Callable[..., None]:
    """--live-via and how the puller is asked (plan, run, serve; with --puller-url)."""
    f = click.option(
        "--live-via",
        envvar="GITOPS_BOT_LIVE_VIA",
        type=click.Choice(["kubeconfig", "puller"]),
        default="kubeconfig",
        show_default=True,
        help="Where live plans come from: a kubeconfig, or the puller's POST /plan "
        "at --puller-url (no cluster credentials here; implies --live) "
        "[env: GITOPS_BOT_LIVE_VIA].",
    )(f)
    f = click.option(
        "--plan-secret-file",
        envvar="GITOPS_BOT_PLAN_SECRET_FILE",
        type=click.Path(dir_okay=False, exists=True),
        help="The secret that signs plan requests to the puller (its own, not the poke's; "
        "or its value in GITOPS_BOT_PLAN_SECRET) [env: GITOPS_BOT_PLAN_SECRET_FILE].",
    )(f)
    f = click.option(
        "--plan-audience",
        envvar="GITOPS_BOT_PLAN_AUDIENCE",
        help="Authenticate plan requests with the job's GitHub Actions OIDC token for this "
        "audience instead of a secret (needs `permissions: id-token: write`) "
        "[env: GITOPS_BOT_PLAN_AUDIENCE].",
    )(f)
    return click.option(
        "--puller-ca-file",
        envvar="GITOPS_BOT_PULLER_CA_FILE",
        type=click.Path(dir_okay=False, exists=True),
        help="The CA that signed the puller's HTTPS certificate [env: GITOPS_BOT_PULLER_CA_FILE].",
    )(f)


def puller_options(f: Callable[..., None]) -> Callable[..., None]:
    f = puller_url_option(f)
    f = click.option(
        "--puller-secret-file",
        envvar="GITOPS_BOT_PULLER_SECRET_FILE",
        type=click.Path(dir_okay=False, exists=True),
        help="The shared secret that signs pokes [env: GITOPS_BOT_PULLER_SECRET_FILE].",
    )(f)
    f = live_via_options(f)
    return click.option(
        "--live/--offline",
        envvar="GITOPS_BOT_LIVE",
        default=False,
        show_default=True,
        help="Also diff against the live cluster [env: GITOPS_BOT_LIVE].",
    )(f)


@dataclass(frozen=True)
class LiveVia:
    """Where live plans come from, as the flags of `run` and `serve` say."""

    via: str = "kubeconfig"
    puller_url: str | None = None
    secret_file: str | None = None
    audience: str | None = None
    ca_file: str | None = None
    forge: str = "github"  # whose CI issues the OIDC token (`plan`: GitHub Actions')


def live_plans(live: LiveVia) -> LivePlans | None:
    """The puller's plan endpoint as a source of live plans, when asked for."""
    if live.via != "puller":
        return None
    if not live.puller_url:
        raise BotError("--live-via puller needs --puller-url (the puller's base URL)")
    from gitops_bot.web.planclient import PullerPlans  # noqa: PLC0415

    ca_file = Path(live.ca_file) if live.ca_file else None
    if live.audience:
        if live.secret_file or os.environ.get("GITOPS_BOT_PLAN_SECRET"):
            raise BotError("give the plan secret or --plan-audience, not both")
        return PullerPlans(live.puller_url, token=_id_token(live), ca_file=ca_file)
    secret = os.environ.get("GITOPS_BOT_PLAN_SECRET", "").encode()
    if live.secret_file:
        secret = Path(live.secret_file).read_bytes()
    if not secret.strip():
        raise BotError(
            "--live-via puller needs the plan secret (--plan-secret-file or "
            "GITOPS_BOT_PLAN_SECRET) or --plan-audience (the job's OIDC token)"
        )
    return PullerPlans(live.puller_url, secret=secret.strip(), ca_file=ca_file)


def _id_token(live: LiveVia) -> Callable[[], str]:
    from gitops_bot.forges import registry  # noqa: PLC0415

    issue = registry.get(live.forge).ci.id_token
    audience = live.audience or ""
    if issue is None:
        raise BotError(
            f"--plan-audience: {live.forge}'s CI issues no OIDC token the puller takes; "
            "use the plan secret"
        )
    return lambda: issue(os.environ, audience)


def poke(url: str | None, secret_file: str | None) -> Poke | None:
    """The poke of the puller at `url`; it needs the poke secret when it is made, not
    before: a pull request job that asks the same puller for plans pokes nothing."""
    if not url:
        return None
    # The secret's value may come straight from a CI secret variable.
    secret = os.environ.get("GITOPS_BOT_PULLER_SECRET", "").encode()
    if secret_file:
        secret = Path(secret_file).read_bytes()
    if not secret.strip():

        def unsigned(_ref: str, _sha: str) -> str:
            raise BotError(
                "poking the puller: --puller-url needs the poke secret: "
                "--puller-secret-file or GITOPS_BOT_PULLER_SECRET"
            )

        return unsigned
    from gitops_bot.web import poke as puller_client  # noqa: PLC0415

    return puller_client.Poker(url, secret=secret.strip()).poke


def forge_adapter(
    forge: str,
    *,
    repo: str,
    token: str,
    api_url: str | None,
    bot_login: str | None,
    app: AppKey | None = None,
    installation: int | None = None,
) -> tuple[ChatForge, int]:
    """The adapter for the registered forge named `forge`, and its comment limit;
    with `app`, as that GitHub App's installation (`installation`, else the
    repository's)."""
    from gitops_bot.forges import registry  # noqa: PLC0415

    descriptor = registry.get(forge)
    conn = _connection(
        repo, token=token, api_url=api_url, bot_login=bot_login, app=app, installation=installation
    )
    return descriptor.connect(conn), descriptor.comment_limit


def git_token(
    forge: str,
    *,
    repo: str,
    token: str,
    api_url: str | None,
    app: AppKey | None = None,
    installation: int | None = None,
) -> str:
    """What git fetches `repo` with: the token, or the App installation's current one."""
    from gitops_bot.forges import registry  # noqa: PLC0415

    get = registry.get(forge).git_token
    if app is None or get is None:
        return token
    conn = _connection(
        repo, token=token, api_url=api_url, bot_login=None, app=app, installation=installation
    )
    return get(conn)


def _connection(
    repo: str,
    *,
    token: str,
    api_url: str | None,
    bot_login: str | None,
    app: AppKey | None,
    installation: int | None,
) -> Connection:
    from gitops_bot.forges.forge import Connection  # noqa: PLC0415

    return Connection(
        repo=repo,
        token=token,
        api_url=api_url,
        bot_login=bot_login,
        app=app,
        installation=installation,
    )


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
@click.option(
    "--shard",
    envvar="GITOPS_BOT_SHARD",
    default="",
    metavar="I/N",
    help="One job of a CI matrix of N: plan and report only shard I's share of the "
    "affected environments and leave the summary status to a job after all of them "
    "(--summarize) [env: GITOPS_BOT_SHARD].",
)
@click.option(
    "--summarize",
    envvar="GITOPS_BOT_SUMMARIZE",
    is_flag=True,
    help="The job after all --shard jobs: render nothing, set the summary status from "
    "the statuses the shards wrote [env: GITOPS_BOT_SUMMARIZE].",
)
@puller_options
@common.tool_options
@common.bounds_options
@common.workers_option
@common.github_app_options
def run(
    *,
    github_app_id: str | None,
    github_app_key_file: str | None,
    config_file: str,
    envs: str,
    comment_mode: str,
    shard: str,
    summarize: bool,
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
    workers: int | None,
) -> None:
    """The CI entry point: act on the event GitHub Actions or GitLab CI started us for.

    A pull/merge request opened, reopened or pushed to: plan it, keep one
    comment per environment, a status `gitops/plan/ENV` per affected
    environment and a summary status `gitops` on its head. Closed without
    merge: resolve its pending statuses. A push to the default branch: poke
    the puller. Exit codes: 0 done (or nothing to do), 2 error.

    Many environments: a CI matrix of N jobs each with --shard I/N plans its
    share, and one job after them with --summarize sets the summary status.

    The token comes from GITOPS_BOT_TOKEN or GITHUB_TOKEN; with
    --github-app-id, the App's installation token on the repository instead.
    """
    from gitops_bot.app import context, dispatch  # noqa: PLC0415
    from gitops_bot.forges import cienv  # noqa: PLC0415
    from gitops_bot.planner.plan import Shard  # noqa: PLC0415

    if shard and summarize:
        raise click.UsageError("--shard and --summarize are different jobs: give one")
    sharded = Shard.parse(shard) if shard else None

    tokens = ("GITOPS_BOT_TOKEN", "GITHUB_TOKEN")
    app = common.github_app(
        github_app_id, github_app_key_file, forge=None, env=os.environ, tokens=tokens
    )
    environ = dict(os.environ)
    if app is not None:
        environ["GITOPS_BOT_GITHUB_APP_ID"] = app.app_id  # the flag's value, for cienv
    ctx = cienv.detect(environ, read=lambda path: Path(path).read_text())
    if app is not None and ctx.forge != "github":
        raise BotError(f"--github-app-id is for GitHub Actions, not {ctx.forge}'s CI")
    installation = getattr(ctx.event, "installation", None)
    forge, limit = forge_adapter(
        ctx.forge,
        repo=ctx.repo,
        token=ctx.token,
        api_url=ctx.api_url,
        bot_login=ctx.bot_login,
        app=app,
        installation=installation,
    )

    def token() -> str:  # git fetches with the installation's current token too
        return git_token(
            ctx.forge,
            repo=ctx.repo,
            token=ctx.token,
            api_url=ctx.api_url,
            app=app,
            installation=installation,
        )

    repo_for = _workspace_or_fetch(ctx, token)
    via = LiveVia(
        live_via, puller_url, plan_secret_file, plan_audience, puller_ca_file, forge=ctx.forge
    )
    with common.one_shot(), common.clusters(kubeconfig) as cluster_for:
        deps = dispatch.Deps(
            forge=forge,
            repo_for=repo_for,
            settings=context.Settings(
                tools=common.tools(helm, kustomize),
                sources=common.sources(allow_sources, source_cache, source_credentials),
                mask_key=common.mask_key,
                comment_limit=limit,
                cluster_for=cluster_for,
                live=live or via.via == "puller",
                live_via=live_plans(via),
                envs=tuple(e.strip() for e in envs.split(",") if e.strip()),
                config_file=config_file,
                comment_mode=comment_mode,
                bounds=common.bounds(max_objects, plan_timeout),
                shard=sharded,
                workers=workers,
                summarize=summarize,
            ),
            poke=poke(puller_url, puller_secret_file),
            branch_repo=_branch_repo(ctx, token),
        )
        try:
            done = dispatch.handle(ctx.event, deps)
        except BotError as err:
            # The job's log is one click away from the merge request; say it there too.
            with contextlib.suppress(BotError):
                dispatch.answer_failure(ctx.event, err, deps)
            raise
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


def _workspace_or_fetch(ctx: CiContext, token: Callable[[], str]) -> Callable[[Pull], Git]:
    """The CI checkout when it holds the pull request's commits (pull request
    events); else (a comment or a review starts the job on the default
    branch) a copy that fetches them."""
    from gitops_bot.vcs.git import Git, GitError  # noqa: PLC0415

    workspace = Git(Path(ctx.workspace), any_owner=True)

    def repo_for(pull: Pull) -> Git:
        try:
            workspace.resolve(pull.base_sha)
            workspace.resolve(pull.head_sha)
        except GitError:
            refs = pull_refs(ctx.forge, pull)
            return _mirror(ctx, token).sync(pull.base_sha, pull.head_sha, refs=refs)
        return workspace

    return repo_for


def _branch_repo(ctx: CiContext, token: Callable[[], str]) -> Callable[[str], tuple[Git, str]]:
    """A promotion check reads the branch's whole history (the source's healthy
    commit may be older than the tip): the CI checkout when it is complete and
    on that branch's tip, else a mirror that fetches the branch."""
    from gitops_bot.vcs.git import Git, GitError  # noqa: PLC0415

    def branch_repo(name: str) -> tuple[Git, str]:
        workspace = Git(Path(ctx.workspace), any_owner=True)
        shallow = workspace.execute(
            "rev-parse", "--is-shallow-repository", doing="checking the checkout's depth"
        )
        if shallow.returncode == 0 and shallow.stdout.strip() == "false":
            with contextlib.suppress(GitError):
                return workspace, workspace.resolve(f"refs/heads/{name}")
        return _mirror(ctx, token).branch(name)

    return branch_repo


def _mirror(ctx: CiContext, token: Callable[[], str]) -> Mirror:
    """The job's copy of the repository, fetched with the token, in the runner's temp."""
    from gitops_bot.vcs.mirror import Mirror  # noqa: PLC0415

    cache = Path(os.environ.get("RUNNER_TEMP") or tempfile.gettempdir())
    return Mirror(cache / "gitops-bot-mirrors", ctx.git_url, token=token)


def pull_refs(forge: str, pull: Pull) -> tuple[str, ...]:
    from gitops_bot.forges import registry  # noqa: PLC0415

    return registry.get(forge).pull_refs(pull)
