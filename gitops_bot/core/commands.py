"""ChatOps: `/gitops ...` commands in pull request comments.

Owns: the one command table (`TABLE`: each command's arguments, the
permission it needs and its help line), the parser of a comment body into a
closed result (`parse` -> Invocation | Unknown | BadArgs | NoCommand), the
check of a commenter's permission against the table (`refusal`), and the
help text and docs/chatops.md's reference, both generated from the table.
Refuses: acting on a command, and deciding which comments count (the use
case refuses edited comments, the bot's own and those of users without the
permission; SECURITY.md promise 8).

Which line is the command: the first line that starts with `/gitops` (after
at most three spaces), outside fenced code blocks (``` or ~~~), block quotes
(`>`), indented code (four spaces or a tab) and HTML comments, i.e. where a
reader of the rendered comment sees it as a line of its own. Every other
line is prose and ignored, except a second command line, which makes the
comment a BadArgs: one command per comment, so that a refusal or a failure
is never half of what was asked.
"""

from __future__ import annotations

import difflib
import enum
import re
from dataclasses import dataclass

from gitops_bot.core.forge import Permission

PREFIX = "/gitops"
MAX_LINE = 200  # a command line longer than this is refused, not parsed
_ENV = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SHA = re.compile(r"[0-9a-fA-F]{7,40}")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


class Arg(enum.Enum):
    ENV = "ENV"  # an environment's name, as in .gitops.yaml
    SHA = "SHA"  # a commit: 7 to 40 hexadecimal digits


@dataclass(frozen=True)
class Param:
    arg: Arg
    optional: bool = False

    def __str__(self) -> str:
        return f"[{self.arg.value}]" if self.optional else self.arg.value


@dataclass(frozen=True)
class Spec:
    name: str
    params: tuple[Param, ...]
    permission: Permission  # the least role that may run it
    help: str  # one line
    owner: bool = False  # when ENV has owners, the commenter must also be one of them

    @property
    def usage(self) -> str:
        return " ".join((PREFIX, self.name, *(str(p) for p in self.params)))

    @property
    def who(self) -> str:
        if self.permission is Permission.NONE:
            return "anyone"
        role = f"{self.permission.name.lower()} permission"
        return f"{role}, and an owner of ENV when it has owners" if self.owner else role


ENV, OPTIONAL_ENV, SHA = Param(Arg.ENV), Param(Arg.ENV, optional=True), Param(Arg.SHA)
TABLE: tuple[Spec, ...] = (
    Spec("help", (), Permission.NONE, "List these commands."),
    Spec(
        "plan",
        (OPTIONAL_ENV,),
        Permission.READ,
        "Plan again at the current head: every affected environment, or ENV.",
    ),
    Spec("lock", (ENV,), Permission.WRITE, "Take ENV's lock for this pull request."),
    Spec(
        "unlock",
        (ENV,),
        Permission.WRITE,
        "Release ENV's lock, whichever pull request holds it.",
    ),
    Spec(
        "approve-destroy",
        (ENV,),
        Permission.WRITE,
        "Confirm the deletions and recreations of ENV's current render.",
        owner=True,
    ),
    Spec(
        "hold",
        (OPTIONAL_ENV,),
        Permission.WRITE,
        "Hold the gate of ENV, or of every environment, until unhold.",
    ),
    Spec(
        "unhold",
        (OPTIONAL_ENV,),
        Permission.WRITE,
        "Release the hold of ENV, or every hold.",
    ),
    Spec(
        "promote",
        (ENV,),
        Permission.WRITE,
        "Open or update the pull request that promotes ENV's source, at its healthy "
        "commit, to ENV (the soak is waived, the health is not).",
    ),
    Spec(
        "rollback",
        (ENV, SHA),
        Permission.WRITE,
        "Open a pull request that puts ENV back to its render at commit SHA.",
    ),
)
BY_NAME = {spec.name: spec for spec in TABLE}


@dataclass(frozen=True)
class Invocation:
    spec: Spec
    env: str | None = None
    sha: str | None = None  # lowercase
    line: int = 0  # 1-based line of the comment

    @property
    def name(self) -> str:
        return self.spec.name

    def __str__(self) -> str:
        return " ".join(w for w in (PREFIX, self.spec.name, self.env, self.sha) if w)


@dataclass(frozen=True)
class Unknown:
    word: str  # as written (shown through `show`)
    suggestion: str | None = None  # a command name close to it
    line: int = 0

    @property
    def message(self) -> str:
        hint = f": did you mean `{PREFIX} {self.suggestion}`?" if self.suggestion else "."
        return f"unknown command {show(self.word)}{hint} `{PREFIX} help` lists the commands."


