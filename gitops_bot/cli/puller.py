"""`gitops-bot puller`: its flags, and the process's life.

Owns: reading the puller's flags (each with an environment variable, so
a Deployment sets them from its env and mounted Secrets; --helm and
--kustomize are cli/common.py's), the kubeconfig in a pod (one written for
its ServiceAccount, and the pod's namespace), logging, and the signals:
SIGTERM/SIGINT stop the puller, which stops acting, gives its Leases up and
exits 0. The flags become one typed Options (puller/settings.py) that
puller/wiring.py builds and runs. Refuses: building the collaborators
(puller/wiring.py) and logic of its own (puller/loop.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from gitops_bot.cli import common
from gitops_bot.core.repo.bounds import Bounds
from gitops_bot.errors import ConfigError
from gitops_bot.forges import registry

if TYPE_CHECKING:  # imported when needed at run time, so --help stays fast
    from gitops_bot.forges.appkey import AppKey
    from gitops_bot.puller.settings import Options

_SA = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def _opt(*names: str, env: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    help_text = kw.pop("help", "")
    return click.option(*names, envvar=env, show_envvar=True, help=help_text, **kw)


_FILE = click.Path(dir_okay=False, path_type=Path)

_OPTIONS = [
    _opt("--repo-url", env="GITOPS_BOT_REPO_URL", required=True, help="Repository to pull."),
    _opt("--branch", env="GITOPS_BOT_BRANCH", default="main", show_default=True),
    _opt(
        "--env",
        "envs",
        env="GITOPS_BOT_ENVS",
        multiple=True,
        required=True,
        help="Environment to apply (repeat; in the variable, separate with spaces).",
    ),
    _opt("--config", "config_file", env="GITOPS_BOT_CONFIG", default=".gitops.yaml"),
    _opt(
        "--interval",
        env="GITOPS_BOT_INTERVAL",
        type=float,
        default=60.0,
        show_default=True,
        help="Seconds between fetches.",
    ),
    _opt(
        "--resync",
        env="GITOPS_BOT_RESYNC",
        type=float,
        default=600.0,
        show_default=True,
        help="Seconds between reconciles of an unchanged commit.",
    ),
    _opt(
        "--retry",
        env="GITOPS_BOT_RETRY",
        type=float,
        default=120.0,
        show_default=True,
        help="Seconds between retries of a commit that failed.",
    ),
    _opt("--kubeconfig", env="KUBECONFIG", type=_FILE, help="Kubeconfig (default: in-cluster)."),
    _opt("--context", env="GITOPS_BOT_CONTEXT", help="Kubeconfig context."),
    _opt(
        "--namespace",
        env="GITOPS_BOT_NAMESPACE",
        help="Namespace of the ApplySet parents, status, Lease (default: the pod's).",
    ),
    _opt("--git-token-file", env="GITOPS_BOT_GIT_TOKEN_FILE", type=_FILE),
    _opt("--git-token-user", env="GITOPS_BOT_GIT_TOKEN_USER", default="x-access-token"),
    _opt("--ssh-key-file", env="GITOPS_BOT_SSH_KEY_FILE", type=_FILE),
    _opt("--known-hosts-file", env="GITOPS_BOT_KNOWN_HOSTS_FILE", type=_FILE),
    _opt(
        "--allowed-signers-file",
        env="GITOPS_BOT_ALLOWED_SIGNERS_FILE",
        type=_FILE,
        help="Apply only commits signed by these keys: git's SSH allowed-signers format, "
        "or ASCII-armored OpenPGP public keys.",
    ),
    _opt(
        "--rollback-to",
        env="GITOPS_BOT_ROLLBACK_TO",
        default="",
        help="A commit that may be applied although it does not descend from the last one.",
    ),
    _opt(
        "--poke-secret-file",
        env="GITOPS_BOT_POKE_SECRET_FILE",
        type=_FILE,
        help="HMAC secret for POST /poke (without it, pokes are refused).",
    ),
    _opt("--listen", env="GITOPS_BOT_LISTEN", default="0.0.0.0:8080", show_default=True),
    _opt(
        "--plan-secret-file",
        env="GITOPS_BOT_PLAN_SECRET_FILE",
        type=_FILE,
        help="HMAC secret for POST /plan (its own, not the poke's): serves live plans to CI.",
    ),
    _opt(
        "--oidc-audience",
        env="GITOPS_BOT_OIDC_AUDIENCE",
        help="Serve live plans to GitHub Actions jobs whose OIDC token is for this audience "
        "(needs --oidc-repository).",
    ),
    _opt(
        "--oidc-issuer",
        env="GITOPS_BOT_OIDC_ISSUER",
        default="https://token.actions.githubusercontent.com",
        show_default=True,
    ),
    _opt("--oidc-repository", env="GITOPS_BOT_OIDC_REPOSITORY", help="owner/name the token names."),
    _opt(
        "--oidc-repository-id",
        env="GITOPS_BOT_OIDC_REPOSITORY_ID",
        help="The repository's numeric id (a re-created repository of the same name has another).",
    ),
    _opt(
        "--oidc-ref",
        "oidc_refs",
        env="GITOPS_BOT_OIDC_REFS",
        multiple=True,
        help="Ref a token may name (repeat; * is one path segment, ** any) "
        "[default: refs/pull/*/merge].",
    ),
    _opt("--oidc-ca-file", env="GITOPS_BOT_OIDC_CA_FILE", type=_FILE),
    _opt(
        "--plan-workers",
        env="GITOPS_BOT_PLAN_WORKERS",
        type=click.IntRange(1, 4),
        default=1,
        show_default=True,
        help="Plans made at once.",
    ),
    _opt(
        "--plan-queue",
        env="GITOPS_BOT_PLAN_QUEUE",
        type=click.IntRange(0, 4),
        default=4,
        show_default=True,
        help="Plans admitted to wait; more are answered 429.",
    ),
    _opt(
        "--plan-deadline",
        env="GITOPS_BOT_PLAN_DEADLINE",
        type=click.FloatRange(min=1),
        default=120.0,
        show_default=True,
        help="Seconds from a plan request's arrival to the start of each environment's plan.",
    ),
    _opt(
        "--self-heal/--report-only",
        "heal",
        env="GITOPS_BOT_SELF_HEAL",
        default=True,
        show_default=True,
    ),
    _opt("--prune/--no-prune", env="GITOPS_BOT_PRUNE", default=True, show_default=True),
    _opt(
        "--prune-max-share",
        env="GITOPS_BOT_PRUNE_MAX_SHARE",
        type=float,
        default=0.5,
        show_default=True,
    ),
    _opt(
        "--prune-opt-in",
        env="GITOPS_BOT_PRUNE_OPT_IN",
        multiple=True,
        help="Protected kind that may be pruned, e.g. Namespace (repeat).",
    ),
    _opt("--force-conflicts", env="GITOPS_BOT_FORCE_CONFLICTS", is_flag=True),
    _opt("--wait/--no-wait", env="GITOPS_BOT_WAIT", default=True, show_default=True),
    _opt("--health-timeout", env="GITOPS_BOT_HEALTH_TIMEOUT", type=float, default=300.0),
    _opt("--forge", env="GITOPS_BOT_FORGE", type=click.Choice(registry.names())),
    _opt("--forge-repo", env="GITOPS_BOT_FORGE_REPO", help="owner/name or group/project."),
    _opt("--forge-token-file", env="GITOPS_BOT_FORGE_TOKEN_FILE", type=_FILE),
    _opt("--forge-api-url", env="GITOPS_BOT_FORGE_API_URL"),
    common.github_app_options,  # instead of --forge-token-file: report as a GitHub App
    _opt(
        "--forge-bot-login",
        env="GITOPS_BOT_LOGIN",
        help="The bot's account, when the token cannot tell (GitHub Actions tokens).",
    ),
    _opt(
        "--require-approved-render",
        env="GITOPS_BOT_REQUIRE_APPROVED_RENDER",
        is_flag=True,
        help="Merge-skew guard: apply a changed render only if the merged pull request's "
        "gitops/policy/ENV was success for exactly that render (needs --forge).",
    ),
    _opt("--identity", env="POD_NAME", default=socket.gethostname, help="Name in the Leases."),
    _opt("--leader-elect/--no-leader-elect", env="GITOPS_BOT_LEADER_ELECT", default=True),
    _opt(
        "--lease-name",
        env="GITOPS_BOT_LEASE_NAME",
        default="gitops-bot-puller",
        show_default=True,
        help="Prefix of the Leases: NAME-ENV per environment, NAME.member.IDENTITY per replica.",
    ),
    _opt("--lease-duration", env="GITOPS_BOT_LEASE_DURATION", type=int, default=15),
    _opt(
        "--cache-dir",
        env="GITOPS_BOT_CACHE_DIR",
        type=click.Path(path_type=Path),
        help="Where the bare repository lives (default: a temporary folder).",
    ),
    _opt(
        "--max-objects",
        env="GITOPS_BOT_MAX_OBJECTS",
        type=click.IntRange(min=1),
        default=Bounds().max_objects,
        show_default=True,
        help="Objects one render of an environment may have (as plan's --max-objects).",
    ),
    common.renderer_options,  # --helm, --kustomize
    _opt(
        "--once",
        env="GITOPS_BOT_ONCE",
        is_flag=True,
        help="Sync once and exit: 0 if every environment is applied, 1 if not.",
    ),
    _opt("--log-level", env="GITOPS_BOT_LOG_LEVEL", default="INFO"),
]


def _options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


@click.command()
@_options
def puller(**flags: Any) -> None:
    """Pull the tracked branch and keep the cluster at it: apply, prune, heal drift, report.

    Serves POST /poke, POST /plan (with --plan-secret-file or --oidc-audience),
    GET /metrics, /healthz and /readyz on --listen.
    """
    from gitops_bot.cluster import heap  # noqa: PLC0415 - --help stays fast
    from gitops_bot.puller import wiring  # noqa: PLC0415

    heap.limit_arenas()  # before any thread: fewer arenas keep fewer freed pages
    logging.basicConfig(
        level=str(flags["log_level"]).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with _cluster(flags["kubeconfig"], flags["namespace"]) as (kubeconfig, namespace):
        options = _options_from(flags, kubeconfig=kubeconfig, namespace=namespace)
        code = wiring.main(options, stop=stop)
    if code:
        raise SystemExit(code)


def _words(values: tuple[str, ...]) -> tuple[str, ...]:
    """A repeated flag's values; in its variable they are separated with spaces."""
    return tuple(word for value in values for word in str(value).split() if word)


