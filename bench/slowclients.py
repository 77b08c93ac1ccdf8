"""Latency of /healthz and of a signed delivery while slow clients hold connections.

For the webhook server and the puller's endpoint (both on gitops_bot.web.front),
under 0, 100 and 500 slow connections of each kind (slowloris: the request
line, then a header byte every second; slow body: whole headers, then a body
byte every second), measures the median time of GET /healthz and of a signed
delivery from sending it to the handler having acted on it (the webhook
handler's call; the puller's poke callback). Raises this process's
open-files limit first: server and clients share it (2 files per connection).

    .venv/bin/python bench/slowclients.py --slow 0 100 500 --rounds 20 --pace 0.25

20 rounds 0.25 s apart take 5 s, inside the default 10 s request deadline:
every slow connection is still open while the last round is measured (the
table's last column says so).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import logging
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from gitops_bot.puller.metrics import Metrics
from gitops_bot.puller.server import Handlers
from gitops_bot.puller.server import Server as PullerServer
from gitops_bot.testing.slowclients import Kind, SlowClients
from gitops_bot.web import webhooks

SECRET = b"bench-secret"


def _request(url: str, method: str, path: str, body: bytes = b"", **headers: str) -> int:
    address = urlsplit(url)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()


class _Acted:
    """Counts the deliveries the server acted on; waits for the next one."""

    def __init__(self) -> None:
        self.count = 0
        self.cond = threading.Condition()

    def __call__(self, *_: object) -> None:
        with self.cond:
            self.count += 1
            self.cond.notify_all()

    def wait_for(self, count: int) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.count >= count, timeout=10):
                raise SystemExit("a delivery was not acted on within 10 s")


def _measure(
    url: str, deliver: Callable[[int], int], acted: _Acted, *, rounds: int, pace: float
) -> tuple[float, float, float]:
    health, delivery = [], []
    for n in range(rounds):
        time.sleep(pace)  # spread over the clients' once-a-second bursts
        started = time.perf_counter()
        assert _request(url, "GET", "/healthz") == 200
        health.append(time.perf_counter() - started)
        started = time.perf_counter()
        expected = acted.count + 1
        status = deliver(n)
        assert status == 202, status
        acted.wait_for(expected)
        delivery.append(time.perf_counter() - started)
    return statistics.median(health), statistics.median(delivery), max(health + delivery)


def _webhook(acted: _Acted) -> tuple[str, str, Callable[[int], int], Callable[[], None]]:
    settings = webhooks.Settings(github_secret=SECRET)
    server = webhooks.WebhookServer(handler=acted, settings=settings)

    def deliver(n: int) -> int:
        body = json.dumps(
            {
                "action": "opened",
                "repository": {"full_name": "org/shop"},
                "pull_request": {"number": n + 1, "head": {"sha": f"{n:040x}"}},
                "sender": {"login": "alice"},
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": f"bench-{time.monotonic_ns()}",
            "X-Hub-Signature-256": _sign(body),
        }
        return _request(server.url, "POST", "/webhooks/github", body, **headers)

    return server.url, "/webhooks/github", deliver, server.close


def _puller(acted: _Acted) -> tuple[str, str, Callable[[int], int], Callable[[], None]]:
    handlers = Handlers(poke=acted, ready=lambda: (True, "ready"), metrics=Metrics().exposition)
    server = PullerServer(handlers, secret=SECRET)

    def deliver(_: int) -> int:
        body = b'{"ref":"refs/heads/main"}'
        return _request(server.url, "POST", "/poke", body, **{"X-Hub-Signature-256": _sign(body)})

    return server.url, "/poke", deliver, server.close


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, nargs="+", default=[0, 100, 500])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--pace", type=float, default=0.25, help="seconds between rounds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 4 * max(args.slow) + 256
    if soft < need <= hard or (soft < need and hard == resource.RLIM_INFINITY):
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        print(f"open-files limit raised from {soft} to {need}", file=sys.stderr)
    print(
        "| server | slow connections | kind | /healthz median | delivery median "
        "| slowest of both | slow still open |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, start in (("webhook", _webhook), ("puller", _puller)):
        for count in args.slow:
            for kind in Kind if count else [Kind.HEADERS]:
                acted = _Acted()
                url, post_path, deliver, close = start(acted)
                path = "/healthz" if kind is Kind.HEADERS else post_path
                try:
                    with SlowClients(url, count=count, every=1.0, kind=kind, path=path) as slow:
                        health, delivery, slowest = _measure(
                            url, deliver, acted, rounds=args.rounds, pace=args.pace
                        )
                        held = slow.report().still_open
                finally:
                    close()
                label = kind.value if count else "-"
                print(
                    f"| {name} | {count} | {label} | {health * 1000:.1f} ms "
                    f"| {delivery * 1000:.1f} ms | {slowest * 1000:.1f} ms | {held} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
