"""Helm charts in OCI registries: a chart version resolved to a manifest digest.

Owns: `reference` (an `oci://host[:port]/path` repository, a chart name and
an exact version as the registry names them: `<path>/<name>`, the version
as the tag, `+` written `_` as helm pushes it), `resolve` (the tag's
manifest, read through render.download with a 4 MiB cap, its digest the
sha256 of its bytes and checked against Docker-Content-Digest when the
registry sends one, and the one helm chart layer in it: the blob's URL,
sha256 and size, for render.fetch to download and verify), one anonymous
(or operator-credentialed) bearer token when the registry answers 401 with
`WWW-Authenticate: Bearer realm=...`, and what an allow-list entry
`oci://host[:port]/path/` admits: the references below it (`admitted`) and
the registry's http(s) URLs for them, `/v2/path/...` (`http_prefixes`).
The transport is https; a registry on a loopback address (127.0.0.0/8, ::1,
localhost) is spoken to in plain http, as Docker treats those as insecure.
Refuses: a user name, password, query or fragment in the reference,
repository names and tags OCI does not allow, a manifest that is not an OCI
image manifest or holds no single helm chart layer, a token realm that is
plain http on another host or neither admitted nor the registry's own host,
and caching (render.fetch keeps the blob in its content-addressed cache).
Credentials come only from the `headers` function the caller passes
(SourcePolicy.headers_for) and are never put in a message.
"""

from __future__ import annotations

import email.message
import hashlib
import io
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_bot.errors import RenderError
from gitops_bot.render import download

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MAX_MANIFEST_BYTES = 4 << 20
_MAX_SMALL_BYTES = 1 << 20  # a token answer, a tags list
# The OCI distribution spec's repository name component and tag.
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_SHA256 = re.compile(r"sha256:([0-9a-f]{64})")
_PARAM = re.compile(r'([A-Za-z]+)=(?:"([^"]*)"|([^,\s]*))')

Headers = Callable[[str], Mapping[str, str]]


def is_oci(repository: str) -> bool:
    return repository[:6].lower() == "oci://"


@dataclass(frozen=True)
class Reference:
    """A chart in a registry: `host[:port]`, `path/name` and the tag."""

    registry: str
    name: str
    tag: str

    @property
    def base(self) -> str:
        """The registry's URL: https, or http for a loopback registry."""
        return f"{'http' if loopback(self.registry) else 'https'}://{self.registry}"

    def url(self, kind: str, what: str) -> str:
        return f"{self.base}/v2/{self.name}/{kind}/{what}"


@dataclass(frozen=True)
class Chart:
    """What a tag resolved to: the manifest's digest and the chart layer's blob."""

    digest: str  # the manifest's, "sha256:<hex>": the pin
    blob: str  # the layer's URL
    sha256: str  # the layer's digest (hex): what the blob's bytes must hash to
    size: int  # as the manifest declares it
    headers: Headers  # for the blob: the operator's credentials, the token


