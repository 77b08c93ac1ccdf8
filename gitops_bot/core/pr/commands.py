"""ChatOps: `/gitops ...` commands in pull request comments.

Owns: the one command table (`TABLE`: each command's arguments, the
permission it needs and its help line), the parser of a comment body into a
closed result (`parse` -> Invocation | Unknown | BadArgs | NoCommand), the
check of a commenter's permission against the table (`refusal`), and the
help text and docs/chatops.md's reference, both generated from the table.
Refuses: acting on a command, and deciding which comments count (the use
case refuses edited comments, the bot's own and those of users without the
permission; SECURITY.md promise 8).

Which line is the command: the comment is read the way the forge renders it,
by a CommonMark parser (markdown-it-py), not by hand-written line rules. A
command line is a line of a paragraph (or heading) of its own, outside any
block quote or list, that starts with `/gitops`. Lines end only where
CommonMark ends them (`\n`, `\r\n`, `\r`; never at U+2028, \v, \f, \x85
...). Whatever a reader does not see as text of such a paragraph is never a
command: fenced and indented code, block quotes (also their lazy
continuation lines), HTML blocks, HTML comments opened anywhere in a line,
code spans. A `<!--` that CommonMark takes literally (no `-->` in the same
paragraph) still hides the rest of its paragraph: a hidden command must
never run, a visible one can be posted again. Every other line is prose and
ignored, except a second command line, which makes the comment a BadArgs:
one command per comment, so that a refusal or a failure is never half of
what was asked.
"""

from __future__ import annotations

import difflib
import enum
import itertools
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

from gitops_bot.core.pr.model import Permission

PREFIX = "/gitops"
MAX_LINE = 200  # a command line longer than this is refused, not parsed
_ENV = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SHA = re.compile(r"[0-9a-fA-F]{7,40}")
_BLANKS = re.compile(r"[ \t]+")  # CommonMark's whitespace between words; not \v, U+2028 ...
# CommonMark as specified, nothing more (no tables, no linkify, no raw-HTML switch):
# which lines a reader sees as text is the spec's answer, not ours. `parse` never
# changes an instance, so one serves every thread. The blocks of the whole comment
# are read first; the inline syntax (the costly part) only of the paragraphs that
# hold a candidate line.
# Containers nested deeper than 6 (quotes in lists in quotes ...) are not read at
# all: what they hold is hidden, and the parser's time stays linear in the text.
_OPTIONS = {"maxNesting": 6}
_BLOCKS = MarkdownIt("commonmark", _OPTIONS).disable("inline")
_INLINE = MarkdownIt("commonmark", _OPTIONS)
# Bounded work on hostile comments (this pure-Python parser spends up to half a
# second on 10,000 characters of its worst input): longer ones are refused, unread.
MAX_BODY = 10_000  # characters of a comment that holds `/gitops`
MAX_PARAGRAPH = 4_000  # characters of the paragraph that holds a command line


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
    # Acts on what the pull request's head changes: obeyed only from a comment
    # written after the bot's plan of the current head was shown (app.chatops).
    bound: bool = False

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
    Spec("lock", (ENV,), Permission.WRITE, "Take ENV's lock for this pull request.", bound=True),
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
        bound=True,
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
        bound=True,
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


class _TooLongError(ValueError):
    """A comment or paragraph too long to read for commands."""


def _command_lines(body: str) -> list[tuple[int, str]]:
    """The lines that are commands in the rendered comment, with their number."""
    if PREFIX not in body:
        return []
    if len(body) > MAX_BODY:
        raise _TooLongError(f"the comment is longer than {MAX_BODY:,} characters")
    tokens = _BLOCKS.parse(body)
    found: list[tuple[int, str]] = []
    for block, inline in itertools.pairwise(tokens):
        # Level 0: not inside a block quote or a list; html_block, code_block and
        # fence tokens have no inline content, so what they hold is never looked at.
        if block.level != 0 or block.type not in ("paragraph_open", "heading_open"):
            continue
        if not any(_starts(line) for line in inline.content.split("\n")):
            continue
        if len(inline.content) > MAX_PARAGRAPH:
            raise _TooLongError(
                f"the paragraph of the command is longer than {MAX_PARAGRAPH:,} characters"
            )
        first = (block.map[0] if block.map else 0) + 1
        children = _INLINE.parseInline(inline.content)[0].children or []
        found += [(first + n, text) for n, text in _lines(children)]
    return found


def _starts(line: str) -> bool:
    """Whether a line, as written, starts with the prefix and a blank or its end."""
    return _BLANKS.split(line.lstrip(" \t"), maxsplit=1)[0] == PREFIX


def _lines(children: list[Token]) -> list[tuple[int, str]]:
    """The visible lines of one paragraph that start with the prefix, as
    (line offset in the paragraph, text)."""
    found: list[tuple[int, str]] = []
    offset = 0  # source lines since the paragraph's first
    parts: list[str] = []  # the visible text of the current line
    starts_visible = True  # the line does not begin inside a literal `<!--`
    hidden = False  # inside a `<!--` CommonMark took literally

    def end_line() -> None:
        text = "".join(parts).lstrip(" \t")
        if starts_visible and _starts(text):
            found.append((offset, text.rstrip(" \t")))

    for child in children:
        if child.type in ("softbreak", "hardbreak"):
            end_line()
            offset += 1
            parts, starts_visible = [], not hidden
        elif child.type == "text":
            visible, hidden = _outside_comments(child.content, hidden=hidden)
            if not "".join(parts).strip(" \t") and not visible.strip(" \t") and hidden:
                starts_visible = False
            parts.append(visible)
        elif child.type == "code_inline":
            parts.append(child.markup + child.content + child.markup)
        elif child.type == "html_inline":
            # Invisible when rendered; a tag or comment may span source lines.
            offset += child.content.count("\n")
            # A line that starts with one is not a line of its own: not a command.
            starts_visible = starts_visible and bool("".join(parts).strip(" \t"))
            parts.append(" ")
    end_line()
    return found


def _outside_comments(text: str, *, hidden: bool) -> tuple[str, bool]:
    """The part of `text` outside literal `<!--` ... `-->`, and whether a
    comment is still open at its end (fail closed: hide rather than run)."""
    visible = []
    while text:
        if hidden:
            _, closed, text = text.partition("-->")
            hidden = not closed
        else:
            before, opened, text = text.partition("<!--")
            visible.append(before)
            hidden = bool(opened)
    return "".join(visible), hidden


def parse(body: str) -> Result:
    """The command of a comment `body`, if any. Never raises."""
    try:
        lines = _command_lines(body)
    except _TooLongError as err:
        return BadArgs(f"{err}; post the command in a short comment of its own")
    return _read(lines)


def _read(lines: list[tuple[int, str]]) -> Result:
    if not lines:
        return NoCommand()
    (number, text), *others = lines
    words = _BLANKS.split(text)[1:]
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
        "a command acts on the head commit at the time of the comment, and "
        f"{_bound_names()} count only when written after the bot's plan of "
        "the current head.\n\n" + table_markdown()
    )


def _bound_names() -> str:
    names = [f"`{spec.name}`" for spec in TABLE if spec.bound]
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)
