"""Use case: review a pull request (what `gitops-bot run` does when one is
opened, reopened or pushed to).

Owns: for one change (app.context.Change: the pull request as read, its
repository, the run's settings, the event's clock) and what is asked of
this review (Request: the environments, a command's effect on the bot's
memory), planning the pull request's base..head, gating each planned
environment (app.gate), then keeping one sticky comment per environment,
or one per group of environments whose change is the same once their own
names and namespaces are set aside, under the same policy (a base change
across 100 environments is a few comments, not 100: GitHub paces writes
and limits how many a minute; the comments a group replaces are deleted)
(per part, when a plan is split; part 1 also carries the gate's section and
the bot's memory of this pull request, core.pr.memory), two statuses per
planned environment (`gitops/plan/ENV`, `gitops/policy/ENV`) and one summary
status (`gitops`, the one context branch protection needs to require,
whichever environments a change touches) up to date, with as few calls as
that takes: the comments are listed once, and a comment whose text is
unchanged is not written (a second planner of the same head writes
nothing; two that race to create a comment keep one, see _one_each).
Approvals, commands and pushes all come here, so
the gate is always judged on a fresh plan. A run whose head has moved by the
time it would write writes nothing: the newer run reports. Sharded (a CI
matrix, Settings.shard), a run plans and reports its share of the
environments and writes no summary; the summary job after all shards
(Settings.summarize) renders nothing: it decides which environments the
change affects and computes the summary once from the statuses the shards
wrote on the head, an environment no shard reported counting as failed.
Refuses: the rules themselves (core.policy.verdict) and reading the environment (the
CLI does).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from gitops_bot.app import context
from gitops_bot.app import gate as gate_app
from gitops_bot.core.objects.model import Key
from gitops_bot.core.policy import verdict as gate
from gitops_bot.core.policy.verdict import Verdict
from gitops_bot.core.pr import memory
from gitops_bot.core.pr.model import Comment, Pull, Status, StatusState
from gitops_bot.core.pr.ports import Comments, PullRequests
from gitops_bot.core.report import markdown, policy
from gitops_bot.core.report.plan import Action, EnvPlan, Plan
from gitops_bot.core.secrets import mask
from gitops_bot.planner import plan as plan_app

CONTEXT = "gitops/plan/{env}"
_NO_CHANGES = "no changes"
SUMMARY_CONTEXT = "gitops"


class ReviewForge(PullRequests, Comments, gate_app.GateForge, Protocol):
    """The ports a review writes through."""


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    comments: int = 0  # comment parts written or confirmed
    statuses: int = 0
    stale: str = ""  # why nothing was written, when the head moved
    decisions: Mapping[str, gate.Decision] = field(default_factory=dict)
    pull: Pull | None = None  # as it was read for this review
    summary: StatusState | None = None  # the state of the summary status written


def _marker_prefix(env: str) -> str:
    """What finds part 1 of env's comment however many parts it had."""
    return markdown.marker(env, 1, 1).rsplit("/", 1)[0] + "/"


def _describe(env: EnvPlan) -> tuple[StatusState, str]:
    if env.error:
        return StatusState.FAILURE, "the plan could not be made; see the comment"
    changes = env.changes if env.live is None else env.live
    counts = {a: sum(1 for c in changes if c.action is a) for a in Action}
    parts = [
        f"{counts[a]} to {a.value}"
        for a in (Action.CREATE, Action.UPDATE, Action.DELETE)
        if counts[a]
    ]
    return StatusState.SUCCESS, ", ".join(parts) if parts else _NO_CHANGES


def _comments_on(env: EnvPlan, mode: str, existing: tuple[Comment, ...]) -> bool:
    if mode == "off":
        return False
    if mode == "always" or env.error or env.has_changes:
        return True
    prefix = _marker_prefix(env.env)
    return any(c.is_bot and prefix in c.body for c in existing)


