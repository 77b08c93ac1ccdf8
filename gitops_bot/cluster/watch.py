"""Watching objects of one kind: list, then a watch stream resumed where it stopped.

Owns: the list-then-watch protocol for one kind (in one namespace, or the
whole cluster for cluster-scoped kinds) with a label selector: a LIST
gives the objects and a resourceVersion; a watch from that version streams
ADDED/MODIFIED/DELETED events (and BOOKMARKs, which only move the version
on); when the stream ends it is resumed from the last version seen; when
the server says that version is too old (410 Gone) the kind is listed
again and the listed objects are handed on as if changed, so nothing is
missed. A Watcher runs that on a thread until stopped, backing off when
the server cannot be reached.
Refuses: deciding what an event means (the caller's callback does), and
holding more than the current event in memory.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import urllib3

from gitops_bot.cluster.kube import Kube
from gitops_bot.errors import ClusterError

SERVER_TIMEOUT_S = 240  # a watch ends after this, and is resumed
_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class GoneError(ClusterError):
    """The resourceVersion to resume from is no longer available (HTTP 410)."""


@dataclass(frozen=True)
class Target:
    """What to watch: one kind, in one namespace (None: cluster-scoped)."""

    api_version: str
    kind: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}{' in ' + self.namespace if self.namespace else ''}"


@dataclass(frozen=True)
class Event:
    type: str  # ADDED, MODIFIED, DELETED (BOOKMARKs are not handed on)
    obj: dict[str, Any]


def _path(kube: Kube, target: Target) -> str:
    return kube.resource(target.api_version, target.kind).path(namespace=target.namespace)


LIST_PAGE = 500  # objects per LIST request: a list is handed on a page at a time


def list_pages(
    kube: Kube, target: Target, *, selector: str, version: list[str]
) -> Iterator[dict[str, Any]]:
    """The objects matching `selector`, read LIST_PAGE at a time (limit and
    continue: the pages are one consistent snapshot); `version[0]` is set to
    the list's resourceVersion once the last page is read. A continue token
    that expired (410) surfaces as a ClusterError: the caller lists again."""
    token = ""
    while True:
        query = [("labelSelector", selector), ("limit", str(LIST_PAGE))]
        if token:
            query.append(("continue", token))
        found = kube._call(
            "GET",
            _path(kube, target),
            doing=f"listing {target} ({selector})",
            call="list",
            query=query,
        )
        metadata = found.get("metadata") or {}
        items: list[dict[str, Any]] = found.get("items") or []
        del found
        items.reverse()
        while items:  # popped, so a page holds only what is not handed on yet
            item = items.pop()
            item.setdefault("apiVersion", target.api_version)
            item.setdefault("kind", target.kind)
            yield item
        token = str(metadata.get("continue") or "")
        if not token:
            version[0] = str(metadata.get("resourceVersion", ""))
            return


class _Stream:
    """One watch request; close() ends it from another thread."""

    def __init__(self, kube: Kube, target: Target, *, selector: str, version: str) -> None:
        query = [
            ("watch", "true"),
            ("labelSelector", selector),
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(SERVER_TIMEOUT_S)),
        ]
        doing = f"watching {target}"
        try:
            resp = kube.send(
                "GET",
                _path(kube, target),
                query=query,
                headers={"Accept": "application/json"},
                timeout=urllib3.Timeout(connect=10, read=SERVER_TIMEOUT_S + 30),
                stream=True,
            )
        except Exception as err:  # the transport raises many kinds; all mean "not reachable"
            raise ClusterError(f"{doing}: {type(err).__name__}: {err}") from err
        self._raw = resp
        if resp.status == 410:
            self.close()
            raise GoneError(f"{doing}: resourceVersion {version} is too old")
        if resp.status >= 300:
            body = self._raw.read(4096)
            self.close()
            raise ClusterError(f"{doing}: HTTP {resp.status}: {body[:300]!r}")
        self.doing = doing

    def lines(self) -> Iterator[bytes]:
        pending = b""
        try:
            for chunk in self._raw.stream(8192):
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        yield line
        except Exception as err:  # reset, timeout, or close() from another thread
            raise ClusterError(f"{self.doing}: the stream broke: {type(err).__name__}") from err

    def close(self) -> None:
        try:
            self._raw.shutdown()
            self._raw.release_conn()
        except Exception:  # noqa: S110 - closing a broken stream may fail; nothing to do then
            pass


def events(stream: _Stream, version: list[str]) -> Iterator[Event]:
    """Decode a stream; `version[0]` follows the last resourceVersion seen."""
    for line in stream.lines():
        try:
            event = json.loads(line)
        except ValueError as err:
            raise ClusterError(f"{stream.doing}: a line of the stream is not JSON") from err
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise GoneError(f"{stream.doing}: {obj.get('message', 'too old')}")
            raise ClusterError(f"{stream.doing}: {obj.get('message', 'error event')}")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            version[0] = str(rv)
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            yield Event(type=str(kind), obj=obj)


class Watcher:
    """List and watch one Target on a thread, calling `on_event` for every change.

    After a (re-)list, `on_list(items)` iterates the whole set (read a page
    at a time), so the caller can also notice objects that disappeared while
    nobody watched.
    """

    def __init__(
        self,
        kube: Kube,
        target: Target,
        *,
        selector: str,
        on_event: Callable[[Event], None],
        on_list: Callable[[Target, Iterable[dict[str, Any]]], None],
        log: logging.Logger | None = None,
    ) -> None:
        self.kube, self.target, self.selector = kube, target, selector
        self.on_event, self.on_list = on_event, on_list
        self.log = log or logging.getLogger(__name__)
        self._stop = threading.Event()
        self._stream: _Stream | None = None
        self._lock = threading.Lock()
        self.relists = 0
        self.synced = threading.Event()  # listed at least once
        self._thread = threading.Thread(target=self._run, name=f"watch {target}", daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            if self._stream is not None:
                self._stream.close()
        self._thread.join(timeout)

    def _run(self) -> None:
        version: list[str] = [""]
        failures = 0
        while not self._stop.is_set():
            try:
                if not version[0]:
                    self._list(version)
                self._watch(version)
                failures = 0
            except GoneError:
                version[0] = ""  # list again, from now
            except ClusterError as err:
                if self._stop.is_set():
                    return
                self.log.info("drift watch: %s; retrying", err)
                self._stop.wait(_BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)])
                failures += 1

    def _list(self, version: list[str]) -> None:
        """List and hand the items on, a page at a time (`on_list` iterates
        them; nothing holds the whole list: a LIST of 10,000 ConfigMaps parsed
        at once was 22 MiB). The watch resumes from the list's version, known
        once the last page is read."""
        listed = [""]
        items = list_pages(self.kube, self.target, selector=self.selector, version=listed)
        self.on_list(self.target, items)
        for _ in items:  # a caller that stopped early: read the rest for the version
            pass
        version[0] = listed[0]
        self.relists += 1
        self.synced.set()

    def _watch(self, version: list[str]) -> None:
        stream = _Stream(self.kube, self.target, selector=self.selector, version=version[0])
        with self._lock:
            if self._stop.is_set():
                stream.close()
                return
            self._stream = stream
        try:
            for event in events(stream, version):
                self.on_event(event)
        finally:
            with self._lock:
                self._stream = None
            stream.close()
