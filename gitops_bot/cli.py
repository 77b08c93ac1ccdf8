"""The `gitops-bot` command line.

Owns: reading flags and the environment, and turning BotErrors into exit
codes (2) with a one-line message on stderr. Refuses: logic of its own;
every command calls one use case.
"""

from __future__ import annotations

import sys

import click

from gitops_bot import __version__
from gitops_bot.errors import BotError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitops-bot")
def cli() -> None:
    """GitOps pull-request bot for Kubernetes: rendered diffs, approval policy
    and ChatOps on pull requests, applied by an in-cluster puller."""


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