def _summary(result: Plan, decisions: Mapping[str, gate.Decision], url: str, sha: str) -> Status:
    """The one context to require: failure if a plan or gate failed, pending while
    a gate waits, else success."""
    failed = [e.env for e in result.envs if e.error or decisions[e.env].state is Verdict.FAILURE]
    waiting = [e for e, d in decisions.items() if d.state is Verdict.PENDING and e not in failed]
    changed = [env.env for env in result.envs if not env.error and env.has_changes]
    unchanged = len(result.envs) - len(failed) - len(changed)
    return _summary_status(
        _Tally(failed, waiting, changed, unchanged, len(result.skipped)), url, sha
    )


@dataclass(frozen=True)
class _Tally:
    failed: list[str]
    waiting: list[str]
    changed: list[str]
    unchanged: int
    skipped: int
    missing: tuple[str, ...] = ()  # no shard reported them


def _summary_status(tally: _Tally, url: str, sha: str) -> Status:
    parts = []
    if tally.missing:
        parts.append(f"not planned by any shard: {', '.join(tally.missing)}")
    if tally.failed:
        parts.append(f"failed: {', '.join(tally.failed)}")
    if tally.waiting:
        parts.append(f"waiting: {', '.join(tally.waiting)}")
    if tally.changed:
        parts.append(f"changes: {', '.join(tally.changed)}")
    if tally.unchanged:
        parts.append(f"{tally.unchanged} unchanged")
    if tally.skipped:
        parts.append(f"{tally.skipped} not affected")
    state = (
        StatusState.FAILURE
        if tally.failed or tally.missing
        else StatusState.PENDING
        if tally.waiting
        else StatusState.SUCCESS
    )
    text = "; ".join(parts) or "no environments"
    return Status(sha, SUMMARY_CONTEXT, state, text[: gate.DESCRIPTION_LIMIT], url)


_BAD = (StatusState.FAILURE, StatusState.ERROR)


def _tallied(names: tuple[str, ...], skipped: int, statuses: Mapping[str, Status]) -> _Tally:
    """The summary of what the shards wrote for `names` (each environment's plan
    and policy statuses on the head)."""
    tally = _Tally([], [], [], 0, skipped)
    missing = []
    for env in names:
        planned = statuses.get(CONTEXT.format(env=env))
        judged = statuses.get(gate.CONTEXT.format(env=env))
        if planned is None or judged is None:
            missing.append(env)
            continue
        if planned.state in _BAD or judged.state in _BAD:
            tally.failed.append(env)
            continue
        if judged.state is StatusState.PENDING:
            tally.waiting.append(env)
        if planned.description == _NO_CHANGES:
            tally = dataclasses.replace(tally, unchanged=tally.unchanged + 1)
        else:
            tally.changed.append(env)
    return dataclasses.replace(tally, missing=tuple(missing))


@dataclass(frozen=True)
class Request:
    """What a review is asked for beyond the run's settings (a command's)."""

    envs: tuple[str, ...] = ()  # plan only these; () for the run's
    # How the review's memory of the pull request changes (a command's effect).
    change_state: Callable[[memory.State, str], memory.State] | None = None


def review(change: context.Change, request: Request = Request()) -> Outcome:
    """The settings' `comment_mode`: "always" (a comment per planned
    environment), "changes" (only where the plan changes something or failed;
    an existing comment is still kept up to date) or "off" (statuses only)."""
    pull, forge = change.pull, change.forge
    if change.settings.summarize:
        return _summarize(change, request)
    result = _plan(change, request)
    latest = forge.pull(pull.number)
    if latest.head_sha != pull.head_sha:
        return Outcome(
            plan=result,
            stale=f"the head moved from {pull.head_sha[:12]} to {latest.head_sha[:12]} while "
            "planning; the run for the new head reports",
        )
    existing = forge.comments(pull.number)
    remembered = _state(existing)
    writer = _Writer.start(change, existing, remembered)
    state = _learned(change, result, existing, remembered, request)
    decisions = gate_app.gate(change, result=result, state=state)
    grouped = []
    for group in _groups(result, decisions, change.settings.comment_mode):
        if len(group) == 1:
            writer.env(result, group[0], decisions[group[0].env], state)
        else:
            writer.group(result, group, decisions, state)
            grouped += [e.env for e in group]
    writer.retire(grouped, planned=[e.env for e in result.envs])
    writer.one_each()
    if change.settings.shard is not None:  # the summary job's, after all shards
        return Outcome(
            plan=result,
            comments=writer.comments,
            statuses=writer.statuses,
            decisions=decisions,
            pull=pull,
        )
    summary = _summary(result, decisions, change.settings.url, pull.head_sha)
    writer.status(summary)
    return Outcome(
        plan=result,
        comments=writer.comments,
        statuses=writer.statuses,
        decisions=decisions,
        pull=pull,
        summary=summary.state,
    )