@dataclass(frozen=True)
class BadArgs:
    problem: str
    spec: Spec | None = None
    line: int = 0

    @property
    def message(self) -> str:
        usage = f" (usage: `{self.spec.usage}`)" if self.spec else ""
        return f"{self.problem}{usage}"


@dataclass(frozen=True)
class NoCommand:
    """The comment is prose: the bot says nothing."""


Result = Invocation | Unknown | BadArgs | NoCommand


def show(word: str, *, limit: int = 40) -> str:
    """A word of a comment, safe to quote in the bot's reply."""
    clean = "".join(c for c in word if c.isprintable() and c != "`")
    cut = clean[:limit] + ("…" if len(clean) > limit else "")
    return f"`{cut}`" if cut else "(nothing)"


def _command_lines(body: str) -> list[tuple[int, str]]:
    """The lines that are commands in the rendered comment, with their number."""
    found: list[tuple[int, str]] = []
    fence: str | None = None
    in_html = False
    for number, line in enumerate(body.splitlines(), start=1):
        if fence is not None:
            closing = line.strip()
            indent = len(line) - len(line.lstrip(" "))
            if (
                closing
                and set(closing) == {fence[0]}
                and len(closing) >= len(fence)
                and indent <= 3
            ):
                fence = None
            continue
        if in_html:
            in_html = "-->" not in line
            continue
        opened = _FENCE.match(line)
        if opened:
            fence = opened.group(1)
            continue
        if line.startswith(("    ", "\t")) or line.lstrip(" ").startswith((">", "\t")):
            continue
        text = line.lstrip(" ")
        if text.startswith("<!--"):
            in_html = "-->" not in text[4:]
            continue
        words = text.split()
        if words and words[0] == PREFIX:
            found.append((number, text))
    return found


def parse(body: str) -> Result:
    """The command of a comment `body`, if any. Never raises."""
    lines = _command_lines(body)
    if not lines:
        return NoCommand()
    (number, text), *others = lines
    words = text.split()[1:]
    if not words:
        return Invocation(BY_NAME["help"], line=number)
    name, args = words[0].lower(), words[1:]
    spec = BY_NAME.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, BY_NAME, n=1)
        return Unknown(words[0], suggestion=close[0] if close else None, line=number)
    if others:
        return BadArgs(
            f"one command per comment: line {others[0][0]} has another `{PREFIX}`; "
            "post each command as its own comment",
            spec,
            number,
        )
    if len(text) > MAX_LINE:
        return BadArgs(f"the command line is longer than {MAX_LINE} characters", spec, number)
    return _bind(spec, args, number)


def _bind(spec: Spec, args: list[str], line: int) -> Result:
    if len(args) > len(spec.params):
        extra = args[len(spec.params)]
        takes = f"takes {len(spec.params)} argument{'' if len(spec.params) == 1 else 's'}"
        return BadArgs(f"`{spec.name}` {takes}; {show(extra)} is one too many", spec, line)
    env = sha = None
    for i, param in enumerate(spec.params):
        if i >= len(args):
            if param.optional:
                continue
            return BadArgs(f"`{spec.name}` needs {param.arg.value}", spec, line)
        word = args[i]
        if param.arg is Arg.ENV:
            if not _ENV.fullmatch(word) or len(word) > 63:
                return BadArgs(f"{show(word)} is not an environment name", spec, line)
            env = word
        elif not _SHA.fullmatch(word):
            return BadArgs(f"{show(word)} is not a commit SHA (7 to 40 hex digits)", spec, line)
        else:
            sha = word.lower()
    return Invocation(spec, env=env, sha=sha, line=line)


def refusal(spec: Spec, *, permission: Permission, is_owner: bool | None) -> str | None:
    """Why a commenter with `permission` may not run `spec`, or None if they may.
    `is_owner`: None when the environment has no owners, else whether they are one."""
    if permission < spec.permission:
        return (
            f"`{spec.name}` needs {spec.permission.name.lower()} permission; "
            f"you have {permission.name.lower()}"
        )
    if spec.owner and is_owner is False:
        return f"`{spec.name}` needs an owner of the environment"
    return None


def table_markdown() -> str:
    """The command reference, as a Markdown table."""
    rows = ["| Command | Who may run it | What it does |", "| --- | --- | --- |"]
    rows += [f"| `{spec.usage}` | {spec.who} | {spec.help} |" for spec in TABLE]
    return "\n".join(rows) + "\n"


def help_text() -> str:
    """The reply to `/gitops help`."""
    return (
        "**gitops-bot commands**: one per comment, on a line of its own; "
        "a command acts on the head commit at the time of the comment.\n\n" + table_markdown()
    )
