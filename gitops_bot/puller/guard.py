"""The hook that decides whether a rendered commit may be applied at all.

Owns: the `Guard` protocol the loop asks before every apply that would
change an environment's render, with the render hash in hand; `AllowAll`,
the default; and `ApprovedRenders`, the merge-skew guard: a commit's render
of an environment is applied only if a pull request merged as that commit
had a successful `gitops/policy/ENV` status at its head AND the bot had
planned exactly that render there (the render hashes the bot keeps in its
own comment, core.pr.memory). A base that moved between approval and merge
gives the merge commit another render: refused, so what runs is what was
approved. Refuses: any policy of its own (the gate decided on the pull
request) and trusting comments not written by the bot's account.
"""

from __future__ import annotations

from typing import Protocol

from gitops_bot.core.pr import memory
from gitops_bot.core.pr.model import StatusState
from gitops_bot.core.pr.ports import Comments, PullQueries, Statuses

POLICY_CONTEXT = "gitops/policy/{env}"


class Guard(Protocol):
    def allows(self, env: str, commit: str, render_hash: str) -> str | None:
        """None if `env` may be applied at `commit` with this render; else why not."""
        ...


class AllowAll:
    def allows(self, env: str, commit: str, render_hash: str) -> str | None:
        return None


class GuardForge(PullQueries, Statuses, Comments, Protocol):
    """What the merge-skew guard reads (with the bot's own token, so its comments are known)."""


class ApprovedRenders:
    def __init__(self, forge: GuardForge) -> None:
        self._forge = forge

    def allows(self, env: str, commit: str, render_hash: str) -> str | None:
        pulls = [p for p in self._forge.pulls_for_commit(commit) if p.state == "merged"]
        if not pulls:
            return (
                f"{commit[:12]} came from no merged pull request, so no approval covers "
                f"{env}'s render {render_hash[:12]}"
            )
        seen = []
        for pull in pulls:
            statuses = {s.context: s for s in self._forge.statuses(pull.head_sha)}
            gate = statuses.get(POLICY_CONTEXT.format(env=env))
            if gate is None or gate.state is not StatusState.SUCCESS:
                seen.append(f"#{pull.number}: {env}'s policy was not success at its head")
                continue
            state = memory.State()
            for comment in self._forge.comments(pull.number):
                if comment.is_bot:
                    state = memory.merge(state, memory.decode(comment.body).state)
            approved = state.hashes(env).get(pull.head_sha)
            if approved == render_hash:
                return None
            seen.append(
                f"#{pull.number} approved render {(approved or 'unknown')[:12]}, "
                f"the merge renders {render_hash[:12]} (merge skew)"
            )
        return "; ".join(seen)
