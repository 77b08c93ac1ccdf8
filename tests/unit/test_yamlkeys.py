"""core.yamldoc.scalars: key paths, and one scalar read and rewritten in place."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.yamldoc import scalars
from gitops_bot.core.yamldoc.scalars import Index, Key, Match

INT = "tag:yaml.org,2002:int"

VALUES = """\
# prod's values: only the image moves between environments
image:
  repository: shop   # the registry's name
  tag: "1.4.0"  # promoted from dev
chart: {name: shop, version: 1.2.3}
containers:
  - name: init
    image: busybox:1.36
  - name: web
    image: 'nginx:1.25'
annotations:
  example.com/rev: abc123
replicas: 3
pending:
"""


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("image.tag", (Key("image"), Key("tag"))),
        ("containers[0].image", (Key("containers"), Index(0), Key("image"))),
        ("containers[name=web].image", (Key("containers"), Match("name", "web"), Key("image"))),
        ('annotations."example.com/rev"', (Key("annotations"), Key("example.com/rev"))),
        ('"a\\"b\\\\c"', (Key('a"b\\c'),)),
        ('items[id="a]b"]', (Key("items"), Match("id", "a]b"))),
        ("items[host=a.example.com]", (Key("items"), Match("host", "a.example.com"))),
        ("[2][10]", (Index(2), Index(10))),
        ("my key.x", (Key("my key"), Key("x"))),
        ('""', (Key(""),)),
    ],
)
def test_key_paths_are_parsed_and_spelled_back(path: str, segments: tuple[Any, ...]) -> None:
    assert scalars.parse(path) == segments
    assert scalars.parse(scalars.spell(segments)) == segments


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "'' is not a key path: it is empty"),
        ("image..tag", "'image..tag' is not a key path: expected a key at character 7, got '.'"),
        ("image.", "'image.' is not a key path: expected a key at character 7, got the end"),
        (".image", "'.image' is not a key path: expected a key at character 1, got '.'"),
        ("a[0", "'a[0' is not a key path: expected ']' at character 4, got the end"),
        (
            "a[web]",
            "'a[web]' is not a key path: expected a list index (0, 1, ...) or field=value "
            "after '[' at character 2",
        ),
        (
            "a[-1]",
            "'a[-1]' is not a key path: expected a list index (0, 1, ...) or field=value "
            "after '[' at character 2",
        ),
        ("a[name=]", "'a[name=]' is not a key path: expected a value at character 8, got ']'"),
        ("a[name=web", "'a[name=web' is not a key path: expected ']' at character 11, got the end"),
        ("a[0]b", "'a[0]b' is not a key path: expected '.' or '[' at character 5, got 'b'"),
        ('a."b', "'a.\"b' is not a key path: the quote at character 3 is not closed"),
        (
            '"a\\n"',
            '\'"a\\\\n"\' is not a key path: only \\" and \\\\ may be escaped (character 3)',
        ),
        (
            "image. tag",
            "'image. tag' is not a key path: ' tag' at character 7 starts or ends with "
            "white space; quote it",
        ),
    ],
)
def test_a_bad_key_path_says_where(path: str, message: str) -> None:
    with pytest.raises(scalars.PathError) as info:
        scalars.parse(path)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("image.tag", "1.4.0"),
        ("chart.version", "1.2.3"),
        ("containers[0].image", "busybox:1.36"),
        ("containers[name=web].image", "nginx:1.25"),
        ('annotations."example.com/rev"', "abc123"),
        ("replicas", "3"),
        ("pending", ""),
        ("image.digest", None),
        ("containers[2].image", None),
        ("containers[name=db].image", None),
        ("replicas.count", None),
        ("image[0]", None),
    ],
)
def test_get_reads_the_scalar_at_a_path(path: str, value: str | None) -> None:
    assert scalars.get(VALUES, path) == value


def test_scalar_says_what_type_yaml_reads() -> None:
    assert scalars.scalar(VALUES, "replicas") == scalars.Scalar("3", INT, 13)
    assert scalars.scalar("", "a") is None


def _only_line_changed(before: str, after: str, line: str) -> None:
    """`after` is `before` with one line replaced by `line`."""
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new)
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert [b for _, b in changed] == [line]


@pytest.mark.parametrize(
    ("path", "value", "line"),
    [
        # The old quotes are kept, and so is the comment after the value.
        ("image.tag", "1.5.0", '  tag: "1.5.0"  # promoted from dev'),
        ("containers[name=web].image", "nginx:1.27", "    image: 'nginx:1.27'"),
        ("containers[name=web].image", "it's", "    image: 'it''s'"),
        ("containers[0].image", "busybox:1.37", "    image: busybox:1.37"),
        # Plain stays plain while it reads back as the same string...
        ("image.repository", "shop-v2", "  repository: shop-v2   # the registry's name"),
        ('annotations."example.com/rev"', "def456", "  example.com/rev: def456"),
        # ...else it is double-quoted, so that its type does not change.
        ("image.repository", "1.10", '  repository: "1.10"   # the registry\'s name'),
        ("image.repository", "yes", '  repository: "yes"   # the registry\'s name'),
        ("image.repository", "a # b", '  repository: "a # b"   # the registry\'s name'),
        ("image.repository", "two\nlines", '  repository: "two\\nlines"   # the registry\'s name'),
        # Inside {...}, what would end the value there is quoted too.
        ("chart.version", "1.3.0", "chart: {name: shop, version: 1.3.0}"),
        ("chart.version", "1.3.0,x", 'chart: {name: shop, version: "1.3.0,x"}'),
        # An empty value gets one.
        ("pending", "soon", "pending: soon"),
    ],
)
def test_set_replaces_only_the_scalars_characters(path: str, value: str, line: str) -> None:
    after = scalars.set(VALUES, path, value)
    _only_line_changed(VALUES, after, line)
    assert scalars.get(after, path) == value


def test_set_writes_plain_what_reads_back_as_the_sources_type() -> None:
    after = scalars.set(VALUES, "replicas", "5", tag=INT)
    _only_line_changed(VALUES, after, "replicas: 5")
    assert yaml.safe_load(after)["replicas"] == 5
    _only_line_changed(VALUES, scalars.set(VALUES, "replicas", "5"), 'replicas: "5"')


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (VALUES, "image", "image is a mapping (line 3), not a scalar; only scalars are copied"),
        (
            VALUES,
            "containers",
            "containers is a list (line 7), not a scalar; only scalars are copied",
        ),
        (
            VALUES,
            "image.digest",
            "no key 'digest' in image (line 3); the target must already have the key "
            "(a promotion changes values, it does not add keys)",
        ),
        (
            VALUES,
            "containers[name=db].image",
            "no item of containers (line 7) has name=db; the target must already have the key "
            "(a promotion changes values, it does not add keys)",
        ),
        (
            VALUES,
            "containers[5].image",
            "containers (line 7) has 2 items, no [5]; the target must already have the key "
            "(a promotion changes values, it does not add keys)",
        ),
        (
            VALUES,
            "replicas.count",
            "replicas is an integer (line 13), not a mapping; the target must already have "
            "the key (a promotion changes values, it does not add keys)",
        ),
        (
            "a: 1\n---\na: 2\n",
            "a",
            "holds more than one YAML document (another starts at line 2); keys are copied in "
            "files of one document",
        ),
        (
            "a: 1\nb: [2\n",
            "a",
            "not valid YAML at line 3: while parsing a flow sequence; expected ',' or ']', "
            "but got '<stream end>'",
        ),
        ("a: 1\na: 2\n", "a", "the top level has the key 'a' more than once (lines 1 and 2)"),
        (
            "l: [{n: a, v: 1}, {n: a, v: 2}]\n",
            "l[n=a].v",
            "l has more than one item with n=a (lines 1 and 1)",
        ),
        (
            "a: &x 1\nb: *x\n",
            "b",
            "b (line 1) uses a YAML anchor, alias or tag; write the value out",
        ),
        (
            "base: &b {tag: 1}\nother: *b\n",
            "other.tag",
            "other.tag (line 1) uses a YAML anchor, alias or tag; write the value out",
        ),
        ("a: !!str 1\n", "a", "a (line 1) uses a YAML anchor, alias or tag; write the value out"),
        (
            "a: |\n  text\n",
            "a",
            "a (line 1) is a block scalar (|); only one-line values are rewritten",
        ),
    ],
)
def test_set_refuses_what_it_cannot_rewrite(text: str, path: str, message: str) -> None:
    with pytest.raises(scalars.Error) as info:
        scalars.set(text, path, "2")
    assert str(info.value) == message


def test_get_refuses_a_mapping_and_an_invalid_file() -> None:
    with pytest.raises(scalars.Error, match="image is a mapping"):
        scalars.get(VALUES, "image")
    with pytest.raises(scalars.Error, match="more than one YAML document"):
        scalars.get("a: 1\n---\n", "a")


_NAMES = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)
_SEGMENTS = st.lists(
    st.one_of(
        _NAMES.map(Key),
        st.integers(0, 999).map(Index),
        st.builds(Match, _NAMES.filter(bool), _NAMES.filter(bool)),
    ),
    min_size=1,
    max_size=4,
)


@given(_SEGMENTS)
def test_every_spelled_path_parses_back(segments: list[Any]) -> None:
    assert scalars.parse(scalars.spell(tuple(segments))) == tuple(segments)


# Each path of VALUES whose scalar is written in a different style.
_STYLES = {
    "image.tag": ("image", "tag"),  # double-quoted
    "containers[name=web].image": ("containers", 1, "image"),  # single-quoted
    "image.repository": ("image", "repository"),  # plain, then a comment
    "chart.version": ("chart", "version"),  # plain inside {...}
    "pending": ("pending",),  # empty
}


@given(st.sampled_from(sorted(_STYLES)), st.text(st.characters(exclude_categories=("Cs",))))
def test_any_string_is_set_and_read_back_and_nothing_else_changes(path: str, value: str) -> None:
    after = scalars.set(VALUES, path, value)
    assert scalars.get(after, path) == value
    expected = yaml.safe_load(VALUES)
    holder = expected
    *parents, last = _STYLES[path]
    for part in parents:
        holder = holder[part]
    holder[last] = value
    assert yaml.safe_load(after) == expected
    old, new = VALUES.splitlines(), after.splitlines()
    assert len(old) == len(new)
    assert sum(a != b for a, b in zip(old, new, strict=True)) <= 1  # comments and all
