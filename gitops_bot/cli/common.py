"""What the commands share: tool and cluster options, and building their adapters.

Owns: the --kubeconfig/--helm/--kustomize options (--helm and
--kustomize, with --allow-source, --source-cache and --source-credentials,
also the puller's), the GitHub App options (--github-app-id,
--github-app-key-file or the PEM in GITOPS_BOT_GITHUB_APP_KEY; `run`,
`serve` and the puller) and refusing them next to a token,
one Kubernetes client per kubeconfig context for a command's duration,
finding the renderers on PATH, what remote sources may be fetched, and the
per-run masking key. Refuses: commands of its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # imported when needed at run time, so --help stays fast
    from collections.abc import Mapping

    from gitops_bot.cluster.kube import Kube
    from gitops_bot.core.repo.bounds import Bounds
    from gitops_bot.core.repo.config import Environment
    from gitops_bot.forges.appkey import AppKey
    from gitops_bot.render.fetch import SourcePolicy
    from gitops_bot.render.render import Tools


@contextlib.contextmanager
def one_shot() -> Iterator[None]:
    """For a command that plans once and exits (`plan`, `run`): collect
    cycles rarely while it runs. A plan builds millions of small objects
    (parsed renders, live objects, diffs) and frees them together at the end;
    the collector's passes over them, looking for cycles they do not have,
    were 8% of a 10,000-object plan. It still runs, after 100,000 allocations
    instead of 700; the setting before is restored (tests run the commands in
    their own process)."""
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def renderer_options(f: Callable[..., None]) -> Callable[..., None]:
    """--helm and --kustomize: where the renderers are, and --allow-source,
    --source-cache and --source-credentials: what remote sources they may have
    and how to log in to them, for every command that renders."""
    f = click.option(
        "--source-cache",
        envvar="GITOPS_BOT_SOURCE_CACHE",
        type=click.Path(file_okay=False),
        default=str(Path.home() / ".cache" / "gitops-bot" / "sources"),
        show_default=True,
        help="Where fetched charts are kept, by digest (keep it between CI runs) "
        "[env: GITOPS_BOT_SOURCE_CACHE].",
    )(f)
    f = click.option(
        "--source-credentials",
        envvar="GITOPS_BOT_SOURCE_CREDENTIALS",
        type=click.Path(dir_okay=False),
        help="A YAML file of credentials for private chart repositories, registries "
        "and git remotes, each for a URL prefix (see docs/rendering.md) "
        "[env: GITOPS_BOT_SOURCE_CREDENTIALS].",
    )(f)
    f = click.option(
        "--allow-source",
        "allow_sources",
        envvar="GITOPS_BOT_ALLOW_SOURCES",
        multiple=True,
        metavar="URL_PREFIX",
        help="A URL prefix remote sources may come from, besides the base branch's "
        "sources.allow (repeat; in the variable, separate with spaces) "
        "[env: GITOPS_BOT_ALLOW_SOURCES].",
    )(f)
    f = click.option(
        "--kustomize",
        envvar="GITOPS_BOT_KUSTOMIZE",
        default="kustomize",
        show_default=True,
        help="The kustomize binary [env: GITOPS_BOT_KUSTOMIZE].",
    )(f)
    return click.option(
        "--helm",
        envvar="GITOPS_BOT_HELM",
        default="helm",
        show_default=True,
        help="The helm binary [env: GITOPS_BOT_HELM].",
    )(f)


APP_KEY_VARIABLE = "GITOPS_BOT_GITHUB_APP_KEY"  # the PEM itself, e.g. from a CI secret


def github_app_options(f: Callable[..., None]) -> Callable[..., None]:
    """--github-app-id and --github-app-key-file: authenticate as a GitHub App."""
    f = click.option(
        "--github-app-key-file",
        envvar="GITOPS_BOT_GITHUB_APP_KEY_FILE",
        type=click.Path(dir_okay=False),
        help="The GitHub App's private key (the .pem GitHub generates), or the PEM "
        f"itself in {APP_KEY_VARIABLE} [env: GITOPS_BOT_GITHUB_APP_KEY_FILE].",
    )(f)
    return click.option(
        "--github-app-id",
        envvar="GITOPS_BOT_GITHUB_APP_ID",
        help="Authenticate as this GitHub App, with its installation token for each "
        "repository, instead of a token [env: GITOPS_BOT_GITHUB_APP_ID].",
    )(f)


def github_app(
    app_id: str | None,
    key_file: str | None,
    *,
    forge: str | None,
    env: Mapping[str, str],
    tokens: tuple[str, ...] = (),
) -> AppKey | None:
    """The App the flags name (None: none), its key read and checked now; refused
    for another forge and next to a token (`tokens`: where one may be given)."""
    from gitops_bot.errors import ConfigError  # noqa: PLC0415
    from gitops_bot.forges import appkey  # noqa: PLC0415

    key_text = env.get(APP_KEY_VARIABLE) or None
    if not app_id:
        if key_file or key_text:
            given = "--github-app-key-file" if key_file else APP_KEY_VARIABLE
            raise ConfigError(f"{given} is set without --github-app-id (the App's id)")
        return None
    if forge is not None and forge != "github":
        raise ConfigError(f"--github-app-id is for --forge github, not {forge}")
    for name in tokens:
        if (env.get(name) or "").strip():
            raise ConfigError(
                f"--github-app-id (GITOPS_BOT_GITHUB_APP_ID) and {name} are both set: "
                "authenticate with a token or as a GitHub App, not both"
            )
    return appkey.load(app_id, key_file=key_file, key_text=key_text)


def tool_options(f: Callable[..., None]) -> Callable[..., None]:
    """--kubeconfig, --helm and --kustomize, shared by plan and run."""
    return click.option(
        "--kubeconfig",
        envvar="KUBECONFIG",
        type=click.Path(dir_okay=False),
        help="Kubeconfig for --live [env: KUBECONFIG].",
    )(renderer_options(f))


def bounds_options(f: Callable[..., None]) -> Callable[..., None]:
    """--max-objects and --plan-timeout: the bounds of the bot's own work (core.repo.bounds)."""
    f = click.option(
        "--plan-timeout",
        envvar="GITOPS_BOT_PLAN_TIMEOUT",
        type=click.FloatRange(min=0),
        default=300.0,
        show_default=True,
        help="Seconds one environment's renders, parse and diff may take together "
        "[env: GITOPS_BOT_PLAN_TIMEOUT].",
    )(f)
    return click.option(
        "--max-objects",
        envvar="GITOPS_BOT_MAX_OBJECTS",
        type=click.IntRange(min=1),
        default=50_000,
        show_default=True,
        help="Objects one render of an environment may have [env: GITOPS_BOT_MAX_OBJECTS].",
    )(f)


