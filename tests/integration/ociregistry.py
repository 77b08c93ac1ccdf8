"""An OCI registry on 127.0.0.1 for the tests: the CNCF distribution registry
built from its pinned Go module (testenv/registry), storing on the test's own
disk, with charts pushed by the pinned helm (`helm push --plain-http`)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
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
