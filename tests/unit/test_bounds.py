"""The bot's own work is bounded: objects per render, a deadline per
environment (with a clock moved by hand, never by waiting), and a line cap
per object diff with a summary past it."""

from __future__ import annotations

import difflib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.objects import diff, manifests
from gitops_bot.core.objects.model import Key, Manifest, Origin
from gitops_bot.core.repo import bounds
from gitops_bot.core.repo.bounds import Bounds, BoundsError
from tests.objects import configmap


def _stream(count: int) -> str:
    return "".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n" for i in range(count)
    )


def _ticking(step: float = 1.0) -> itertools.count[float]:
    """A clock that moves `step` seconds each time it is read."""
    return itertools.count(0.0, step)


def test_more_objects_than_the_limit_is_an_error_that_names_everything() -> None:
    meter = Bounds(max_objects=3).meter("prod")
    with pytest.raises(BoundsError) as caught:
        manifests.parse(_stream(5), origin="kustomize build envs/prod", meter=meter)
    assert str(caught.value) == (
        "environment prod: more than 3 objects in one render (the bot's limit per "
        f"environment; {bounds.MAX_OBJECTS_SETTING} changes it); stopped parsing "
        "kustomize build envs/prod at document 4, after 3 objects"
    )


def test_a_list_counts_as_its_items() -> None:
    items = "".join(
        f"- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: c{i}}}}}\n" for i in range(4)
    )
    meter = Bounds(max_objects=3).meter("dev")
    with pytest.raises(BoundsError, match="more than 3 objects"):
        manifests.parse(f"apiVersion: v1\nkind: List\nitems:\n{items}", origin="x", meter=meter)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_up_to_the_limit_parses(count: int) -> None:
    meter = Bounds(max_objects=3).meter("dev")
    assert len(manifests.parse(_stream(count), origin="x", meter=meter)) == count


def test_the_count_is_per_render_of_the_environment() -> None:
    meter = Bounds(max_objects=3).meter("dev")
    manifests.parse(_stream(3), origin="head", meter=meter)
    meter.new_render()
    assert len(manifests.parse(_stream(3), origin="base", meter=meter)) == 3


def test_the_deadline_stops_parsing_and_says_how_far_it_got() -> None:
    clock = _ticking()
    meter = Bounds(timeout_s=10, clock=lambda: next(clock)).meter("prod")
    with pytest.raises(BoundsError) as caught:
        manifests.parse(_stream(100), origin="helm template web", meter=meter)
    # Read at the start (0), then per document (1, 2, ...).
    assert str(caught.value) == (
        "environment prod: took longer than 10 s (the bot's time limit per environment; "
        f"{bounds.TIMEOUT_SETTING} changes it); stopped parsing helm template web at "
        "document 10, after 9 objects"
    )


