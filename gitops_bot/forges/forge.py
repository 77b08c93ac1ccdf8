"""What a forge is to the rest of the bot: one descriptor value per forge package.

Owns: the Forge descriptor (name, default API URL, comment limit, connecting,
clone URL, pull request refs, webhook and CI reading, the token git uses),
the typed Connection (a token, or a GitHub App's key)
that `connect` takes, the Adapter every forge's `connect` returns (all the
ports of gitops_bot.core.pr.ports), and CiContext, what a CI job was
started for. Refuses: anything of one forge (each forge package fills in
its descriptor) and importing a vendor SDK (connect imports it lazily).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_bot.core.pr import events, ports
from gitops_bot.core.pr.model import Pull
from gitops_bot.forges.appkey import AppKey

Header = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Connection:
    """How to reach one repository on a forge; None: the forge's default."""

    repo: str  # owner/name, or the GitLab project path
    token: str  # "" with an app
    api_url: str | None = None
    bot_login: str | None = None  # the bot's account, when the token cannot tell
    # A GitHub App instead of the token: installation tokens for `repo`, from
    # `installation` (a delivery names it) or else looked up for the repository.
    app: AppKey | None = None
    installation: int | None = None


Adapter = ports.Forge  # every forge port, for one repository: what `connect` returns


@dataclass(frozen=True)
class CiContext:
    forge: str  # a registry name
    repo: str  # owner/name, or the GitLab project path
    api_url: str
    token: str
    event: events.Event
    bot_login: str | None = None  # the bot's account, when the token cannot tell (Actions)
    workspace: str = "."
    git_url: str = ""  # where the repository can be fetched from (with the token)


@dataclass(frozen=True)
class Webhook:
    """How a forge's deliveries are told authentic and read (POST /webhooks/NAME)."""

    title: str  # in messages: "reading the GitHub delivery: ..."
    delivery_header: str  # the delivery id (not signed: a replay can carry any)
    # Raise deliveries.WebhookError unless the delivery is authentic; an empty
    # secret refuses every delivery.
    verify: Callable[[bytes, Header, bytes], None]  # (secret, header, body)
    read: Callable[[Header, Mapping[str, Any]], events.Event]
    # What the event is, whatever delivery carries it: equal for a replay.
    identity: Callable[[Header, Mapping[str, Any]], str]


@dataclass(frozen=True)
class Ci:
    """A CI system of the forge, and reading what a job was started for."""

    described: str  # in "this is neither <A> nor <B>"
    runs_in: Callable[[Mapping[str, str]], bool]
    # (environment, file reader) -> what the job is for
    context: Callable[[Mapping[str, str], Callable[[str], str]], CiContext]
    # (environment, audience) -> the job's OIDC token, where the CI issues one
    # that the puller's plan endpoint accepts (GitHub Actions); None elsewhere.
    id_token: Callable[[Mapping[str, str], str], str] | None = None


@dataclass(frozen=True)
class Forge:
    name: str  # --forge, GITOPS_BOT_FORGE, /webhooks/NAME
    default_api_url: str
    comment_limit: int  # characters in one comment
    connect: Callable[[Connection], Adapter]
    clone_url: Callable[[str], str]  # API URL -> clone URL with {repo}
    pull_head_ref: str  # the ref of a pull request's head, with {number}
    webhook: Webhook
    ci: Ci
    # The token git fetches the repository with: the Connection's, or with an
    # app its current installation token (None: the forge has no apps).
    git_token: Callable[[Connection], str] | None = None

    def api(self, api_url: str | None) -> str:
        return api_url or self.default_api_url

    def pull_refs(self, pull: Pull) -> tuple[str, ...]:
        """The refs that hold a pull request's base and head commits."""
        return (f"refs/heads/{pull.base_ref}", self.pull_head_ref.format(number=pull.number))
