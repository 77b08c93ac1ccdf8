"""Giving freed memory back to the operating system after a big burst.

Owns: `trim`, called after a reconcile or a watch's list of many objects:
a garbage collection, then glibc's malloc_trim(0). The burst's memory (the
listed live objects, every server answer of an apply) is freed when it
ends, but glibc keeps the freed pages of its arenas mapped, so a puller's
RSS stayed at its peak; malloc_trim returns them.
Refuses: anything but glibc (elsewhere `trim` only collects), and trimming
after small bursts (`at_least` objects), where it would cost more than it frees.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable

TRIM_AFTER = 500  # objects a burst must reach before it is worth a trim


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        found: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return found


_TRIM = _malloc_trim()


def trim(objects: int, *, at_least: int = TRIM_AFTER) -> bool:
    """After a burst of `objects` objects: collect, then trim; whether it trimmed."""
    if objects < at_least:
        return False
    gc.collect()
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
