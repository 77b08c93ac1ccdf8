"""Credentials for private chart repositories, registries and git remotes.

Owns: reading the operator's credentials file (`--source-credentials`, a
YAML list of `url` prefixes, each with `username`+`password` (HTTP Basic) or
`token` (Bearer), each value inline or `{env: NAME}` / `{file: PATH}`),
choosing the entry for a URL (the longest prefix that admits it, by
render.download's rule: same scheme, host and port, a path below the
prefix's at a `/`; an `oci://host/path/` prefix admits `oci://host/path/...`
and the registry's `http(s)://host/v2/path/...`), the Authorization header
for it (`Credentials.headers`, what SourcePolicy.credentials calls), the
environment that hands it to `git` without argv or a file (`git_env`), and
every spelling of every secret loaded (`Credentials.secrets`) for scrubbing
errors. Refuses: an unknown key, a URL with user info, a query or a
fragment, a scheme other than http, https and oci, two entries for one
prefix, a missing variable or file, an empty value, a value with control
characters (it would break the header), a token outside visible ASCII, a
password or token shorter than core.secrets.mask.MIN_SCRUB_LENGTH (it could
not be scrubbed), naming a secret's value in any error (an error names
the file, the entry's index and the key), and reading the pull request:
credentials come from the bot's and the puller's configuration only.
A registry's token exchange (render.oci) takes the entry itself,
`lookup("oci://host/repo")`, and decides where its username and secret
may go.
"""

from __future__ import annotations

import base64
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitops_bot.core.secrets import mask
from gitops_bot.errors import ConfigError
from gitops_bot.render import download

ENV_VAR = "GITOPS_BOT_SOURCE_CREDENTIALS"
_SCHEMES = ("http", "https", "oci")
_KEYS = frozenset({"url", "username", "password", "token"})
_MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class Credential:
    """One entry: the prefix it is for, and what it sends there."""

    url: str  # as written: https://host/path/ or oci://host/path/
    username: str = ""  # Basic when set, with `secret` the password
    secret: str = field(default="", repr=False)  # the password or the token
    index: int = 0  # its place in the file, for messages

    @property
    def scheme(self) -> str:
        return "Basic" if self.username else "Bearer"

    @property
    def authorization(self) -> str:
        """The Authorization header's value."""
        if self.username:
            pair = f"{self.username}:{self.secret}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        return f"Bearer {self.secret}"

    def prefixes(self) -> tuple[str, ...]:
        """The http(s) prefixes this entry admits (an oci:// one: the registry's /v2/ paths)."""
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme.lower() != "oci":
            return (self.url,)
        path = "/v2" + (parts.path or "/")
        return tuple(
            urllib.parse.urlunsplit((s, parts.netloc, path, "", "")) for s in ("https", "http")
        )


