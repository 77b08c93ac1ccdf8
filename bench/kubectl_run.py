"""The peer in every benchmark: one timed kubectl call, its API requests counted.

Owns: running kubectl with -v=6 (which logs each response) and counting the
requests by verb from that log. Refuses: deciding what the call's exit code
means (the caller says which are fine).
"""

from __future__ import annotations

import re
import subprocess
import time

_REQUEST = re.compile(r"\"Response\" verb=\"(GET|PATCH|POST|PUT|DELETE)\"")


def timed(
    kubectl_bin: str, env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,)
) -> tuple[float, subprocess.CompletedProcess[str], dict[str, int]]:
    """(seconds, the finished call, requests by verb) of `kubectl ARGS -v=6`."""
    start = time.perf_counter()
    done = subprocess.run(
        [kubectl_bin, *args, "-v=6"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    took = time.perf_counter() - start
    assert done.returncode in ok, done.stderr[-2000:]
    counts: dict[str, int] = {}
    for m in _REQUEST.finditer(done.stderr):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return took, done, counts
