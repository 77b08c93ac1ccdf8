"""The plan as GitHub-flavoured markdown: one sticky comment per environment.

Owns: the text of an environment's PR comment, split into numbered parts
that each stay within a character budget; the comment of a group of
environments that change alike (group_comment: the first one's plan and the
list of all, its marker naming the first after GROUP); the hidden marker
that starts every part, by which the forge adapter finds the comment to
edit; and the job summary of the whole plan.
Refuses: knowing a forge's limit (the adapter passes it as `budget`) and
posting anything.

How a comment stays within the budget: the summary (counts, drift, error)
always comes first, in part 1; each changed resource is a collapsed section
that moves to the next part when it does not fit; a section too large for
a part of its own is cut in the middle, keeping its first and last lines.
Only pathological input (an error or origin larger than the budget) is cut
without regard for markdown structure, as a last resort.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote, unquote

from tabulate import tabulate

from gitops_bot.core.objects import diff
from gitops_bot.core.report import (
    ACTIONS,
    MAX_SOURCES_SHOWN,
    Counts,
    changed,
    live_only,
    renamed,
    secret_key_phrase,
    short,
    source_text,
)
from gitops_bot.core.report.plan import Drift, EnvPlan, Plan, ResourceChange

GITHUB_LIMIT = 65_536
MIN_BUDGET = 1_000
# Parts are sized as if their numbers had this many digits, so that the
# final numbers, known only after packing, can only make a part shorter.
_WIDEST_PART = 999_999
_MARKER = re.compile(r"<!-- gitops-bot:plan env=(\S+) part=(\d+)/(\d+) -->")


def marker(env: str, part: int, parts: int) -> str:
    """`<!-- gitops-bot:plan env=prod part=1/2 -->`; the name is percent-encoded
    so that no environment name can end the comment early."""
    return f"<!-- gitops-bot:plan env={quote(env, safe='')} part={part}/{parts} -->"


def parse_marker(text: str) -> tuple[str, int, int] | None:
    """(env, part, parts) of the first marker in `text`, or None."""
    found = _MARKER.search(text)
    if found is None:
        return None
    part, parts = int(found[2]), int(found[3])
    if not 1 <= part <= parts:
        return None
    return unquote(found[1]), part, parts


def _code(text: str) -> str:
    """An inline code span that no backtick in `text` can end."""
    text = " ".join(text.splitlines())
    ticks = "`" * (max((len(r) for r in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _fence(text: str) -> str:
    """A code fence longer than any backtick run in `text` (diffs of markdown files)."""
    return "`" * max(3, max((len(r) for r in re.findall("`+", text)), default=0) + 1)


def _fenced(text: str, lang: str, fence: str | None = None) -> str:
    fence = fence or _fence(text)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{fence}{lang}\n{body}{fence}\n"


def _cell(text: str) -> str:
    """One table cell: one line, no pipe that would end it."""
    return " ".join(text.splitlines()).replace("|", "\\|")


def _text(text: str) -> str:
    """Words from the plan as prose in one line: no HTML, no table break.
    (Code spans need no escaping: markdown shows their content verbatim.)"""
    return _cell(html.escape(text, quote=False))


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    return tabulate(list(rows), headers=list(headers), tablefmt="github", disable_numparse=True)


def _cut_line(line: str, cap: int) -> str:
    if len(line) <= cap:
        return line
    body = line.rstrip("\n")
    keep = max(cap - 40, 0)
    return f"{body[:keep]} … {len(body) - keep} characters omitted\n"


def truncate_middle(text: str, room: int) -> str:
    """`text` in at most `room` characters: its first and last lines around
    one `… N lines omitted …` line; overlong lines are cut as well."""
    if len(text) <= room:
        return text
    lines = [_cut_line(line, max(room // 4, 80)) for line in text.splitlines(keepends=True)]
    if sum(map(len, lines)) <= room:
        return "".join(lines)
    size = len(f"… {len(lines)} lines omitted …\n")
    head: list[str] = []
    tail: list[str] = []
    first, last = 0, len(lines) - 1
    while first <= last:
        line = lines[first] if len(head) <= len(tail) else lines[last]
        if size + len(line) > room:
            break
        size += len(line)
        if len(head) <= len(tail):
            head.append(line)
            first += 1
        else:
            tail.append(line)
            last -= 1
    omitted = f"… {last - first + 1} lines omitted …\n"
    return "".join([*head, omitted, *reversed(tail)])


def _clip(text: str, budget: int) -> str:
    """The last resort: cut characters out of the middle, structure or not."""
    if len(text) <= budget:
        return text
    keep = budget - len(f"\n… {len(text)} characters omitted …\n")
    head = keep * 3 // 4
    note = f"\n… {len(text) - keep} characters omitted …\n"
    return text[:head] + note + text[len(text) - (keep - head) :]


def _heading(plan: Plan, env: EnvPlan, part: int, parts: int) -> str:
    of = f" (part {part} of {parts})" if parts > 1 else ""
    line = f"### gitops-bot plan for {_code(env.env)}{of}\n\n"
    line += f"{_code(short(plan.base))}..{_code(short(plan.head))}"
    if env.render_hash:
        line += f" · render {_code('sha256:' + env.render_hash[:12])}"
    if plan.sandbox:
        line += f" · sandbox: {_text(plan.sandbox)}"
    return line + "\n\n"


def _error(env: EnvPlan, room: int) -> str:
    text = truncate_middle(env.error or "", room)
    body = f"**Planning {_code(env.env)} stopped with an error:**\n\n" + _fenced(text, "text")
    return "> [!CAUTION]\n" + "".join(f"> {line}".rstrip() + "\n" for line in body.splitlines())


def _counts_table(env: EnvPlan) -> str:
    rows = [["this change", *(Counts.of(env.changes).get(a) for a in ACTIONS)]]
    if env.live is not None:
        rows.append(["live cluster", *(Counts.of(env.live).get(a) for a in ACTIONS)])
    return _table(["", *(a.value for a in ACTIONS)], rows) + "\n\n"


def _sources(env: EnvPlan) -> str:
    """The remote sources the renders used, by digest; a changed one is marked."""
    if not env.sources:
        return ""
    rows = []
    for change in env.sources[:MAX_SOURCES_SHOWN]:
        what, pinned = source_text(change)
        mark = "**changed**" if change.changed else ""
        rows.append([_text(_one_line(what, 200)), _code(pinned.replace("->", "→")), mark])
    more = len(env.sources) - MAX_SOURCES_SHOWN
    tail = f"\nand {more} more remote sources.\n" if more > 0 else ""
    return _table(["remote source", "resolved", ""], rows) + "\n" + tail + "\n"


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _drift(env: EnvPlan, rows: int) -> str:
    if not env.drift:
        if env.live is None:
            return "The live cluster was not compared (offline plan).\n\n"
        return "No drift in the cluster.\n\n"
    managers = sorted({d.manager for d in env.drift if d.manager})
    by = _and([_code(m) for m in managers]) if managers else "an unknown field manager"
    if managers and any(d.manager is None for d in env.drift):
        by += " and an unknown field manager"
    count = len(env.drift)
    text = f"**{count} field{'s' if count != 1 else ''} drifted in the cluster**, changed by {by}."
    shown: Sequence[Drift] = env.drift[:rows]
    if shown:
        table = _table(
            ["resource", "field", "manager"],
            [
                [_text(str(d.key)), _cell(_code(diff.path_text(d.path))), _text(d.manager or "?")]
                for d in shown
            ],
        )
        text += "\n\n" + table
    if count > len(shown):
        text += f"\n\n… and {count - len(shown)} more drifted fields (the JSON report lists all)."
    return text + "\n\n"


def _one_line(text: str, cap: int) -> str:
    """`text` as one line of at most about `cap` characters, cut at the end."""
    line = " ".join(text.split())
    if len(line) <= cap:
        return line
    return f"{line[:cap]} … {len(line) - cap:,} characters omitted"


def _live_missing(env: EnvPlan, room: int) -> str:
    """Why the live plan asked for is not here, before anything else: an
    offline plan must not pass for a live one (core.report.plan.EnvPlan.live_missing)."""
    if env.live_missing is None:
        return ""
    why = _text(_one_line(env.live_missing, max(room // 8, 80)).rstrip("."))
    text = (
        f"**Live plan unavailable:** {why}. Shown: the offline plan (base render → head "
        "render); the cluster was not compared."
    )
    return f"> [!WARNING]\n> {text}\n\n"


def _summary(plan: Plan, env: EnvPlan, *, drift_rows: int, room: int) -> str:
    missing = _live_missing(env, room)
    if env.error:
        return missing + _error(env, room // 2) + "\n"
    text = missing + _counts_table(env) + _sources(env) + _drift(env, drift_rows)
    if not changed(env.changes) and not live_only(env):
        text += "No changes.\n\n"
    return text


def _section(change: ResourceChange, suffix: str, room: int | None = None) -> str:
    """The collapsed section of one change; its diff cut to fit `room` if given."""
    fence = _fence(change.diff)

    def render(text: str) -> str:
        title = html.escape(f"{change.action.value} {change.key}{renamed(change)}{suffix}")
        out = f"<details><summary>{title}</summary>\n\n"
        if change.origin is not None:
            out += f"from {_code(str(change.origin))}\n\n"
        if change.note:
            out += f"_{_text(change.note)}_\n\n"
        if change.secret_keys is not None:
            keys = secret_key_phrase(change.secret_keys, _code)
            out += f"**Secret keys** {keys} (values are never shown)\n\n"
        if text:
            out += _fenced(text, "diff", fence) + "\n"
        return out + "</details>\n\n"

    full = render(change.diff)
    if room is None or len(full) <= room:
        return full
    return render(truncate_middle(change.diff, room - len(render(""))))


def _pack(
    sections: Iterable[tuple[ResourceChange, str]], *, first: int, later: int, room: int
) -> list[list[str]]:
    """Sections into parts: in order, each where it fits; one that fits no part
    is cut to the space left in the current part, or to a fresh part when
    less than half a part is left."""
    parts: list[list[str]] = [[]]
    used = first
    for change, suffix in sections:
        text = _section(change, suffix)
        if used + len(text) > room:
            if len(text) <= room - later or room - used < (room - later) // 2:
                parts.append([])
                used = later
            text = _section(change, suffix, room - used)
        parts[-1].append(text)
        used += len(text)
    return parts


def env_comment(plan: Plan, env: EnvPlan, *, budget: int = GITHUB_LIMIT) -> tuple[str, ...]:
    """The comment of `env` in as many parts as it needs, none longer than `budget`."""
    if budget < MIN_BUDGET:
        raise ValueError(f"a comment budget of {budget} characters is below {MIN_BUDGET}")
    widest = marker(env.env, _WIDEST_PART, _WIDEST_PART) + "\n"
    if len(widest) > budget // 4:
        raise ValueError(f"the environment name {env.env[:64]!r} is too long for a comment marker")
    room = budget - len(widest)
    drift_rows = len(env.drift)
    while True:
        summary = _summary(plan, env, drift_rows=drift_rows, room=room)
        first = len(_heading(plan, env, 1, _WIDEST_PART)) + len(summary)
        if first <= room or drift_rows == 0:
            break
        drift_rows //= 2
    later = len(_heading(plan, env, _WIDEST_PART, _WIDEST_PART))
    shown = [] if env.error else [(c, "") for c in changed(env.changes)]
    shown += [] if env.error else [(c, " (live cluster only)") for c in live_only(env)]
    parts = _pack(shown, first=first, later=later, room=room)
    total = len(parts)
    out = []
    for number, body in enumerate(parts, start=1):
        text = marker(env.env, number, total) + "\n" + _heading(plan, env, number, total)
        text += (summary if number == 1 else "") + "".join(body)
        out.append(_clip(text.rstrip("\n") + "\n", budget))
    return tuple(out)


GROUP = "*"  # a group's marker names its first environment after this (no name has it)


def group_comment(
    plan: Plan, envs: Sequence[EnvPlan], *, budget: int = GITHUB_LIMIT
) -> tuple[str, ...]:
    """One comment for `envs`, whose changes are the same once their own names
    and namespaces are set aside: the first one's plan, with the list of all."""
    first = envs[0]
    listed = (
        f"**The same change in {len(envs)} environments** (their names and namespaces "
        f"aside): {', '.join(_code(e.env) for e in envs)}; shown as {_code(first.env)} "
        "plans it. Each has its own statuses.\n\n"
    )
    listed = truncate_middle(listed, budget // 4)
    heading = f"### gitops-bot plan for {_code(first.env)}"
    group = f"### gitops-bot plan for {len(envs)} environments"
    slack = len(marker(GROUP + first.env, 1, 1)) - len(marker(first.env, 1, 1))
    parts = env_comment(plan, first, budget=budget - len(listed) - slack - len(group))
    out = []
    for number, text in enumerate(parts, start=1):
        _, rest = text.split("\n", 1)
        rest = rest.replace(heading, group, 1)
        if number == 1:
            top, after = rest.split("\n\n", 1)
            rest = top + "\n\n" + listed + after
        out.append(marker(GROUP + first.env, number, len(parts)) + "\n" + rest)
    return tuple(out)


def _summary_cells(env: EnvPlan) -> list[object]:
    """Counts of the change and of the live cluster; dashes when there are none to trust."""
    if env.error:
        return ["-"] * (len(ACTIONS) + 1)
    counts = Counts.of(env.changes)
    if env.live is None:
        live = "offline" if env.live_missing is None else "unavailable"
    else:
        live_counts = Counts.of(env.live)
        live = " ".join(f"{s}{live_counts.get(a)}" for s, a in zip("+~-", ACTIONS[:3], strict=True))
    return [*(counts.get(a) for a in ACTIONS), live]


def _drift_cell(env: EnvPlan) -> str | int:
    """The number of drifted fields when known; never a 0 that was not counted."""
    if env.error:
        return "unknown"
    return len(env.drift) if env.drift_known else "-"


def _result(env: EnvPlan) -> str:
    return "error" if env.error else "changes" if env.has_changes else "no changes"


def summary(plan: Plan) -> str:
    """The job summary: every environment's counts, errors, and the skipped ones."""
    text = f"## gitops-bot plan {_code(short(plan.base))}..{_code(short(plan.head))}\n\n"
    rows = []
    for env in plan.envs:
        rows.append([_cell(_code(env.env)), *_summary_cells(env), _drift_cell(env), _result(env)])
    if rows:
        headers = ["environment", *(a.value for a in ACTIONS), "live cluster", "drift", "result"]
        text += _table(headers, rows) + "\n\n"
    else:
        text += "No environment was planned.\n\n"
    for env in plan.envs:
        if env.live_missing is not None:
            why = _text(_one_line(env.live_missing, 2_000).rstrip("."))
            text += (
                f"**{_code(env.env)}: live plan unavailable:** {why}. Shown: the offline plan.\n\n"
            )
    for env in plan.envs:
        if env.error:
            text += f"**{_code(env.env)} stopped with an error:**\n\n" + _fenced(env.error, "text")
            text += "\n"
    if plan.skipped:
        text += "Skipped:\n\n"
        text += "".join(f"- {_code(s.env)}: {_text(s.reason)}\n" for s in plan.skipped) + "\n"
    if plan.sandbox:
        text += f"Sandbox: {_text(plan.sandbox)}\n"
    return text.rstrip("\n") + "\n"