@dataclass(frozen=True)
class Credentials:
    """What the credentials file configured; empty: nothing is sent anywhere."""

    entries: tuple[Credential, ...] = ()
    source: str = ""  # the file, for messages

    def lookup(self, url: str) -> Credential | None:
        """The entry for `url` (http(s) or oci://): the longest prefix admitting it."""
        target = _http_form(url)
        best: tuple[int, Credential] | None = None
        for entry in self.entries:
            for prefix in entry.prefixes():
                if download.admitted(target, (prefix,)):
                    length = len(urllib.parse.urlsplit(prefix).path or "/")
                    if best is None or length > best[0]:
                        best = (length, entry)
        return best[1] if best is not None else None

    def headers(self, url: str) -> Mapping[str, str]:
        """{"Authorization": ...} for `url`, or {}; SourcePolicy.credentials."""
        entry = self.lookup(url)
        return {"Authorization": entry.authorization} if entry is not None else {}

    @property
    def secrets(self) -> frozenset[str]:
        """Every spelling of every secret loaded (core.secrets.mask.spellings),
        the headers' values too: what an error text must never contain."""
        values: set[str] = set()
        for entry in self.entries:
            values |= {entry.secret, entry.authorization}
            values.add(entry.authorization.partition(" ")[2])
        return mask.spellings(values)

    def scrub(self, text: str) -> str:
        return mask.scrub(text, self.secrets)

    def git_env(self, url: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """`env` (default: none) plus the git configuration, in GIT_CONFIG_COUNT/
        GIT_CONFIG_KEY_n/GIT_CONFIG_VALUE_n, that sends the entry for the git remote
        `url` as `http.<prefix>.extraHeader`, and follows no redirect from there
        (a redirect would carry the header to wherever it leads). The secret is in
        the environment of `git` only: not in its argv (`ps`), not in a file."""
        out = dict(env or {})
        entry = self.lookup(url)
        if entry is None or urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
            return out
        try:
            count = int(out.get("GIT_CONFIG_COUNT", "0"))
        except ValueError:
            count = 0
        prefix = next(p for p in entry.prefixes() if download.admitted(_http_form(url), (p,)))
        pairs = (
            (f"http.{prefix}.extraHeader", f"Authorization: {entry.authorization}"),
            (f"http.{prefix}.followRedirects", "false"),
        )
        for key, value in pairs:
            out[f"GIT_CONFIG_KEY_{count}"] = key
            out[f"GIT_CONFIG_VALUE_{count}"] = value
            count += 1
        out["GIT_CONFIG_COUNT"] = str(count)
        return out


def _http_form(url: str) -> str:
    """`url`, an oci:// reference given as the registry's https URL of it."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "oci":
        return url
    return urllib.parse.urlunsplit(("https", parts.netloc, "/v2" + (parts.path or "/"), "", ""))


def load(path: str | Path, environ: Mapping[str, str] | None = None) -> Credentials:
    """The credentials file at `path`; ConfigError naming the file, the entry's
    index and the key when it is wrong, never a value."""
    where = str(path)
    environ = os.environ if environ is None else environ
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"source credentials {where}: cannot read it ({type(err).__name__})"
        ) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        # The parser's message quotes the line, which may hold a secret.
        raise ConfigError(f"source credentials {where}: not valid YAML") from None
    if doc is None:
        return Credentials(source=where)
    if not isinstance(doc, list):
        raise ConfigError(f"source credentials {where}: must be a list of entries (- url: ...)")
    entries: list[Credential] = []
    seen: dict[str, int] = {}
    base = Path(path).parent
    for index, item in enumerate(doc):
        entry = _entry(item, f"source credentials {where}: entry {index}", base, environ, index)
        for prefix in entry.prefixes():
            key = _normal(prefix)
            if key in seen:
                raise ConfigError(
                    f"source credentials {where}: entry {index}: url: "
                    f"the same prefix as entry {seen[key]}"
                )
            seen[key] = index
        entries.append(entry)
    return Credentials(tuple(entries), where)


def _normal(prefix: str) -> str:
    parts = urllib.parse.urlsplit(prefix)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{parts.hostname}:{port}{parts.path or '/'}"


def _entry(item: Any, where: str, base: Path, environ: Mapping[str, str], index: int) -> Credential:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be a mapping (url: ..., and username/password or token)")
    unknown = sorted(str(k) for k in item if k not in _KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: password, token, url, username)"
        )
    url = _url(item.get("url"), f"{where}: url")
    has_basic = "username" in item or "password" in item
    if has_basic and "token" in item:
        raise ConfigError(f"{where}: token: give either username and password, or token")
    if "token" in item:
        token = _secret(item["token"], f"{where}: token", base, environ)
        if not all("!" <= c <= "~" for c in token):  # RFC 6750's b64token is visible ASCII
            raise ConfigError(f"{where}: token: holds a space or a character outside ASCII")
        return Credential(url, "", token, index)
    if "username" not in item or "password" not in item:
        missing = "password" if "username" in item else "username" if has_basic else "token"
        raise ConfigError(f"{where}: {missing}: missing (username and password, or token)")
    username = _value(item["username"], f"{where}: username", base, environ)
    if ":" in username:
        raise ConfigError(f"{where}: username: a user name for HTTP Basic has no ':'")
    password = _secret(item["password"], f"{where}: password", base, environ)
    return Credential(url, username, password, index)


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: missing, or not a string")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme.lower() not in _SCHEMES:
        raise ConfigError(f"{where}: the scheme must be https, http or oci")
    if "@" in parts.netloc:
        # Not even the host is named: what precedes the @ may be a password.
        raise ConfigError(f"{where}: a URL with user info is refused; use username/password")
    try:
        parts.port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        raise ConfigError(f"{where}: the port is not a number") from None
    if not parts.hostname:
        raise ConfigError(f"{where}: no host")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ConfigError(f"{where}: a prefix has no query or fragment")
    return value


def _secret(value: Any, where: str, base: Path, environ: Mapping[str, str]) -> str:
    text = _value(value, where, base, environ)
    if len(text) < mask.MIN_SCRUB_LENGTH:
        raise ConfigError(
            f"{where}: shorter than {mask.MIN_SCRUB_LENGTH} characters, too short to keep "
            "out of messages"
        )
    return text


def _value(value: Any, where: str, base: Path, environ: Mapping[str, str]) -> str:
    """An inline string, {env: NAME} or {file: PATH} (relative to the credentials file)."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("env", "file"):
        kind, name = next(iter(value.items()))
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"{where}: {kind}: must name a {'variable' if kind == 'env' else 'file'}"
            )
        text = _indirect(kind, name, where, base, environ)
    else:
        raise ConfigError(f"{where}: must be a string, {{env: NAME}} or {{file: PATH}}")
    if not text:
        raise ConfigError(f"{where}: empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ConfigError(
            f"{where}: holds a control character (a line break?), which no header can carry"
        )
    return text


def _indirect(kind: str, name: str, where: str, base: Path, environ: Mapping[str, str]) -> str:
    if kind == "env":
        if name not in environ:
            raise ConfigError(f"{where}: the variable {name} is not set")
        return environ[name]
    path = base / name
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"{where}: cannot read the file {path} ({type(err).__name__})") from None
    if len(data) > _MAX_FILE_BYTES:
        raise ConfigError(f"{where}: the file {path} is larger than {_MAX_FILE_BYTES} bytes")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: the file {path} is not UTF-8 text") from None
    return text.removesuffix("\n").removesuffix("\r")  # as `echo secret > file` writes it
