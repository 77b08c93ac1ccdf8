"""Drift: applied objects that someone changed in the cluster, healed or reported.

Owns: watching what one environment applied (one watch per kind and
namespace, selected by the ApplySet's part-of label), debouncing the
events, and judging each changed object against what was applied: when
core.objects.noop proves that applying it again changes nothing, nothing drifted
(status updates, our own writes); when it cannot prove it, a server-side
dry-run decides; otherwise the object drifted (or was deleted). It names
the field manager that made the drift (the most recent manager, other than
ours, that owns a field we set with another value), then re-applies that
object alone with force (self-heal) or only reports it, and records the
time from the event to the heal.
Refuses: acting while this replica is not the leader or while the loop is
applying the same environment (they share a lock), and touching objects
that were not in the last applied render.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gitops_bot.cluster import heap, watch
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import diff, fieldsv1, ignore, noop, normalize, textfit
from gitops_bot.core.objects.model import Key
from gitops_bot.errors import ClusterError
from gitops_bot.puller.status import MESSAGE_LIMIT


@dataclass(frozen=True)
class Finding:
    key: Key
    manager: str  # who made the drift ("" if nobody can be named, e.g. a deletion)
    deleted: bool
    healed: bool
    seconds: float  # from the watch event to the heal (or to the report)
    error: str = ""


QUEUE_SIZE = 1000  # events and listed objects waiting for the check


def culprit(desired: Mapping[str, Any], live: Mapping[str, Any], *, manager: str) -> str:
    """Who, other than `manager` writing the object itself, most recently wrote
    a field `desired` sets to a value the live object no longer has: "" if
    nobody can be named. A write through a subresource counts, and says so:
    "kubectl (via scale)"."""
    changed = [
        path
        for path, _have, want in diff.field_changes(
            normalize.for_diff(live), normalize.for_diff(desired)
        )
        if want is not diff.ABSENT
    ]
    suspects = {
        own
        for path in changed
        for own in fieldsv1.owning(live, path)
        if own.manager != manager or own.subresource
    }
    if not suspects:
        return ""
    # The newest write; among writes in the same second, the first name in order.
    return max(sorted(suspects, key=lambda own: own.who, reverse=True), key=lambda o: o.time).who


class DriftWatcher:
    """Watches one environment's applied objects; `update()` after every apply."""

    def __init__(
        self,
        kube: Kube,
        *,
        env: str,
        selector: str,
        heal: bool,
        lock: threading.Lock,
        may_act: Callable[[], bool],
        report: Callable[[Finding], None],
        debounce_s: float = 0.05,
        log: logging.Logger | None = None,
    ) -> None:
        self.kube, self.env, self.selector, self.heal = kube, env, selector, heal
        self._env_lock, self._may_act, self._report = lock, may_act, report
        self.debounce_s = debounce_s
        self.log = log or logging.getLogger(__name__)
        # The objects as applied, each as compact JSON (decoded when an event asks
        # for it): a tenth of the memory of the dicts, and they no longer keep the
        # render's nested values alive once the loop lets the render go.
        self._desired: dict[Key, tuple[str, bytes]] = {}  # key -> (apiVersion, JSON)
        self._ignored: dict[Key, tuple[ignore.Field, ...]] = {}  # fields the cluster owns
        self._watchers: dict[watch.Target, watch.Watcher] = {}
        self._healed_version: dict[Key, str] = {}  # resourceVersion our heal produced
        self._reported: set[Key] = set()  # drifted and reported (report-only): say it once
        # Bounded: a list's objects wait here for the check, so a watch thread
        # waits (and reads its next page later) rather than all 10,000 at once.
        self._queue: queue.Queue[tuple[Key, dict[str, Any] | None, float] | None] = queue.Queue(
            maxsize=QUEUE_SIZE
        )
        self._worker = threading.Thread(target=self._work, name=f"drift {env}", daemon=True)
        self._worker.start()

    # -- what to watch -------------------------------------------------------

    def update(
        self,
        applied: Mapping[Key, Mapping[str, Any]],
        *,
        ignored: Mapping[Key, tuple[ignore.Field, ...]] | None = None,
    ) -> None:
        """The objects as applied (with our labels, without the fields the
        cluster owns), and those fields; watch their kinds."""
        self._desired = {k: (str(v.get("apiVersion")), _encode(v)) for k, v in applied.items()}
        self._ignored = {k: v for k, v in (ignored or {}).items() if k in self._desired}
        self._reported.clear()
        wanted = {
            watch.Target(api_version, k.kind, k.namespace or None)
            for k, (api_version, _) in self._desired.items()
        }
        for target in set(self._watchers) - wanted:
            self._watchers.pop(target).stop(timeout=0)
        for target in sorted(wanted - set(self._watchers), key=str):
            self._watchers[target] = watch.Watcher(
                self.kube,
                target,
                selector=self.selector,
                on_event=self._on_event,
                on_list=self._on_list,
                log=self.log,
            ).start()

    def watched(self) -> dict[Key, dict[str, Any]]:
        """What is watched now: the objects as last applied, by key."""
        return {k: json.loads(blob) for k, (_, blob) in self._desired.items()}

    def ignored(self) -> dict[Key, tuple[ignore.Field, ...]]:
        """The fields the cluster owns, by key, of what is watched."""
        return dict(self._ignored)

    def wait_synced(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        return all(
            w.synced.wait(max(0.0, deadline - time.monotonic())) for w in self._watchers.values()
        )

    def stop(self) -> None:
        for w in self._watchers.values():
            w.stop(timeout=0)
        for w in self._watchers.values():
            w.stop(timeout=2)
        self._watchers.clear()
        while True:  # what still waits is dropped: the worker must see the end
            try:
                self._queue.put_nowait(None)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()
        self._worker.join(5)

    # -- events --------------------------------------------------------------

    def _on_event(self, event: watch.Event) -> None:
        obj = None if event.type == "DELETED" else event.obj
        self._queue.put((Key.of(event.obj), obj, time.monotonic()))

    def _on_list(self, target: watch.Target, items: Iterable[dict[str, Any]]) -> None:
        now = time.monotonic()
        unseen = {
            key
            for key, (api_version, _) in self._desired.items()
            if api_version == target.api_version
            and key.kind == target.kind
            and (key.namespace or None) == target.namespace
        }
        for item in items:
            key = Key.of(item)
            if key in unseen:
                unseen.discard(key)
                self._queue.put((key, item, now))
        for key in unseen:  # deleted while nobody watched
            self._queue.put((key, None, now))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or not self._batch(item):
                return

    def _batch(self, item: tuple[Key, dict[str, Any] | None, float]) -> bool:
        """Check `item` and what else arrives within the debounce; False: stop.
        A method of its own, so the batch (after a list, every watched live
        object) is freed when it returns, not kept until the next event."""
        batch = {item[0]: item}
        deadline = time.monotonic() + self.debounce_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                more = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if more is None:
                return False
            # The newest state counts; the oldest event time is when the drift began.
            first = batch.get(more[0])
            batch[more[0]] = (more[0], more[1], first[2] if first else more[2])
        for key, live, since in batch.values():
            try:
                self._check(key, live, since)
            except Exception:  # one object must not stop the watcher
                self.log.exception("drift %s: checking %s", self.env, key)
        checked = len(batch)
        del batch
        heap.trim(checked)  # after a list: the live objects just freed
        return True

    # -- judging -------------------------------------------------------------

    def _check(self, key: Key, live: dict[str, Any] | None, since: float) -> None:
        with self._env_lock:
            held = self._desired.get(key)
            if held is None or not self._may_act():
                return
            desired = json.loads(held[1])
            if live is not None and not self._drifted(key, desired, live):
                self._reported.discard(key)
                return
            if not self.heal and key in self._reported:
                return  # still drifted, and said so already
            who = "" if live is None else culprit(desired, live, manager=self.kube.field_manager)
            healed, error = False, ""
            if self.heal:
                try:
                    result = self.kube.apply(desired, force=True)
                    self._healed_version[key] = str(
                        (result.get("metadata") or {}).get("resourceVersion", "")
                    )
                    healed = True
                except ClusterError as err:
                    error = str(err)
            else:
                self._reported.add(key)
            finding = Finding(
                key=key,
                manager=who,
                deleted=live is None,
                healed=healed,
                seconds=time.monotonic() - since,
                error=error,
            )
        self._report(finding)

    def _drifted(self, key: Key, desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
        version = str((live.get("metadata") or {}).get("resourceVersion", ""))
        if version and self._healed_version.get(key) == version:
            return False  # our own heal, seen again
        if noop.apply_is_noop(desired, live, manager=self.kube.field_manager):
            return False
        # core.objects.noop could not prove it: ask the server what applying would make.
        try:
            would = self.kube.apply(desired, dry_run=True, force=True)
        except ClusterError as err:
            self.log.warning("drift %s: dry-run of %s: %s", self.env, key, err)
            return True
        fields = self._ignored.get(key, ())
        return ignore.strip(normalize.for_diff(would), fields) != ignore.strip(
            normalize.for_diff(live), fields
        )


def _encode(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def record(finding: Finding) -> dict[str, Any]:
    """The status object's entry for a finding."""
    return {
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "object": str(finding.key),
        "manager": finding.manager or ("(deleted)" if finding.deleted else "(unknown)"),
        "action": "healed" if finding.healed else ("failed" if finding.error else "reported"),
        "seconds": round(finding.seconds, 3),
        **({"error": textfit.cut(finding.error, MESSAGE_LIMIT)} if finding.error else {}),
    }