def _options_from(flags: dict[str, Any], *, kubeconfig: str, namespace: str | None) -> Options:
    """The typed value the puller is built from: click's values, one field each."""
    from gitops_bot.puller.settings import ApplySettings, Options, PlanOptions  # noqa: PLC0415
    from gitops_bot.puller.source import Credentials  # noqa: PLC0415

    return Options(
        repo_url=flags["repo_url"],
        envs=_words(flags["envs"]),
        namespace=namespace,
        branch=flags["branch"],
        config_file=flags["config_file"],
        interval=flags["interval"],
        resync=flags["resync"],
        retry=flags["retry"],
        heal=flags["heal"],
        rollback_to=flags["rollback_to"],
        identity=flags["identity"],
        apply=ApplySettings(
            force_conflicts=flags["force_conflicts"],
            prune=flags["prune"],
            prune_max_share=flags["prune_max_share"],
            prune_opt_in=frozenset(_words(flags["prune_opt_in"])),
            wait=flags["wait"],
            health_timeout_s=flags["health_timeout"],
        ),
        kubeconfig=kubeconfig,
        context=flags["context"],
        credentials=Credentials(
            token_file=flags["git_token_file"],
            token_user=flags["git_token_user"],
            ssh_key_file=flags["ssh_key_file"],
            known_hosts_file=flags["known_hosts_file"],
        ),
        allowed_signers_file=flags["allowed_signers_file"],
        cache_dir=flags["cache_dir"],
        tools=common.tools(flags["helm"], flags["kustomize"]),
        sources=common.sources(
            flags["allow_sources"], flags["source_cache"], flags["source_credentials"]
        ),
        bounds=Bounds(max_objects=flags["max_objects"]),
        leader_elect=flags["leader_elect"],
        lease_name=flags["lease_name"],
        lease_duration=flags["lease_duration"],
        listen=flags["listen"],
        poke_secret_file=flags["poke_secret_file"],
        plans=PlanOptions(
            secret_file=flags["plan_secret_file"],
            oidc_audience=flags["oidc_audience"] or None,
            oidc_issuer=flags["oidc_issuer"],
            oidc_repository=flags["oidc_repository"] or None,
            oidc_repository_id=flags["oidc_repository_id"] or None,
            oidc_refs=_words(flags["oidc_refs"]) or PlanOptions().oidc_refs,
            oidc_ca_file=flags["oidc_ca_file"],
            workers=flags["plan_workers"],
            queued=flags["plan_queue"],
            deadline_s=flags["plan_deadline"],
        ),
        forge=flags["forge"],
        forge_repo=flags["forge_repo"],
        forge_token_file=flags["forge_token_file"],
        forge_app=_forge_app(flags),
        forge_api_url=flags["forge_api_url"],
        forge_bot_login=flags["forge_bot_login"],
        require_approved_render=flags["require_approved_render"],
        once=flags["once"],
    )


