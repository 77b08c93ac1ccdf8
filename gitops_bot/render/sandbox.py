"""The one place a renderer runs: a subprocess with nothing of ours to leak.

Owns: `Command` (a renderer run as data: argv, folder, a description for
messages), `Limits`, `Tools` (where helm and kustomize are, looked up when
used), `run` and
`check_tree` (no symlink in the repository may lead out of it).
Refuses: deciding what to run (kustomize.py and helm.py build the Commands)
and reading the output (core.objects.manifests does).

What `run` guarantees:
- The environment is built, not inherited: PATH (a fixed system PATH, not
  the bot's), HOME, TMPDIR and the helm folders in a fresh temporary folder
  (removed after the run), an empty KUSTOMIZE_PLUGIN_HOME,
  LANG/LC_ALL=C.UTF-8. The helm that kustomize runs for helmCharts inherits
  all of it, and the limits below. No token, kubeconfig or
  secret of the bot's environment can reach a template.
- stdin is /dev/null; the process runs in its own session, and is killed
  (with its group) when it takes longer than `timeout_s` or writes more than
  `max_output_bytes`.
- Memory: the address space is capped at `max_memory_bytes` (RLIMIT_AS, set
  by util-linux's `prlimit`; where prlimit is missing, memory is not
  bounded). Helm and kustomize are Go programs: the Go runtime reserves about
  800 MiB of address space before it allocates anything, so the cap must
  stay well above that. RLIMIT_DATA would read better, but Go's heap
  sometimes escapes it; RLIMIT_AS holds every time.
- Network: when `unshare --net --map-root-user` works on this machine (probed
  once per process), the tool runs in a new network namespace with nothing
  but a loopback that is down: no DNS, no connection. Where user namespaces
  are not allowed (Docker's default seccomp profile, as in GitHub Actions
  container jobs and GitLab's Docker executor), the tool runs with the
  host's network, and no render may reach it: kustomize.command refuses every
  remote reference that was not fetched before the render (render.gitbases,
  render.fetch), helm template fetches nothing, and the tools' own network
  flags stay off (no --enable-dns); --enable-helm is on only for a
  kustomization with helmCharts, whose charts render.helmcharts placed where
  kustomize finds them, so it never runs `helm pull`. `isolation()` says which
  of the two is in force; the plan output shows it. No render needs the
  network: remote bases are cloned from local mirrors (a Command's `env` names
  their git configuration), and every tool's environment points
  HTTP(S)_PROXY at a closed port on 127.0.0.1 with an empty NO_PROXY, so that
  Go's HTTP client (kustomize's remote files, helm) fails closed even where
  there is no namespace.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gitops_bot.errors import RenderError

# A tool's own PATH, not the bot's: no directory a CI job added can shadow a
# system binary (git, for allow-listed remote bases, is the only one used).
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_STDERR_LINES = 40
_NO_PROXY = "http://127.0.0.1:9"
_STDERR_KEEP = 64 << 10  # bytes of stderr kept while reading; the tail matters
_CHUNK = 64 << 10


class ToolFailedError(RenderError):
    """The tool ran and exited with an error of its own (not a limit of the sandbox)."""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 60.0
    max_output_bytes: int = 32 << 20
    max_memory_bytes: int = 4 << 30  # address space; the Go runtime alone reserves ~800 MiB


DEFAULT_LIMITS = Limits()  # frozen, so one instance serves as every default


@dataclass(frozen=True)
class Tools:
    """Where the renderers are: a name to look up on the bot's PATH, or a path.

    Each is looked up when a render first needs it, not before: a repository
    of kustomizations needs no helm, a repository of charts no kustomize.
    """

    helm: str = "helm"
    kustomize: str = "kustomize"

    def path(self, tool: Literal["helm", "kustomize"]) -> str:
        """The absolute path of `tool`; RenderError naming the setting when it is missing."""
        configured = self.helm if tool == "helm" else self.kustomize
        found = shutil.which(configured)
        if found is None:
            raise RenderError(
                f"looking for {tool}: {configured} not found on PATH "
                f"(set --{tool} or GITOPS_BOT_{tool.upper()})"
            )
        return str(Path(found).absolute())


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    cwd: str
    what: str  # for messages, e.g. "kustomize build deploy/overlays/dev"
    # Added to the tool's environment (a fetched base's git configuration).
    env: tuple[tuple[str, str], ...] = ()


def run(command: Command, *, limits: Limits) -> str:
    """The tool's stdout; RenderError (prefixed "running <what>") on anything else."""
    with tempfile.TemporaryDirectory(prefix="gitops-bot-render-") as tmp:
        argv = (*_wrapper(command, limits), *command.argv)
        try:
            process = subprocess.Popen(
                argv,
                cwd=command.cwd,
                env={**_environment(Path(tmp)), **dict(command.env)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as err:
            raise RenderError(f"running {command.what}: {err.strerror}: {argv[0]}") from None
        try:
            out, err_tail = _collect(process, command, limits)
        finally:
            _stop(process)
        code = process.returncode
    if code != 0:
        message = f"running {command.what}: {_failure(code, err_tail, command, limits)}"
        raise (RenderError if code < 0 or _out_of_memory(err_tail) else ToolFailedError)(message)
    return out.decode("utf-8", errors="replace")


def check_tree(root: Path, *, paths: Iterable[Path] | None = None) -> None:
    """Refuse a symlink under `root` (or under `paths`) whose target is outside `root`.

    Symlinked folders inside the repository are followed (the tools follow
    them too), each folder once.
    """
    root = root.resolve()
    stack = [root] if paths is None else [_inside(root, root / p) for p in paths]
    seen: set[Path] = set()
    while stack:
        current = stack.pop()
        if current.is_symlink():
            current = _target(root, current)
        if not current.is_dir() or current in seen:
            continue
        seen.add(current)
        try:
            entries = list(os.scandir(current))
        except OSError as err:
            raise RenderError(f"reading {_relative(root, current)}: {err.strerror}") from None
        for entry in entries:
            if entry.is_symlink():
                stack.append(_target(root, Path(entry.path)))
            elif entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))


