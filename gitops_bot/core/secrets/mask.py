"""Secret values, kept inside the process.

Owns: replacing the values of a Secret's `data` and `stringData` with keyed
fingerprints (`mask_object`), telling which keys of a Secret changed
without saying how (`secret_keys`), and scrubbing known values out of free
text such as API errors and tool output (`collect_secret_values`, `scrub`).
Refuses: guessing which strings outside a Secret might be credentials, and
choosing the fingerprint key; the caller brings a key per run.

Fingerprints are HMAC-SHA256 under the caller's key, not plain hashes: a
plain sha256 of a short password can be reversed with a dictionary by
anyone who reads the PR comment; a keyed one cannot without the key.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ahocorasick
import yaml

from gitops_bot.core.objects import normalize
from gitops_bot.core.objects.model import Key
from gitops_bot.core.report.plan import EnvPlan, ResourceChange, SecretKeys

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
REPLACEMENT = "***"
# Shorter values would scrub ordinary words ("true", "dev") out of messages
# without protecting anything worth the name.
MIN_SCRUB_LENGTH = 4


def is_secret(obj: Mapping[str, Any]) -> bool:
    """A core-group Secret. The version is not checked: masking one object
    too many is harmless, leaking one is not."""
    key = Key.of(obj)
    return key.group == "" and key.kind == "Secret"


FINGERPRINT = re.compile(r"<secret sha256:[0-9a-f]{8}>")  # what fingerprint() writes


def without_fingerprints(text: str) -> str:
    """`text` with every fingerprint alike: each run keys them afresh, so two
    plans of one head say the same although their fingerprints differ."""
    return FINGERPRINT.sub("<secret>", text)


def fingerprint(value: bytes, *, key: bytes) -> str:
    """`<secret sha256:1a2b3c4d>`: equal values give equal fingerprints under one key."""
    digest = hmac.new(key, value, hashlib.sha256).hexdigest()
    return f"<secret sha256:{digest[:8]}>"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _plain_bytes(value: Any) -> bytes:
    return _text(value).encode()


def _from_data(value: Any) -> bytes:
    """The bytes a `data` value stands for; the raw text if it is not base64,
    so that a malformed value is still masked rather than shown."""
    raw = _text(value)
    try:
        # YAML block scalars may wrap base64; the server ignores the breaks too.
        return base64.b64decode("".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        return raw.encode()


def _values(obj: Mapping[str, Any] | None) -> dict[str, bytes]:
    """The Secret's keys and decoded values as the server would store them:
    stringData is merged into data and wins on a conflict."""
    if obj is None or not is_secret(obj):
        return {}
    out: dict[str, bytes] = {}
    for name, value in _fields(obj, "data").items():
        out[name] = _from_data(value)
    for name, value in _fields(obj, "stringData").items():
        out[name] = _text(value).encode()
    return out


def _fields(obj: Mapping[str, Any], field: str) -> dict[str, Any]:
    """A Secret's `data` or `stringData` as a mapping. A value of another
    shape (the server refuses it, but a render can hold it) is still a
    value: each scalar in it is an entry, named by its path ("" for a string)."""
    out: dict[str, Any] = {}
    stack: list[tuple[str, Any]] = [("", obj.get(field))]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack += [(f"{path}.{k}" if path else str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        elif value is not None or path:  # an absent field has no entry; a null key has
            out[path] = value
    return out


# What the API server accepts as a key of a Secret's data. A name outside it
# is refused there, and is most likely a value: kustomize makes a key of an
# env file's line that has no `=`, a password pasted on its own line.
_KEY_NAME = re.compile(r"[-._a-zA-Z0-9]+")
HIDDEN_KEY = "<a key that is not a valid key name>"


def _key_name(name: str, *, key: bytes | None = None) -> str:
    if _KEY_NAME.fullmatch(name):
        return name
    if key is None:
        return HIDDEN_KEY
    return f"<invalid key {fingerprint(name.encode(), key=key)[8:-1]}>"


def mask_object(obj: Mapping[str, Any], *, key: bytes) -> dict[str, Any]:
    """A copy of `obj` in which no Secret value appears, raw or base64."""
    out: dict[str, Any] = normalize.plain(obj)
    if not is_secret(out):
        return out
    for field, clear in (("data", _from_data), ("stringData", _plain_bytes)):
        value = out.get(field)
        if isinstance(value, dict):
            out[field] = {
                _key_name(str(name), key=key): fingerprint(clear(v), key=key)
                for name, v in value.items()
            }
        elif value is not None:  # not a mapping: masked whole
            out[field] = fingerprint(_text(value).encode(), key=key)
    annotations = (out.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        # The whole copy of the object, values included: only its fingerprint
        # may leave, which still shows that it changed.
        annotations[LAST_APPLIED] = fingerprint(_text(annotations[LAST_APPLIED]).encode(), key=key)
    return out


def secret_keys(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> SecretKeys:
    """Keys added, changed (decoded value differs) and removed, each sorted."""
    old = {_key_name(k): v for k, v in _values(before).items()}
    new = {_key_name(k): v for k, v in _values(after).items()}
    return SecretKeys(
        added=tuple(sorted(new.keys() - old.keys())),
        changed=tuple(sorted(k for k in old.keys() & new.keys() if old[k] != new[k])),
        removed=tuple(sorted(old.keys() - new.keys())),
    )


def _spellings(clear: bytes, written: str | None) -> set[str]:
    """How a value may show up in text: as written, in clear, base64 (standard,
    URL-safe, and inside a longer base64 text at any alignment), JSON- and
    YAML-escaped (API errors echo JSON, diffs are YAML), URL-encoded (a DSN
    in a ConfigMap) and line by line (tools print PEM blocks that way)."""
    if len(clear) < MIN_SCRUB_LENGTH:
        return set()
    out = {base64.b64encode(clear).decode(), base64.urlsafe_b64encode(clear).decode()}
    out.update(_base64_cores(clear))
    if written is not None:
        out.add(written)
    try:
        text = clear.decode()
    except UnicodeDecodeError:
        return out
    out.add(text)
    out.add(json.dumps(text, ensure_ascii=False)[1:-1])
    out.add(json.dumps(text)[1:-1])
    out.add(text.replace("'", "''"))
    out.add(_yaml_quoted(text))
    out.update(urllib.parse.quote(text, safe=safe) for safe in ("", "/"))
    out.add(urllib.parse.quote_plus(text))
    out.update(line.strip() for line in text.splitlines())
    return out


# A base64 fragment shorter than this could turn up by chance in any base64 text.
_MIN_BASE64_CORE = 8


def _base64_cores(clear: bytes) -> set[str]:
    """The characters of base64 that only `clear` decides, wherever it starts in
    a longer encoded text: for each of the three byte alignments, the encoding
    without the characters the neighbouring bytes share."""
    out = set()
    for shift, start in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(bytes(shift) + clear).decode()
        total = shift + len(clear)
        end = 4 * (total // 3) + (total % 3)
        core = encoded[start:end]
        if len(core) >= _MIN_BASE64_CORE:
            out.add(core)
            out.add(core.replace("+", "-").replace("/", "_"))
    return out


_PLAIN_ASCII = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but `"` and a backslash


def _yaml_quoted(text: str) -> str:
    """`text` inside a double-quoted YAML scalar, as the diff's dumper writes it.
    Printable ASCII but `"` and `\\` is written as it is, without the dumper
    (most values; the dumper was a third of reading a render's Secrets)."""
    if _PLAIN_ASCII.fullmatch(text):
        return text
    dumped = yaml.safe_dump(text, default_style='"', width=1 << 30, allow_unicode=True)
    return dumped.strip().removesuffix("...").strip()[1:-1]


def spellings(values: Iterable[str]) -> frozenset[str]:
    """Every spelling worth scrubbing of each clear value in `values`."""
    found: set[str] = set()
    for value in values:
        found |= _spellings(value.encode(), None)
    return frozenset(s for s in found if len(s) >= MIN_SCRUB_LENGTH)


def collect_secret_values(objs: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """Every spelling of every Secret value in `objs` worth scrubbing."""
    found: set[str] = set()
    seen: set[tuple[str, str]] = set()  # both ends of a plan mostly hold the same values

    def first(field: str, text: str) -> bool:
        if (field, text) in seen:
            return False
        seen.add((field, text))
        return True

    for obj in objs:
        if not is_secret(obj):
            continue
        for name in {**_fields(obj, "data"), **_fields(obj, "stringData")}:
            if not _KEY_NAME.fullmatch(name) and first("name", name):
                found |= _spellings(name.encode(), None)
        for value in _fields(obj, "data").values():
            if first("data", written := _text(value)):
                found |= _spellings(_from_data(value), written)
        for value in _fields(obj, "stringData").values():
            if first("stringData", written := _text(value)):
                found |= _spellings(written.encode(), None)
    return frozenset(s for s in found if len(s) >= MIN_SCRUB_LENGTH)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of any of `secrets` replaced by `***`.

    Longest first, so a value that contains another is replaced whole and
    no tail of it is left behind.
    """
    return scrubber(secrets)(text)


def scrubber(secrets: Iterable[str]) -> Callable[[str], str]:
    """`scrub` with `secrets` fixed, for many texts.

    Which values a text holds is found in one Aho-Corasick pass over it
    (ahocorasick, in C), not one substring search per value: a plan of
    10,000 objects holds 8,000 spellings of 2,000 Secrets' values, and its
    20,000 texts took 9.5 s that way. Only the values present go in the
    regex that replaces them (an alternation of many values tries each at
    every position), built once per set of values present."""
    ordered = sorted({s for s in secrets if s}, key=lambda s: (-len(s), s))
    if not ordered:
        return lambda text: text
    rank = {s: i for i, s in enumerate(ordered)}
    automaton = ahocorasick.Automaton()
    for value in ordered:
        automaton.add_word(value, value)
    automaton.make_automaton()
    patterns: dict[tuple[str, ...], re.Pattern[str]] = {}

    def clean(text: str) -> str:
        if not text:
            return text
        found = {value for _end, value in automaton.iter(text)}
        if not found:
            return text
        present = tuple(sorted(found, key=rank.__getitem__))
        if present not in patterns:
            patterns[present] = re.compile("|".join(re.escape(s) for s in present))
        return patterns[present].sub(REPLACEMENT, text)

    return clean


def without_names(secrets: Iterable[str], names: Iterable[str]) -> frozenset[str]:
    """`secrets` but those that are part of a name the plan shows anyway (an
    object's name or namespace, the environment's): public already, and
    scrubbing them would shred every header (a username `shop` in a
    namespace `shop-prod`)."""
    shown = "\n".join(names)
    return frozenset(s for s in secrets if s not in shown)


def scrub_env(env: EnvPlan, secrets: Iterable[str]) -> EnvPlan:
    """`env` with `secrets` scrubbed from every text in it: diffs (another
    object may hold a Secret's value, a ConfigMap's DSN its password), notes,
    drift and the error. Secrets themselves are fingerprinted already."""
    clean = scrubber(secrets)

    def change(c: ResourceChange) -> ResourceChange:
        return dataclasses.replace(c, diff=clean(c.diff), note=clean(c.note))

    return dataclasses.replace(
        env,
        changes=tuple(change(c) for c in env.changes),
        live=None if env.live is None else tuple(change(c) for c in env.live),
        drift=tuple(dataclasses.replace(d, diff=clean(d.diff)) for d in env.drift),
        error=None if env.error is None else clean(env.error),
    )
