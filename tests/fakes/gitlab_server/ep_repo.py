"""GitLab emulator endpoints of the repository: branches, files, commits and tags.

Owns: creating a branch (400 when it exists or the ref is unknown), a
file's metadata (HEAD, X-Gitlab-* headers), creating a commit from
actions (create, update, delete; on top of the branch, or on
start_branch/start_sha, where an existing branch moves only with `force`,
as GitLab's commits API does; in a project that mirrors a real git
repository, a commit on a commit it has is made there too, under git's
SHA, and so is a branch created or moved to such a commit), and tags: creating one (annotated with a
message; 400 "Tag ... already exists", atomically, under the server's
lock), reading and deleting it. Refuses: file contents, protected
branches and tags, and releases.
"""

from __future__ import annotations

import hashlib
import re

from tests.fakes import realgit
from tests.fakes.gitlab_server.state import (
    ApiError,
    Commit,
    Json,
    Project,
    Request,
    Tag,
    not_found,
    truthy,
)


class RepositoryEndpoints:
    """A part of GitLabServer (it uses the Store's records and the shapes)."""

    def _branch_json(self, proj: Project, name: str) -> Json:
        return {
            "name": name,
            "merged": False,
            "protected": name == proj.default_branch,
            "default": name == proj.default_branch,
            "developers_can_push": False,
            "developers_can_merge": False,
            "can_push": True,
            "web_url": f"{self.url}/{proj.path}/-/tree/{name}",
            "commit": self._commit_json(proj, proj.branches[name]),
        }

    def _create_branch(self, req: Request) -> tuple[int, Json]:
        proj = self._writable(req)
        name, ref = str(req.params.get("branch", "")), str(req.params.get("ref", ""))
        if name in proj.branches:
            raise ApiError(400, "Branch already exists")
        sha = self._resolve(proj, ref)
        if sha is None or not re.fullmatch(r"[\w./-]+", name):
            raise ApiError(400, f"Invalid reference name: {ref if sha is None else name}")
        self._push(proj, name, sha)
        self._set_real_branch(proj, name, sha)
        return 201, self._branch_json(proj, name)

    def _set_real_branch(self, proj: Project, branch: str, sha: str) -> None:
        """Move the branch in the real repository too, when it has the commit."""
        if proj.git_dir is not None and realgit.known(proj.git_dir, [sha]):
            realgit.set_ref(proj.git_dir, f"refs/heads/{branch}", sha)

    def _file_meta(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        proj = self._readable(req)
        ref = str(req.params.get("ref", ""))
        sha = self._resolve(proj, ref)
        path = req.parts["path"]
        if sha is None or path not in self._commits[sha].tree:
            raise not_found("File")
        text = self._commits[sha].tree[path]
        blob = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
        headers = {
            "X-Gitlab-File-Name": path.rsplit("/", 1)[-1],
            "X-Gitlab-File-Path": path,
            "X-Gitlab-Size": str(len(text.encode())),
            "X-Gitlab-Encoding": "base64",
            "X-Gitlab-Blob-Id": blob,
            "X-Gitlab-Commit-Id": sha,
            "X-Gitlab-Last-Commit-Id": sha,
            "X-Gitlab-Ref": ref,
            "X-Gitlab-Content-Sha256": hashlib.sha256(text.encode()).hexdigest(),
        }
        return 200, {}, headers

    def _create_commit(self, req: Request) -> tuple[int, Json]:
        proj = self._writable(req)
        branch = str(req.params.get("branch", ""))
        start_ref = req.params.get("start_branch") or req.params.get("start_sha") or branch
        start = self._resolve(proj, str(start_ref))
        if start is None:
            raise ApiError(400, "You can only create or edit files when you are on a branch")
        moved = branch in proj.branches and start != proj.branches[branch]
        if moved and not truthy(req.params.get("force", False)):
            raise ApiError(
                400,
                f"A branch called '{branch}' already exists. "
                "Switch to that branch in order to make changes",
            )
        tree = dict(self._commits[start].tree)
        actions = req.params.get("actions")
        if not isinstance(actions, list) or not actions:
            raise ApiError(400, "actions is missing", key="error")
        changes: dict[str, str | None] = {}
        for action in actions:
            path, kind = action.get("file_path", ""), action.get("action")
            if kind == "create" and path in tree:
                raise ApiError(400, "A file with this name already exists")
            if kind in ("update", "delete") and path not in tree:
                raise ApiError(400, "A file with this name doesn't exist")
            if kind in ("create", "update"):
                tree[path] = changes[path] = str(action.get("content", ""))
            elif kind == "delete":
                del tree[path]
                changes[path] = None
            else:
                raise ApiError(400, f"Unknown action {kind!r}")
        message, git_dir = str(req.params.get("commit_message", "")), proj.git_dir
        if git_dir is not None and realgit.known(git_dir, [start]):
            at = self._tick()
            sha = realgit.commit(
                git_dir,
                tree=realgit.write_tree(git_dir, start=start, changes=changes),
                parents=(start,),
                message=message,
                date=at.isoformat(),
                author=(req.user.name, req.user.email),
            )
            self._commits[sha] = Commit(sha, (start,), message, tree, req.user, at)
        else:
            sha = self._new_commit((start,), tree, message, req.user)
        self._push(proj, branch, sha)
        self._set_real_branch(proj, branch, sha)
        body = self._commit_json(proj, sha)
        body.update(
            {
                "stats": {"additions": len(actions), "deletions": 0, "total": len(actions)},
                "status": None,
            }
        )
        return 201, body

    def _create_tag(self, req: Request) -> tuple[int, Json]:
        proj = self._writable(req)
        name, ref = str(req.params.get("tag_name") or ""), str(req.params.get("ref") or "")
        if not name or not ref:
            raise ApiError(400, "tag_name and ref are required", key="error")
        if not re.fullmatch(r"[\w.-]+(/[\w.-]+)*", name) or ".." in name or name.endswith(".lock"):
            raise ApiError(400, "Tag name invalid")
        sha = self._resolve(proj, ref)
        if sha is None:
            raise ApiError(400, f"Target {ref} is invalid")
        if name in proj.tags:
            raise ApiError(400, f"Tag {name} already exists")
        message = (req.params.get("message") or "").strip() or None
        target, created = sha, None
        if message is not None:
            seed = f"tag {name} {sha} {message}".encode()
            target = hashlib.sha1(seed, usedforsecurity=False).hexdigest()
            created = self._tick()
        proj.tags[name] = Tag(name, sha, target, message, created)
        return 201, self._tag_json(proj, proj.tags[name])

    def _get_tag(self, req: Request) -> Json:
        proj = self._readable(req)
        tag = proj.tags.get(req.parts["tag"])
        if tag is None:
            raise not_found("Tag")
        return self._tag_json(proj, tag)

    def _delete_tag(self, req: Request) -> tuple[int, None]:
        proj = self._writable(req)
        if proj.tags.pop(req.parts["tag"], None) is None:
            raise not_found("Tag")
        return 204, None
