"""core.objects.fieldpath: the written form of a field path and its exact inverse."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.objects import fieldpath
from gitops_bot.core.report.plan import FieldPath, PathSegment

# Keys as Kubernetes objects hold them, and the awkward ones: dots, brackets,
# quotes, '=' and ',' (which end a merge key), digits, unicode, the empty key.
ODD = st.sampled_from(
    ["app.kubernetes.io/name", "a]b", 'say "hi"', "k=v", "a,b", "0", "", "é", "[0]", ".", "-x"]
)
KEYS = st.one_of(
    ODD, st.text(max_size=12), st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True)
)
SCALARS: st.SearchStrategy[Any] = st.one_of(
    KEYS,
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.sampled_from(["80", "true", "null", "1e5", "Infinity", "NaN", "1-data", "01", "web"]),
)
SEGMENTS: st.SearchStrategy[PathSegment] = st.one_of(
    KEYS,
    st.integers(min_value=0, max_value=10**6),
    st.lists(st.tuples(KEYS, SCALARS), min_size=1, max_size=3).map(tuple),
)
PATHS = st.lists(SEGMENTS, max_size=6).map(tuple)


@given(PATHS)
def test_parse_inverts_text(path: FieldPath) -> None:
    assert fieldpath.parse(fieldpath.text(path)) == path


@given(PATHS)
def test_text_of_a_parsed_path_is_the_same_text(path: FieldPath) -> None:
    written = fieldpath.text(path)
    assert fieldpath.text(fieldpath.parse(written)) == written


@pytest.mark.parametrize(
    ("path", "written"),
    [
        (("spec", "containers", (("name", "web"),), "image"), ".spec.containers[name=web].image"),
        (
            ("metadata", "labels", "app.kubernetes.io/name"),
            '.metadata.labels["app.kubernetes.io/name"]',
        ),
        (("spec", "rules", 0, "host"), ".spec.rules[0].host"),
        (
            ("ports", (("containerPort", 80), ("protocol", "TCP"))),
            ".ports[containerPort=80,protocol=TCP]",
        ),
        (("volumes", (("name", "1-data"),)), ".volumes[name=1-data]"),
        # A string name that JSON would read as a number, or that holds the
        # characters that end a merge key, is quoted: never confused.
        (("ports", (("name", "80"),)), '.ports[name="80"]'),
        (("c", (("name", "a],b=c"),)), '.c[name="a],b=c"]'),
        (("c", (("name", ""),)), '.c[name=""]'),
        (("c", (("name", True),)), ".c[name=true]"),
        (("c", (("name", None),)), ".c[name=null]"),
        (("c", (("odd key", "v"),)), '.c["odd key"=v]'),
        (("0",), '["0"]'),
        ((0,), "[0]"),
        (("é",), '["\\u00e9"]'),
        ((), "."),
    ],
)
def test_written_form(path: FieldPath, written: str) -> None:
    assert fieldpath.text(path) == written
    assert fieldpath.parse(written) == path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at character 1: an empty path"),
        ("spec", "at character 1: expected '.' or '['"),
        (".", None),  # the whole object, not a refusal: checked below
        ("..a", "at character 2: expected a key after '.'"),
        (".a[", "at character 4: expected a position, a quoted key or a merge key"),
        (".a[0", "at character 5: expected ']', found the end"),
        (".a[name=web", "at character 12: expected ',', found the end"),
        (".a[name=]", "at character 9: expected a value after '='"),
        (".a[name=w b]", "at character 9: a bare value may only hold"),
        ('.a["x', "at character 4: a quoted key or value that is not a JSON string"),
        ('["app"]', "at character 1: not the form paths are written in: '.app'"),
        ('.c[name="web"]', "at character 9: not the form paths are written in"),
        (".c[name= 1]", "at character 9: not the form paths are written in"),
        (".a[-1]", "at character 4: expected a position"),
    ],
)
def test_refusals_say_where(text: str, message: str | None) -> None:
    if message is None:
        assert fieldpath.parse(text) == ()
        return
    with pytest.raises(
        fieldpath.PathError, match=r"^" + message.replace("[", r"\[").replace("(", r"\(")
    ):
        fieldpath.parse(text)


def test_a_refusal_quotes_only_the_text_near_the_fault() -> None:
    long_key = "x" * 10_000
    with pytest.raises(fieldpath.PathError) as caught:
        fieldpath.parse(f".{long_key} ")
    assert len(str(caught.value)) < 120
    assert "at character 10002" in str(caught.value)
