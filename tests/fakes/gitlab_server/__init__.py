"""A stateful GitLab REST API v4 emulator on 127.0.0.1 that python-gitlab talks to.

Owns, one module each: the records (state), the state and how tests seed
it (store), merge requests and merging (store_mrs), the REST shapes
(shapes, mr_shapes) and webhook bodies (hooks) written from GitLab's
documentation, HTTP, routing, faults and the request log (server), and the
endpoints the GitLab adapter uses, by subject: merge requests (ep_mrs),
notes (ep_notes), statuses and deployments (ep_statuses), the repository
(ep_repo) and people (ep_people).

Refuses: to be GitLab. No pipelines, no rename detection beyond identical
content, no permissions finer than "a member with this access level".
Git happens only in a mirrored real repository (attach_git): merges, and
the commits and branches the API makes on its commits (tests/fakes/realgit.py).
The examples in tests/fakes/gitlab_examples/, written from GitLab's
documentation, are what its shapes are checked against.

Seed state with the methods (add_user, add_project, commit, open_merge_request,
add_note, approve, ...), then point `gitlab.Gitlab(url=server.url,
private_token=token)` at it inside `with GitLabServer() as server:`.
"""

from tests.fakes.gitlab_server.server import GitLabServer
from tests.fakes.gitlab_server.state import (
    DESCRIPTION_LIMIT,
    DEVELOPER,
    GUEST,
    MAINTAINER,
    NOTE_LIMIT,
    OWNER,
    REPORTER,
    STATUS_STATES,
    STATUS_TEXT_LIMIT,
    ApiError,
    CommitStatus,
    Deployment,
    MergeRequest,
    Note,
    Project,
    Tag,
    User,
    hook_time,
    iso,
)

__all__ = [
    "DESCRIPTION_LIMIT",
    "DEVELOPER",
    "GUEST",
    "MAINTAINER",
    "NOTE_LIMIT",
    "OWNER",
    "REPORTER",
    "STATUS_STATES",
    "STATUS_TEXT_LIMIT",
    "ApiError",
    "CommitStatus",
    "Deployment",
    "GitLabServer",
    "MergeRequest",
    "Note",
    "Project",
    "Tag",
    "User",
    "hook_time",
    "iso",
]
