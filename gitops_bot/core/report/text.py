"""The plan as plain text for a terminal, with or without ANSI colours.

Owns: the layout `gitops-bot plan` prints: per environment a header, the
counts, the drift, and each change as `+ create`, `~ update` or `- delete`
with its diff indented; then the skipped environments.
Refuses: deciding whether the terminal supports colour (the CLI knows the
stream and passes `color`) and any size limit (a terminal has none).
"""

from __future__ import annotations

import re

from gitops_bot.core.objects import diff
from gitops_bot.core.report import (
    ACTIONS,
    MAX_SOURCES_SHOWN,
    SYMBOLS,
    Counts,
    changed,
    live_only,
    renamed,
    secret_key_phrase,
    short,
    source_text,
)
from gitops_bot.core.report.plan import Action, EnvPlan, Plan, ResourceChange

_RESET = "\x1b[0m"
_COLORS = {
    Action.CREATE: "\x1b[32m",  # green
    Action.UPDATE: "\x1b[33m",  # yellow
    Action.DELETE: "\x1b[31m",  # red
    Action.UNCHANGED: "",
}
_BOLD = "\x1b[1m"
_INDENT = "    "


# Rendered manifests come from the pull request: a control character in a
# name or value must not reach the terminal as an escape sequence.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _paint(text: str, style: str = "", *, color: bool = False) -> str:
    """`text` made safe for a terminal, in `style` when colours are on."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)
    return f"{style}{text}{_RESET}" if color and style else text


def _counts(label: str, counts: Counts) -> str:
    words = ", ".join(
        f"{counts.get(a)} to {a.value}"
        if a is not Action.UNCHANGED
        else f"{counts.get(a)} unchanged"
        for a in ACTIONS
    )
    return f"{label}: {words}\n"


def _diff_line(line: str, *, color: bool) -> str:
    if line.startswith(("+++", "---")):
        return _paint(line, _BOLD, color=color)
    if line.startswith("+"):
        return _paint(line, _COLORS[Action.CREATE], color=color)
    if line.startswith("-"):
        return _paint(line, _COLORS[Action.DELETE], color=color)
    return _paint(line)


def _change(change: ResourceChange, suffix: str, *, color: bool) -> str:
    head = f"{SYMBOLS[change.action]} {change.action.value} {change.key}{renamed(change)}{suffix}"
    out = _paint(head, _COLORS[change.action], color=color) + "\n"
    if change.origin is not None:
        out += _paint(f"{_INDENT}from {change.origin}") + "\n"
    if change.note:
        out += _paint(f"{_INDENT}note: {change.note}") + "\n"
    if change.secret_keys is not None:
        said = secret_key_phrase(change.secret_keys)
        out += _paint(f"{_INDENT}secret keys {said}") + "\n"
    for line in change.diff.splitlines():
        out += _INDENT + _diff_line(line, color=color) + "\n"
    return out


def _env(plan: Plan, env: EnvPlan, *, color: bool) -> str:
    header = f"== {env.env} ({short(plan.base)}..{short(plan.head)})"
    if env.render_hash:
        header += f" render sha256:{env.render_hash[:12]}"
    out = _paint(header, _BOLD, color=color) + "\n"
    if env.live_missing is not None:
        why = env.live_missing.rstrip("\n").rstrip(".").replace("\n", "\n" + _INDENT)
        said = (
            f"live plan unavailable: {why}. Shown: the offline plan (base render -> head "
            "render); the cluster was not compared."
        )
        out += _paint(said, _COLORS[Action.UPDATE], color=color) + "\n"
    if env.error:
        error = "error: " + env.error.rstrip("\n").replace("\n", "\n" + _INDENT)
        out += _paint(error, _COLORS[Action.DELETE], color=color) + "\n"
        return out + "changes and drift: unknown (the plan stopped)\n"
    out += _counts("this change", Counts.of(env.changes))
    out += _sources(env)
    if env.live is None:
        out += "live cluster: not compared (offline plan)\n"
    else:
        out += _counts("live cluster", Counts.of(env.live))
    if env.drift:
        out += f"drift: {len(env.drift)} field{'s' if len(env.drift) != 1 else ''}\n"
        for d in env.drift:
            where = f"{d.key} {diff.path_text(d.path)} (by {d.manager or 'unknown'})"
            out += _paint(_INDENT + where) + "\n"
    shown = [(c, "") for c in changed(env.changes)]
    shown += [(c, " (live cluster only)") for c in live_only(env)]
    if not shown:
        return out + "no changes\n"
    return out + "".join(_change(c, suffix, color=color) for c, suffix in shown)


def _sources(env: EnvPlan) -> str:
    """The remote sources the renders used; a changed one says so."""
    if not env.sources:
        return ""
    out = "remote sources:\n"
    for change in env.sources[:MAX_SOURCES_SHOWN]:
        what, pinned = source_text(change)
        mark = " (changed)" if change.changed else ""
        out += f"{_INDENT}{what}: {pinned}{mark}\n"
    if len(env.sources) > MAX_SOURCES_SHOWN:
        out += f"{_INDENT}and {len(env.sources) - MAX_SOURCES_SHOWN} more\n"
    return out


def render(plan: Plan, *, color: bool) -> str:
    """The whole plan; ANSI escapes only when `color` is true."""
    out = [_env(plan, env, color=color) for env in plan.envs]
    if plan.skipped:
        lines = "".join(_paint(f"{_INDENT}{s.env}: {s.reason}") + "\n" for s in plan.skipped)
        out.append("skipped:\n" + lines)
    if not out:
        out.append("no environment was planned\n")
    if plan.sandbox:
        out.append(_paint(f"sandbox: {plan.sandbox}") + "\n")
    return "\n".join(out)
