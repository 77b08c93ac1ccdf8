"""The forges the bot knows: one line per forge package.

Owns: the list of Forge descriptors (gitops_bot.forges.forge), in the order
CI detection asks them, and looking one up by its name. Everything outside
forges/ (the CLI, the webhook server, the puller) reaches a forge through
here. Refuses: anything of one forge (its package's descriptor says it).
"""

from __future__ import annotations

from gitops_bot.forges import github, gitlab
from gitops_bot.forges.forge import Forge

FORGES: tuple[Forge, ...] = (
    github.FORGE,
    gitlab.FORGE,
)


def names() -> list[str]:
    """The forges' names, for --forge."""
    return [forge.name for forge in FORGES]


def get(name: str) -> Forge:
    for forge in FORGES:
        if forge.name == name:
            return forge
    raise KeyError(f"no forge named {name!r}; known: {', '.join(names())}")
