"""`gitops-bot serve` as a user runs it: a real process taking signed
webhooks, reading the pull request from the GitHub emulator, fetching its
commits from a real git remote, rendering with the real tools, and writing
the same comments and statuses `run` writes in CI."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitops_bot.core.pr import deliveries
from gitops_bot.core.pr.model import Status, StatusState
from gitops_bot.forges.github.adapter import GitHub
from gitops_bot.testing.binaries import Binaries
from tests.fakes.github_server import GitHubServer, checked
from tests.integration import servekit
from tests.integration.shop import git

TOKEN = "ghs_serve_canary_0123456789"
REPO = "acme/shop"
SECRET = b"webhook-secret-for-tests"
POKE_SECRET = b"poke-secret-for-tests"


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    with checked() as srv:
        srv.add_user("gitops-bot[bot]", type="Bot", token=TOKEN)
        srv.add_repo(REPO, files={"README.md": "mirrored from a real git repository\n"})
        yield srv


class _Pokes(BaseHTTPRequestHandler):
    received: list[tuple[bool, dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signature = self.headers.get("X-Gitops-Bot-Signature-256")
        try:
            deliveries.verify_github(body, signature, secret=POKE_SECRET)
            good = True
        except deliveries.WebhookError:
            good = False
        type(self).received.append((good, json.loads(body)))
        self.send_response(202 if good else 401)
        self.end_headers()
        self.wfile.write(b"fetching")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def puller() -> Iterator[tuple[str, list[tuple[bool, dict[str, Any]]]]]:
    """An HTTP endpoint that records the pokes it gets and checks their signature."""
    handler = type("Pokes", (_Pokes,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.received
    server.shutdown()
    server.server_close()


@pytest.fixture
def serve(
    github: GitHubServer,
    shop: Path,
    binaries: Binaries,
    tmp_path: Path,
    puller: tuple[str, list[tuple[bool, dict[str, Any]]]],
) -> Iterator[str]:
    """`gitops-bot serve` in a process of its own; its URL."""
    (tmp_path / "poke-secret").write_bytes(POKE_SECRET)
    with servekit.running(
        forge="github",
        api_url=github.url,
        shop=shop,
        binaries=binaries,
        folder=tmp_path,
        token=TOKEN,
        secret=SECRET,
        env={"GITOPS_BOT_LOGIN": "gitops-bot[bot]"},
        args=("--puller-url", puller[0], "--puller-secret-file", str(tmp_path / "poke-secret")),
    ) as url:
        yield url


def deliver(url: str, event: str, payload: dict[str, Any]) -> int:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(  # noqa: S310 (the test's own http URL)
        f"{url}/webhooks/github",
        data=body,
        method="POST",
        headers={
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
        return int(reply.status)


def eventually(check: Callable[[], bool], *, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def open_pull(github: GitHubServer, shop: Path) -> tuple[int, str]:
    base = git(shop, "rev-parse", "main").strip()
    head = git(shop, "rev-parse", "change").strip()
    github.mirror(REPO, "main", sha=base)
    github.mirror(REPO, "change", sha=head, parent=base)
    number = github.add_pull(REPO, title="Bump", author="alice", head_ref="change").number
    return number, head


def pull_payload(number: int, head: str, action: str) -> dict[str, Any]:
    # What the payload says is only a hint: the server re-reads the pull request.
    return {
        "action": action,
        "number": number,
        "pull_request": {"number": number, "head": {"sha": head}, "merged": False},
        "repository": {"full_name": REPO},
        "sender": {"login": "alice"},
    }


def test_a_webhook_for_a_new_pull_request_yields_its_comments_and_statuses(
    github: GitHubServer, shop: Path, serve: str
) -> None:
    number, head = open_pull(github, shop)

    assert deliver(serve, "pull_request", pull_payload(number, head, "opened")) == 202

    eventually(lambda: any(s.context == "gitops" for s in github.repos[REPO].statuses))
    bodies = [c.body for c in github.comments_on(REPO, number)]
    envs = sorted(re.search(r"env=([\w-]+)", b)[1] for b in bodies)  # type: ignore[index]
    assert envs == ["cache-prod", "dev", "prod"]
    statuses = {s.context: s.state for s in github.repos[REPO].statuses if s.sha == head}
    assert statuses == {
        "gitops": "pending",  # prod waits for an approval from @acme/sre
        "gitops/plan/dev": "success",
        "gitops/plan/prod": "success",
        "gitops/plan/cache-prod": "success",
        "gitops/policy/dev": "success",
        "gitops/policy/prod": "pending",
        "gitops/policy/cache-prod": "success",
    }


def test_closing_without_merge_resolves_pending_statuses(
    github: GitHubServer, shop: Path, serve: str
) -> None:
    number, head = open_pull(github, shop)
    adapter = GitHub(repo=REPO, token=TOKEN, base_url=github.url, bot_login="gitops-bot[bot]")
    adapter.set_status(Status(head, "gitops/policy/prod", StatusState.PENDING, "needs 1 approval"))
    adapter.set_status(Status(head, "ci/unit", StatusState.PENDING, "not ours"))
    github.repos[REPO].pulls[number].state = "closed"

    assert deliver(serve, "pull_request", pull_payload(number, head, "closed")) == 202

    def resolved() -> bool:
        latest = {s.context: s for s in github.repos[REPO].statuses if s.sha == head}
        return latest["gitops/policy/prod"].state == "error"

    eventually(resolved)
    latest = {s.context: s.state for s in github.repos[REPO].statuses if s.sha == head}
    assert latest == {"gitops/policy/prod": "error", "ci/unit": "pending"}


def test_a_push_to_the_default_branch_pokes_the_puller_with_a_signed_request(
    serve: str, puller: tuple[str, list[tuple[bool, dict[str, Any]]]]
) -> None:
    sha = "a" * 40
    payload = {
        "ref": "refs/heads/main",
        "before": "b" * 40,
        "after": sha,
        "repository": {"full_name": REPO, "default_branch": "main"},
    }

    assert deliver(serve, "push", payload) == 202

    eventually(lambda: bool(puller[1]))
    assert puller[1] == [(True, {"ref": "refs/heads/main", "sha": sha})]
