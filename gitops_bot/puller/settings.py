"""What one puller is told to do: the values the CLI reads from flags and the environment.

Owns: the settings as one frozen value with defaults that are safe for
production (self-heal on, prune with the share cap, health waited for).
Refuses: reading flags, files or the environment (puller/command.py does).
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    namespace: str  # where the ApplySet parents, the status objects and the Lease live
    config_file: str = ".gitops.yaml"
    interval_s: float = 60.0  # fetch this often (and at once on a poke)
    resync_s: float = 600.0  # reconcile an unchanged commit again this often
    retry_s: float = 120.0  # retry a commit whose apply failed this often
    heal: bool = True  # re-apply drifted objects; False: report only
    rollback_to: str = ""  # a commit that may be moved to although it does not descend
    identity: str = "gitops-bot"  # this replica's name in the Lease and in Events
    lease_name: str = "gitops-bot-puller"
    apply: ApplySettings = field(default_factory=ApplySettings)

    def parent_name(self, env: str) -> str:
        """The ApplySet parent ConfigMap of an environment."""
        return f"gitops-bot-{env}"
