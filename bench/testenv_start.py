"""How long the local control plane takes to start and to stop.

Run: .venv/bin/python bench/testenv_start.py [ROUNDS]
Prints each round and the medians. "Ready" means what the test fixtures wait
for: /readyz answers 200, the kwok node is Ready and the default
ServiceAccount exists, so a Deployment can roll out at once.
"""

from __future__ import annotations

import statistics
import sys
import time

from gitops_bot.testing.binaries import locate
from gitops_bot.testing.cluster import LocalControlPlane


def main(rounds: int) -> None:
    binaries = locate()
    starts, stops = [], []
    for i in range(rounds):
        cp = LocalControlPlane(binaries)
        t0 = time.monotonic()
        cp.start()
        t1 = time.monotonic()
        cp.stop()
        t2 = time.monotonic()
        starts.append(t1 - t0)
        stops.append(t2 - t1)
        print(f"round {i + 1}: start {starts[-1]:.2f}s, stop {stops[-1]:.2f}s")
    print(
        f"median of {rounds}: start {statistics.median(starts):.2f}s, "
        f"stop {statistics.median(stops):.2f}s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