def loopback(netloc: str) -> bool:
    """Whether `host[:port]` names this machine."""
    host = urllib.parse.urlsplit(f"//{netloc}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(repository: str) -> str:
    """An error (for a message) if `repository` is not a usable oci:// reference, else ""."""
    parts = urllib.parse.urlsplit(repository)
    if not parts.hostname:
        return "not an oci://host/path reference"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are refused; the URL must name none"
    if parts.query or parts.fragment or "@" in parts.path or ":" in parts.path:
        return "an oci:// repository names no query, fragment, tag or digest"
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return "the port is not a number"
    path = [c for c in parts.path.split("/") if c]
    if not all(_COMPONENT.fullmatch(c) for c in path):
        return "a registry path is lowercase letters, digits and separators (., _, __, -)"
    return ""


def reference(repository: str, chart: str, version: str, where: str) -> Reference:
    """The registry, repository name and tag of `chart` `version` in `repository`."""
    if problem := check(repository):
        raise RenderError(f"{where}: {problem}")
    parts = urllib.parse.urlsplit(repository)
    path = [c for c in parts.path.split("/") if c]
    if not _COMPONENT.fullmatch(chart):
        raise RenderError(f"{where}: {chart!r} is not a repository name an OCI registry allows")
    tag = version.replace("+", "_")  # as helm pushes it: a tag has no `+`
    if not _TAG.fullmatch(tag):
        raise RenderError(f"{where}: {version!r} is not a tag an OCI registry allows")
    return Reference(parts.netloc.lower(), "/".join([*path, chart]), tag)


def admitted(url: str, allow: Iterable[str]) -> bool:
    """Whether an `oci://` entry of `allow` admits the oci:// reference `url`."""
    return is_oci(url) and download.admitted(
        _as_https(url), [_as_https(p) for p in allow if is_oci(p)]
    )


def http_prefixes(allow: Iterable[str]) -> tuple[str, ...]:
    """The http(s) URL prefixes the `oci://` entries of `allow` admit: the registry's
    `/v2/<path>` (https, and http too for a loopback registry)."""
    found = []
    for prefix in allow:
        if not is_oci(prefix):
            continue
        parts = urllib.parse.urlsplit(prefix)
        path = "/v2/" + parts.path.lstrip("/")
        schemes = ("https", "http") if loopback(parts.netloc) else ("https",)
        found += [urllib.parse.urlunsplit((s, parts.netloc, path, "", "")) for s in schemes]
    return tuple(found)


def _as_https(url: str) -> str:
    return "https://" + url[6:]


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of `url`, the port spelled out: where a token may go."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a port that is not a number: no origin of ours
        return "", "", None
    return scheme, parts.hostname or "", port


class _Session:
    """The requests to one registry, with the bearer token once it asked for one."""

    def __init__(
        self,
        ref: Reference,
        *,
        admits: Callable[[str], bool],
        headers: Headers,
        timeout_s: float,
        where: str,
    ) -> None:
        self.ref, self.admits, self.credentials = ref, admits, headers
        self.timeout_s, self.where = timeout_s, where
        self.token = ""

    def headers(self, url: str) -> Mapping[str, str]:
        found = dict(self.credentials(url))
        if self.token and _origin(url) == _origin(self.ref.base):
            found["Authorization"] = f"Bearer {self.token}"
        return found

    def get(
        self, url: str, *, limit: int, accept: str = ""
    ) -> tuple[bytes, email.message.Message | None]:
        """The body and headers at `url`; after a 401 with a Bearer challenge, a token
        is fetched once and the request made again."""
        try:
            return self._get(url, limit=limit, accept=accept)
        except download.HTTPStatusError as err:
            if err.code != 401 or self.token or not err.challenge:
                raise
            self.token = self._token(err.challenge)
        return self._get(url, limit=limit, accept=accept)

    def _get(
        self, url: str, *, limit: int, accept: str
    ) -> tuple[bytes, email.message.Message | None]:
        body, replied = io.BytesIO(), list[email.message.Message]()

        def headers(at: str) -> Mapping[str, str]:
            return {**self.headers(at), **({"Accept": accept} if accept else {})}

        download.get(
            url,
            body,
            admits=self.admits,
            timeout_s=self.timeout_s,
            limit=limit,
            where=self.where,
            headers=headers,
            replied=replied.append,
        )
        return body.getvalue(), replied[0] if replied else None

    def _token(self, challenge: str) -> str:
        scheme, _, rest = challenge.strip().partition(" ")
        registry = download.shown(self.ref.base)
        if scheme.lower() != "bearer":
            raise RenderError(
                f"{self.where}: {registry} answered 401 and asks for {scheme} authentication; "
                "configure credentials for it (or check the ones configured)"
            )
        params = {k.lower(): q or u for k, q, u in _PARAM.findall(rest)}
        realm = params.get("realm", "")
        query = {k: params[k] for k in ("service", "scope") if params.get(k)}
        if not realm:
            raise RenderError(f"{self.where}: {registry} asks for a token but names no realm")
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)

        def ok(at: str) -> bool:
            same = _origin(at) == _origin(self.ref.base)
            return (_origin(at)[0] == "https" or same) and (same or self.admits(at))

        if not ok(url):
            raise RenderError(
                f"{self.where}: {registry} sends for a token to {download.shown(realm)}, which "
                "is neither the registry itself nor an https URL the allow-list admits"
            )
        body = io.BytesIO()
        download.get(
            url,
            body,
            admits=ok,
            timeout_s=self.timeout_s,
            limit=_MAX_SMALL_BYTES,
            where=f"{self.where}: a token for {registry}",
            headers=self.credentials,
        )
        try:
            doc = json.loads(body.getvalue())
        except ValueError:
            doc = None
        token = (doc.get("token") or doc.get("access_token")) if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise RenderError(f"{self.where}: {download.shown(realm)} answered no token")
        return token


