"""What one puller is told to do: the values the CLI reads from flags and the environment.

Owns: the Options of `gitops-bot puller` as one typed, frozen value (what
the loop is told, and how its collaborators are built), and the Settings of
the loop made from them, with defaults that are safe for production
(self-heal on, prune with the share cap, health waited for).
Refuses: reading flags, files or the environment (cli/puller.py does) and
building anything from them (puller/wiring.py does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gitops_bot.core.repo.bounds import Bounds
from gitops_bot.forges.appkey import AppKey
from gitops_bot.puller.source import Credentials
from gitops_bot.render.fetch import SourcePolicy
from gitops_bot.render.sandbox import Tools


@dataclass(frozen=True)
class ApplySettings:
    """How each environment is applied (passed to the apply engine)."""

    force_conflicts: bool = False
    concurrency: int = 16
    prune: bool = True
    prune_max_share: float = 0.5
    prune_opt_in: frozenset[str] = frozenset()
    wait: bool = True
    health_timeout_s: float = 300.0


@dataclass(frozen=True)
class Settings:
    url: str  # the repository to pull from
    branch: str
    envs: tuple[str, ...]
    namespace: str  # where the ApplySet parents, the status objects and the Leases live
    config_file: str = ".gitops.yaml"
    interval_s: float = 60.0  # fetch this often (and at once on a poke)
    resync_s: float = 600.0  # reconcile an unchanged commit again this often
    retry_s: float = 120.0  # retry a commit whose apply failed this often
    heal: bool = True  # re-apply drifted objects; False: report only
    rollback_to: str = ""  # a commit that may be moved to although it does not descend
    identity: str = "gitops-bot"  # this replica's name in the Lease and in Events
    lease_name: str = "gitops-bot-puller"  # the prefix: a Lease <lease_name>-<env> per env
    apply: ApplySettings = field(default_factory=ApplySettings)

    def parent_name(self, env: str) -> str:
        """The ApplySet parent ConfigMap of an environment."""
        return f"gitops-bot-{env}"


@dataclass(frozen=True)
class PlanOptions:
    """Who may ask the puller for live plans, and how many it makes."""

    secret_file: Path | None = None  # HMAC of the request body (a secret of its own)
    oidc_audience: str | None = None  # GitHub Actions OIDC tokens, for this audience ...
    oidc_issuer: str = "https://token.actions.githubusercontent.com"
    oidc_repository: str | None = None  # ... naming this owner/name ...
    oidc_repository_id: str | None = None
    oidc_refs: tuple[str, ...] = ("refs/pull/*/merge",)  # ... and one of these refs
    oidc_ca_file: Path | None = None  # trust this CA for the issuer (GHES behind a private CA)
    workers: int = 1
    queued: int = 4
    deadline_s: float = 120.0

    @property
    def served(self) -> bool:
        return self.secret_file is not None or bool(self.oidc_audience)


@dataclass(frozen=True)
class Options:
    """Everything `gitops-bot puller` was told, one field per flag (the defaults are the flags')."""

    # What to pull and apply (made into Settings by puller/wiring.py).
    repo_url: str
    envs: tuple[str, ...]
    namespace: str | None = None  # None: not given and not in a pod (refused)
    branch: str = "main"
    config_file: str = ".gitops.yaml"
    interval: float = 60.0
    resync: float = 600.0
    retry: float = 120.0
    heal: bool = True
    rollback_to: str = ""
    identity: str = "gitops-bot"
    apply: ApplySettings = field(default_factory=ApplySettings)
    # Where from, and with what.
    kubeconfig: str | None = None
    context: str | None = None
    credentials: Credentials = field(default_factory=Credentials)
    allowed_signers_file: Path | None = None
    cache_dir: Path | None = None  # None: a temporary folder
    tools: Tools = field(default_factory=Tools)
    sources: SourcePolicy = field(default_factory=SourcePolicy)  # the flags'; plus the commit's
    bounds: Bounds = field(default_factory=Bounds)
    # Leader election and the HTTP server.
    leader_elect: bool = True
    lease_name: str = "gitops-bot-puller"  # the prefix of the per-environment Leases
    lease_duration: int = 15
    listen: str = "0.0.0.0:8080"
    poke_secret_file: Path | None = None
    # Live plans for CI (POST /plan): served when a plan secret or an OIDC audience is given.
    plans: PlanOptions = field(default_factory=PlanOptions)
    # The forge: approvals read from it (the merge-skew guard), statuses and deployments to it.
    forge: str | None = None
    forge_repo: str | None = None
    forge_token_file: Path | None = None
    forge_app: AppKey | None = None  # a GitHub App instead of the token file
    forge_api_url: str | None = None
    forge_bot_login: str | None = None
    require_approved_render: bool = False
    once: bool = False  # sync once and exit