def _summarize(change: context.Change, request: Request) -> Outcome:
    """The summary status over all shards, from the statuses they wrote on the head."""
    pull, forge, settings = change.pull, change.forge, change.settings
    names, skipped = plan_app.affected(
        repo=change.repo, request=_request(change, request), base_config=change.config_at
    )
    result = Plan(base=pull.base_sha, head=pull.head_sha, envs=(), skipped=skipped)
    latest = forge.pull(pull.number)
    if latest.head_sha != pull.head_sha:
        return Outcome(
            plan=result,
            stale=f"the head moved from {pull.head_sha[:12]} to {latest.head_sha[:12]} while "
            "summarizing; the run for the new head reports",
        )
    statuses = {s.context: s for s in forge.statuses(pull.head_sha)}
    summary = _summary_status(_tallied(names, len(skipped), statuses), settings.url, pull.head_sha)
    written = 0
    if statuses.get(SUMMARY_CONTEXT) != summary:
        forge.set_status(summary)
        written = 1
    return Outcome(plan=result, statuses=written, pull=pull, summary=summary.state)


def _request(change: context.Change, request: Request) -> plan_app.Request:
    settings, pull = change.settings, change.pull
    return plan_app.Request(
        base=pull.base_sha,
        head=pull.head_sha,
        envs=request.envs or settings.envs,
        live=settings.live,
        config_file=settings.config_file,
        shard=settings.shard,
    )


def _plan(change: context.Change, request: Request) -> Plan:
    settings = change.settings
    return plan_app.plan(
        repo=change.repo,
        request=_request(change, request),
        tools=settings.tools,
        sources=settings.sources,
        cluster_for=settings.cluster_for,
        live_via=settings.live_via,
        mask_key=settings.mask_key(),
        bounds=settings.bounds,
        base_config=change.config_at,
        workers=settings.workers,
    )


def _learned(
    change: context.Change,
    result: Plan,
    existing: tuple[Comment, ...],
    remembered: memory.State,
    request: Request,
) -> memory.State:
    """What the bot remembers of the pull request after this plan (and the command)."""
    head = change.pull.head_sha
    state = memory.with_plan(
        remembered,
        head,
        {e.env: e.render_hash for e in result.envs if e.render_hash is not None},
        change.now,
    )
    # The forge's time of the first write that showed this head, learned from
    # what the last run wrote: commands are bound to it (app.chatops).
    shown = memory.shown_since(own_comments(existing), head)
    if shown is not None:
        state = memory.with_seen(state, head, shown)
    if request.change_state is not None:
        state = request.change_state(state, head)
    return state