def _forge_app(flags: dict[str, Any]) -> AppKey | None:
    """The GitHub App the puller reports as, instead of --forge-token-file."""
    app = common.github_app(
        flags["github_app_id"], flags["github_app_key_file"], forge=flags["forge"], env=os.environ
    )
    if app is not None and flags["forge_token_file"]:
        raise ConfigError(
            "--github-app-id and --forge-token-file are both set: report with a token "
            "or as a GitHub App, not both"
        )
    return app


@contextlib.contextmanager
def _cluster(kubeconfig: Path | None, namespace: str | None) -> Iterator[tuple[str, str | None]]:
    """The kubeconfig and namespace: the flags', or, in a pod, its ServiceAccount's
    (a kubeconfig written for it, removed at the end) and the pod's namespace."""
    if kubeconfig:
        yield str(kubeconfig), namespace
        return
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
    )
    if not host or not (_SA / "token").is_file():
        raise ConfigError(
            "connecting to the cluster: no --kubeconfig and not running in a pod "
            "(KUBERNETES_SERVICE_HOST or the ServiceAccount token is missing)"
        )
    if not namespace:
        namespace = (_SA / "namespace").read_text().strip()
    folder = Path(tempfile.mkdtemp(prefix="gitops-bot-kube-"))
    try:
        path = folder / "kubeconfig"
        server = f"https://{'[' + host + ']' if ':' in host else host}:{port}"
        path.write_text(yaml.safe_dump(_in_cluster(server)))
        yield str(path), namespace
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _in_cluster(server: str) -> dict[str, Any]:
    """A kubeconfig for the pod's ServiceAccount: its token and CA, read by the client."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "in-cluster",
                "cluster": {"server": server, "certificate-authority": str(_SA / "ca.crt")},
            }
        ],
        "users": [{"name": "sa", "user": {"tokenFile": str(_SA / "token")}}],
        "contexts": [{"name": "in-cluster", "context": {"cluster": "in-cluster", "user": "sa"}}],
        "current-context": "in-cluster",
    }