def _inside(root: Path, path: Path) -> Path:
    if not Path(os.path.normpath(path)).is_relative_to(root):
        raise RenderError(f"{path} is outside the repository")
    return path


def _target(root: Path, link: Path) -> Path:
    try:
        target = link.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        raise RenderError(f"{_relative(root, link)} is a symbolic link loop") from None
    if not target.is_relative_to(root):
        raise RenderError(
            f"{_relative(root, link)} is a symbolic link that points outside the repository"
        )
    return target


def _relative(root: Path, path: Path) -> str:
    absolute = Path(os.path.normpath(path))
    return absolute.relative_to(root).as_posix() if absolute.is_relative_to(root) else str(path)


def _environment(tmp: Path) -> dict[str, str]:
    home, plugins, temporary = tmp / "home", tmp / "kustomize-plugins", tmp / "tmp"
    home.mkdir()
    plugins.mkdir()
    temporary.mkdir()
    helm = home / ".helm"
    return {
        "PATH": SAFE_PATH,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HELM_CACHE_HOME": str(helm / "cache"),
        "HELM_CONFIG_HOME": str(helm / "config"),
        "HELM_DATA_HOME": str(helm / "data"),
        "HELM_PLUGINS": str(helm / "plugins"),
        "KUSTOMIZE_PLUGIN_HOME": str(plugins),
        "TMPDIR": str(temporary),  # kustomize writes helm's values there
        # Nothing listens on port 9 (discard) of the loopback: a tool that tries
        # the network through Go's HTTP client fails at once, namespace or not.
        **dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"), _NO_PROXY),
        "NO_PROXY": "",
        "no_proxy": "",
    }


def _wrapper(command: Command, limits: Limits) -> tuple[str, ...]:
    """The argv prefix that bounds memory and cuts the network, where this machine can."""
    prefix: tuple[str, ...] = ()
    if prlimit := shutil.which("prlimit", path=SAFE_PATH):
        prefix += (prlimit, f"--as={limits.max_memory_bytes}", "--")
    if unshare := network_isolation():
        prefix += (unshare, "--net", "--map-root-user", "--")
    return prefix


NETWORK_NAMESPACE = "network namespace"
NO_NETWORK_NAMESPACE = "no network namespace (remote references not fetched before are refused)"


def isolation() -> str:
    """Which network isolation renders get on this machine, in words for the plan output."""
    return NETWORK_NAMESPACE if network_isolation() is not None else NO_NETWORK_NAMESPACE


@functools.cache
def network_isolation() -> str | None:
    """The path of `unshare` when it can give a tool a network namespace here, else None."""
    unshare = shutil.which("unshare", path=SAFE_PATH)
    true = shutil.which("true", path=SAFE_PATH)
    if unshare is None or true is None:
        return None
    try:
        probe = subprocess.run(
            [unshare, "--net", "--map-root-user", "--", true],
            env={"PATH": SAFE_PATH},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return unshare if probe.returncode == 0 else None


def _collect(
    process: subprocess.Popen[bytes], command: Command, limits: Limits
) -> tuple[bytes, bytes]:
    """Read stdout and stderr until both close, within the time and size limits."""
    if process.stdout is None or process.stderr is None:
        raise RenderError(f"running {command.what}: no pipes to read its output from")
    deadline = time.monotonic() + limits.timeout_s
    out, err = bytearray(), bytearray()
    too_long = RenderError(
        f"running {command.what}: took longer than {limits.timeout_s:g} s "
        "(the render time limit); stopped it"
    )
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, out)
        selector.register(process.stderr, selectors.EVENT_READ, err)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise too_long
            for key, _ in selector.select(timeout=left):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer: bytearray = key.data
                buffer += chunk
                if buffer is err:
                    del err[:-_STDERR_KEEP]
                elif len(out) > limits.max_output_bytes:
                    raise RenderError(
                        f"running {command.what}: wrote more than {limits.max_output_bytes} "
                        "bytes of output (the render output limit); stopped it"
                    )
    try:  # both pipes closed; a tool may still linger
        process.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        raise too_long from None
    return bytes(out), bytes(err)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill what is left of the tool's process group, reap the tool and close the pipes."""
    # Until it is reaped, the tool's pid (its group's id) cannot be reused, so
    # this reaches only what the tool started, even after the tool itself exited.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _out_of_memory(stderr: bytes) -> bool:
    text = stderr.decode("utf-8", errors="replace")
    return "out of memory" in text or "cannot allocate memory" in text


def _failure(code: int, stderr: bytes, command: Command, limits: Limits) -> str:
    text = stderr.decode("utf-8", errors="replace")
    if _out_of_memory(stderr):
        return f"ran out of memory (the render limit is {limits.max_memory_bytes} bytes)"
    # The tools print absolute paths; inside the repository, relative ones read better.
    text = text.replace(command.cwd.rstrip("/") + "/", "")
    lines = [line.rstrip() for line in text.strip().splitlines()][-_STDERR_LINES:]
    what = f"exit code {code}" if code > 0 else f"killed by signal {-code}"
    return f"{what}: " + "\n".join(lines) if lines else f"{what}, with no error output"
