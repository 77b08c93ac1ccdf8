"""The Kubernetes API, over http.client (cluster.wire) or, behind a proxy and
for streams, urllib3 (cluster.kubeconfig reads the kubeconfig).

Owns: the connection pool to one API server; discovery (aggregated discovery: two requests
for the whole cluster, refreshed once when a kind is unknown, e.g. a CRD
created a moment ago); server-side apply with our field manager, with or
without dryRun=All; get, list (optionally by label selector) and delete
(optionally with a UID precondition); a count of the requests sent, by
method and by kind of call; a plan-only client (`Kube.plan_only`: same
cluster and identity, its own connection pool and User-Agent) that sends
reads and dry-runs and nothing else. Objects go in and come out as plain
dicts; urllib3 and http.client objects and exceptions never leave this module (and
cluster.watch, which streams through the same pool).
Refuses: client-side apply, guessing resource names from kinds, and, in a
plan-only client, any write without dryRun=All (before it is sent).
"""

from __future__ import annotations

import collections
import functools
import http.client
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import urllib3

from gitops_bot import __version__
from gitops_bot.cluster import wire
from gitops_bot.cluster.kubeconfig import Connection
from gitops_bot.cluster.kubeconfig import load as load_kubeconfig
from gitops_bot.errors import ClusterError

FIELD_MANAGER = "gitops-bot"
# What a plan-only client sends as User-Agent: audit logs tell plan requests apart.
PLAN_USER_AGENT = f"gitops-bot-plan/{__version__}"
USER_AGENT = f"gitops-bot/{__version__}"
# The only methods a plan-only client sends without dryRun=All.
_READS = frozenset({"GET", "HEAD"})
_DRY_RUN = ("dryRun", "All")
_AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
)
_TIMEOUT_S = 30
# Connections kept open per host; the live diff runs this many requests at once at most.
MAX_CONCURRENCY = 32


class ThrottledError(ClusterError):
    """The server asked us to slow down (HTTP 429 or 503 with Retry-After)."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Resource:
    """Where a kind lives on the server."""

    group_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, *, namespace: str | None, name: str | None = None) -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced:
            if not namespace:
                raise ClusterError(f"{self.kind} is namespaced, but no namespace was given")
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        return base if name is None else f"{base}/{quote(name, safe='')}"


def describe(obj: Mapping[str, Any]) -> str:
    """`Kind namespace/name` (or `Kind name`) for messages."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "<no name>")
    return f"{obj.get('kind', '<no kind>')} {ns + '/' if ns else ''}{name}"


