"""What the client puts on the wire: the request target, with the server URL's
path in front, straight to the host or through a proxy (a local HTTP server
that records each request line stands in for both)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from gitops_bot.cluster.kube import Kube
from gitops_bot.cluster.kubeconfig import Connection


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, str | None]]] = []  # each subclass its own

    def do_GET(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("User-Agent")))
        body = b'{"kind": "Status"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, str, str | None]]]]:
    seen: ClassVar[list[tuple[str, str, str | None]]] = []  # each subclass its own
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("server_path", ["", "/", "/k8s/clusters/c-1", "/k8s/clusters/c-1/"])
def test_the_request_target_keeps_the_servers_path(
    recorder: tuple[str, list[tuple[str, str, str | None]]], server_path: str
) -> None:
    address, seen = recorder
    kube = Kube(Connection(server=address + server_path))
    try:
        kube._request("GET", "/api/v1/namespaces", doing="listing", query=[("limit", "5")])
        kube._request("GET", "/version", doing="asking")  # the same pooled connection
    finally:
        kube.close()
    prefix = server_path.rstrip("/")
    assert [(method, path) for method, path, _ in seen] == [
        ("GET", f"{prefix}/api/v1/namespaces?limit=5"),
        ("GET", f"{prefix}/version"),
    ]
    assert all(agent and agent.startswith("gitops-bot/") for _, _, agent in seen)


def test_through_a_proxy_the_request_names_the_whole_url(
    recorder: tuple[str, list[tuple[str, str, str | None]]],
) -> None:
    proxy, seen = recorder
    kube = Kube(Connection(server="http://api.example.internal:6443/prefix", proxy=proxy))
    try:
        kube._request("GET", "/api", doing="asking", query=[("timeout", "1s")])
    finally:
        kube.close()
    assert [(method, path) for method, path, _ in seen] == [
        ("GET", "http://api.example.internal:6443/prefix/api?timeout=1s")
    ]
