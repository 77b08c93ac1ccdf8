"""core.objects.textfit: text within a byte limit, its start kept, what was left out said."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.objects import textfit

LEFT_OUT = re.compile(r"… \[(\d+) more characters?\]$")


@given(st.text(), st.integers(min_value=0, max_value=2048))
def test_clip_is_the_longest_start_within_the_limit(text: str, limit: int) -> None:
    clipped = textfit.clip(text, limit)
    assert text.startswith(clipped)
    assert textfit.size(clipped) <= limit
    if clipped != text:  # one more character would not fit
        assert textfit.size(text[: len(clipped) + 1]) > limit


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=40, max_value=2048))
def test_cut_keeps_the_start_and_counts_what_it_left_out(text: str, limit: int) -> None:
    short = textfit.cut(text, limit)
    assert textfit.size(short) <= limit
    if textfit.size(text) <= limit:
        assert short == text
        return
    found = LEFT_OUT.search(short)
    assert found, short
    kept = short[: found.start()]
    assert text.startswith(kept)
    assert len(kept) + int(found.group(1)) == len(text)


@pytest.mark.parametrize(
    "char", ["a", "é", "€", "😀"], ids=["1 byte", "2 bytes", "3 bytes", "4 bytes"]
)
def test_cut_counts_bytes_not_characters(char: str) -> None:
    text = char * 1024  # 1,024 characters: too long in bytes unless ASCII
    short = textfit.cut(text, 1024)
    assert textfit.size(short) <= 1024
    assert (short == text) is (char == "a")


@given(
    st.text(max_size=300),
    st.lists(st.text(max_size=800), min_size=1, max_size=60),
    st.integers(min_value=200, max_value=2048),
)
def test_listing_fits_and_names_or_counts_every_item(
    head: str, texts: list[str], limit: int
) -> None:
    items = [f"<item {i}> {t}" for i, t in enumerate(texts)]
    text = textfit.listing(head, items, limit, noun="objects")
    assert textfit.size(text) <= limit
    whole = head + "; ".join(items)
    if textfit.size(whole) <= limit:
        assert text == whole
        return
    named = set(map(int, re.findall(r"<item (\d+)>", text)))
    more = re.search(r"; and (\d+) more objects$", text)
    counted = int(more.group(1)) if more else 0
    if not named and not more:  # not even one name fits: the count is all there is
        assert text.endswith(f"{len(items)} objects") or "more character" in text
        return
    assert named == set(range(len(named))), "items are named in order, from the first"
    assert len(named) + counted == len(items)


def test_listing_names_each_of_six_failures_in_an_event_note() -> None:
    items = [
        f"ConfigMap shop/cm-{i}: "
        + 'ConfigMap "cm-{i}" is invalid: metadata.labels: Invalid value: "ü" ' * 6
        for i in range(6)
    ]
    text = textfit.listing("applying 0123456789ab: validation failed: ", items, 1024)
    assert textfit.size(text) <= 1024
    assert all(f"cm-{i}:" in text for i in range(6))
