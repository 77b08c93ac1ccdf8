"""`gitops-bot history`: which commit reached which environment, when, approved by whom.

Owns: the command's flags (the forge, its repository and API, the token
from GITOPS_BOT_TOKEN or a GitHub App, the environments: named, or every one in the
configuration file) and printing app.history's entries as a table or JSON.
Refuses: logic of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from gitops_bot.cli import common
from gitops_bot.errors import BotError
from gitops_bot.forges import registry


@click.command()
@click.option(
    "--forge",
    type=click.Choice(registry.names()),
    envvar="GITOPS_BOT_FORGE",
    required=True,
    help="[env: GITOPS_BOT_FORGE]",
)
@click.option(
    "--repo",
    "repo",
    envvar="GITOPS_BOT_REPO",
    required=True,
    help="owner/name (GitHub) or the project path (GitLab) [env: GITOPS_BOT_REPO].",
)
@click.option(
    "--api-url",
    envvar="GITOPS_BOT_API_URL",
    default=None,
    help="The forge's API (default: api.github.com, gitlab.com) [env: GITOPS_BOT_API_URL].",
)
@click.option(
    "--env",
    "envs",
    multiple=True,
    metavar="NAME",
    help="This environment (repeatable); default: every one in --config.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=".gitops.yaml",
    show_default=True,
    help="Where the environments are named, when --env is not given.",
)
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@common.github_app_options
def history(
    *,
    github_app_id: str | None,
    github_app_key_file: str | None,
    forge: str,
    repo: str,
    api_url: str | None,
    envs: tuple[str, ...],
    config_file: str,
    limit: int,
    fmt: str,
) -> None:
    """The newest deployments of each environment (what the puller recorded),
    with the merged pull request that brought each commit, whether it was a
    promotion (and from where) or a rollback, and who approved it. Needs a
    token that reads the repository in GITOPS_BOT_TOKEN, or a GitHub App
    (--github-app-id)."""
    from gitops_bot.app import history as history_app  # noqa: PLC0415
    from gitops_bot.cli.ci import forge_adapter  # noqa: PLC0415
    from gitops_bot.core.promotion import ledger  # noqa: PLC0415
    from gitops_bot.core.repo import config  # noqa: PLC0415

    tokens = ("GITOPS_BOT_TOKEN",)
    app = common.github_app(
        github_app_id, github_app_key_file, forge=forge, env=os.environ, tokens=tokens
    )
    token = os.environ.get("GITOPS_BOT_TOKEN", "")
    if not token and app is None:
        raise BotError("reading the token: GITOPS_BOT_TOKEN is not set (or give --github-app-id)")
    if not envs:
        path = Path(config_file)
        try:
            text = path.read_text()
        except OSError as err:
            raise BotError(f"reading {config_file}: {err.strerror}; or name --env") from err
        envs = tuple(e.name for e in config.parse(text, file=config_file).environments)
    adapter, _ = forge_adapter(
        forge, repo=repo, token=token, api_url=api_url, bot_login=None, app=app
    )
    entries = history_app.history_of(adapter, envs, limit=limit)
    if fmt == "json":
        click.echo(ledger.to_json(entries))
    elif entries:
        click.echo(ledger.table(entries))
    else:
        click.echo(f"no deployments recorded for {', '.join(envs)}")
