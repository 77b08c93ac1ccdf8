"""Remote kustomize bases from git, fetched before the render.

Owns: `parse` (kustomize's reading of a remote entry: the URL git clones,
the folder inside it, the ref; the rules of kustomize's
api/internal/git/repospec.go, for http(s) and its `github.com/` shorthand),
and `prepared`, which walks a kustomization graph outside the sandbox,
resolves each remote base the SourcePolicy admits to a commit (`git
ls-remote`, git's own order: a tag before a branch of the same name; no ref
means the remote's HEAD), fetches that one commit (`--depth=1`) into a
content-addressed cache (`<cache>/git/<commit>.git`, renamed into place when
whole and checked on every hit) and writes, for the sandbox, a mirror of each
remote with exactly the refs the graph names and a git configuration that
sends kustomize's clone of that URL to the mirror (`url.<mirror>.insteadOf`)
and refuses every other transport. Kustomize then clones from the mirror,
offline, with its own rules (root, load restrictor, `//` paths); what it
builds is the commit the plan shows. The bases of a fetched base are followed
the same way.
Refuses: bases over SSH, scp-like addresses and file:// (write the https://
URL), remote files (`https://host/x.yaml`: vendor the file), URLs with a user
name or password, a base outside the allow-list (naming the setting that
admits it), a floating ref (a branch or the default branch) unless the
environment allows floating sources, redirects, a fetch over the size cap or
the deadline, and fetching submodules (kustomize's `git submodule update`
has no transport in the sandbox, so a base with submodules fails there).
Credentials come from the SourcePolicy (operator configuration), through the
environment of the git process only, never its argv.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitops_bot.core.objects.model import SourcePin
from gitops_bot.errors import RenderError
from gitops_bot.render import download, fetch, kustomize, remote, sandbox
from gitops_bot.render.fetch import SourcePolicy

_COMMIT = re.compile(r"[0-9a-f]{40}")
_BASES = kustomize.GIT_BASE_FIELDS  # entries kustomize may clone
_MAX_LS_REMOTE = 4 << 20
# git's order for a short name (refs.c ref_rev_parse_rules)
_DWIM = (
    "{}",
    "refs/{}",
    "refs/tags/{}",
    "refs/heads/{}",
    "refs/remotes/{}",
    "refs/remotes/{}/HEAD",
)


@dataclass(frozen=True)
class RepoRef:
    """A remote base as kustomize reads it."""

    entry: str  # as written in the kustomization
    clone: str  # the URL kustomize hands to git (its RepoSpec.CloneSpec)
    path: str  # the folder inside the repository ("" for its root)
    ref: str  # as written; "" means the remote's HEAD


def parse(entry: str, where: str) -> RepoRef:
    """`entry` (remote, per render.remote) as kustomize would clone it; RenderError
    (prefixed `where`, which names the entry) for what is not fetched here."""
    raw = entry.strip()
    rest, _, query = raw.partition("?")
    values = urllib.parse.parse_qs(query, keep_blank_values=True)
    ref = (values.get("ref") or [""])[-1] or (values.get("version") or [""])[-1]
    if rest.lower().startswith("git::"):
        rest = rest[5:]
    lower = rest.lower()
    if lower.startswith("github.com/"):
        scheme, rest = "https://", "github.com/" + rest[len("github.com/") :]
    elif lower.startswith(("https://", "http://")):
        scheme, rest = rest[: rest.index("://") + 3].lower(), rest[rest.index("://") + 3 :]
    elif lower.startswith(("ssh://", "file://")) or re.match(r"[^/]*[:@]", rest):
        raise RenderError(
            f"{where}: a base over SSH or from a file is not fetched here; write its https:// URL"
        )
    else:
        raise RenderError(f"{where}: not a git URL kustomize can clone")
    host, slash, path = rest.partition("/")
    if "@" in host:
        raise RenderError(f"{where}: credentials in the URL are refused; the URL must name none")
    git_marker = "//" in path or ".git" in path or "_git/" in path
    if not (git_marker or ref or host.lower() == "github.com"):
        raise RenderError(
            f"{where}: a remote file is not fetched here; vendor it into the repository, "
            "or name a git base (https://host/org/repo//folder?ref=v1.0.0)"
        )
    repo_path, folder = _split(path)
    if not slash or not repo_path:
        raise RenderError(f"{where}: no repository path in the URL")
    folder = folder.strip("/")
    if folder and posixpath.normpath(folder).split("/")[0] == "..":
        raise RenderError(f"{where}: the folder leaves the repository")
    if host.lower() == "github.com":
        host = "github.com"
    return RepoRef(raw, f"{scheme}{host}/{repo_path}", folder, ref)


def _split(path: str) -> tuple[str, str]:
    """(repository path, folder): kustomize's explicit markers, else org/repo."""
    if (at := path.find("_git/")) >= 0:
        head, _, tail = path[at + 5 :].partition("/")
        return path[: at + 5] + head, tail
    if (at := path.find("//")) >= 0:
        return path[:at], path[at + 2 :]
    if (at := path.find(".git")) >= 0:
        return path[: at + 4], path[at + 4 :]
    segments = path.split("/")
    if len(segments) < 2:
        return "", ""
    return "/".join(segments[:2]), "/".join(segments[2:])