class _Writer:
    """Writes one review's comments and statuses, each only when it changes."""

    def __init__(
        self,
        change: context.Change,
        existing: tuple[Comment, ...],
        statuses_before: Mapping[str, Status],
    ) -> None:
        self._change = change
        self._forge = change.forge
        self._number = change.pull.number
        self._existing = existing
        self._statuses_before = statuses_before
        self.written: dict[str, Comment] = {}  # marker -> the comment written or confirmed
        self.comments = 0
        self.statuses = 0

    @classmethod
    def start(
        cls, change: context.Change, existing: tuple[Comment, ...], remembered: memory.State
    ) -> _Writer:
        head = change.pull.head_sha
        # A head planned before (an approval, a command) already has statuses: read
        # them once and write only those that change.
        before = (
            {s.context: s for s in change.forge.statuses(head)}
            if any(p.sha == head for p in remembered.planned)
            else {}
        )
        return cls(change, existing, before)

    def status(self, status: Status) -> None:
        if self._statuses_before.get(status.context) != status:
            self._forge.set_status(status)
            self.statuses += 1

    def env(self, result: Plan, env: EnvPlan, decision: gate.Decision, state: memory.State) -> None:
        settings = self._change.settings
        budget = settings.comment_limit - policy.MAX_CHARS - 2000
        if _comments_on(env, settings.comment_mode, self._existing):
            parts = list(markdown.env_comment(result, env, budget=budget))
            self._sections(env.env, parts, decision, state, (env.env,))
        self._statuses(env, decision)

    def group(
        self,
        result: Plan,
        envs: tuple[EnvPlan, ...],
        decisions: Mapping[str, gate.Decision],
        state: memory.State,
    ) -> None:
        """One comment for `envs` (the same change), and each one's statuses."""
        budget = self._change.settings.comment_limit - policy.MAX_CHARS - 2000
        parts = list(markdown.group_comment(result, envs, budget=budget))
        first = envs[0].env
        names = tuple(e.env for e in envs)
        self._sections(markdown.GROUP + first, parts, decisions[first], state, names)
        for env in envs:
            self._statuses(env, decisions[env.env])

    def _sections(
        self,
        key: str,
        parts: list[str],
        decision: gate.Decision,
        state: memory.State,
        envs: tuple[str, ...],
    ) -> None:
        """Part 1 with the gate's section and the memory of `envs`, then written."""
        head = self._change.pull.head_sha
        first = parts[0] + "\n\n" + policy.section(decision) + "\n"
        parts[0] = first + memory.encode(_only(state, *envs))
        # What the comment said before this run learned since when the head is
        # shown: learning that alone rewrites nothing (a second planner of the
        # same head writes nothing), and the comment's updated_at keeps it.
        unseen = first + memory.encode(_only(memory.without_seen(state, head), *envs))
        self._comment(key, parts, unseen)

    def _statuses(self, env: EnvPlan, decision: gate.Decision) -> None:
        head, url = self._change.pull.head_sha, self._change.settings.url
        state_, description = _describe(env)
        self.status(Status(head, CONTEXT.format(env=env.env), state_, description, url))
        verdict = StatusState(decision.state.value)
        self.status(Status(head, decision.context, verdict, decision.description, url))

    def retire(self, grouped: list[str], *, planned: list[str]) -> None:
        """Delete the comments this run's groups replace: the own comments of the
        environments now in a group, and the groups of earlier runs that led with an
        environment planned here but did not come back."""
        written = {prefix.rsplit(" part=", 1)[0] for prefix in self.written}
        for comment in self._existing:
            found = markdown.parse_marker(comment.body) if comment.is_bot else None
            if found is None:
                continue
            name = found[0]
            ours = _marker_prefix(name).rsplit(" part=", 1)[0]
            if ours in written:
                continue
            old_group = name.startswith(markdown.GROUP) and name[1:] in planned
            if name in grouped or old_group:
                self._forge.delete_comment(self._number, comment.id)
                self.comments += 1

    def _comment(self, env: str, parts: list[str], unseen: str) -> None:
        for i, body in enumerate(parts, start=1):
            prefix = _marker_prefix(env).replace("part=1/", f"part={i}/")
            current = next((c for c in self._existing if c.is_bot and prefix in c.body), None)
            same = {_said(body), _said(unseen)} if i == 1 else {_said(body)}
            if current is not None and _said(current.body) in same:
                self.written[prefix] = current  # the same plan of the same head: left as it is
            else:
                self.written[prefix] = self._forge.upsert_comment(
                    self._number, marker=prefix, body=body, existing=self._existing
                )
            self.comments += 1

    def one_each(self) -> None:
        known = {c.id for c in self._existing}
        if any(c.id not in known for c in self.written.values()):
            _one_each(self._forge, self._number, self.written)


def _said(body: str) -> str:
    """What a comment says: its text without the Secret fingerprints, which are
    keyed afresh by every run (core.mask.fingerprint), so two plans of one head
    say the same although their fingerprints differ."""
    return mask.without_fingerprints(body)


