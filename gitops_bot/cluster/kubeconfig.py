"""A kubeconfig, read into what a connection to the API server needs.

Owns: merging the files a path list names (`a:b`, as KUBECONFIG; the
default is $KUBECONFIG, else ~/.kube/config) the way the `kubernetes`
package does (the first cluster, user or context of a name wins; a later
file's current-context wins); choosing the context; the server URL; TLS
(certificate-authority and client certificate and key, as files or as
base64 data, insecure-skip-tls-verify, tls-server-name); and the
credentials a static kubeconfig holds: token, tokenFile (read again every
minute, as client-go does: a pod's projected token is rotated; the
`kubernetes` package read it once) and username/password. A kubeconfig that needs
more (an exec plugin, an auth-provider, a proxy-url) is read by the
`kubernetes` package's own loader, imported only then, so every other
process (the puller in its pod, CI with a token) never imports that
package and its models: about 20 MiB of a puller's memory.
Refuses: sending a request (cluster.kube does); guessing: a context, cluster
or user the kubeconfig does not hold is an error.
"""

from __future__ import annotations

import base64
import contextlib
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_bot.errors import ClusterError

# User fields only the `kubernetes` package's loader reads; cluster fields likewise.
_NEEDS_LOADER_USER = ("exec", "auth-provider")
_NEEDS_LOADER_CLUSTER = ("proxy-url",)


@dataclass(frozen=True)
class Connection:
    """Where the API server is and how to talk to it."""

    server: str  # scheme://host:port, no trailing slash
    ssl_context: ssl.SSLContext | None = None  # None for plain http
    server_hostname: str | None = None  # tls-server-name: the name the certificate must carry
    proxy: str | None = None
    # The Authorization header's value for the next request (None: none);
    # called per request, as an exec plugin's token expires.
    authorization: Callable[[], str | None] = lambda: None


def load(path: str | None = None, *, context: str | None = None) -> Connection:
    """The connection `context` (or the current context) of the kubeconfig at `path` describes.

    ClusterError says what is missing or unreadable.
    """
    paths = path if path is not None else os.environ.get("KUBECONFIG", "~/.kube/config")
    where = path or "the default kubeconfig"
    try:
        merged = _merge(paths)
        cluster, user = _pick(merged, context)
        if any(k in user[1] for k in _NEEDS_LOADER_USER) or any(
            k in cluster[1] for k in _NEEDS_LOADER_CLUSTER
        ):
            return _with_kubernetes_loader(path, context)
        return _connection(cluster, user)
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError, ssl.SSLError) as err:
        raise ClusterError(f"loading {where} (context {context or 'current'}): {err}") from err


# An entry of the merged config and the folder of the file it came from
# (relative file names in it are relative to that folder).
_Entry = tuple[str, Mapping[str, Any]]


@dataclass
class _Merged:
    clusters: dict[str, _Entry]
    users: dict[str, _Entry]
    contexts: dict[str, Mapping[str, Any]]
    current: str | None = None


def _merge(paths: str) -> _Merged:
    merged = _Merged({}, {}, {})
    read = 0
    for one in paths.split(os.pathsep):
        if not one:
            continue
        file = Path(one).expanduser()
        if not file.exists():
            continue
        doc = yaml.safe_load(file.read_text())
        if not isinstance(doc, dict):
            raise ValueError(f"{file} is not a kubeconfig (empty, or not a mapping)")
        read += 1
        base = str(file.resolve().parent)
        for item in doc.get("clusters") or []:
            merged.clusters.setdefault(item["name"], (base, item.get("cluster") or {}))
        for item in doc.get("users") or []:
            merged.users.setdefault(item["name"], (base, item.get("user") or {}))
        for item in doc.get("contexts") or []:
            merged.contexts.setdefault(item["name"], item.get("context") or {})
        if "current-context" in doc:
            merged.current = doc["current-context"]
    if not read:
        raise ValueError(f"no kubeconfig file at {paths}")
    return merged


def _pick(merged: _Merged, context: str | None) -> tuple[_Entry, _Entry]:
    name = context or merged.current
    if not name:
        raise ValueError("no context given and no current-context set")
    if name not in merged.contexts:
        raise ValueError(f"context {name!r} is not in the kubeconfig")
    ctx = merged.contexts[name]
    cluster_name = ctx.get("cluster")
    if cluster_name not in merged.clusters:
        raise ValueError(f"cluster {cluster_name!r} of context {name!r} is not in the kubeconfig")
    user_name = ctx.get("user")
    user = merged.users.get(user_name, ("", {})) if user_name else ("", {})
    return merged.clusters[cluster_name], user


