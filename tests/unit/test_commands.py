"""ChatOps commands: the parser's closed result, the table, the help and the
reference in docs/chatops.md (rewrite it with UPDATE_GOLDEN=1, then review
the diff), and a fuzzed parser."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_bot.core.pr import commands
from gitops_bot.core.pr.commands import BadArgs, Invocation, NoCommand, Unknown
from gitops_bot.core.pr.model import Permission

DOC = Path(__file__).resolve().parents[2] / "docs" / "chatops.md"
BEGIN = "<!-- BEGIN generated from gitops_bot/core/pr/commands.py; UPDATE_GOLDEN=1 rewrites -->"
END = "<!-- END generated -->"
SHA = "0123456789abcdef0123456789abcdef01234567"
SPEC = commands.BY_NAME


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/gitops help", Invocation(SPEC["help"], line=1)),
        ("/gitops", Invocation(SPEC["help"], line=1)),
        ("/gitops plan", Invocation(SPEC["plan"], line=1)),
        ("/gitops plan prod", Invocation(SPEC["plan"], env="prod", line=1)),
        ("/gitops PLAN prod", Invocation(SPEC["plan"], env="prod", line=1)),
        ("/gitops lock prod", Invocation(SPEC["lock"], env="prod", line=1)),
        ("/gitops unlock prod", Invocation(SPEC["unlock"], env="prod", line=1)),
        ("/gitops approve-destroy prod", Invocation(SPEC["approve-destroy"], env="prod", line=1)),
        ("/gitops hold", Invocation(SPEC["hold"], line=1)),
        ("/gitops hold staging", Invocation(SPEC["hold"], env="staging", line=1)),
        ("/gitops unhold", Invocation(SPEC["unhold"], line=1)),
        ("/gitops promote prod", Invocation(SPEC["promote"], env="prod", line=1)),
        (
            f"/gitops rollback prod {SHA.upper()}",
            Invocation(SPEC["rollback"], env="prod", sha=SHA, line=1),
        ),
        ("/gitops rollback prod abc1234", Invocation(SPEC["rollback"], env="prod", sha="abc1234")),
        # Where the command line may be.
        ("LGTM, thanks!\n\n/gitops plan dev\n", Invocation(SPEC["plan"], env="dev", line=3)),
        ("   /gitops plan dev", Invocation(SPEC["plan"], env="dev", line=1)),
        ("/gitops\tplan \t dev  ", Invocation(SPEC["plan"], env="dev", line=1)),
        ("text\r\n/gitops plan dev\r\n", Invocation(SPEC["plan"], env="dev", line=2)),
        (
            "```\n/gitops lock prod\n```\n/gitops plan dev",
            Invocation(SPEC["plan"], env="dev", line=4),
        ),
        (
            "~~~~\n/gitops lock prod\n~~~\n/gitops unlock prod\n~~~~\n/gitops plan",
            Invocation(SPEC["plan"], line=6),
        ),
        ("> /gitops lock prod\n\n/gitops plan", Invocation(SPEC["plan"], line=3)),
        (
            "<!--\n/gitops lock prod\n-->\n/gitops plan",
            Invocation(SPEC["plan"], line=4),
        ),
        ("<!-- /gitops lock prod -->\n/gitops plan", Invocation(SPEC["plan"], line=2)),
        # CommonMark's own line endings, all three.
        ("text\r/gitops plan dev", Invocation(SPEC["plan"], env="dev", line=2)),
        ("a\r\nb\rc\n/gitops plan dev", Invocation(SPEC["plan"], env="dev", line=4)),
        # A quote ends at a blank line; an HTML comment mid-line ends at `-->`.
        ("> quoted\n\n/gitops plan", Invocation(SPEC["plan"], line=3)),
        ("see <!-- a\nb --> ok\n/gitops plan", Invocation(SPEC["plan"], line=3)),
        ("    code\n\n/gitops plan", Invocation(SPEC["plan"], line=3)),
    ],
)
def test_commands(body: str, expected: Invocation) -> None:
    result = commands.parse(body)
    assert isinstance(result, Invocation)
    assert (result.spec, result.env, result.sha) == (expected.spec, expected.env, expected.sha)
    if expected.line:
        assert result.line == expected.line


@pytest.mark.parametrize(
    "body",
    [
        "",
        "LGTM",
        "please run `/gitops plan`",
        "/gitopsplan prod",
        "/gitops: plan",
        "    /gitops lock prod",
        "\t/gitops lock prod",
        "> /gitops lock prod",
        ">/gitops lock prod",
        "  > > /gitops lock prod",
        "```\n/gitops lock prod\n```",
        "```\n/gitops lock prod\n",  # an unclosed fence runs to the end
        "~~~\n/gitops lock prod\n```\n",  # a ``` does not close a ~~~ fence
        "````\n```\n/gitops lock prod\n````",
        "<!--\n/gitops lock prod\n",
        "<!-- note -->",
        # Not line endings in CommonMark (str.splitlines takes them for ones).
        *(f"LGTM{sep}/gitops lock prod" for sep in "\v\f\x1c\x1d\x1e\x85\u2028\u2029"),
        # A lazy continuation line is still inside the quote.
        "> I said\n/gitops lock prod",
        # An HTML comment opened anywhere in a line hides what follows, over lines.
        "LGTM <!-- hidden\n/gitops lock prod\n-->",
        "LGTM <!--\r/gitops lock prod\r-->",
        "LGTM <!--\n/gitops lock prod",  # not closed: fail closed
        "<details><!--\n/gitops lock prod\n--></details>",
        # An HTML block hides its lines up to a blank line.
        "<div>\n/gitops lock prod\n</div>",
        # A code span over lines is code.
        "see `\n/gitops lock prod\n`",
        # Inside a list item or its lazy continuation.
        "- /gitops lock prod",
        "- item\n/gitops lock prod",
        # A fence opened by a quoted or listed line.
        "> ```\n> /gitops lock prod",
        # Indented code after a blank line.
        "text\n\n    /gitops lock prod",
    ],
)
def test_not_commands(body: str) -> None:
    assert commands.parse(body) == NoCommand()


@pytest.mark.parametrize(
    ("body", "word", "suggestion"),
    [
        ("/gitops paln", "paln", "plan"),
        ("/gitops approve prod", "approve", "approve-destroy"),
        ("/gitops unlok prod", "unlok", "unlock"),
        ("/gitops deploy prod", "deploy", None),
        ("/gitops --help", "--help", "help"),
    ],
)
def test_unknown_commands_get_a_did_you_mean(body: str, word: str, suggestion: str | None) -> None:
    result = commands.parse(body)
    assert result == Unknown(word, suggestion=suggestion, line=1)
    hint = f": did you mean `/gitops {suggestion}`?" if suggestion else "."
    assert result.message == (f"unknown command `{word}`{hint} `/gitops help` lists the commands.")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("/gitops lock", "`lock` needs ENV (usage: `/gitops lock ENV`)"),
        ("/gitops rollback prod", "`rollback` needs SHA (usage: `/gitops rollback ENV SHA`)"),
        (
            "/gitops help me",
            "`help` takes 0 arguments; `me` is one too many (usage: `/gitops help`)",
        ),
        (
            "/gitops plan prod please",
            "`plan` takes 1 argument; `please` is one too many (usage: `/gitops plan [ENV]`)",
        ),
        ("/gitops lock Prod", "`Prod` is not an environment name (usage: `/gitops lock ENV`)"),
        ("/gitops lock `prod`", "`prod` is not an environment name (usage: `/gitops lock ENV`)"),
        (
            "/gitops rollback prod abc12",
            "`abc12` is not a commit SHA (7 to 40 hex digits) (usage: `/gitops rollback ENV SHA`)",
        ),
        (
            f"/gitops rollback prod {SHA}0",
            f"`{SHA[:40]}…` is not a commit SHA (7 to 40 hex digits) "
            "(usage: `/gitops rollback ENV SHA`)",
        ),
        (
            "/gitops rollback prod main",
            "`main` is not a commit SHA (7 to 40 hex digits) (usage: `/gitops rollback ENV SHA`)",
        ),
        (
            "/gitops lock prod\nand\n/gitops approve-destroy prod",
            "one command per comment: line 3 has another `/gitops`; post each command as its "
            "own comment (usage: `/gitops lock ENV`)",
        ),
        (
            "/gitops plan " + "a" * 250,
            "the command line is longer than 200 characters (usage: `/gitops plan [ENV]`)",
        ),
    ],
)
def test_bad_arguments_say_what_is_wrong(body: str, message: str) -> None:
    result = commands.parse(body)
    assert isinstance(result, BadArgs)
    assert result.message == message


def test_the_table_has_every_command_of_the_issue_once() -> None:
    names = [spec.name for spec in commands.TABLE]
    assert names == [
        "help",
        "plan",
        "lock",
        "unlock",
        "approve-destroy",
        "hold",
        "unhold",
        "promote",
        "rollback",
    ]
    assert len(set(names)) == len(names)
    assert all(spec.help.endswith(".") and "\n" not in spec.help for spec in commands.TABLE)


@pytest.mark.parametrize(
    ("name", "permission", "is_owner", "refusal"),
    [
        ("help", Permission.NONE, None, None),
        ("plan", Permission.NONE, None, "`plan` needs read permission; you have none"),
        ("plan", Permission.READ, None, None),
        ("lock", Permission.READ, None, "`lock` needs write permission; you have read"),
        ("lock", Permission.TRIAGE, None, "`lock` needs write permission; you have triage"),
        ("lock", Permission.WRITE, None, None),
        ("rollback", Permission.ADMIN, None, None),
        ("approve-destroy", Permission.WRITE, None, None),  # no owners: a writer confirms
        ("approve-destroy", Permission.WRITE, True, None),
        (
            "approve-destroy",
            Permission.ADMIN,
            False,
            "`approve-destroy` needs an owner of the environment",
        ),
        (
            "approve-destroy",
            Permission.READ,
            True,
            "`approve-destroy` needs write permission; you have read",
        ),
        ("hold", Permission.MAINTAIN, False, None),  # owners matter only where the table says
    ],
)
def test_refusal(
    name: str, permission: Permission, is_owner: bool | None, refusal: str | None
) -> None:
    assert commands.refusal(SPEC[name], permission=permission, is_owner=is_owner) == refusal


def test_help_is_generated_from_the_table() -> None:
    text = commands.help_text()
    for spec in commands.TABLE:
        assert f"| `{spec.usage}` | {spec.who} | {spec.help} |" in text


def test_the_reference_in_docs_is_the_table() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert BEGIN in doc, f"{DOC} lacks the generated-section markers"
    assert END in doc, f"{DOC} lacks the generated-section markers"
    before, rest = doc.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    expected = f"{before}{BEGIN}\n{commands.table_markdown()}{END}{after}"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        DOC.write_text(expected, encoding="utf-8")
        doc = DOC.read_text(encoding="utf-8")
    assert doc == expected, "docs/chatops.md differs from the table; see the module docstring"


# -- fuzz ---------------------------------------------------------------------

_words = st.one_of(
    st.sampled_from([*SPEC, "prod", "dev", SHA, "abc1234", "/gitops", ">", "```", "~~~", "<!--"]),
    st.text(max_size=12),
)
_lines = st.one_of(
    st.lists(_words, max_size=5).map(" ".join),
    st.text(max_size=60),
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_lines, max_size=8).map("\n".join))
def test_any_comment_parses_into_the_closed_result(body: str) -> None:
    result = commands.parse(body)
    assert isinstance(result, Invocation | Unknown | BadArgs | NoCommand)
    if isinstance(result, Unknown | BadArgs):
        assert result.message
        assert "\n" not in result.message
    if isinstance(result, Invocation):
        assert result.env is None or re.fullmatch(r"[a-z0-9-]{1,63}", result.env)
        assert result.sha is None or re.fullmatch(r"[0-9a-f]{7,40}", result.sha)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=500))
def test_any_text_parses_into_the_closed_result(body: str) -> None:
    assert isinstance(commands.parse(body), Invocation | Unknown | BadArgs | NoCommand)


_envs = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
_shas = st.from_regex(r"[0-9a-f]{7,40}", fullmatch=True)


@st.composite
def _invocations(draw: st.DrawFn) -> Invocation:
    spec = draw(st.sampled_from(commands.TABLE))
    env = sha = None
    for param in spec.params:
        if param.optional and draw(st.booleans()):
            break
        if param.arg is commands.Arg.ENV:
            env = draw(_envs)
        else:
            sha = draw(_shas)
    return Invocation(spec, env=env, sha=sha)


_prose = st.text(
    alphabet=st.characters(blacklist_characters="/\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
    max_size=40,
)


@settings(max_examples=500, deadline=None)
@given(_invocations(), st.lists(_prose, max_size=3), st.lists(_prose, max_size=3))
def test_valid_commands_round_trip_among_prose(
    invocation: Invocation, before: list[str], after: list[str]
) -> None:
    body = "\n".join([*before, "", str(invocation), "", *after])
    result = commands.parse(body)
    if isinstance(result, NoCommand):
        # Prose can open a fence, an HTML comment or an HTML block that hides the line.
        assert any(
            re.search(r"```|~~~|<!|<\?|<(script|pre|style|textarea)", line, re.I) for line in before
        ), body
        return
    assert isinstance(result, Invocation), (body, result)
    assert (result.spec, result.env, result.sha) == (
        invocation.spec,
        invocation.env,
        invocation.sha,
    )
    assert result.line == len(before) + 2


# -- hidden commands never run, whatever the line breaks ------------------------

_BREAKS = st.sampled_from(["\n", "\r\n", "\r"])
_NOT_BREAKS = st.sampled_from(["\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
# Prose: words a person types, none of which opens a container of its own.
_TEXT = st.from_regex(r"[A-Za-z][A-Za-z0-9 .,!?]{0,19}", fullmatch=True)


@st.composite
def _hidden(draw: st.DrawFn) -> str:
    """A comment whose only `/gitops` line sits in a quote, code, an HTML comment
    or an HTML block, with CommonMark's line endings mixed at random."""
    nl = draw(_BREAKS)
    cmd = str(draw(_invocations()))
    before, after = draw(_TEXT), draw(_TEXT)
    fence = draw(st.sampled_from(["```", "~~~", "````"]))
    shapes = [
        f"> {before}{nl}{cmd}",  # lazy continuation of a quote
        f"{before}{nl}{nl}> {cmd}",
        f"{fence}{nl}{before}{nl}{cmd}{nl}{fence}{nl}{after}",
        f"{fence}{nl}{cmd}",  # never closed
        f"{before}{nl}{nl}    {cmd}{nl}",
        f"{before} <!--{nl}{cmd}{nl}-->{after}",
        f"{before}<!-- {after}{nl}{cmd} -->",
        f"<!--{nl}{before}{nl}{nl}{cmd}{nl}-->",
        f"{before} `{nl}{cmd}{nl}`",
        f"<div>{nl}{cmd}{nl}</div>",
        f"- {before}{nl}  {cmd}",
    ]
    return draw(st.sampled_from(shapes))


