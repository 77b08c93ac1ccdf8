"""An OCI registry on 127.0.0.1 for the tests: the CNCF distribution registry
built from its pinned Go module (testenv/registry), storing on the test's own
disk, with charts pushed by the pinned helm (`helm push --plain-http`)."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gitops_bot.testing import binaries as binaries_mod
from gitops_bot.testing.binaries import Binaries
from tests.integration.chartrepo import helm

_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""
# The registry's OpenTelemetry exporters would otherwise dial localhost:4318.
_QUIET = {f"OTEL_{kind}_EXPORTER": "none" for kind in ("TRACES", "METRICS", "LOGS")}


@dataclass
class Registry:
    """A running registry: `url` is the oci:// repository the charts are pushed to."""

    binaries: Binaries
    host: str  # 127.0.0.1:PORT
    storage: Path
    home: Path  # helm's home for pushing

    @property
    def url(self) -> str:
        return f"oci://{self.host}/charts"

    def push(self, archive: Path) -> str:
        """`helm push` the archive; the manifest digest helm reports."""
        return helm(self.binaries, "push", str(archive), self.url, "--plain-http", home=self.home)

    def manifest(self, name: str, tag: str) -> tuple[str, dict[str, object]]:
        """(Docker-Content-Digest, manifest) of name:tag, read over HTTP."""
        request = urllib.request.Request(
            f"http://{self.host}/v2/charts/{name}/manifests/{tag}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 (the test's own)
            return str(reply.headers["Docker-Content-Digest"]), json.loads(reply.read())

    def blob_file(self, digest: str) -> Path:
        """Where the filesystem storage keeps the blob `sha256:<hex>`."""
        hex_digest = digest.removeprefix("sha256:")
        return (
            self.storage / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"
        )


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running(binaries: Binaries, folder: Path) -> Iterator[Registry]:
    """The registry on a free port of 127.0.0.1, storing in `folder`, until the end."""
    binary = binaries_mod.registry()
    port = free_port()
    storage = folder / "storage"
    storage.mkdir(parents=True)
    config = folder / "config.yml"
    config.write_text(_CONFIG.format(storage=storage, port=port))
    log = (folder / "registry.log").open("wb")
    process = subprocess.Popen(
        [str(binary), "serve", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"PATH": "/usr/bin:/bin", **_QUIET},
    )
    try:
        _wait(port, process, folder / "registry.log")
        yield Registry(binaries, f"127.0.0.1:{port}", storage, folder / "helm-home")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the registry exited with {process.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail(f"the registry did not answer /v2/ within 30 s: {log.read_text()}")


@pytest.fixture
def registry(binaries: Binaries, packaged: Path, tmp_path: Path) -> Iterator[Registry]:
    """A registry with redis 1.0.0 and 1.1.0 pushed to oci://127.0.0.1:PORT/charts."""
    with running(binaries, tmp_path / "registry") as served:
        for version in ("1.0.0", "1.1.0"):
            served.push(packaged / f"redis-{version}.tgz")
        yield served


@dataclass
class TokenGate:
    """A front for a registry that wants a bearer token, as ghcr.io or Docker Hub
    do (or, with `digest`, one that names another manifest digest): /v2/
    requests without `Authorization: Bearer <token>` get a 401 whose challenge
    names `realm` (default: this server's /token), which hands out the token;
    the rest is passed to the registry. `seen` records (path, Authorization)
    of every request."""

    upstream: str  # 127.0.0.1:PORT of the registry
    token: str = "t0k3n"  # "": none wanted
    realm: str = ""
    digest: str = ""  # a Docker-Content-Digest to send instead of the registry's
    host: str = ""
    seen: list[tuple[str, str]] = field(default_factory=list)


@contextlib.contextmanager
def gated(gate: TokenGate) -> Iterator[TokenGate]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            auth = self.headers.get("Authorization") or ""
            gate.seen.append((self.path, auth))
            if self.path.startswith("/token?"):
                self._answer(200, {}, json.dumps({"token": gate.token}).encode())
            elif gate.token and auth != f"Bearer {gate.token}":
                challenge = (
                    f'Bearer realm="{gate.realm}",service="test",'
                    'scope="repository:charts/redis:pull"'
                )
                self._answer(401, {"WWW-Authenticate": challenge}, b"{}")
            else:
                self._forward()

        def _forward(self) -> None:
            request = urllib.request.Request(
                f"http://{gate.upstream}{self.path}",
                headers={"Accept": self.headers.get("Accept") or "*/*"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
                    keep = ("Content-Type", "Docker-Content-Digest")
                    headers = {k: reply.headers[k] for k in keep if reply.headers[k]}
                    if gate.digest and "Docker-Content-Digest" in headers:
                        headers["Docker-Content-Digest"] = gate.digest
                    self._answer(reply.status, headers, reply.read())
            except urllib.error.HTTPError as err:
                self._answer(err.code, {}, err.read())

        def _answer(self, code: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gate.host = f"127.0.0.1:{server.server_address[1]}"
    gate.realm = gate.realm or f"http://{gate.host}/token"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gate
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
