"""CODEOWNERS files: who owns which path, in GitHub's syntax.

Owns: parsing a CODEOWNERS text into rules (`parse`), GitHub's pattern
language (`compile_pattern`, `matches`) and the owners of a path
(`Codeowners.owners_of`: the last matching rule wins, a rule without owners
makes its paths ownerless). Refuses: reading the file (the caller brings the
text, from the base branch) and resolving teams (the policy asks the caller).

The pattern language is gitignore's, as GitHub documents it for CODEOWNERS:
- `*` matches anything but `/`, `?` one character but `/`, `\\` escapes;
- `**` as a whole segment matches any number of folders (`**/logs`,
  `a/**/b`); at the end (`a/**`) everything below `a`;
- a `/` at the start or in the middle anchors the pattern at the repository
  root; otherwise it matches at any depth (`*.js`, `apps/`);
- a trailing `/` matches only what is below a folder of that name;
- a pattern matches a path or anything below it (`/apps` owns
  `apps/web/x.yaml`), except that a last segment of only `*` matches direct
  children only (`docs/*` owns `docs/a.md`, not `docs/b/c.md`; `/*` owns
  the files at the root).
GitHub's exceptions hold too: no `!` negation and no `[...]` ranges. As on
GitHub, a line with an error is skipped; `problems` says which and why, so
the policy can show it. A trailing `#...` after the owners is a comment.
GitLab's `[Section]` headers are not supported: their rules are read as one
list (a problem says so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

MAX_BYTES = 3 * 1024 * 1024  # GitHub ignores CODEOWNERS files larger than 3 MB
_OWNER = re.compile(r"@[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s/]+\.[^@\s/]+")
_TOKEN = re.compile(r"(?:\\.|\S)+")


@dataclass(frozen=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]  # "@user", "@org/team", "user@example.com"; () = no owners
    line: int


@dataclass(frozen=True)
class Codeowners:
    rules: tuple[Rule, ...] = ()
    file: str = "CODEOWNERS"
    problems: tuple[str, ...] = ()  # "{file}:{line}: {what}; the line is skipped"

    def rule_for(self, path: str) -> Rule | None:
        """The rule that decides `path` (repository-relative, no leading `/`)."""
        for rule in reversed(self.rules):
            if matches(rule.pattern, path):
                return rule
        return None

    def owners_of(self, path: str) -> tuple[str, ...]:
        rule = self.rule_for(path)
        return rule.owners if rule is not None else ()


def is_team(owner: str) -> bool:
    """A GitHub team (@org/team) or GitLab group (@group/subgroup)."""
    return owner.startswith("@") and "/" in owner


def is_owner_spelling(owner: str) -> bool:
    """@user, @org/team or an e-mail address."""
    return bool(_OWNER.fullmatch(owner) or _EMAIL.fullmatch(owner))


def _unescape(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token)


def _problem(pattern: str) -> str | None:
    if pattern.startswith("!"):
        return "negation ('!') is not supported in CODEOWNERS"
    if "[" in pattern.replace("\\[", ""):
        return "character ranges ('[...]') are not supported in CODEOWNERS"
    if "***" in pattern:
        return "three asterisks in a row mean nothing"
    if not pattern.strip("/"):
        return f"the pattern {pattern!r} matches nothing"
    return None


def parse(text: str, *, file: str = "CODEOWNERS") -> Codeowners:
    """The rules of a CODEOWNERS `text`; never raises, bad lines become problems."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return Codeowners(file=file, problems=(f"{file}: larger than 3 MB; GitHub ignores it",))
    rules: list[Rule] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if re.match(r"\^?\[", line):
            problems.append(
                f"{file}:{number}: GitLab sections are not supported; "
                "their rules are read as one list, the last match wins"
            )
            continue
        tokens = _TOKEN.findall(line)
        pattern, owners = tokens[0], []
        for token in tokens[1:]:
            if token.startswith("#"):
                break
            owners.append(token)
        problem = _problem(pattern)
        bad = [o for o in owners if not is_owner_spelling(o)]
        if problem is None and bad:
            problem = f"{bad[0]!r} is not an owner; write @user, @org/team or an e-mail address"
        if problem is not None:
            problems.append(f"{file}:{number}: {problem}; the line is skipped")
            continue
        rules.append(Rule(pattern=pattern, owners=tuple(owners), line=number))
    return Codeowners(rules=tuple(rules), file=file, problems=tuple(problems))


def _segment(segment: str) -> str:
    if segment == "*":
        return "[^/]+"
    out = []
    chars = iter(segment)
    for ch in chars:
        if ch == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression a repository-relative path must fully match."""
    folder_only = pattern.endswith("/")
    body = pattern.strip("/")
    anchored = pattern.startswith("/") or "/" in body
    segments = body.split("/") if body else []
    if not segments:
        return re.compile(r"(?!)")
    if not anchored and segments[0] != "**":
        segments.insert(0, "**")
    if folder_only and segments[-1] != "**":
        segments.append("**")
    last = len(segments) - 1
    out = ""
    need_slash = False
    for i, segment in enumerate(segments):
        slash = "/" if need_slash else ""
        if segment == "**":
            out += slash + (".+" if i == last else "(?:.+/)?")
            need_slash = False
        else:
            out += slash + _segment(segment)
            need_slash = True
    if segments[-1] not in ("**", "*"):
        out += "(?:/.+)?"  # the pattern names a file or a folder: everything below it
    return re.compile(out, re.DOTALL)


def matches(pattern: str, path: str) -> bool:
    """Whether the CODEOWNERS `pattern` covers `path`."""
    return compile_pattern(pattern).fullmatch(path.lstrip("/")) is not None
