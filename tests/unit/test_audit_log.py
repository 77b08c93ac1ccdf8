"""The harness's audit log reader: rotated files are read too, in order.

The API server rotates its audit log at 100 MB (lumberjack's default) into
audit-<timestamp>.log; bench/flux.py counted no request of ours at 10,000
objects because only audit.log was read.
"""

from __future__ import annotations

import json
from pathlib import Path

from gitops_bot.testing.cluster import read_audit_log


def _write(path: Path, ids: list[str], *, partial: bool = False) -> None:
    text = "".join(json.dumps({"auditID": i}) + "\n" for i in ids)
    path.write_text(text + ('{"auditID": "half' if partial else ""))


def test_rotated_files_are_read_oldest_first(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    _write(tmp_path / "audit-2026-12-07T14-40-05.123.log", ["c", "d"])
    _write(tmp_path / "audit-2026-12-07T14-31-00.000.log", ["a", "b"])
    _write(log, ["e"], partial=True)
    _write(tmp_path / "other.log", ["x"])

    assert [e["auditID"] for e in read_audit_log(log)] == ["a", "b", "c", "d", "e"]


def test_no_log_yet_is_no_events(tmp_path: Path) -> None:
    assert read_audit_log(tmp_path / "audit.log") == []
