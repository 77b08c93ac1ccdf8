"""`gitops-bot serve` as a user runs it: a process of its own, on a free port,
stopped at the end with its exit code checked and its log searched for the token
(or killed by the test with SIGKILL, as a crash)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitops_bot.testing.binaries import Binaries


@dataclass
class Served:
    """A `serve` process: its URL, the process, and what it has logged so far."""

    url: str
    process: subprocess.Popen[str]
    logs: list[str] = field(default_factory=list)

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, as a crash or an OOM kill."""
        self.process.kill()
        self.process.wait(timeout=30)


@contextlib.contextmanager
def running(
    *,
    forge: str,
    api_url: str,
    shop: Path,
    binaries: Binaries,
    folder: Path,
    token: str,
    secret: bytes,
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
) -> Iterator[str]:
    """`serve --forge FORGE` against the emulator at `api_url`; its URL."""
    with spawned(
        forge=forge,
        api_url=api_url,
        shop=shop,
        binaries=binaries,
        folder=folder,
        token=token,
        secret=secret,
        env=env,
        args=args,
    ) as served:
        yield served.url


@contextlib.contextmanager
def spawned(
    *,
    forge: str,
    api_url: str,
    shop: Path,
    binaries: Binaries,
    folder: Path,
    token: str,
    secret: bytes,
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
) -> Iterator[Served]:
    """`serve --forge FORGE` against the emulator at `api_url`; at the end it is
    stopped with SIGTERM and must exit 0, unless the test killed it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "secret").write_bytes(secret + b"\n")
    environ = {
        **os.environ,
        "GITOPS_BOT_TOKEN": token,
        "GITOPS_BOT_HELM": binaries.path("helm"),
        "GITOPS_BOT_KUSTOMIZE": binaries.path("kustomize"),
        **(env or {}),
    }
    command = [
        *(sys.executable, "-m", "gitops_bot", "serve", "--forge", forge, "--port", "0"),
        *("--api-url", api_url, "--git-url", f"file://{shop}"),
        *("--secret-file", str(folder / "secret"), "--cache", str(folder / "mirrors")),
        *args,
    ]
    process = subprocess.Popen(command, env=environ, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    found = re.search(r"on (http://\S+)", line)
    assert found, line
    served = Served(found[1], process)
    reader = threading.Thread(target=lambda: served.logs.extend(process.stderr or ()), daemon=True)
    reader.start()
    try:
        yield served
    finally:
        killed = process.poll() is not None and process.returncode == -signal.SIGKILL
        if not killed:
            process.terminate()
        code = process.wait(timeout=30)
        reader.join(10)
        process.stderr.close()
        assert killed or code == 0, "".join(served.logs)
        assert token not in "".join(served.logs)
