"""cluster.heap: a trim after a big burst gives freed memory back (glibc here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitops_bot.cluster import heap


def _rss_kib() -> int:
    found = re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text())
    assert found
    return int(found.group(1))


def test_a_small_burst_is_not_trimmed() -> None:
    assert heap.trim(10) is False
    assert heap.trim(499, at_least=500) is False


def test_a_big_burst_gives_its_freed_memory_back() -> None:
    heap.trim(heap.TRIM_AFTER)
    # Strings past pymalloc's small-object limit come from glibc, as a LIST's
    # decoded values and a response's bytes do; a few survivors spread
    # through them keep glibc from giving the heap back on its own.
    burst = [f"x{i:07d}" * 80 for i in range(100_000)]  # 640 bytes each, about 65 MiB
    keep = burst[::100]
    del burst
    before = _rss_kib()
    assert heap.trim(len(keep) * 100) is True
    after = _rss_kib()
    assert len(keep) == 1000
    assert before - after > 20 * 1024  # MiB given back, not kept at the peak


def test_limit_arenas_leaves_an_operators_setting_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert heap.limit_arenas() is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert heap.limit_arenas() is True  # glibc here
