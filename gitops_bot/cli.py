"""The `gitops-bot` command line.

Owns: reading flags and the environment, and turning BotErrors into exit
codes (2) with a one-line message on stderr. Refuses: logic of its own;
every command calls one use case.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when needed at run time, so --help stays fast
    from gitops_bot.app.review import ReviewForge
    from gitops_bot.cienv import CiContext
    from gitops_bot.cluster.kube import Kube
    from gitops_bot.core.config import Environment
    from gitops_bot.render.render import Tools

import click

from gitops_bot import __version__
from gitops_bot.errors import BotError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitops-bot")
def cli() -> None:
    """GitOps pull-request bot for Kubernetes: rendered diffs, approval policy
    and ChatOps on pull requests, applied by an in-cluster puller."""


def _tool_options(f: Callable[..., None]) -> Callable[..., None]:
    """--kubeconfig, --helm and --kustomize, shared by plan and run."""
    f = click.option(
        "--kustomize",
        envvar="GITOPS_BOT_KUSTOMIZE",
        default="kustomize",
        show_default=True,
        help="The kustomize binary [env: GITOPS_BOT_KUSTOMIZE].",
    )(f)
    f = click.option(
        "--helm",
        envvar="GITOPS_BOT_HELM",
        default="helm",
        show_default=True,
        help="The helm binary [env: GITOPS_BOT_HELM].",
    )(f)
    return click.option(
        "--kubeconfig",
        envvar="KUBECONFIG",
        type=click.Path(dir_okay=False),
        help="Kubeconfig for --live [env: KUBECONFIG].",
    )(f)


@cli.command()
@click.option("--keep", is_flag=True, help="Keep the cluster running until Ctrl-C.")
def demo(keep: bool) -> None:
    """Start a local control plane and apply a sample to it.

    Needs the binaries testenv/build.sh builds (it runs when this is a source
    checkout), or $GITOPS_BOT_TESTENV_BIN pointing at them.
    """
    # Imported here so that --help and --version stay fast.
    from gitops_bot.demo import run  # noqa: PLC0415
    from gitops_bot.testing.binaries import locate  # noqa: PLC0415

    run(binaries=locate(), out=sys.stdout, keep=keep)


@cli.command()
@click.option("--base", required=True, help="The target branch (or any commit) of the change.")
@click.option("--head", required=True, help="The change: a branch or commit.")
@click.option(
    "--env",
    "envs",
    multiple=True,
    metavar="NAME",
    help="Plan only this environment, affected or not. Repeatable.",
)
@click.option(
    "--live/--offline",
    default=False,
    show_default=True,
    help="Also diff against the live cluster (server-side dry-run).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, exists=True),
    default=".",
    show_default=True,
    help="The git repository.",
)
@click.option(
    "--config",
    "config_file",
    default=".gitops.yaml",
    show_default=True,
    help="The configuration file, relative to the repository root.",
)
@_tool_options
def plan(  # click passes options by name
    *,
    base: str,
    head: str,
    envs: tuple[str, ...],
    live: bool,
    fmt: str,
    repo: str,
    config_file: str,
    kubeconfig: str | None,
    helm: str,
    kustomize: str,
) -> None:
    """Show what a change does to each environment it affects.

    Exit codes: 0 no changes, 1 changes, 2 error.
    """
    from gitops_bot.app import plan as plan_app  # noqa: PLC0415
    from gitops_bot.core.report import json as report_json  # noqa: PLC0415
    from gitops_bot.core.report import markdown, text  # noqa: PLC0415
    from gitops_bot.vcs.git import Git  # noqa: PLC0415

    with _clusters(kubeconfig) as cluster_for:
        result = plan_app.plan(
            repo=Git(Path(repo)),
            request=plan_app.Request(
                base=base, head=head, envs=envs, live=live, config_file=config_file
            ),
            tools=_tools(helm, kustomize),
            cluster_for=cluster_for,
            mask_key=_mask_key(),
        )

    if fmt == "json":
        out = report_json.render(result)
    elif fmt == "markdown":
        comments = [part for env in result.envs for part in markdown.env_comment(result, env)]
        out = "\n\n".join([markdown.summary(result), *comments])
    else:
        out = text.render(result, color=sys.stdout.isatty())
    click.echo(out.rstrip("\n"))
    sys.exit(2 if result.has_errors else 1 if result.has_changes else 0)


@cli.command()
@click.option(
    "--live/--offline",
    envvar="GITOPS_BOT_LIVE",
    default=False,
    show_default=True,
    help="Also diff against the live cluster [env: GITOPS_BOT_LIVE].",
)
@_tool_options
def run(*, live: bool, kubeconfig: str | None, helm: str, kustomize: str) -> None:
    """The CI entry point: act on the event GitHub Actions or GitLab CI started us for.

    A pull/merge request opened, reopened or pushed to: plan it, keep one
    comment per environment and set a status `gitops/plan/ENV` on its head.
    Exit codes: 0 done (or nothing to do), 2 error.
    """
    from gitops_bot import cienv  # noqa: PLC0415
    from gitops_bot.app import review  # noqa: PLC0415
    from gitops_bot.core import events  # noqa: PLC0415
    from gitops_bot.vcs.git import Git  # noqa: PLC0415

    ctx = cienv.detect(os.environ, read=lambda path: Path(path).read_text())
    event = ctx.event
    if isinstance(event, events.Ignored):
        click.echo(f"gitops-bot: nothing to do: {event.reason}")
        return
    if not (
        isinstance(event, events.PullEvent)
        and event.action
        in (events.PullAction.OPENED, events.PullAction.PUSHED, events.PullAction.REOPENED)
    ):
        # Approvals, ChatOps, merges and pushes get their use cases with the
        # policy, puller and promotion work; until then say so, do not pretend.
        click.echo(f"gitops-bot: {type(event).__name__} is not handled by this version")
        return
    forge, limit = _forge(ctx)
    with _clusters(kubeconfig) as cluster_for:
        outcome = review.review(
            forge=forge,
            repo=Git(Path(ctx.workspace)),
            number=event.number,
            tools=_tools(helm, kustomize),
            mask_key=_mask_key(),
            comment_limit=limit,
            cluster_for=cluster_for,
            live=live,
        )
    if outcome.stale:
        click.echo(f"gitops-bot: wrote nothing: {outcome.stale}")
        return
    click.echo(
        f"gitops-bot: {ctx.repo}#{event.number}: {outcome.comments} comment(s) and "
        f"{outcome.statuses} status(es) written"
    )
    if outcome.plan.has_errors:
        sys.exit(2)


def _forge(ctx: CiContext) -> tuple[ReviewForge, int]:
    """The adapter for the CI's forge, and its comment limit."""
    if ctx.forge == "github":
        from gitops_bot.forges import github  # noqa: PLC0415

        adapter = github.GitHub(
            repo=ctx.repo, token=ctx.token, base_url=ctx.api_url, bot_login=ctx.bot_login
        )
        return adapter, github.COMMENT_LIMIT
    from gitops_bot.forges import gitlab  # noqa: PLC0415

    return gitlab.GitLab(project=ctx.repo, token=ctx.token, url=ctx.api_url), gitlab.COMMENT_LIMIT


