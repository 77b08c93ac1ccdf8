"""A delivery replayed under a new delivery id is handled at most once.

GitHub's signature covers the body only and GitLab's token is a static
header: whoever captured one delivery can send it again under any
X-GitHub-Delivery / X-Gitlab-Event-UUID. The server recognises the event by
what it is (forges/*/webhook.py *_identity), over real HTTP, signed as the forges
sign; a different event of the same kind (a second edit, a second close, a
new push) still goes through."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from gitops_bot.core.pr import events
from gitops_bot.web import webhooks
from tests.integration.test_webhook_server import (
    TOKEN,
    WAIT,
    Recorder,
    _github,
    _post,
    serving,
)
from tests.waiting import until

REPO = {"id": 1, "full_name": "org/shop", "default_branch": "main"}
USER = {"login": "bob", "type": "User"}
T0, T1 = "2026-12-06T10:00:00Z", "2026-12-06T10:05:00Z"


def _comment(action: str = "created", *, updated: str = T0, cid: int = 501) -> dict[str, Any]:
    return {
        "action": action,
        "repository": REPO,
        "issue": {"number": 4, "pull_request": {"url": "https://x"}},
        "comment": {
            "id": cid,
            "body": "/gitops approve-destroy prod",
            "user": USER,
            "created_at": T0,
            "updated_at": updated,
        },
        "sender": USER,
    }


def _pull(action: str, *, sha: str = "a" * 40, updated: str = T0) -> dict[str, Any]:
    return {
        "action": action,
        "repository": REPO,
        "pull_request": {
            "id": 9004,
            "number": 4,
            "head": {"sha": sha},
            "updated_at": updated,
            "merged": False,
        },
        "sender": USER,
    }


def _review(action: str = "submitted", *, rid: int = 77) -> dict[str, Any]:
    return {
        "action": action,
        "repository": REPO,
        "pull_request": {"number": 4},
        "review": {"id": rid, "user": USER, "commit_id": "a" * 40, "submitted_at": T0},
        "sender": USER,
    }


def _push(after: str = "c" * 40) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "before": "b" * 40,
        "after": after,
        "repository": REPO,
    }


# (X-GitHub-Event, the event, the same kind of event that is NOT a replay of it)
GITHUB_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("issue_comment", _comment(), _comment(cid=502)),
    ("issue_comment", _comment("edited", updated=T1), _comment("edited", updated=T0)),
    ("pull_request", _pull("synchronize"), _pull("synchronize", sha="d" * 40)),
    ("pull_request", _pull("closed"), _pull("closed", updated=T1)),  # closed, reopened, closed
    ("pull_request_review", _review(), _review(rid=78)),
    ("push", _push(), _push(after="e" * 40)),
]


@pytest.mark.parametrize(
    ("name", "payload", "other"),
    GITHUB_CASES,
    ids=[f"{name}-{payload.get('action', '')}" for name, payload, _ in GITHUB_CASES],
)
def test_a_github_event_replayed_under_new_delivery_ids_is_handled_once(
    name: str, payload: dict[str, Any], other: dict[str, Any]
) -> None:
    recorder = Recorder()
    with serving(recorder) as server:
        assert _github(server, payload, event=name)[:2] == (202, "queued\n")
        # The same signed body (HMAC covers it, not the header), new ids each time.
        for _ in range(3):
            status, text, _ = _github(server, payload, event=name)
            assert (status, text) == (
                200,
                "duplicate event (already received under another delivery id)\n",
            )
        # The same event, re-serialised: still the same event.
        spaced = json.dumps(payload, indent=2).encode()
        assert _github(server, spaced, event=name)[0] == 200
        assert _github(server, other, event=name)[:2] == (202, "queued\n")
        until(lambda: len(recorder.finished) == 2, what="both events", timeout=WAIT)
    assert len(recorder.started) == 2
    assert server.counters == webhooks.Counters(handled=2, duplicates=4)


def _note(action: str | None = "create", *, updated: str = T0, nid: int = 601) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "id": nid,
        "note": "/gitops hold prod",
        "noteable_type": "MergeRequest",
        "system": False,
        "created_at": T0,
        "updated_at": updated,
    }
    if action is not None:
        attrs["action"] = action
    return {
        "object_kind": "note",
        "user": {"id": 3, "username": "bob"},
        "project": {"id": 12, "path_with_namespace": "org/shop", "default_branch": "main"},
        "merge_request": {"iid": 4},
        "object_attributes": attrs,
    }


def _mr(action: str, *, user: int = 3, updated: str = T0, sha: str = "a" * 40) -> dict[str, Any]:
    return {
        "object_kind": "merge_request",
        "user": {"id": user, "username": f"user{user}"},
        "project": {"id": 12, "path_with_namespace": "org/shop", "default_branch": "main"},
        "object_attributes": {
            "id": 9004,
            "iid": 4,
            "action": action,
            "oldrev": "f" * 40 if action == "update" else None,
            "last_commit": {"id": sha},
            "updated_at": updated,
        },
    }


GITLAB_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("Note Hook", _note(), _note(nid=602)),
    ("Note Hook", _note("update", updated=T1), _note("update", updated=T0)),
    ("Note Hook", _note(None), _note(None, nid=603)),  # refused as edits, but once
    ("Merge Request Hook", _mr("update"), _mr("update", sha="d" * 40)),
    ("Merge Request Hook", _mr("approved"), _mr("approved", user=5)),
]


@pytest.mark.parametrize(("hook", "payload", "other"), GITLAB_CASES)
def test_a_gitlab_event_replayed_under_new_event_uuids_is_handled_once(
    hook: str, payload: dict[str, Any], other: dict[str, Any]
) -> None:
    recorder = Recorder()

    with serving(recorder) as server:

        def send(
            body: dict[str, Any],
            uuid: str,
            change: Callable[[dict[str, Any]], object] = lambda _: None,
        ) -> tuple[int, str]:
            copied = copy.deepcopy(body)
            change(copied)
            headers = {"X-Gitlab-Event": hook, "X-Gitlab-Event-UUID": uuid, "X-Gitlab-Token": TOKEN}
            return _post(server.url + "/webhooks/gitlab", json.dumps(copied).encode(), headers)[:2]

        assert send(payload, "u-1") == (202, "queued\n")
        assert send(payload, "u-2")[0] == 200
        # The token does not cover the body: a field the identity does not read may differ.
        assert send(payload, "u-3", lambda b: b.update(extra="padding"))[0] == 200
        assert send(other, "u-4") == (202, "queued\n")
        until(lambda: len(recorder.finished) == 2, what="both events", timeout=WAIT)
    assert server.counters == webhooks.Counters(handled=2, duplicates=2)
    kinds = {type(e) for e in recorder.started}
    assert kinds <= {events.CommentEvent, events.PullEvent, events.ReviewEvent}
