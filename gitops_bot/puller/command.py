"""`gitops-bot puller`: the flags, the wiring, and the process's life.

Owns: reading the puller's flags (each with an environment variable, so
a Deployment sets them from its env and mounted Secrets), building the
collaborators (cluster client, git source, leader election, reporter,
HTTP server) and running until SIGTERM/SIGINT, when it stops acting,
gives the Lease up and exits 0. Refuses: logic of its own (puller/loop.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from gitops_bot.core.repo.bounds import Bounds
from gitops_bot.errors import BotError, ConfigError

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
    _opt("--forge", env="GITOPS_BOT_FORGE", type=click.Choice(["github", "gitlab"])),
    _opt("--forge-repo", env="GITOPS_BOT_FORGE_REPO", help="owner/name or group/project."),
    _opt("--forge-token-file", env="GITOPS_BOT_FORGE_TOKEN_FILE", type=_FILE),
    _opt("--forge-api-url", env="GITOPS_BOT_FORGE_API_URL"),
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
    _opt("--identity", env="POD_NAME", default=socket.gethostname, help="Name in the Lease."),
    _opt("--leader-elect/--no-leader-elect", env="GITOPS_BOT_LEADER_ELECT", default=True),
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
    _opt("--helm", env="GITOPS_BOT_HELM", default="helm"),
    _opt("--kustomize", env="GITOPS_BOT_KUSTOMIZE", default="kustomize"),
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

    Serves POST /poke, GET /metrics, /healthz and /readyz on --listen.
    """
    from gitops_bot.puller import wiring  # noqa: PLC0415 - --help stays fast

    logging.basicConfig(
        level=str(flags.pop("log_level")).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    once = bool(flags.pop("once"))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with _kubeconfig(flags) as kubeconfig:
        flags["kubeconfig"] = kubeconfig
        code = wiring.main(flags, stop=stop, once=once)
    if code:
        raise SystemExit(code)


class _kubeconfig:  # noqa: N801 - used as a context manager, like contextlib's
    """The kubeconfig to use: the flag's, or one written for the pod's ServiceAccount."""

    def __init__(self, flags: dict[str, Any]) -> None:
        self.flags = flags
        self.folder: Path | None = None

    def __enter__(self) -> str | None:
        if self.flags.get("kubeconfig"):
            return str(self.flags["kubeconfig"])
        host, port = (
            os.environ.get("KUBERNETES_SERVICE_HOST"),
            os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
        )
        if not host or not (_SA / "token").is_file():
            raise ConfigError(
                "connecting to the cluster: no --kubeconfig and not running in a pod "
                "(KUBERNETES_SERVICE_HOST or the ServiceAccount token is missing)"
            )
        if not self.flags.get("namespace"):
            self.flags["namespace"] = (_SA / "namespace").read_text().strip()
        self.folder = Path(tempfile.mkdtemp(prefix="gitops-bot-kube-"))
        path = self.folder / "kubeconfig"
        server = f"https://{'[' + host + ']' if ':' in host else host}:{port}"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "in-cluster",
                            "cluster": {
                                "server": server,
                                "certificate-authority": str(_SA / "ca.crt"),
                            },
                        }
                    ],
                    "users": [{"name": "sa", "user": {"tokenFile": str(_SA / "token")}}],
                    "contexts": [
                        {"name": "in-cluster", "context": {"cluster": "in-cluster", "user": "sa"}}
                    ],
                    "current-context": "in-cluster",
                }
            )
        )
        return str(path)

    def __exit__(self, *exc: object) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def read_secret(path: Path | None, *, what: str) -> str:
    if path is None:
        return ""
    try:
        return path.read_text().strip()
    except OSError as err:
        raise BotError(f"reading {what} from {path}: {err.strerror or err}") from err