@contextlib.contextmanager
def _clusters(kubeconfig: str | None) -> Iterator[Callable[[Environment], Kube]]:
    """cluster_for(env): one client per kubeconfig context, closed at the end."""
    from gitops_bot.cluster.kube import Kube  # noqa: PLC0415

    clusters: dict[str | None, Kube] = {}

    def cluster_for(env: Environment) -> Kube:
        if env.cluster not in clusters:
            clusters[env.cluster] = Kube.from_kubeconfig(kubeconfig, context=env.cluster)
        return clusters[env.cluster]

    try:
        yield cluster_for
    finally:
        for kube in clusters.values():
            kube.close()


def _tools(helm: str, kustomize: str) -> Tools:
    from gitops_bot.render.render import Tools  # noqa: PLC0415

    return Tools(helm=_tool(helm), kustomize=_tool(kustomize))


def _mask_key() -> bytes:
    # A fresh key per run: fingerprints show whether two secret values are equal
    # within one run, and cannot be matched against anything else.
    return os.urandom(32)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BotError(
            f"looking for {name}: not found on PATH (set --helm/--kustomize "
            "or GITOPS_BOT_HELM/GITOPS_BOT_KUSTOMIZE)"
        )
    return found


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except BotError as err:
        click.echo(f"gitops-bot: {err}", err=True)
        sys.exit(err.exit_code)
    if isinstance(code, int):  # --help, --version and ctx.exit() return a code
        sys.exit(code)
