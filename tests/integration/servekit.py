"""`gitops-bot serve` as a user runs it: a process of its own, on a free port,
stopped at the end with its exit code checked and its log searched for the token."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from gitops_bot.testing.binaries import Binaries


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
    logs: list[str] = []
    reader = threading.Thread(target=lambda: logs.extend(process.stderr or ()), daemon=True)
    reader.start()
    try:
        yield found[1]
    finally:
        process.terminate()
        code = process.wait(timeout=30)
        reader.join(10)
        process.stderr.close()
        assert code == 0, "".join(logs)
        assert token not in "".join(logs)
