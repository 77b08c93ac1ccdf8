"""GitHub's own webhook examples (@octokit/webhooks-examples) carry what the bot reads.

Every example of the events the bot handles (pull_request,
pull_request_review, issue_comment, push) is loaded and checked for the
fields the bot will read, with their types. The package is pinned in
tests/fakes/package.json; a missing package fails collection, never skips.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gitops_bot.forges.github import webhook

EXAMPLES = (
    Path(__file__).parents[1]
    / "fakes"
    / "node_modules"
    / "@octokit"
    / "webhooks-examples"
    / "api.github.com"
    / "index.json"
)
EVENTS = ("pull_request", "pull_request_review", "issue_comment", "push")
SHA = re.compile(r"^[0-9a-f]{40}$")


def _load() -> list[dict[str, Any]]:
    if not EXAMPLES.is_file():
        raise FileNotFoundError(
            f"reading GitHub's webhook examples: {EXAMPLES} is missing; "
            "install it with `npm ci --prefix tests/fakes`"
        )
    loaded: list[dict[str, Any]] = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    return loaded


INDEX = _load()
CASES = [
    pytest.param(event["name"], example, id=f"{event['name']}-{i}-{example.get('action', '')}")
    for event in INDEX
    if event["name"] in EVENTS
    for i, example in enumerate(event["examples"])
]


def _at(payload: dict[str, Any], path: str, kind: type) -> Any:
    value: Any = payload
    for key in path.split("."):
        assert isinstance(value, dict), f"{path}: {key!r} is under a {type(value).__name__}"
        assert key in value, f"{path}: no {key!r}"
        value = value[key]
    assert isinstance(value, kind), f"{path} is a {type(value).__name__}, not {kind.__name__}"
    return value


def test_the_package_has_examples_of_every_event_the_bot_handles() -> None:
    counts = {event["name"]: len(event["examples"]) for event in INDEX}

    assert {name: counts.get(name, 0) for name in EVENTS} == {
        "pull_request": 29,
        "pull_request_review": 4,
        "issue_comment": 9,
        "push": 7,
    }


def test_every_example_of_every_event_is_a_json_object() -> None:
    examples = [example for event in INDEX for example in event["examples"]]

    assert len(INDEX) > 50
    assert all(isinstance(example, dict) for example in examples)
    assert all(json.loads(json.dumps(example)) == example for example in examples)


@pytest.mark.parametrize(("event", "payload"), CASES)
def test_an_example_carries_what_the_bot_reads(event: str, payload: dict[str, Any]) -> None:
    assert "/" in _at(payload, "repository.full_name", str)
    assert _at(payload, "sender.login", str)

    if event == "pull_request":
        assert _at(payload, "action", str)
        assert _at(payload, "number", int) == _at(payload, "pull_request.number", int)
        assert SHA.match(_at(payload, "pull_request.head.sha", str))
        assert SHA.match(_at(payload, "pull_request.base.sha", str))
        assert _at(payload, "pull_request.base.ref", str)
        assert _at(payload, "pull_request.head.ref", str)
        assert isinstance(_at(payload, "pull_request.merged", object), bool | None)
    elif event == "pull_request_review":
        assert _at(payload, "action", str) in ("submitted", "edited", "dismissed")
        assert _at(payload, "pull_request.number", int) > 0
        # Webhooks spell review states in lower case; the REST API in upper case.
        states = ("approved", "changes_requested", "commented", "dismissed")
        assert _at(payload, "review.state", str) in states
        assert SHA.match(_at(payload, "review.commit_id", str))
        assert _at(payload, "review.user.login", str)
    elif event == "issue_comment":
        assert _at(payload, "action", str) in ("created", "edited", "deleted")
        assert _at(payload, "issue.number", int) > 0
        assert _at(payload, "comment.id", int) > 0
        assert isinstance(_at(payload, "comment.body", str), str)
        assert _at(payload, "comment.user.login", str)
        # Only a comment on a pull request has issue.pull_request; these examples
        # are all on plain issues, which the bot must tell apart and ignore.
        assert isinstance(payload["issue"].get("pull_request", {}), dict)
    else:
        assert "action" not in payload
        assert _at(payload, "ref", str).startswith("refs/")
        assert SHA.match(_at(payload, "before", str))
        assert SHA.match(_at(payload, "after", str))


@pytest.mark.parametrize(("event", "payload"), CASES)
def test_an_example_carries_what_its_identity_is_made_of(
    event: str, payload: dict[str, Any]
) -> None:
    """The server de-duplicates replays on these fields (forges.github.webhook): none may
    be missing in what GitHub really sends, or two events would look alike."""
    paths = {
        "issue_comment": ("comment.id", "comment.updated_at"),
        **webhook._GITHUB_IDENTITY,
    }[event]
    for path in paths:
        assert _at(payload, path, object) is not None, path
    assert webhook.github_identity(event, payload)
