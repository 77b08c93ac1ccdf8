"""The context of one event: what the use cases of a change read, built once
and passed down (as Atlantis's command context is).

Owns: the run's settings (Settings: the tools, bounds, comment budget and
mode, the configuration file's name, the environments asked for, live or
not, and from where: a kubeconfig or the puller, the shard of a CI matrix
job or the summary job after them), one event's context
(Context: the forge, how to reach a pull request's repository, the settings,
the event's clock, and the configurations read so far), one pull request as
one event sees it (Change: the pull request as read, its repository, reached
once, and its base branch's configuration and policies), and each commit's
configuration parsed at most once per event, whichever use case asks first
(read with planner.configs.read_config, one wording for a missing or broken
one). Refuses: reading flags or the environment (the entry points do),
deciding anything (the use cases do), and the head's configuration
(planner.plan reads the change's own, with its own wording).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from gitops_bot.core.policy.rules import Policy
from gitops_bot.core.pr.model import Pull
from gitops_bot.core.pr.ports import Forge
from gitops_bot.core.repo import config
from gitops_bot.core.repo.bounds import Bounds
from gitops_bot.planner.configs import read_config, require_config
from gitops_bot.planner.plan import ClusterFor, LivePlans, Shard
from gitops_bot.render.fetch import SourcePolicy
from gitops_bot.render.render import Tools
from gitops_bot.vcs.git import Git

NEW_ENVIRONMENT = Policy(approvals=1)  # an environment the base does not know


@dataclass(frozen=True)
class Settings:
    """How this run plans and reports: the same for every event it handles."""

    tools: Tools
    mask_key: Callable[[], bytes]  # a fresh key per call: fingerprints never match across runs
    comment_limit: int
    cluster_for: ClusterFor | None = None
    live: bool = False
    live_via: LivePlans | None = None  # the puller, when live plans are asked of it
    url: str = ""  # where the statuses link to (the CI job, the server)
    envs: tuple[str, ...] = ()  # plan only these environments
    config_file: str = ".gitops.yaml"
    comment_mode: str = "always"  # always | changes | off (see review.review)
    bounds: Bounds = field(default_factory=Bounds)  # of the bot's own parse and diff
    # Remote sources the bot may fetch (its flags'; each plan adds the base branch's list).
    sources: SourcePolicy = field(default_factory=SourcePolicy)
    # A CI matrix: this job plans one shard of the affected environments and
    # leaves the summary status to the job after all of them (summarize).
    shard: Shard | None = None
    summarize: bool = False  # no plan: the summary status from the shards' statuses
    workers: int | None = None  # environments planned at once; None: the cores


class Configs:
    """The configurations one event has read, by commit: each parsed once.
    (A commit's files never change, so whichever repository holds it reads
    the same text.)"""

    def __init__(self, file: str) -> None:
        self.file = file
        self._at: dict[str, config.Config | None] = {}

    def at(self, repo: Git, sha: str) -> config.Config | None:
        if sha not in self._at:
            self._at[sha] = read_config(repo, sha, self.file)
        return self._at[sha]

    def require(self, repo: Git, sha: str) -> config.Config:
        return require_config(repo, sha, self.file, self.at(repo, sha))


@dataclass(frozen=True)
class Context:
    """One event's: built once by the dispatcher, passed to every use case."""

    forge: Forge
    repo_for: Callable[[Pull], Git]  # a repository holding the pull request's base and head
    settings: Settings
    now: datetime  # the event's clock
    configs: Configs

    @classmethod
    def start(
        cls, forge: Forge, repo_for: Callable[[Pull], Git], settings: Settings, now: datetime
    ) -> Context:
        return cls(forge, repo_for, settings, now, Configs(settings.config_file))

    def change(self, pull: Pull) -> Change:
        return Change(self, pull)


@dataclass(frozen=True)
class Change:
    """One pull request as this event read it. Its repository is reached on
    first use only (a command that needs no Git fetches nothing)."""

    context: Context
    pull: Pull

    @property
    def forge(self) -> Forge:
        return self.context.forge

    @property
    def settings(self) -> Settings:
        return self.context.settings

    @property
    def now(self) -> datetime:
        return self.context.now

    @functools.cached_property
    def repo(self) -> Git:
        return self.context.repo_for(self.pull)

    def config_at(self, sha: str) -> config.Config | None:
        """The configuration at `sha`, a commit of the base branch."""
        return self.context.configs.at(self.repo, sha)

    def require_config(self, sha: str) -> config.Config:
        return self.context.configs.require(self.repo, sha)

    def base_policies(self) -> dict[str, Policy]:
        """env -> its policy on the base branch; {} when the base has no configuration."""
        base = self.config_at(self.pull.base_sha)
        return {env.name: env.policy for env in base.environments} if base else {}