def _one_each(forge: ReviewForge, number: int, written: Mapping[str, Comment]) -> None:
    """One comment per marker after this run created some: another planner of the
    same pull request (a CI job next to the webhook server) that also found none
    may have created its own at the same moment. Every such planner keeps the
    oldest and deletes the others, so they agree on which stays. Their texts
    differ only in when each planned (core.pr.memory), and each environment's
    kept comment may be the other's: the smaller text wins everywhere (a
    planner whose comment went writes its own into the kept one only if it
    is smaller), so all comments end with the earlier planning time and the
    next planner of that head finds them up to date."""
    now = forge.comments(number)
    for marker, mine in written.items():
        same = sorted((c for c in now if c.is_bot and marker in c.body), key=lambda c: c.id)
        for extra in same[1:]:
            forge.delete_comment(number, extra.id)
        if same and same[0].id != mine.id and _said(mine.body) < _said(same[0].body):
            forge.upsert_comment(number, marker=marker, body=mine.body, existing=same[:1])


def _state(existing: tuple[Comment, ...]) -> memory.State:
    """What the bot's own comments remember (anyone can paste a block into theirs)."""
    state = memory.State()
    for comment in existing:
        if comment.is_bot:
            state = memory.merge(state, memory.decode(comment.body).state)
    return state


def own_comments(comments: tuple[Comment, ...]) -> list[tuple[str, datetime | None]]:
    """(body, updated_at) of the bot's own comments, for prstate.shown_since."""
    return [(c.body, forge_time(c.updated_at or c.created_at)) for c in comments if c.is_bot]


def forge_time(text: str) -> datetime | None:
    """A forge's ISO 8601 timestamp ("...Z", "...+00:00", with or without
    fractions), or None when it is missing or unreadable."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _only(state: memory.State, *envs: str) -> memory.State:
    """The part of `state` that the comment of `envs` (one, or a group) keeps."""
    return memory.State(
        planned=tuple(
            memory.Planned(
                p.sha, p.at, {e: p.hashes[e] for e in envs if e in p.hashes}, seen=p.seen
            )
            for p in state.planned
            if any(e in p.hashes for e in envs)
        ),
        confirmations={k: v for k, v in state.confirmations.items() if k in envs},
        holds={k: v for k, v in state.holds.items() if k in (*envs, memory.ALL)},
    )


def _groups(
    result: Plan, decisions: Mapping[str, gate.Decision], mode: str
) -> list[tuple[EnvPlan, ...]]:
    """The planned environments in comment groups, in the plan's order: those whose
    change is the same (_same_change) share one; every other is alone."""
    keyed: dict[object, list[EnvPlan]] = {}
    order: list[object] = []
    for env in result.envs:
        # "changes": an environment without one has no comment, or keeps its own.
        alike = mode == "always" or (mode == "changes" and env.has_changes)
        key = _same_change(env, decisions[env.env]) if alike else None
        key = key if key is not None else ("alone", env.env)
        if key not in keyed:
            keyed[key] = []
            order.append(key)
        keyed[key].append(env)
    return [tuple(keyed[k]) for k in order]


def _same_change(env: EnvPlan, decision: gate.Decision) -> object | None:
    """What two environments' comments would say alike, their own names and namespaces
    set aside; None for a plan that keeps its own comment (an error, a live plan:
    its drift is the environment's own)."""
    if env.error or env.live is not None or env.live_missing:
        return None

    def plain(text: str, key: Key | None = None) -> str:
        names = [env.env, *((key.name, key.namespace) if key else ())]
        for name in sorted((n for n in names if n), key=len, reverse=True):
            text = re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w.])", "\0", text)
        return text

    def changed_lines(diff: str) -> str:
        """The lines a diff changes: the context around them may differ (a label
        of the environment's region next to the image) where the change does not."""
        lines = diff.splitlines()
        return "\n".join(
            line
            for line in lines
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
        )

    changes = tuple(
        (
            c.action,
            c.key.group,
            c.key.kind,
            plain(changed_lines(c.diff), c.key),
            c.secret_keys,
            c.note,
            plain(str(c.origin), c.key),
            plain(str(c.renamed_from), c.key),
        )
        for c in env.changes
    )
    sources = tuple(plain(str(s)) for s in env.sources)
    return (changes, sources, plain(policy.section(decision)))