@settings(max_examples=1000, deadline=None)
@given(_hidden())
def test_a_hidden_command_never_runs(body: str) -> None:
    assert commands.parse(body) == NoCommand(), repr(body)


@settings(max_examples=500, deadline=None)
@given(_invocations(), _TEXT, _NOT_BREAKS)
def test_only_commonmark_line_endings_end_a_line(
    invocation: Invocation, before: str, separator: str
) -> None:
    body = f"{before}{separator}{invocation}"
    result = commands.parse(body)
    if before.strip(" \t"):
        assert result == NoCommand(), repr(body)


# -- bounded work on hostile comments --------------------------------------------

SHORT = "; post the command in a short comment of its own"


def test_a_comment_over_the_limit_is_refused_unread() -> None:
    body = "/gitops plan\n\n" + "x " * commands.MAX_BODY
    assert commands.parse(body) == BadArgs(
        f"the comment is longer than {commands.MAX_BODY:,} characters{SHORT}"
    )


def test_a_paragraph_over_the_limit_that_holds_a_command_is_refused() -> None:
    body = "/gitops plan\n" + "words " * (commands.MAX_PARAGRAPH // 5)
    assert commands.parse(body) == BadArgs(
        f"the paragraph of the command is longer than {commands.MAX_PARAGRAPH:,} characters{SHORT}"
    )
    # A long paragraph without a command beside a short one with it is fine.
    long = "words " * (commands.MAX_PARAGRAPH // 5)
    assert isinstance(commands.parse(f"{long}\n\n/gitops plan"), Invocation)


def test_a_huge_comment_without_the_prefix_is_prose_and_costs_nothing() -> None:
    started = time.monotonic()
    assert commands.parse("[" * 1_000_000) == NoCommand()
    assert time.monotonic() - started < 1.0


N = commands.MAX_BODY - 20


@pytest.mark.parametrize(
    "shape",
    ["[", "[\n", "<", "*a_ ", "[a](", "`", "a\r", "> a\n", "- a\n", "> " * 20 + "a\n", "- > "],
)
def test_the_worst_comments_under_the_limit_are_read_in_bounded_time(shape: str) -> None:
    body = ("/gitops plan\n" + shape * N)[: commands.MAX_BODY]
    started = time.monotonic()
    result = commands.parse(body)
    assert time.monotonic() - started < 5.0  # about 0.7 s at most on one core
    assert isinstance(result, Invocation | BadArgs | NoCommand)
