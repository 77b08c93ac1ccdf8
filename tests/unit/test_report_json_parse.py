"""report.json.parse: the strict reader of `gitops-bot/plan/v1`, the exact
inverse of `render` (the puller's live plan comes back through it)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.objects.model import Key, Origin
from gitops_bot.core.report import json as report_json
from gitops_bot.core.report.plan import (
    Action,
    Drift,
    EnvPlan,
    Plan,
    ResourceChange,
    SecretKeys,
    Skipped,
)
from tests.unit import plan_samples as samples
from tests.unit.test_fieldpath import PATHS

TEXT = st.text(max_size=20)  # unicode, control characters, quotes
KEYS_ = st.builds(Key, group=TEXT, kind=TEXT, namespace=TEXT, name=TEXT)
ORIGINS = st.builds(
    Origin, file=TEXT, document=st.integers(min_value=0), line=st.none() | st.integers(min_value=1)
)
SECRET_KEYS = st.builds(
    SecretKeys,
    added=st.lists(TEXT, max_size=3).map(tuple),
    changed=st.lists(TEXT, max_size=3).map(tuple),
    removed=st.lists(TEXT, max_size=3).map(tuple),
)
CHANGES = st.builds(
    ResourceChange,
    key=KEYS_,
    action=st.sampled_from(Action),
    diff=TEXT,
    secret_keys=st.none() | SECRET_KEYS,
    origin=st.none() | ORIGINS,
    note=TEXT,
    renamed_from=st.none() | KEYS_,
)
DRIFTS = st.builds(Drift, key=KEYS_, path=PATHS, manager=st.none() | TEXT, diff=TEXT)
CHANGE_LISTS = st.lists(CHANGES, max_size=3).map(tuple)


@st.composite
def env_plans(draw: st.DrawFn) -> EnvPlan:
    live = draw(st.none() | CHANGE_LISTS)
    error = draw(st.none() | TEXT)
    known = live is not None and error is None
    return EnvPlan(
        env=draw(TEXT),
        render_hash=draw(st.none() | TEXT),
        changes=draw(CHANGE_LISTS),
        live=live,
        # Drift is written only when known (EnvPlan.drift_known): a plan with
        # drift it cannot know is not one the plan use case makes.
        drift=draw(st.lists(DRIFTS, max_size=3).map(tuple)) if known else (),
        error=error,
        live_missing=draw(st.none() | TEXT) if live is None else None,
    )


PLANS = st.builds(
    Plan,
    base=TEXT,
    head=TEXT,
    envs=st.lists(env_plans(), max_size=3).map(tuple),
    skipped=st.lists(st.builds(Skipped, env=TEXT, reason=TEXT), max_size=2).map(tuple),
    sandbox=st.none() | TEXT,
)


@given(PLANS)
def test_parse_inverts_render(plan: Plan) -> None:
    assert report_json.parse(report_json.render(plan)) == plan


@given(PLANS)
def test_the_decoded_document_reads_back_too(plan: Plan) -> None:
    assert report_json.from_document(report_json.document(plan)) == plan


def test_the_sample_plan_reads_back_and_renders_the_same_bytes() -> None:
    text = report_json.render(samples.sample_plan())
    assert report_json.parse(text) == samples.sample_plan()
    assert report_json.render(report_json.parse(text.encode())) == text


def test_live_missing_travels() -> None:
    plan = Plan(base="a", head="b", envs=(EnvPlan(env="prod", live_missing="puller refused"),))
    doc = report_json.document(plan)
    assert doc["environments"][0]["live_missing"] == "puller refused"
    assert report_json.parse(report_json.render(plan)).envs[0].live_missing == "puller refused"


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(report_json.render(samples.sample_plan()))
    return doc


def _refused(edit: Callable[[dict[str, Any]], object], message: str) -> None:
    doc = copy.deepcopy(_doc())
    edit(doc)
    with pytest.raises(report_json.DocumentError) as caught:
        report_json.parse(json.dumps(doc))
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def _set(path: tuple[str | int, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        node: Any = doc
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value

    return edit


def _drop(path: tuple[str | int, ...]) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        node: Any = doc
        for step in path[:-1]:
            node = node[step]
        del node[path[-1]]

    return edit


LIVE_KIND = ("environments", 0, "live", 1, "key", "kind")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            _set(("schema",), "gitops-bot/plan/v2"),
            'schema: expected "gitops-bot/plan/v1", got "gitops-bot/plan/v2"',
        ),
        (_drop(("schema",)), "the document: missing 'schema'"),
        (_set(("base",), 7), "base: expected a string, got 7"),
        (_set(("sandbox",), ["x"]), "sandbox: expected a string, got a list of 1 item"),
        (_set(("environments",), {}), "environments: expected a list, got an object"),
        (_set(LIVE_KIND, 3), "environments[0].live[1].key.kind: expected a string, got 3"),
        (_drop(("environments", 2, "live_missing")), "environments[2]: missing 'live_missing'"),
        (
            _drop(("environments", 0, "changes", 0, "note")),
            "environments[0].changes[0]: missing 'note'",
        ),
        (
            _set(("environments", 0, "changes", 0, "action"), "replace"),
            "environments[0].changes[0].action: expected one of create, update, delete, "
            'unchanged, got "replace"',
        ),
        (
            _set(("environments", 0, "changes", 0, "origin", "document"), True),
            "environments[0].changes[0].origin.document: expected an integer, got true",
        ),
        (
            _set(("environments", 0, "changes", 0, "origin", "line"), 1.5),
            "environments[0].changes[0].origin.line: expected an integer, got 1.5",
        ),
        (
            _set(("environments", 0, "changes", 2, "secret_keys", "added"), [1]),
            "environments[0].changes[2].secret_keys.added[0]: expected a string, got 1",
        ),
        (
            _set(("environments", 0, "drift", 1, "path"), ".data[beta"),
            "environments[0].drift[1].path: at character 11: expected '=', found the end "
            "(near '.data[beta')",
        ),
        (
            _set(("environments", 0, "drift"), None),
            "environments[0].drift: null, but the live cluster was compared without an error",
        ),
        (
            _set(("environments", 2, "drift"), []),
            "environments[2].drift: expected null (drift is unknown with a null live), "
            "got a list of 0 items",
        ),
        (
            _set(("environments", 1, "drift"), []),
            "environments[1].drift: expected null (drift is unknown with an error), "
            "got a list of 0 items",
        ),
        (_set(("skipped", 0, "reason"), None), "skipped[0].reason: expected a string, got null"),
        # Never a large value in an error: it is counted, not quoted.
        (_set(("head",), {"x": "y" * 10_000}), "head: expected a string, got an object"),
        (
            _set(("environments", 0, "name"), 10**50),
            "environments[0].name: expected a string, got a number",
        ),
        (
            _set(("environments", 0, "changes", 0, "action"), "z" * 10_000),
            "environments[0].changes[0].action: expected one of create, update, delete, "
            "unchanged, got a string of 10,000 characters",
        ),
    ],
)
def test_refusals_say_where(edit: Callable[[dict[str, Any]], object], message: str) -> None:
    _refused(edit, message)


def test_derived_fields_are_recomputed_not_read() -> None:
    doc = _doc()
    doc["has_changes"] = "anything"
    doc["has_errors"] = False
    del doc["environments"][0]["counts"]
    doc["environments"][2]["has_changes"] = True
    plan = report_json.parse(json.dumps(doc))
    assert plan == samples.sample_plan()
    assert plan.has_errors is True
    assert plan.envs[2].has_changes is False


def test_fields_added_later_within_v1_are_ignored() -> None:
    doc = _doc()
    doc["environments"][0]["changes"][0]["added_in_v1_later"] = {"x": 1}
    doc["added_later"] = 1
    assert report_json.parse(json.dumps(doc)) == samples.sample_plan()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{",
            "the plan is not JSON: line 1 column 2: "
            "Expecting property name enclosed in double quotes",
        ),
        ("[]", "the document: expected an object, got a list of 0 items"),
        ('{"schema": 1, "schema": 2}', 'a field given twice in one object: "schema"'),
        ('{"x": NaN}', "NaN is not a JSON number"),
        (
            b"\xff",
            "the plan is not JSON: 'utf-8' codec can't decode byte 0xff in position 0: "
            "invalid start byte",
        ),
        ("[" * 100_000, "the plan is not JSON a plan is made of: nested too deeply"),
    ],
)
def test_text_that_is_not_a_plan(text: str | bytes, message: str) -> None:
    with pytest.raises(report_json.DocumentError) as caught:
        report_json.parse(text)
    assert str(caught.value) == message


def test_a_number_too_large_to_write_is_named_not_written() -> None:
    doc = _doc()
    doc["base"] = 10**5000
    with pytest.raises(report_json.DocumentError, match=r"^base: expected a string, got a number$"):
        report_json.from_document(doc)