def resolve(
    ref: Reference,
    *,
    admits: Callable[[str], bool],
    headers: Headers,
    timeout_s: float,
    where: str,
) -> Chart:
    """The manifest digest of `ref` and its chart layer. RenderError naming what failed."""
    session = _Session(ref, admits=admits, headers=headers, timeout_s=timeout_s, where=where)
    url = ref.url("manifests", ref.tag)
    try:
        body, replied = session.get(url, limit=MAX_MANIFEST_BYTES, accept=MANIFEST)
    except download.HTTPStatusError as err:
        if err.code != 404:
            raise
        raise RenderError(f"{where}: the registry has no such version ({_tags(session)})") from err
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    said = str(replied.get("Docker-Content-Digest") or "") if replied else ""
    if said.startswith("sha256:") and said != digest:  # another algorithm: not comparable
        raise RenderError(
            f"{where}: digest mismatch: the manifest {download.shown(url)} hashes to {digest}, "
            f"the registry says {said}"
        )
    layer = _chart_layer(body, where)
    sha = _SHA256.fullmatch(str(layer.get("digest") or ""))
    size = layer.get("size")
    if sha is None or not isinstance(size, int) or size < 0:
        raise RenderError(f"{where}: the manifest's chart layer has no sha256 digest and size")
    return Chart(digest, ref.url("blobs", sha.group(0)), sha.group(1), size, session.headers)


def _chart_layer(body: bytes, where: str) -> dict[str, Any]:
    try:
        manifest = json.loads(body)
    except ValueError as err:
        raise RenderError(f"{where}: the manifest is not JSON") from err
    if not isinstance(manifest, dict) or manifest.get("mediaType", MANIFEST) != MANIFEST:
        kind = manifest.get("mediaType") if isinstance(manifest, dict) else None
        raise RenderError(f"{where}: not an OCI image manifest ({kind or 'no mediaType'})")
    layers = manifest.get("layers")
    charts = [
        layer
        for layer in (layers if isinstance(layers, list) else [])
        if isinstance(layer, dict) and layer.get("mediaType") == CHART_LAYER
    ]
    if len(charts) != 1:
        raise RenderError(
            f"{where}: the manifest holds {len(charts)} helm chart layers ({CHART_LAYER}), "
            "not one: is it a helm chart?"
        )
    return charts[0]


def _tags(session: _Session) -> str:
    """What the registry has of the chart, for a message: "it has: ..." or "not found"."""
    try:
        body, _ = session.get(session.ref.url("tags", "list"), limit=_MAX_SMALL_BYTES)
        doc = json.loads(body)
    except (RenderError, ValueError):
        return "not found"
    tags = doc.get("tags") if isinstance(doc, dict) else None
    if not isinstance(tags, list) or not tags:
        return "it has none"
    shown = [str(t).replace("_", "+") for t in tags[-10:]]
    more = f" and {len(tags) - 10} more" if len(tags) > 10 else ""
    return f"it has: {', '.join(shown)}{more}"
