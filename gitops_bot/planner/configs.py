"""The configuration of a commit of the base branch, read one way for everyone.

Owns: read_config (a commit's `.gitops.yaml`, None when it has none) and
require_config, with one wording for a missing or broken file, so the
bot's use cases (app.context caches them per event) and the puller's plan
endpoint say the same. Refuses: the head's configuration (planner.plan reads
the change's own, with its own wording) and caching (app.context does).
"""

from __future__ import annotations

from gitops_bot.core.repo import config
from gitops_bot.errors import ConfigError
from gitops_bot.vcs.git import Git


def read_config(repo: Git, sha: str, file: str) -> config.Config | None:
    """The configuration at `sha` (a commit of the base branch: a change does
    not choose the rules, promotions or base render that judge it), None
    when it has none; ConfigError naming the file and commit when it is broken."""
    text = repo.read(sha, file)
    if text is None:
        return None
    try:
        return config.parse(text, file=file)
    except ConfigError as err:
        raise ConfigError(f"reading {file} at {sha[:12]} (base branch): {err}") from err


def require_config(repo: Git, sha: str, file: str, found: config.Config | None) -> config.Config:
    """`found` (read_config's answer), or ConfigError in read_config's words."""
    if found is None:
        raise ConfigError(f"reading {file} at {sha[:12]} (base branch): it does not exist there")
    return found