@pytest.mark.parametrize("read", ["screen", "parse with an old libyaml"])
def test_the_first_pass_checks_the_deadline_too(read: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The pass over the events before anything is built: screen() always runs
    # it, parse() when libyaml does not limit nesting itself.
    monkeypatch.setattr(manifests, "_LIBYAML_LIMITS_NESTING", False)
    clock = _ticking(100.0)
    meter = Bounds(timeout_s=50, clock=lambda: next(clock)).meter("prod")
    reader = manifests.screen if read == "screen" else manifests.parse
    with pytest.raises(BoundsError, match=r"stopped reading x at document 1 \(line 1\)"):
        reader(_stream(2), origin="x", meter=meter)


def _render(count: int, value: str) -> dict[Key, Manifest]:
    objs = [configmap(f"cm-{i:03d}", v=value) for i in range(count)]
    return {Key.of(o): Manifest(Key.of(o), o, Origin("x")) for o in objs}


def test_the_deadline_stops_diffing_and_says_how_far_it_got() -> None:
    clock = _ticking()
    meter = Bounds(timeout_s=5, clock=lambda: next(clock)).meter("prod")
    with pytest.raises(BoundsError) as caught:
        diff.compute(_render(20, "a"), _render(20, "b"), mask_key=b"k", meter=meter)
    assert str(caught.value).endswith(
        "stopped diffing ConfigMap shop/cm-004, after 4 of 20 objects"
    )


def test_within_the_deadline_every_object_is_diffed() -> None:
    clock = _ticking()
    meter = Bounds(timeout_s=100, clock=lambda: next(clock)).meter("prod")
    changes = diff.compute(_render(20, "a"), _render(20, "b"), mask_key=b"k", meter=meter)
    assert len(changes) == 20


def _lines(values: list[int]) -> dict[str, str]:
    return {"data": "\n".join(f"line {v}" for v in values) + "\n"}


def test_a_diff_past_the_line_cap_is_a_summary_in_numbers() -> None:
    old = _lines([1, 2, 3, 4, 5, 6, 7, 8])
    new = _lines([1, 2, 30, 4, 5, 60, 7, 8])
    text = diff.unified(old, new, label="ConfigMap a", max_lines=6)
    assert text == (
        "--- ConfigMap a (before)\n"
        "+++ ConfigMap a (after)\n"
        "@@ -4,4 +4,4 @@ diff too large to show: 2 lines removed and 2 added, from line 4 "
        "(line diffs stop at 6 differing lines per object)\n"
    )


def test_the_cap_counts_only_the_lines_between_the_shared_ends() -> None:
    # 10,000 shared lines around one changed line: an ordinary line diff.
    old = _lines([*range(5000), -1, *range(5000)])
    new = _lines([*range(5000), -2, *range(5000)])
    text = diff.unified(old, new, label="x", max_lines=10)
    assert "-  line -1\n+  line -2\n" in text
    assert "too large" not in text


def test_a_pathological_diff_is_bounded() -> None:
    # Few distinct lines, many times each: difflib's worst case.
    old = _lines([(i * 7) % 150 for i in range(30_000)])
    new = _lines([(i * 11) % 150 for i in range(30_000)])
    text = diff.unified(old, new, label="x")
    assert "diff too large to show" in text


@given(
    st.lists(st.integers(0, 5), max_size=30),
    st.lists(st.integers(0, 5), max_size=30),
)
def test_under_the_cap_the_diff_is_difflibs_and_over_it_the_counts_match(
    old: list[int], new: list[int]
) -> None:
    before, after = _lines(old), _lines(new)
    full = diff.unified(before, after, label="x", max_lines=10_000)
    summary = diff.unified(before, after, label="x", max_lines=0)
    old_text, new_text = diff.to_yaml(before), diff.to_yaml(after)
    if old_text == new_text:
        assert full == summary == ""
        return
    expected = difflib.unified_diff(
        old_text.splitlines(keepends=True),
        new_text.splitlines(keepends=True),
        fromfile="x (before)",
        tofile="x (after)",
    )
    assert full == "".join(expected)
    removed = sum(1 for line in full.splitlines() if line.startswith("-") and line[:3] != "---")
    added = sum(1 for line in full.splitlines() if line.startswith("+") and line[:3] != "+++")
    # The multiset count never says more changed than the line diff shows.
    said = summary.split("diff too large to show: ")[1]
    shown_removed = int(said.split(" lines removed")[0].replace(",", ""))
    shown_added = int(said.split(" and ")[1].split(" added")[0].replace(",", ""))
    assert shown_removed <= removed
    assert shown_added <= added
    assert shown_removed - shown_added == removed - added


def test_large_objects_with_many_differing_fields_are_summarized_without_yaml() -> None:
    old = {"data": {f"k{i:06d}": f"v{i}" for i in range(60_000)}}
    new = {"data": {f"k{i:06d}": f"v{i}{'x' if i % 10 == 0 else ''}" for i in range(60_000)}}
    text = diff.unified(old, new, label="ConfigMap big")
    assert text == (
        "--- ConfigMap big (before)\n"
        "+++ ConfigMap big (after)\n"
        "@@ diff too large to show: 6,000 fields differ "
        "(line diffs stop at 20,000 differing lines per object)\n"
    )


def test_a_large_object_with_few_differing_fields_still_gets_its_line_diff() -> None:
    old = {"data": {f"k{i:06d}": f"v{i}" for i in range(60_000)}}
    new = {"data": {**old["data"], "k030000": "changed"}}
    text = diff.unified(old, new, label="x")
    assert "-  k030000: v30000\n+  k030000: changed\n" in text