@dataclass
class Prepared:
    """What the sandboxed kustomize needs to build a graph with remote bases."""

    pins: tuple[SourcePin, ...] = ()
    entries: frozenset[str] = frozenset()  # the remote entries fetched (as written)
    env: Mapping[str, str] = field(default_factory=dict)  # for the sandboxed kustomize


@contextlib.contextmanager
def prepared(root: Path, path: str, policy: SourcePolicy) -> Iterator[Prepared]:
    """Fetch the remote bases the kustomization graph at `path` names (and theirs);
    the mirrors live until the block ends. A branch or HEAD only if `policy.floating`."""
    root = root.resolve()
    with tempfile.TemporaryDirectory(prefix="gitops-bot-bases-") as tmp:
        work = _Work(root, Path(tmp), policy)
        work.local(root / path, root)
        if not work.found:
            yield Prepared()
            return
        yield Prepared(
            pins=tuple(sorted(set(work.pins), key=lambda p: (p.chart, p.name, p.version))),
            entries=frozenset(work.found),
            env=work.sandbox_env(),
        )


@dataclass(frozen=True)
class _Resolved:
    refname: str  # refs/tags/v1, refs/heads/main, or "" for a commit named by its id
    commit: str
    floating: bool


class _Work:
    def __init__(self, root: Path, tmp: Path, policy: SourcePolicy) -> None:
        self.root, self.tmp, self.policy = root, tmp, policy
        self.found: set[str] = set()
        self.pins: list[SourcePin] = []
        self.seen: set[Path] = set()
        self.refs: dict[str, dict[str, str]] = {}  # clone URL -> refname -> commit
        self.commits: dict[str, set[str]] = {}  # clone URL -> the commits fetched from it
        self.heads: dict[str, str] = {}  # clone URL -> the refname its HEAD names
        self.resolved: dict[tuple[str, str], _Resolved] = {}
        self.trees: dict[str, Path] = {}  # commit -> checked-out tree (to walk further)

    # the graph

    def local(self, folder: Path, top: Path) -> None:
        """Walk the kustomization in `folder`; `top` bounds where local entries may go
        (the repository, or a fetched tree)."""
        folder = folder.resolve()
        if folder in self.seen or not folder.is_relative_to(top):
            return  # render.kustomize's walk (or kustomize itself) says what is wrong
        self.seen.add(folder)
        file = kustomize.find(folder)
        if file is None:
            return
        where = self._name(file)
        data = kustomize.read(file, where)
        for key in _BASES:
            items = data.get(key)
            for entry in items if isinstance(items, list) else ():
                if not isinstance(entry, str) or "\n" in entry:
                    continue
                if remote.why(entry) is None:
                    target = folder / entry
                    if target.is_dir():
                        self.local(target, top)
                    continue
                self.base(entry, f"{where}: {key} entry {_shown(entry)}", folder)

    def base(self, entry: str, where: str, folder: Path) -> None:
        spec = parse(entry, where)
        if not self.policy.admits(spec.clone):
            raise RenderError(
                f"{where}: the git remote {download.shown(spec.clone)} is not in the "
                f"allow-list; {fetch.ADMIT}"
            )
        resolved = self.resolve(spec, where)
        if resolved.floating and not self.policy.floating:
            raise RenderError(
                f"{where}: {spec.ref or 'no ref (the default branch)'} is a floating "
                f"reference: pin a tag or a commit (?ref=), or {fetch.FLOATING}; "
                f"it resolves to {resolved.commit}"
            )
        tree = self.tree(spec.clone, resolved, where)
        self.found.add(entry)
        self.commits.setdefault(spec.clone, set()).add(resolved.commit)
        refs = self.refs.setdefault(spec.clone, {})
        if resolved.refname:
            refs[resolved.refname] = resolved.commit
        chart = self._name(folder)
        name = f"{urllib.parse.urlsplit(spec.clone).path.lstrip('/')}//{spec.path}"
        self.pins.append(
            SourcePin(
                chart,
                name,
                spec.ref or "HEAD",
                download.shown(spec.clone),
                f"commit:{resolved.commit}",
            )
        )
        self.local(tree / spec.path, tree)

    # resolving and fetching

    def resolve(self, spec: RepoRef, where: str) -> _Resolved:
        key = (spec.clone, spec.ref)
        if key in self.resolved:
            return self.resolved[key]
        if _COMMIT.fullmatch(spec.ref):
            found = _Resolved("", spec.ref, floating=False)
        else:
            found = self._ls_remote(spec, where)
        self.resolved[key] = found
        return found

    def _ls_remote(self, spec: RepoRef, where: str) -> _Resolved:
        # Patterns match the refs' tails; an annotated tag's commit is its `^{}` line.
        patterns = [spec.ref, spec.ref + "^{}"] if spec.ref else ["HEAD"]
        args = ["ls-remote", "--symref", spec.clone, *patterns]
        lines = self._git(args, spec.clone, where, cwd=self.tmp).splitlines()
        refs: dict[str, str] = {}
        symref = ""
        for line in lines:
            left, _, name = line.partition("\t")
            if left.startswith("ref: ") and name == "HEAD":
                symref = left.removeprefix("ref: ")
            elif _COMMIT.fullmatch(left):
                refs[name] = left
        if not spec.ref:
            commit = refs.get("HEAD")
            if commit is None:
                raise RenderError(f"{where}: {download.shown(spec.clone)} has no HEAD to fetch")
            self.heads[spec.clone] = symref
            return _Resolved(symref or "HEAD", commit, floating=True)
        for rule in _DWIM:
            name = rule.format(spec.ref)
            if name in refs:
                commit = refs.get(name + "^{}", refs[name])  # an annotated tag: its commit
                return _Resolved(name, commit, floating=not name.startswith("refs/tags/"))
        raise RenderError(
            f"{where}: {download.shown(spec.clone)} has no branch or tag {spec.ref!r}"
        )

    def tree(self, clone: str, resolved: _Resolved, where: str) -> Path:
        """The commit fetched into the cache, and checked out here to walk further."""
        commit = resolved.commit
        if commit in self.trees:
            return self.trees[commit]
        repo = self._cached(commit) or self._fetch(clone, resolved, where)
        listing = self._git(["ls-tree", "-r", "-l", commit], "", where, cwd=repo)
        size = sum(
            int(f[3])
            for f in (line.split(None, 4) for line in listing.splitlines())
            if len(f) == 5 and f[3].isdigit()
        )
        if size > 4 * self.policy.max_bytes:
            raise RenderError(
                f"{where}: commit {commit} holds {size} bytes of files, more than the "
                f"{4 * self.policy.max_bytes} allowed"
            )
        out = self.tmp / "trees" / commit
        out.mkdir(parents=True)
        tar = self.tmp / "trees" / f"{commit}.tar"
        self._git(["archive", "--format=tar", f"--output={tar}", commit], "", where, cwd=repo)
        _untar(tar, out)
        tar.unlink()
        self.trees[commit] = out
        return out

    def _cached(self, commit: str) -> Path | None:
        repo = self.policy.cache_dir / "git" / f"{commit}.git"
        if not repo.is_dir():
            return None
        with contextlib.suppress(RenderError):
            pin = self._git(["rev-parse", "--verify", "refs/pin^{commit}"], "", "cache", cwd=repo)
            if pin.strip() == commit:
                return repo
        shutil.rmtree(repo, ignore_errors=True)  # damaged: fetched again
        return None

    def _fetch(self, clone: str, resolved: _Resolved, where: str) -> Path:
        """Fetch the one commit (by the ref that named it: a commit id is fetched
        only when the entry names one, as not every server serves an unadvertised id)."""
        commit = resolved.commit
        folder = self.policy.cache_dir / "git"
        folder.mkdir(parents=True, exist_ok=True)
        part = Path(tempfile.mkdtemp(dir=folder, prefix=".part-"))
        try:
            self._git(["init", "-q", "--bare", str(part)], clone, where, cwd=self.tmp)
            wanted = resolved.refname if resolved.refname.startswith("refs/") else commit
            self._git(
                ["fetch", "-q", "--depth=1", "--no-tags", clone, f"+{wanted}:refs/pin"],
                clone,
                where,
                cwd=part,
                watch=part,
            )
            got = self._git(["rev-parse", "--verify", "refs/pin^{commit}"], "", where, cwd=part)
            if got.strip() != commit:
                raise RenderError(
                    f"{where}: {resolved.refname} moved while it was fetched "
                    f"(from {commit} to {got.strip()}); plan again"
                )
            target = folder / f"{commit}.git"
            with contextlib.suppress(OSError):  # another render put it there first
                part.rename(target)
            return target
        finally:
            shutil.rmtree(part, ignore_errors=True)

    def _git(
        self, args: list[str], url: str, where: str, *, cwd: Path, watch: Path | None = None
    ) -> str:
        argv = [
            "git",
            "-c", "protocol.allow=never",
            "-c", "protocol.https.allow=always",
            "-c", "protocol.http.allow=always",
            "-c", "http.followRedirects=false",
            "-c", "credential.helper=",
            "-c", "core.hooksPath=/dev/null",
            "-c", "transfer.fsckObjects=true",
            *args,
        ]  # fmt: skip
        env = {**self._env(), **(self.policy.git_env_for(url) if url else {})}
        doing = f"{where}: fetching {download.shown(url)}" if url else f"{where}: git {args[0]}"
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                process = subprocess.Popen(
                    argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
                )
            except OSError as error:
                raise RenderError(f"{doing}: git: {error.strerror}") from None
            deadline = time.monotonic() + self.policy.timeout_s
            try:
                while process.poll() is None:
                    if time.monotonic() > deadline:
                        raise RenderError(f"{doing}: not done within {self.policy.timeout_s:g} s")
                    if watch is not None and _size(watch) > self.policy.max_bytes:
                        raise RenderError(
                            f"{doing}: more than the {self.policy.max_bytes} bytes allowed"
                        )
                    time.sleep(0.05)
            finally:
                if process.poll() is None:
                    process.kill()
                process.wait()
            if watch is not None and _size(watch) > self.policy.max_bytes:
                raise RenderError(f"{doing}: more than the {self.policy.max_bytes} bytes allowed")
            out.seek(0)
            err.seek(0)
            stdout = out.read(_MAX_LS_REMOTE + 1)
            if len(stdout) > _MAX_LS_REMOTE:
                raise RenderError(f"{doing}: more than {_MAX_LS_REMOTE} bytes of refs")
            if process.returncode != 0:
                raise RenderError(f"{doing}: {_git_error(err.read().decode(errors='replace'))}")
        return stdout.decode("utf-8", errors="replace")

    def _env(self) -> dict[str, str]:
        home = self.tmp / "home"
        home.mkdir(exist_ok=True)
        env = {
            "PATH": sandbox.SAFE_PATH,
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "/bin/false",
            "GIT_SSH_COMMAND": "/bin/false",
        }
        for name in (
            "http_proxy",
            "https_proxy",
            "no_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "NO_PROXY",
        ):
            if name in os.environ:  # as download honours them, and helm does
                env[name] = os.environ[name]
        return env

    # the sandbox's view

    def sandbox_env(self) -> dict[str, str]:
        """A git configuration that sends each fetched remote to a mirror of it."""
        lines = [
            '[protocol]\n\tallow = never\n[protocol "file"]\n\tallow = always\n',
            "[uploadpack]\n\tallowAnySHA1InWant = true\n",
            "[advice]\n\tdetachedHead = false\n",
            "[safe]\n\tdirectory = *\n",
        ]
        for index, (clone, refs) in enumerate(sorted(self.refs.items())):
            mirror = self._mirror(index, clone, refs)
            lines.append(f'[url "file://{mirror}"]\n\tinsteadOf = {_git_quote(clone)}\n')
        config = self.tmp / "gitconfig"
        config.write_text("".join(lines), encoding="utf-8")
        return {
            "GIT_CONFIG_GLOBAL": str(config),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
        }

    def _mirror(self, index: int, clone: str, refs: dict[str, str]) -> Path:
        mirror = self.tmp / "mirrors" / f"{index}.git"
        commits = self.commits[clone]
        self._git(["init", "-q", "--bare", str(mirror)], "", clone, cwd=self.tmp)
        stores = [
            str(self.policy.cache_dir / "git" / f"{c}.git" / "objects") for c in sorted(commits)
        ]
        (mirror / "objects" / "info" / "alternates").write_text("\n".join(stores) + "\n")
        (mirror / "shallow").write_text("".join(f"{c}\n" for c in sorted(commits)))
        for name, commit in refs.items():
            if name == "HEAD":
                continue
            target = mirror / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(commit + "\n")
        if head := self.heads.get(clone):  # the default branch, as the remote names it
            (mirror / "HEAD").write_text(f"ref: {head}\n")
        elif "HEAD" in refs:  # a remote that did not say which branch HEAD is
            (mirror / "HEAD").write_text(refs["HEAD"] + "\n")
        return mirror

    def _name(self, path: Path) -> str:
        path = path.resolve()
        if path.is_relative_to(self.root):
            return path.relative_to(self.root).as_posix() or "."
        for commit, tree in self.trees.items():
            if path.is_relative_to(tree):
                return f"{commit[:12]}:{path.relative_to(tree).as_posix()}"
        return path.name


def _shown(entry: str) -> str:
    """`entry` without a user name or password a URL in it may carry."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1", entry.strip())


def _git_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    last = next((line for line in reversed(lines) if line.startswith(("fatal:", "error:"))), "")
    last = last or (lines[-1] if lines else "git failed with no error output")
    if "could not read username" in last.lower() or "authentication failed" in last.lower():
        return (
            "the remote asks for credentials (HTTP 401), and none configured for it "
            "were accepted (--source-credentials)"
        )
    if "redirect" in last.lower() or re.search(r"error: 30[1278]", last):
        return f"{last} (redirects are not followed: name the URL it moved to)"
    return last


def _git_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _size(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(dirpath) / name).stat().st_size
    return total


def _untar(tar: Path, out: Path) -> None:
    with tarfile.open(tar, mode="r:") as archive:
        archive.extractall(out, filter="data")
