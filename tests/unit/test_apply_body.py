"""The apply patch's body: JSON the server reads as YAML, ASCII only, with
each surrogate pair json.dumps would write joined into one 8-digit escape
(YAML has no surrogate pairs: the server answers 400 to them)."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.cluster.kube import _apply_body

_TEXT = st.lists(
    st.characters(blacklist_categories=("Cs",)) | st.sampled_from(["\\", "\\ud83d", "😀", "𝄞"]),
    max_size=8,
).map("".join)
_VALUES = st.recursive(
    _TEXT | st.integers(-(2**63), 2**63 - 1) | st.booleans() | st.none(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(_TEXT, _VALUES, max_size=5))
def test_the_body_is_ascii_and_yaml_reads_back_the_object(obj: dict[str, Any]) -> None:
    body = _apply_body(obj)
    assert body.isascii()
    assert yaml.safe_load(body) == obj


def test_an_astral_character_is_one_escape_and_a_typed_backslash_u_stays_text() -> None:
    body = _apply_body({"data": {"a": "😀", "b": "\\ud83d\\ude00"}})
    assert body == '{"data": {"a": "\\U0001F600", "b": "\\\\ud83d\\\\ude00"}}'
