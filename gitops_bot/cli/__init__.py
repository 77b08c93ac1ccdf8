"""The `gitops-bot` command line.

Owns: reading flags and the environment, and turning BotErrors into exit
codes (2) with a one-line message on stderr. Refuses: logic of its own;
every command calls one use case. The CI and server commands are in ci.py,
the puller's in puller.py, what the commands share in common.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitops_bot import __version__
from gitops_bot.cli import ci, common, puller, serve
from gitops_bot.cli.history import history
from gitops_bot.errors import BotError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitops-bot")
def cli() -> None:
    """GitOps pull-request bot for Kubernetes: rendered diffs, approval policy
    and ChatOps on pull requests, applied by an in-cluster puller."""


@cli.command()
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the cluster and the sample repository until Ctrl-C (prints KUBECONFIG).",
)
def demo(keep: bool) -> None:
    """Run the whole story locally: a pull request planned, merged, applied.

    Starts a local control plane, lets the puller apply a sample repository
    (examples/shop), plans a change on a branch as the PR comment shows it,
    merges it and lets the puller apply it, with health and a no-op resync.

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
@ci.puller_url_option
@ci.live_via_options
@common.tool_options
@common.bounds_options
@common.workers_option
def plan(  # click passes options by name
    *,
    base: str,
    head: str,
    envs: tuple[str, ...],
    live: bool,
    fmt: str,
    repo: str,
    config_file: str,
    puller_url: str | None,
    live_via: str,
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
    """Show what a change does to each environment it affects.

    Exit codes: 0 no changes, 1 changes, 2 error.
    """
    from gitops_bot.core.report import json as report_json  # noqa: PLC0415
    from gitops_bot.core.report import markdown, text  # noqa: PLC0415
    from gitops_bot.planner import plan as plan_app  # noqa: PLC0415
    from gitops_bot.vcs.git import Git  # noqa: PLC0415

    via = ci.LiveVia(live_via, puller_url, plan_secret_file, plan_audience, puller_ca_file)
    with common.one_shot(), common.clusters(kubeconfig) as cluster_for:
        result = plan_app.plan(
            repo=Git(Path(repo)),
            request=plan_app.Request(
                base=base,
                head=head,
                envs=envs,
                live=live or live_via == "puller",
                config_file=config_file,
            ),
            tools=common.tools(helm, kustomize),
            sources=common.sources(allow_sources, source_cache, source_credentials),
            cluster_for=cluster_for,
            live_via=ci.live_plans(via),
            mask_key=common.mask_key(),
            bounds=common.bounds(max_objects, plan_timeout),
            workers=workers,
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


cli.add_command(ci.run)
cli.add_command(serve.serve)
cli.add_command(history)
cli.add_command(puller.puller)


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
