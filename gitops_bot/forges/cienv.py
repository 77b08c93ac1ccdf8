"""Which CI system `gitops-bot run` is in, and what it was started for.

Owns: asking each registered forge (forges.registry) whether its CI system
runs this job, and handing the environment to the first that does; each
forge's ci module reads its own variables into one CiContext with a core
event. Refuses: reading os.environ or files itself: the CLI passes the
environment and a file reader in, so tests hand it plain dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gitops_bot.errors import BotError
from gitops_bot.forges import registry
from gitops_bot.forges.forge import CiContext

__all__ = ["CiContext", "detect"]


def detect(env: Mapping[str, str], *, read: Callable[[str], str]) -> CiContext:
    for forge in registry.FORGES:
        if forge.ci.runs_in(env):
            return forge.ci.context(env, read)
    systems = " nor ".join(forge.ci.described for forge in registry.FORGES)
    raise BotError(
        f"reading the CI environment: this is neither {systems}; use `gitops-bot plan` outside CI"
    )
