"""Giving freed memory back to the operating system after a big burst.

Owns: `limit_arenas`, called once as a puller starts (glibc's default is an
arena per thread, up to 8 per core, each keeping its own freed pages; the
apply's thread pool touches many), and `trim`, called after a reconcile and
after the drift check of a watch's list: a garbage collection, then glibc's
malloc_trim(0). A burst's memory (the listed live objects, every server
answer of an apply) is freed when it ends, but glibc keeps the freed pages
mapped, so a puller's RSS stayed near its peak; malloc_trim returns them.
Refuses: anything but glibc (elsewhere `trim` only collects), overriding
MALLOC_ARENA_MAX when the operator set it, and trimming after small bursts
(`at_least` objects), where it would cost more than it frees.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
from collections.abc import Callable
from typing import Any

TRIM_AFTER = 500  # objects a burst must reach before it is worth a trim
ARENAS = 2  # the puller's malloc arenas (its threads mostly wait on the GIL or the network)
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def _glibc(name: str) -> Callable[..., Any] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        found: Callable[..., Any] = getattr(libc, name)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return None
    return found


_TRIM = _glibc("malloc_trim")
_MALLOPT = _glibc("mallopt")


def limit_arenas(count: int = ARENAS) -> bool:
    """At most `count` malloc arenas from now on, unless MALLOC_ARENA_MAX is
    set (the operator's choice wins); whether it was set. Call it before
    threads start: arenas already made stay."""
    if _MALLOPT is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(_MALLOPT(_M_ARENA_MAX, count))


def trim(objects: int, *, at_least: int = TRIM_AFTER) -> bool:
    """After a burst of `objects` objects: collect, then trim; whether it trimmed."""
    if objects < at_least:
        return False
    gc.collect()
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