class Kube:
    """One cluster. Thread-safe: the transport pools connections."""

    def __init__(
        self,
        connection: Connection,
        *,
        field_manager: str = FIELD_MANAGER,
        plan_only: bool = False,
        yield_to: Callable[[], None] | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.connection = connection
        self.user_agent = user_agent
        self._pool = _pool(connection)
        # Without a proxy every request goes to the one host: its connection
        # pool is used directly, skipping the PoolManager's parse of the URL
        # and lookup of the pool per request (a tenth of a client's CPU at
        # 20,000 requests). Behind a proxy, the PoolManager does it all.
        self._host = None if connection.proxy else self._pool.connection_from_url(connection.server)
        self._prefix = (urllib3.util.parse_url(connection.server).path or "").rstrip("/")
        # Every request but a stream, without a proxy: http.client straight (cluster.wire).
        self._direct = (
            None
            if connection.proxy
            else wire.Direct(
                connection.server,
                connection.ssl_context,
                connection.server_hostname,
                keep=MAX_CONCURRENCY,
            )
        )
        self.field_manager = field_manager
        # Whether `_request` refuses every write that is not a dry-run.
        self.plans_only = plan_only
        self._yield_to = yield_to  # called before every request (a plan waits for applies)
        self._resources: dict[tuple[str, str], Resource] | None = None
        # (group, kind) -> the server's preferred version of it
        self._preferred: dict[tuple[str, str], Resource] = {}
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        # Requests sent, by "METHOD kind-of-call": what the benchmarks and the
        # request-budget tests read.
        self.requests: collections.Counter[str] = collections.Counter()
        # The same requests by kind of call: "discovery", "get", "list",
        # "dry-run", "apply", "delete"; the apply engine reports these.
        self.calls: collections.Counter[str] = collections.Counter()

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | None = None,
        *,
        context: str | None = None,
        field_manager: str = FIELD_MANAGER,
    ) -> Kube:
        return cls(load_kubeconfig(path, context=context), field_manager=field_manager)

    def plan_only(self, *, yield_to: Callable[[], None] | None = None) -> Kube:
        """A new client to the same cluster, as the same identity, that only plans.

        It has its own connection pool (close() it; closing it leaves this
        client open) and says `gitops-bot-plan/<version>` as its User-Agent, so
        an audit log tells its requests apart. It sends reads (GET, HEAD) and
        dry-runs (dryRun=All) and refuses every other request before sending
        it, with a ClusterError: the identity may be able to write, the client
        cannot. Discovery is its own, done again at its first lookup.
        `yield_to` is called before every request it sends: the puller passes
        a wait while it applies, so a plan under way pauses at its next request
        and an apply never shares the API server with it.
        """
        return Kube(
            self.connection,
            field_manager=self.field_manager,
            plan_only=True,
            yield_to=yield_to,
            user_agent=PLAN_USER_AGENT,
        )

    def close(self) -> None:
        self._pool.clear()
        if self._direct is not None:
            self._direct.close()

    # -- operations ----------------------------------------------------------

    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        dry_run: bool = False,
        force: bool = False,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """Server-side apply `obj` as our field manager (or `field_manager`); the result."""
        return self.apply_reporting(obj, dry_run=dry_run, force=force, field_manager=field_manager)[
            0
        ]

    def apply_reporting(
        self,
        obj: Mapping[str, Any],
        *,
        dry_run: bool = False,
        force: bool = False,
        field_manager: str | None = None,
        answer: bool = True,
    ) -> tuple[dict[str, Any], bool]:
        """Like `apply`; also whether the apply created the object (HTTP 201).
        With answer=False the server's answer is not read ({} instead): a
        dry-run that only validates needs its status alone."""
        resource = self.resource(obj.get("apiVersion", ""), obj.get("kind", ""))
        meta = obj.get("metadata") or {}
        query: list[tuple[str, str]] = [("fieldManager", field_manager or self.field_manager)]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        doing = f"{'dry-run ' if dry_run else ''}applying {describe(obj)}"
        status, result = self._request(
            "PATCH",
            resource.path(namespace=meta.get("namespace"), name=meta.get("name")),
            doing=doing,
            call="dry-run" if dry_run else "apply",
            query=query,
            body=_apply_body(obj),
            content_type="application/apply-patch+yaml",
            decode=answer,
        )
        return result, status == 201

    def get(
        self, api_version: str, kind: str, name: str, *, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The live object, or None if it does not exist."""
        resource = self.resource(api_version, kind)
        path = resource.path(namespace=namespace, name=name)
        live: dict[str, Any] | None = self._call(
            "GET", path, doing=f"reading {kind} {name}", call="get", missing_ok=True
        )
        return live

    def list_objects(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every object of a kind (in one namespace, for namespaced kinds), or
        those matching `label_selector`: one request."""
        resource = self.resource(api_version, kind)
        where = f" in {namespace}" if resource.namespaced else ""
        query = [("labelSelector", label_selector)] if label_selector else None
        found = self._call(
            "GET",
            resource.path(namespace=namespace),
            doing=f"listing {kind}{where}",
            call="list",
            query=query,
        )
        items: list[dict[str, Any]] = found.get("items") or []
        for item in items:  # a list's items carry no kind; callers expect whole objects
            item.setdefault("apiVersion", found.get("apiVersion", api_version))
            item.setdefault("kind", kind)
        return items

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        *,
        namespace: str | None = None,
        propagation: str = "Background",
        uid: str | None = None,
    ) -> bool:
        """Delete an object; False if it was already gone.

        With `uid`, the server deletes only the object with that UID (a
        precondition), never a namesake created since it was read.
        """
        resource = self.resource(api_version, kind)
        body: dict[str, Any] = {"propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        where = f"{namespace}/" if namespace else ""
        status, _ = self._request(
            "DELETE",
            resource.path(namespace=namespace, name=name),
            doing=f"deleting {kind} {where}{name}",
            call="delete",
            body=body,  # _request encodes JSON
            content_type="application/json",
            missing_ok=True,
        )
        return status != 404

    # -- discovery -----------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource:
        key = (api_version, kind)
        with self._lock:
            if self._resources is None or key not in self._resources:
                self._resources = self._discover()
            found = self._resources.get(key)
        if found is None:
            raise ClusterError(
                f"the API server does not serve {kind} in {api_version or '<no apiVersion>'} "
                "(is its CRD installed and Established?)"
            )
        return found

    def preferred(self, group: str, kind: str) -> Resource:
        """The server's preferred version of a group-kind (e.g. to list what an
        inventory names without a version); rediscovers once if unknown."""
        key = (group, kind)
        with self._lock:
            if self._resources is None or key not in self._preferred:
                self._resources = self._discover()
            found = self._preferred.get(key)
        if found is None:
            qualified = f"{kind}.{group}" if group else kind
            raise ClusterError(f"the API server does not serve {qualified} in any version")
        return found

    def forget_discovery(self) -> None:
        """Discover again at the next lookup (a kind went away, e.g. its CRD was deleted)."""
        with self._lock:
            self._resources = None

    def served(self, api_version: str, kind: str) -> bool:
        """Whether discovery (refreshed if the kind is unknown) lists the kind."""
        try:
            self.resource(api_version, kind)
        except ClusterError:
            return False
        return True

    def _discover(self) -> dict[tuple[str, str], Resource]:
        found: dict[tuple[str, str], Resource] = {}
        preferred: dict[tuple[str, str], Resource] = {}
        for root in ("/api", "/apis"):
            doc = self._call(
                "GET", root, doing="discovering the API", call="discovery", accept=_AGGREGATED
            )
            if doc.get("kind") != "APIGroupDiscoveryList":
                raise ClusterError(
                    "discovering the API: the server does not offer aggregated discovery "
                    "(Kubernetes >= 1.30 is needed)"
                )
            for group in doc.get("items") or []:
                name = (group.get("metadata") or {}).get("name", "")
                for version in group.get("versions") or []:
                    gv = f"{name}/{version['version']}" if name else version["version"]
                    for res in version.get("resources") or []:
                        kind = (res.get("responseKind") or {}).get("kind")
                        if not kind:
                            continue
                        resource = Resource(
                            group_version=gv,
                            kind=kind,
                            plural=res["resource"],
                            namespaced=res.get("scope") == "Namespaced",
                        )
                        found.setdefault((gv, kind), resource)
                        # Versions come in the server's order of preference.
                        preferred.setdefault((name, kind), resource)
        self._preferred = preferred
        return found

    # -- transport -----------------------------------------------------------

    def _call(self, method: str, path: str, **options: Any) -> Any:
        """The decoded body of a request (see `_request` for the options)."""
        return self._request(method, path, **options)[1]

    def _request(
        self,
        method: str,
        path: str,
        *,
        doing: str,
        call: str | None = None,
        query: list[tuple[str, str]] | None = None,
        body: str | dict[str, Any] | None = None,
        content_type: str | None = None,
        accept: str = "application/json",
        missing_ok: bool = False,
        decode: bool = True,
    ) -> tuple[int, Any]:
        """The HTTP status and the decoded body (None for a 404 if `missing_ok`;
        {} for a success if not `decode`: an error's body is always read).

        `call` names the kind of call for `calls` (the method, lowercased, if not given).
        A plan-only client refuses a write without dryRun=All here, before
        counting or sending it.
        """
        if self.plans_only and method.upper() not in _READS and _DRY_RUN not in (query or ()):
            raise ClusterError(
                f"{doing}: refused: this client only plans: a dry-run is the only write it sends"
            )
        if self._yield_to is not None:
            self._yield_to()
        with self._count_lock:
            self.requests[method] += 1
            self.calls[call or method.lower()] += 1
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        if isinstance(body, dict):
            body = json.dumps(body)
        try:
            resp = self._exchange(method, path, query=query, headers=headers, body=body)
            data = resp.data
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as err:
            # Connection refused, TLS, timeouts, a malformed answer; urllib3's
            # retries exhausted (behind a proxy).
            raise ClusterError(f"{doing}: {type(err).__name__}: {err}") from err
        if resp.status == 404 and missing_ok:
            return 404, None
        if not decode and resp.status < 300:
            return resp.status, {}
        try:
            payload = json.loads(data) if data else {}
        except json.JSONDecodeError:
            payload = {}
        if resp.status in (429, 503) and resp.headers.get("Retry-After"):
            retry_after = _seconds(resp.headers["Retry-After"])
            raise ThrottledError(
                f"{doing}: {_status_message(resp.status, payload)}", retry_after=retry_after
            )
        if resp.status >= 300:
            raise ClusterError(f"{doing}: {_status_message(resp.status, payload)}")
        return resp.status, payload

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None,
        headers: dict[str, str],
        body: str | None,
    ) -> wire.Answer | urllib3.BaseHTTPResponse:
        """One whole request: straight to the host (cluster.wire), or through
        the proxy by `send`."""
        if self._direct is None:
            return self.send(method, path, query=query, headers=headers, body=body)
        return self._direct.exchange(
            method,
            self._prefix + _target(path, query),
            headers=self._headers(headers),
            body=body.encode() if body is not None else None,
            timeout=_TIMEOUT_S,
        )

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        """`headers` with our User-Agent and, if the identity has one, the
        Authorization for this request."""
        sent = {"User-Agent": self.user_agent, **(headers or {})}
        authorization = self.connection.authorization()
        if authorization:
            sent["Authorization"] = authorization
        return sent

    def send(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        timeout: urllib3.Timeout | float = _TIMEOUT_S,
        stream: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        """One request as it is, with our User-Agent and credentials: the
        transport under `_request` (and cluster.watch's streams, `stream=True`:
        read it, then release_conn()). Raises urllib3's errors."""
        target = _target(path, query)
        sent = self._headers(headers)
        data = body.encode() if body is not None else None
        if self._host is not None:
            return self._host.urlopen(
                method,
                self._prefix + target,
                body=data,
                headers=sent,
                timeout=timeout,
                preload_content=not stream,
                redirect=False,
            )
        return self._pool.request(
            method,
            self.connection.server + target,
            body=data,
            headers=sent,
            timeout=timeout,
            preload_content=not stream,
        )


def _target(path: str, query: list[tuple[str, str]] | None) -> str:
    return f"{path}?{_query(tuple(query))}" if query else path


@functools.lru_cache(maxsize=256)
def _query(query: tuple[tuple[str, str], ...]) -> str:
    """The query string: the same few (an apply's, a dry-run's) over and over."""
    return urlencode(query)


def _pool(connection: Connection) -> urllib3.PoolManager:
    """Connections kept open to the API server: MAX_CONCURRENCY of them."""
    options: dict[str, Any] = {"maxsize": MAX_CONCURRENCY}
    if connection.ssl_context is not None:
        options["ssl_context"] = connection.ssl_context
        if connection.server_hostname:
            options["server_hostname"] = connection.server_hostname
            options["assert_hostname"] = connection.server_hostname
    if connection.proxy:
        return urllib3.ProxyManager(connection.proxy, **options)
    return urllib3.PoolManager(**options)


# A JSON surrogate pair, not preceded by an escaped backslash.
_PAIR = re.compile(r"(?<!\\)((?:\\\\)*)\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.I)


def _apply_body(obj: Mapping[str, Any]) -> str:
    """`obj` as an apply patch. The server reads it as YAML, which has no JSON
    surrogate-pair escapes: json.dumps spells "😀" as two, and the server
    answers 400. Each pair is written as YAML's 8-digit escape instead, so
    the body stays ASCII (no raw control character YAML would refuse)."""

    def joined(found: re.Match[str]) -> str:
        high, low = int(found.group(2), 16), int(found.group(3), 16)
        code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        return f"{found.group(1)}\\U{code:08X}"

    text = json.dumps(obj)
    if "\\ud" not in text:  # no pair to join (json.dumps writes lowercase hex): skip the
        return text  # regex, which took 29 of a Deployment's 47 microseconds here
    return _PAIR.sub(joined, text)


def _seconds(value: str) -> float:
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0  # an HTTP date; the API server sends seconds, so this is a guess


def _status_message(status: int, payload: Any) -> str:
    if isinstance(payload, dict) and payload.get("kind") == "Status":
        reason = payload.get("reason") or "Error"
        return f"HTTP {status} {reason}: {payload.get('message', '')}"
    return f"HTTP {status}"
