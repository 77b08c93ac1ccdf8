"""What a promotion or a rollback pull request carries, decided without I/O.

Owns: the new texts of the target environment's files for a promotion
(each `copy` path of the rule, read as the source environment spells it at
the source commit, written where the target spells it; for a copy with
keys, only those scalars of the target's file, through core.yamldoc.scalars),
the files that put an environment's sources back to a commit for a
rollback (`rollback`, given the files that differ, and `scope`, which says
which files are an environment's sources), and each pull request's
deterministic branch
(`gitops-bot/promote/<from>-to-<to>`, `gitops-bot/rollback/<env>-<sha12>`),
title, body and commit message. The body carries a hidden marker with the
facts (kind, environments, commit), so the history of promotions can be
read back from the pull requests. Refuses: reading Git and writing to the
forge (app.promote does), and deciding whether the source is healthy
enough to promote (the puller's report will; `healthy_since` is shown, not
judged).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from gitops_bot.core.promotion.routes import Copy, Rule
from gitops_bot.core.repo import config
from gitops_bot.core.yamldoc import scalars
from gitops_bot.errors import ConfigError

PROMOTE_PREFIX = "gitops-bot/promote/"
ROLLBACK_PREFIX = "gitops-bot/rollback/"
MARKER = "<!-- gitops-bot:{kind} {facts} -->"
SHORT = 12


@dataclass(frozen=True)
class Proposal:
    """One pull request to open or update: `files` set on top of the base."""

    kind: str  # "promotion" or "rollback"
    branch: str
    title: str
    body: str
    message: str  # of the commit
    files: tuple[tuple[str, str | None], ...]  # (path, new text; None: delete), sorted

    @property
    def texts(self) -> dict[str, str | None]:
        return dict(self.files)


@dataclass(frozen=True)
class Nothing:
    """No pull request is needed, and why."""

    reason: str


def promote_branch(rule: Rule) -> str:
    return f"{PROMOTE_PREFIX}{rule.source}-to-{rule.target}"


def rollback_branch(env: str, sha: str) -> str:
    return f"{ROLLBACK_PREFIX}{env}-{sha[:SHORT]}"


def commit_url(pull_url: str) -> str:
    """The template ({sha}) of a commit's page, from a pull request's page on
    GitHub (`.../pull/7`) or GitLab (`.../-/merge_requests/7`); "" if neither."""
    for marker, page in (("/-/merge_requests/", "/-/commit/"), ("/pull/", "/commit/")):
        if marker in pull_url:
            return pull_url.rsplit(marker, 1)[0] + page + "{sha}"
    return ""


def _link(sha: str, commit_url: str) -> str:
    """`sha12`, linked when the forge's commit URL template ({sha}) is known."""
    short = f"`{sha[:SHORT]}`"
    return f"[{short}]({commit_url.replace('{sha}', sha)})" if commit_url else short


def _marker(kind: str, **facts: str) -> str:
    return MARKER.format(kind=kind, facts=" ".join(f"{k}={v}" for k, v in facts.items()))


def _requested(by: str, in_pull: int) -> str:
    if not by:
        return ""
    return f"Requested by @{by}" + (f" in #{in_pull}" if in_pull else "") + "."


_CELL_MAX = 60


def _code(value: str) -> str:
    """`value` as a code span that fits one cell of a Markdown table."""
    if not value:
        return "(empty)"
    shown = value if len(value) <= _CELL_MAX else value[: _CELL_MAX - 1] + "\u2026"
    shown = shown.replace("\n", "\\n").replace("|", "\\|")
    return f"`` {shown} ``" if "`" in shown else f"`{shown}`"


def _copy_keys(
    rule: Rule, item: Copy, *, text: str, old: str | None, source_sha: str
) -> tuple[str, list[tuple[str, str, str]]]:
    """`old`, the target's text, with `item`'s keys set to their values in
    `text`, the source's; and each changed key with its old and new value."""
    src, dst = item.at(rule.source), item.at(rule.target)
    doing = f"promoting {rule.source} to {rule.target}"
    rule_at = f"the promotion rule on line {rule.line}"
    if old is None:
        raise ConfigError(
            f"{doing}: {dst} does not exist on the base; copying keys ({', '.join(item.keys)}) "
            f"needs the target's file ({rule_at})"
        )
    new, changed = old, []
    for key in item.keys:
        try:
            value = scalars.scalar(text, key)
        except scalars.Error as err:
            raise ConfigError(f"{doing}: reading {key} of {src}: {err} ({rule_at})") from err
        if value is None:
            raise ConfigError(
                f"{doing}: {src} has no key {key} at {source_sha[:SHORT]} (a copy key of {rule_at})"
            )
        try:
            before = scalars.get(new, key)
            after = scalars.set(new, key, value.value, tag=value.tag)
        except scalars.Error as err:
            raise ConfigError(f"{doing}: setting {key} in {dst}: {err} ({rule_at})") from err
        if after != new:
            changed.append((key, before or "", value.value))
            new = after
    return new, changed


