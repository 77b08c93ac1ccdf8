"""A chart folder's dependencies, as its Chart.lock pins them.

Owns: reading the dependencies of one chart folder (Chart.yaml's, or a
helm 2 chart's requirements.yaml) and its lock (Chart.lock or
requirements.lock); checking that they agree, as `helm dependency build`
does (every dependency locked from the same repository, no lock entry
without one, an exact version the same in both, and Chart.lock's `digest`
equal to helm's hash of both lists, `digest`); and the version to fetch:
the lock's, else Chart.yaml's exact one. `is_exact` says which versions
are exact.
Refuses: resolving version ranges (`helm dependency update` does that and
writes the lock), reading repositories.yaml, and fetching (render.fetch).

`digest` is helm's resolver.HashReq (helm v4.2.4
internal/resolver/resolver.go): sha256 of Go's json.Marshal of the two
lists of chart.Dependency (pkg/chart/v2/dependency.go: its fields in
declaration order, empty ones left out where tagged omitempty, map keys
sorted, `<`, `>`, `&` escaped). A list whose values have types Go would
convert on reading (a number for a version) is not hashed here, so no
digest check can refuse a lock helm accepts; helm 2's requirements.lock
hash (HashV2Req) is not checked either.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_bot.errors import RenderError
from gitops_bot.render import download

# An exact version as helm's semver reads one; anything else is a constraint.
_EXACT = re.compile(r"v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
# chart.Dependency's JSON fields, in order: (name, type, omitempty)
_FIELDS = (
    ("name", str, False),
    ("version", str, True),
    ("repository", str, False),
    ("condition", str, True),
    ("tags", list, True),
    ("enabled", bool, True),
    ("import-values", list, True),
    ("alias", str, True),
)
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str  # as pinned: the lock's, else Chart.yaml's (maybe a range)
    repository: str
    locked: bool  # the lock pins it


def is_exact(version: str) -> bool:
    return _EXACT.fullmatch(version) is not None


def dependencies(root: Path, folder: str) -> list[Dependency]:
    """The dependencies of the chart folder `folder` (repository-relative), pinned by its
    lock; RenderError when the lock is out of sync."""
    chart_file = "Chart.yaml" if (root / folder / "Chart.yaml").is_file() else None
    declared = [
        item
        for name in ("Chart.yaml", "requirements.yaml")
        for item in _list(_read(root, folder, name), "dependencies")
    ]
    lock_file = next(
        (n for n in ("Chart.lock", "requirements.lock") if (root / folder / n).is_file()), None
    )
    lock_doc = _read(root, folder, lock_file) if lock_file else None
    lock = _list(lock_doc, "dependencies")
    out_of_sync = f"{lock_file} is out of sync with Chart.yaml"
    update = "; run `helm dependency update`"
    deps = []
    for item in declared:
        name, version, repository = (
            str(item.get(k) or "").strip() for k in ("name", "version", "repository")
        )
        named = [e for e in lock if e.get("name") == name]
        entry = next((e for e in named if e.get("repository") == repository), None)
        entry = entry or (named[0] if named else None)
        if lock_file and (
            entry is None
            or str(entry.get("repository") or "") != repository
            or (is_exact(version) and str(entry.get("version")) != version)
        ):
            raise RenderError(
                f"chart {folder}: dependency {name} {version} from {download.shown(repository)}: "
                f"{out_of_sync}{update}"
            )
        pinned = str(entry.get("version") or "") if entry else version
        deps.append(Dependency(name, pinned, repository, locked=entry is not None))
    if extra := sorted({str(e.get("name")) for e in lock} - {d.name for d in deps}):
        raise RenderError(f"chart {folder}: {out_of_sync} (it lists {', '.join(extra)}){update}")
    if lock_file == "Chart.lock" and chart_file and isinstance(lock_doc, dict):
        chart_doc = _read(root, folder, chart_file)
        req = chart_doc.get("dependencies") if isinstance(chart_doc, dict) else None
        expected = digest(req, lock_doc.get("dependencies"))
        if expected is not None and str(lock_doc.get("digest")) != expected:
            raise RenderError(
                f"chart {folder}: {out_of_sync} (its digest is not helm's hash of the "
                f"dependencies, {expected}){update}"
            )
    return deps


def digest(declared: Any, locked: Any) -> str | None:
    """helm's hash of Chart.yaml's and Chart.lock's dependency lists, "sha256:<hex>";
    None when a value is not of the type helm reads it as (see the module docstring)."""
    lists = (_go_list(declared), _go_list(locked))
    if any(value is False for value in lists):
        return None
    text = json.dumps(lists, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _go_list(items: Any) -> list[dict[str, Any]] | bool | None:
    """`items` as Go marshals []*chart.Dependency (None: null); False if not hashable here."""
    if items is None:
        return None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return False
    out = []
    for item in items:
        fields: dict[str, Any] = {}
        for key, kind, omitempty in _FIELDS:
            value = item.get(key)
            if value is None:
                value = kind()
            if not isinstance(value, kind) or (kind is list and not _plain(value)):
                return False
            if value or not omitempty:
                fields[key] = _sorted(value)
        out.append(fields)
    return out


def _plain(value: Any) -> bool:
    """Whether `value` holds only strings, lists and string-keyed mappings."""
    if isinstance(value, str):
        return True
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):  # Go marshals map keys sorted
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _read(root: Path, folder: str, name: str) -> Any:
    path = root / folder / name
    if not path.is_file():
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise RenderError(f"chart {folder}: reading {name}{line}: {err.problem}") from err
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as err:
        raise RenderError(f"chart {folder}: reading {name}: {err}") from err


def _list(doc: Any, key: str) -> list[dict[str, Any]]:
    value = doc.get(key) if isinstance(doc, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