def workers_option(f: Callable[..., None]) -> Callable[..., None]:
    """--workers: how many environments are planned at once (planner.plan)."""
    return click.option(
        "--workers",
        envvar="GITOPS_BOT_WORKERS",
        type=click.IntRange(min=1),
        default=None,
        help="Environments planned at once (their renders run in parallel); "
        "default: the cores this process may use [env: GITOPS_BOT_WORKERS].",
    )(f)


def bounds(max_objects: int, plan_timeout: float) -> Bounds:
    from gitops_bot.core.repo.bounds import Bounds  # noqa: PLC0415

    return Bounds(max_objects=max_objects, timeout_s=plan_timeout)


@contextlib.contextmanager
def clusters(kubeconfig: str | None) -> Iterator[Callable[[Environment], Kube]]:
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


def tools(helm: str, kustomize: str) -> Tools:
    """The renderers as configured; each is looked up only when a render uses it."""
    from gitops_bot.render.render import Tools  # noqa: PLC0415

    return Tools(helm=helm, kustomize=kustomize)


def sources(
    allow_sources: tuple[str, ...], source_cache: str, source_credentials: str | None = None
) -> SourcePolicy:
    """What remote sources may be fetched (the flags' prefixes; each plan adds the
    base branch's sources.allow), where they are kept, and the credentials file's
    headers for them (read once, now: a wrong file stops the command at its start)."""
    from gitops_bot.render import credentials  # noqa: PLC0415
    from gitops_bot.render.fetch import SourcePolicy  # noqa: PLC0415

    allow = tuple(word for value in allow_sources for word in value.split() if word)
    policy = SourcePolicy(allow=allow, cache=Path(source_cache))
    if not source_credentials:
        return policy
    creds = credentials.load(source_credentials)
    return dataclasses.replace(policy, credentials=creds)


def mask_key() -> bytes:
    # A fresh key per run: fingerprints show whether two secret values are equal
    # within one run, and cannot be matched against anything else.
    return os.urandom(32)