def promotion(
    rule: Rule,
    *,
    source_sha: str,
    source: Mapping[str, str | None],
    target: Mapping[str, str | None],
    healthy_since: datetime | None = None,
    commit_url: str = "",
    requested_by: str = "",
    requested_in: int = 0,
) -> Proposal | Nothing:
    """The pull request that brings `rule.target` to `rule.source`'s state at
    `source_sha`. `source`: each of `rule.paths(rule.source)` -> its text at
    `source_sha` (None: missing); `target`: each of `rule.paths(rule.target)`
    -> its text on the base the pull request starts from. A copy with keys
    changes only those scalars of the target's file, which must have them."""
    texts = dict(target)  # the target's files as the copies so far leave them
    rows: list[tuple[str, str, str]] = []  # copied from, to, change
    copied: list[str] = []  # lines of the commit message
    for item in rule.copy:
        src, dst = item.at(rule.source), item.at(rule.target)
        text = source.get(src)
        if text is None:
            raise ConfigError(
                f"promoting {rule.source} to {rule.target}: {src} does not exist at "
                f"{source_sha[:SHORT]} (a copy path of the promotion rule on line {rule.line})"
            )
        old = texts.get(dst)
        if item.keys:
            text, keys = _copy_keys(rule, item, text=text, old=old, source_sha=source_sha)
            rows.extend(
                (f"`{src}` `{key}`", f"`{dst}`", f"{_code(before)} -> {_code(after)}")
                for key, before, after in keys
            )
            if keys:
                copied.append(f"  {src} -> {dst} (keys: {', '.join(k for k, _, _ in keys)})")
        elif old != text:
            rows.append((f"`{src}`", f"`{dst}`", "whole file" if old is not None else "new file"))
            copied.append(f"  {src} -> {dst}")
        texts[dst] = text
    files = tuple(sorted((p, t) for p, t in texts.items() if t is not None and t != target.get(p)))
    if not files:
        kinds = {"keys" if item.keys else "files" for item in rule.copy}
        return Nothing(
            f"`{rule.target}` already has `{rule.source}`'s {' and '.join(sorted(kinds))} at "
            f"{source_sha[:SHORT]}: nothing to promote"
        )
    title = f"Promote {rule.source} to {rule.target} ({source_sha[:SHORT]})"
    health = (
        f"`{rule.source}` has been healthy since {healthy_since.isoformat()}."
        if healthy_since is not None
        else f"`{rule.source}`'s health was not checked: this promotion was asked for by hand."
    )
    lines = [
        _marker("promotion", source=rule.source, target=rule.target, sha=source_sha),
        f"Promotes `{rule.source}` at {_link(source_sha, commit_url)} to `{rule.target}`.",
        "",
        health,
        _requested(requested_by, requested_in),
        "",
        "| Copied from | To | Change |",
        "| --- | --- | --- |",
        *(f"| {src} | {dst} | {change} |" for src, dst, change in rows),
        "",
        f"The bot updates this pull request when `/gitops promote {rule.target}` is asked "
        f"again; it never opens a second one for `{rule.source}` to `{rule.target}`. "
        f"The plan and policy of `{rule.target}` gate it like any other change.",
    ]
    message = f"{title}\n\nCopied from {rule.source} at {source_sha}:\n" + "\n".join(copied)
    return Proposal(
        kind="promotion",
        branch=promote_branch(rule),
        title=title,
        body="\n".join(lines).strip() + "\n",
        message=message,
        files=files,
    )


@dataclass(frozen=True)
class Scope:
    """The files that are an environment's sources: everything under `folders`,
    and `files`."""

    folders: tuple[str, ...]
    files: tuple[str, ...]

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        return path in self.files or any(
            folder == "." or path.startswith(folder + "/") for folder in self.folders
        )


def scope(cfg: config.Config, env: str) -> Scope:
    """`env`'s sources: its source folder (a helm chart's folder), its helm values
    files, and the paths that promotion rules copy into or out of it. Files a
    kustomization reaches outside its folder (`../../base`) are shared with
    other environments and are not included."""
    environment = cfg.env(env)
    files = list(environment.source.values)
    for rule in cfg.promotions:
        if env in (rule.source, rule.target):
            files.extend(rule.paths(env))
    return Scope(folders=(environment.source.path,), files=tuple(sorted(set(files))))


def rollback(
    env: str,
    *,
    sha: str,
    base_sha: str,
    at_sha: Mapping[str, str | None],
    at_base: Mapping[str, str | None],
    commit_url: str = "",
    requested_by: str = "",
    requested_in: int = 0,
) -> Proposal | Nothing:
    """The pull request that puts `env`'s sources back to `sha`. `at_sha` and
    `at_base`: each source file that differs between `sha` and the base ->
    its text there (None: missing). A file that exists on the base but not at
    `sha` is deleted, as a revert would."""
    paths = sorted(set(at_sha) | set(at_base))
    changed = [(p, at_sha.get(p)) for p in paths if at_sha.get(p) != at_base.get(p)]
    if not changed:
        return Nothing(
            f"`{env}`'s sources on {base_sha[:SHORT]} are already as they were at "
            f"{sha[:SHORT]}: nothing to roll back"
        )
    title = f"Roll {env} back to {sha[:SHORT]}"
    rows = "\n".join(
        f"| `{path}` | {'restored' if text is not None else 'deleted (added since)'} |"
        for path, text in changed
    )
    lines = [
        _marker("rollback", env=env, sha=sha, base=base_sha),
        f"Puts `{env}`'s sources back to their state at {_link(sha, commit_url)}, "
        f"on top of {_link(base_sha, commit_url)}.",
        "",
        _requested(requested_by, requested_in),
        "",
        "| File | Change |",
        "| --- | --- |",
        rows,
        "",
        "A rollback is an ordinary change: it is planned, gated and merged like any "
        "other, and the puller applies it forward, so it never fights the puller.",
    ]
    message = f"{title}\n\nRestored from {sha}:\n" + "\n".join(
        f"  {p}" + ("" if text is not None else " (deleted)") for p, text in changed
    )
    return Proposal(
        kind="rollback",
        branch=rollback_branch(env, sha),
        title=title,
        body="\n".join(lines).strip() + "\n",
        message=message,
        files=tuple(changed),
    )
