"""The one error tree of gitops-bot.

Every error the bot raises on purpose is a BotError; adapters wrap vendor
exceptions with `raise ... from err` at the border. Messages say what was
happening ("applying Deployment shop/web: ..."), never "failed to". Only the
CLI turns these into exit codes.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error gitops-bot raises on purpose."""

    exit_code = 2


class ConfigError(BotError):
    """The configuration or an input file is invalid."""


class ClusterError(BotError):
    """Talking to the Kubernetes API went wrong."""


class RenderError(BotError):
    """Rendering an environment went wrong: a tool failed, the sandbox refused
    an input, or a manifest is malformed."""


class ForgeError(BotError):
    """Talking to GitHub or GitLab went wrong (after retries)."""