def _connection(cluster: _Entry, user: _Entry) -> Connection:
    cbase, c = cluster
    ubase, u = user
    server = str(c["server"]).rstrip("/")
    authorization = _authorization(ubase, u)
    if not server.startswith("https"):
        return Connection(server=server, authorization=authorization)
    verify = not c.get("insecure-skip-tls-verify", False)
    ca = _pem(cbase, c, "certificate-authority")
    context = ssl.create_default_context(cadata=ca.decode() if ca else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert, key = _pem(ubase, u, "client-certificate"), _pem(ubase, u, "client-key")
    if cert and key:
        _load_chain(context, cert, key)
    return Connection(
        server=server,
        ssl_context=context,
        server_hostname=c.get("tls-server-name"),
        authorization=authorization,
    )


TOKEN_FILE_REREAD_S = 60.0  # client-go's cachingTokenSource re-reads a tokenFile this often


def _authorization(base: str, user: Mapping[str, Any]) -> Callable[[], str | None]:
    """The Authorization header per request. A tokenFile (a pod's projected
    ServiceAccount token, rotated by the kubelet) is read again once a minute,
    as client-go does; while the file cannot be read the last token is kept."""
    static = _static_authorization(base, user)
    if user.get("token") or not user.get("tokenFile"):
        return lambda: static
    return _TokenFile(_file(base, user["tokenFile"]), static)


class _TokenFile:
    def __init__(self, file: Path, header: str | None) -> None:
        self.file, self.header = file, header
        self.read = time.monotonic()
        self.lock = threading.Lock()

    def __call__(self) -> str | None:
        with self.lock:
            if time.monotonic() - self.read >= TOKEN_FILE_REREAD_S:
                self.read = time.monotonic()
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    if token := self.file.read_text().strip():
                        self.header = f"Bearer {token}"
            return self.header


def _static_authorization(base: str, user: Mapping[str, Any]) -> str | None:
    # The `kubernetes` package's order: token (or tokenFile), then username/password.
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _file(base, user["tokenFile"]).read_text().strip()
    if token:
        return f"Bearer {token}"
    if "username" in user and "password" in user:
        pair = f"{user['username']}:{user['password']}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"
    return None


def _pem(base: str, obj: Mapping[str, Any], key: str) -> bytes | None:
    """`<key>-data` decoded (preferred, as the `kubernetes` package does), or
    the file `key` names."""
    data = obj.get(f"{key}-data")
    if data:
        return base64.standard_b64decode(data)
    name = obj.get(key)
    if name:
        return _file(base, name).read_bytes()
    return None


def _file(base: str, name: str) -> Path:
    """`name`, relative to the folder of the kubeconfig that holds it."""
    return Path(os.path.normpath(Path(base) / name))


def _load_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """load_cert_chain reads files only: a private folder, removed straight after."""
    with tempfile.TemporaryDirectory(prefix="gitops-bot-tls-") as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        for file, content in ((cert_file, cert), (key_file, key)):
            file.touch(mode=0o600)
            file.write_bytes(content)
        context.load_cert_chain(str(cert_file), str(key_file))


def _with_kubernetes_loader(path: str | None, context: str | None) -> Connection:
    """An exec plugin, an auth-provider or a proxy: the `kubernetes` package's loader."""
    from kubernetes import client as k8s_client  # noqa: PLC0415 - only for these kubeconfigs
    from kubernetes import config as k8s_config  # noqa: PLC0415

    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except k8s_config.ConfigException as err:
        raise ValueError(str(err)) from err

    def authorization() -> str | None:
        # Calls the loader's refresh hook: an expired exec token is renewed here.
        found = configuration.auth_settings().get("BearerToken")
        return str(found["value"]) if found else None

    server = str(configuration.host).rstrip("/")
    if not server.startswith("https"):
        return Connection(server=server, proxy=configuration.proxy, authorization=authorization)
    context_ = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if not configuration.verify_ssl:
        context_.check_hostname = False
        context_.verify_mode = ssl.CERT_NONE
    if configuration.cert_file and configuration.key_file:
        context_.load_cert_chain(configuration.cert_file, configuration.key_file)
    return Connection(
        server=server,
        ssl_context=context_,
        server_hostname=configuration.tls_server_name,
        proxy=configuration.proxy,
        authorization=authorization,
    )
