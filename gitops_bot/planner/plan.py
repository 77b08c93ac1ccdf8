"""Use case: plan a change (what `gitops-bot plan` and the PR job do).

Owns: the glue from two commits to a core.plan.Plan: the merge base, the
configuration at both ends (the base end's through planner.configs.read_config,
or the event's parsed copy a review passes in), which environments the change affects, their
renders at both ends, the offline diff, and (when asked) the live diff and
the drift, with every error scrubbed of secret values. The affected
environments are planned at once, as many as the machine's cores (`workers`):
a render is mostly its kustomize or helm subprocess, so threads suffice; each
environment's meter starts when its own plan does, and only the finished
EnvPlans (not the renders) outlive an environment's plan, so memory is bounded
by the workers, not the environments; the order of the plan is the
configuration's either way. A `Shard` (I/N) plans only its share of the
affected environments (the sorted names' positions mod N: every shard
decides the same affected set from the same commits, so each environment is
exactly one shard's), and `affected` says which environments a change
affects without rendering them (what a summary over all shards needs).
Refuses: formatting (core.report) and reading flags or the environment (the
CLI does).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gitops_bot.cluster import observe
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import diff, fieldsv1, ignore, normalize
from gitops_bot.core.objects.model import Key, Manifest, Render
from gitops_bot.core.repo import affected as affected_mod
from gitops_bot.core.repo import config
from gitops_bot.core.repo.bounds import Bounds, Meter
from gitops_bot.core.report.plan import (
    Drift,
    EnvPlan,
    Plan,
    ResourceChange,
    Skipped,
    SourceChange,
)
from gitops_bot.core.secrets import mask
from gitops_bot.errors import BotError, ConfigError
from gitops_bot.planner import configs
from gitops_bot.render import fetch
from gitops_bot.render import inputs as inputs_mod
from gitops_bot.render import render as render_mod
from gitops_bot.render.fetch import SourcePolicy
from gitops_bot.render.sandbox import Limits
from gitops_bot.vcs.git import Git

ClusterFor = Callable[[config.Environment], Kube]
# The base end's configuration at a commit (configs.read_config, or an event's
# Configs, which parses each commit once).
BaseConfig = Callable[[str], config.Config | None]


class LivePlans(Protocol):
    """Where live plans come from when this process holds no cluster credentials:
    the in-cluster puller (gitops_bot.web.planclient)."""

    def live(self, base: str, head: str, envs: tuple[str, ...]) -> Plan | str:
        """The live plan of base..head for `envs` (masked in the cluster), or why none."""
        ...


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `total` (1-based), as `--shard 2/8` says it."""

    index: int
    total: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, slash, total = text.strip().partition("/")
        if not (slash and index.isdigit() and total.isdigit()):
            raise ConfigError(f"shard {text!r}: write it as I/N, e.g. 2/8")
        shard = cls(int(index), int(total))
        if not 1 <= shard.index <= shard.total:
            raise ConfigError(f"shard {text!r}: I must be between 1 and N")
        return shard

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"

    def of(self, name: str, names: Iterable[str]) -> int:
        """The shard (1-based) that plans `name` among the affected `names`."""
        return sorted(names).index(name) % self.total + 1


@dataclass(frozen=True)
class Request:
    base: str  # ref of the target branch
    head: str  # ref of the change
    envs: tuple[str, ...] = ()  # plan only these (always, affected or not)
    live: bool = False
    config_file: str = ".gitops.yaml"
    shard: Shard | None = None  # plan only this shard's share of the affected


def _ends(
    repo: Git, request: Request, base_config: BaseConfig | None
) -> tuple[str, str, config.Config, config.Config | None]:
    """The merge base and the head of `request`, and the configuration at each."""
    head = repo.resolve(request.head)
    base = repo.merge_base(repo.resolve(request.base), head)
    head_cfg = _head_config(repo, head, request.config_file)
    base_cfg = (
        base_config(base)
        if base_config is not None
        else configs.read_config(repo, base, request.config_file)
    )
    return base, head, head_cfg, base_cfg


def _head_config(repo: Git, commit: str, file: str) -> config.Config:
    """The change's own configuration (the base's is configs.read_config's)."""
    text = repo.read(commit, file)
    if text is None:
        raise ConfigError(f"{file}: not found at {commit[:12]}")
    return config.parse(text, file=file)


def plan(
    *,
    repo: Git,
    request: Request,
    tools: render_mod.Tools,
    cluster_for: ClusterFor | None = None,
    mask_key: bytes,
    limits: Limits | None = None,
    bounds: Bounds | None = None,
    base_config: BaseConfig | None = None,
    live_via: LivePlans | None = None,
    sources: SourcePolicy | None = None,
    workers: int | None = None,
) -> Plan:
    """The plan of request.base..request.head. Live, when asked: with a client per
    environment from `cluster_for`, or, given `live_via`, the offline plan made
    here with the live part asked of the puller (_with_live). `workers`
    environments at once (default: the cores this process may use)."""
    limits = limits or Limits()
    bounds = bounds or Bounds()
    base, head, head_cfg, base_cfg = _ends(repo, request, base_config)
    base_envs = {e.name: e for e in base_cfg.environments} if base_cfg else {}
    # What may be fetched: the bot's own list and the base branch's, never the change's.
    fetching = fetch.with_allowed(
        sources or SourcePolicy(), base_cfg.allow_sources if base_cfg else ()
    )

    with repo.checkout(base) as base_tree, repo.checkout(head) as head_tree:
        todo, skipped = _decide(
            repo,
            request,
            (base, head),
            head_cfg=head_cfg,
            base_envs=base_envs,
            trees=(base_tree, head_tree),
        )
        if request.shard is not None:
            todo, skipped = _shared(request.shard, todo, skipped)

        def one(env: config.Environment) -> EnvPlan:
            return _plan_env(
                env,
                base_env=base_envs.get(env.name),
                trees=(base_tree, head_tree),
                tools=tools,
                limits=limits,
                sources=fetching,
                meter=bounds.meter(env.name),  # its clock starts now, not when queued
                kube=cluster_for(env)
                if request.live and cluster_for and live_via is None
                else None,
                mask_key=mask_key,
            )

        envs = _each(one, todo, workers=workers or default_workers())
    if request.live and live_via is not None and envs:
        answer = live_via.live(base, head, tuple(e.env for e in envs))
        envs = [_with_live(env, answer) for env in envs]
    return Plan(
        base=base,
        head=head,
        envs=tuple(envs),
        skipped=tuple(skipped),
        sandbox=render_mod.isolation(),
    )


def affected(
    *, repo: Git, request: Request, base_config: BaseConfig | None = None
) -> tuple[tuple[str, ...], tuple[Skipped, ...]]:
    """The environments `plan` would plan for `request` (all shards'), and those
    it would skip, without rendering any."""
    base, head, head_cfg, base_cfg = _ends(repo, request, base_config)
    base_envs = {e.name: e for e in base_cfg.environments} if base_cfg else {}
    with repo.checkout(base) as base_tree, repo.checkout(head) as head_tree:
        todo, skipped = _decide(
            repo,
            request,
            (base, head),
            head_cfg=head_cfg,
            base_envs=base_envs,
            trees=(base_tree, head_tree),
        )
    return tuple(e.name for e in todo), tuple(skipped)


def _decide(
    repo: Git,
    request: Request,
    commits: tuple[str, str],
    *,
    head_cfg: config.Config,
    base_envs: Mapping[str, config.Environment],
    trees: tuple[Path, Path],
) -> tuple[list[config.Environment], list[Skipped]]:
    """The environments to plan (the change affects them, or they are asked for),
    and the others, with why."""
    wanted = [head_cfg.env(name) for name in request.envs] or list(head_cfg.environments)
    changed = repo.changed_files(*commits)
    reads = {env.name: _reads(env, base_envs.get(env.name), trees=trees) for env in wanted}
    verdicts = affected_mod.decide(reads, changed, config_file=request.config_file)
    todo, skipped = [], []
    for env, verdict in zip(wanted, verdicts, strict=True):
        if not verdict.affected and not request.envs:
            skipped.append(Skipped(env.name, verdict.reason))
        else:
            todo.append(env)
    return todo, skipped


def _shared(
    shard: Shard, todo: list[config.Environment], skipped: list[Skipped]
) -> tuple[list[config.Environment], list[Skipped]]:
    """This shard's share of `todo`; the others' are skipped, saying whose they are."""
    position = {name: i for i, name in enumerate(sorted(e.name for e in todo))}
    mine, theirs = [], []
    for env in todo:
        owner = position[env.name] % shard.total + 1  # as Shard.of, sorting once
        if owner == shard.index:
            mine.append(env)
        else:
            theirs.append(Skipped(env.name, f"shard {owner}/{shard.total} plans it"))
    return mine, skipped + theirs


def default_workers() -> int:
    """The cores this process may run on: how many environments are planned at once."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _each(
    one: Callable[[config.Environment], EnvPlan],
    envs: Sequence[config.Environment],
    *,
    workers: int,
) -> list[EnvPlan]:
    """`one` of each of `envs`, `workers` at a time, in the order of `envs`."""
    if workers <= 1 or len(envs) <= 1:
        return [one(env) for env in envs]
    with ThreadPoolExecutor(max_workers=min(workers, len(envs))) as pool:
        return list(pool.map(one, envs))


def _with_live(env: EnvPlan, answer: Plan | str) -> EnvPlan:
    """`env` (planned here, offline) with the live part of the puller's plan of it,
    or with why there is none: the offline plan then stands as it is."""
    if isinstance(answer, str):
        return dataclasses.replace(env, live_missing=answer)
    theirs = next((e for e in answer.envs if e.env == env.env), None)
    if theirs is None:
        why = next((s.reason for s in answer.skipped if s.env == env.env), "it was not planned")
        return dataclasses.replace(env, live_missing=f"the puller did not plan {env.env}: {why}")
    if env.render_hash and theirs.render_hash and env.render_hash != theirs.render_hash:
        return dataclasses.replace(
            env,
            live_missing=(
                f"the puller rendered {env.env} differently (render {theirs.render_hash[:12]}, "
                f"this job's {env.render_hash[:12]}): its kustomize or helm differ from this "
                "job's, so its live diff would not be of this plan"
            ),
        )
    return dataclasses.replace(
        env, live=theirs.live, drift=theirs.drift, error=env.error or theirs.error
    )


def _reads(
    env: config.Environment, base_env: config.Environment | None, *, trees: tuple[Path, Path]
) -> affected_mod.Inputs:
    """What `env` reads at either end. When the walk fails (a kustomization
    that is not YAML) the whole repository: the env counts as affected, and
    its render then says what is wrong, scrubbed like every render error."""
    try:
        head = inputs_mod.inputs(env, root=trees[1])
        base = inputs_mod.inputs(base_env, root=trees[0]) if base_env else affected_mod.Inputs()
    except BotError:
        return affected_mod.Inputs(trees=frozenset({"."}))
    return head.union(base)


def _plan_env(
    env: config.Environment,
    *,
    base_env: config.Environment | None,
    trees: tuple[Path, Path],
    tools: render_mod.Tools,
    limits: Limits,
    sources: SourcePolicy,
    meter: Meter,
    kube: Kube | None,
    mask_key: bytes,
) -> EnvPlan:
    # Both ends are rendered even when one fails: the other's Secrets are
    # then known, and scrubbed from everything that leaves (render errors are
    # scrubbed of their own inputs' values already, render.secrets).
    # Floating sources are the base branch's call, as every policy key is.
    floating = base_env is not None and base_env.policy.floating_sources
    how = _How(tools, limits, dataclasses.replace(sources, floating=floating), meter)
    head_render, head_error = _render(env, trees[1], how)
    base_render, base_error = (
        _render(base_env, trees[0], how)
        if base_env is not None
        else (Render.of(env.name, ()), None)
    )
    renders = (base_render, head_render)
    pins = _sources(base_render, head_render)
    secrets = _secrets(m.obj for r in renders if r is not None for m in r.manifests)
    head_hash = head_render.hash if head_render is not None else None
    failed = [head_error] if head_error else []
    if base_error and base_error != head_error:  # the same words twice tell nothing more
        failed.append(f"at the merge base, not in this change: {base_error}")
    if head_render is None or base_render is None:
        return _scrubbed(
            EnvPlan(env=env.name, render_hash=head_hash, sources=pins, error="\n".join(failed)),
            secrets,
            renders,
        )
    try:
        rules = base_env.ignore_fields if base_env else ()  # the base branch's, as policy
        changes = diff.compute(
            *ignore.views(base_render, head_render, rules), mask_key=mask_key, meter=meter
        )
        if kube is None:
            return _scrubbed(
                EnvPlan(env=env.name, render_hash=head_hash, sources=pins, changes=changes),
                secrets,
                renders,
            )
        live, drift, errors = live_diff(
            kube, base_render, head_render, mask_key=mask_key, secrets=secrets, ignore_fields=rules
        )
    except BotError as err:
        return _scrubbed(
            EnvPlan(env=env.name, render_hash=head_hash, sources=pins, error=str(err)),
            secrets,
            renders,
        )
    return _scrubbed(
        EnvPlan(
            env=env.name,
            render_hash=head_hash,
            sources=pins,
            changes=changes,
            live=live,
            drift=drift,
            error="; ".join(errors) if errors else None,
        ),
        secrets,
        renders,
    )


@dataclass(frozen=True)
class _How:
    """How an environment is rendered at either end."""

    tools: render_mod.Tools
    limits: Limits
    sources: SourcePolicy
    meter: Meter


def _render(env: config.Environment, root: Path, how: _How) -> tuple[Render | None, str | None]:
    """The render of `env` at `root`, or None and why not."""
    try:
        rendered = render_mod.render(
            env,
            root=root,
            tools=how.tools,
            limits=how.limits,
            meter=how.meter,
            sources=how.sources,
        )
    except BotError as err:
        return None, str(err)
    return rendered, None


def _sources(base: Render | None, head: Render | None) -> tuple[SourceChange, ...]:
    """The remote sources of either end, paired by chart and name."""
    before = {(p.chart, p.name): p for p in base.sources} if base else {}
    after = {(p.chart, p.name): p for p in head.sources} if head else {}
    return tuple(
        SourceChange(chart, name, before.get((chart, name)), after.get((chart, name)))
        for chart, name in sorted(before.keys() | after.keys())
    )


def _scrubbed(env: EnvPlan, secrets: set[str], renders: Iterable[Render | None]) -> EnvPlan:
    """`env` with no Secret value of either render or the cluster left in any
    text: a ConfigMap's DSN holding a Secret's password, a note, an error."""
    names = {env.env}
    for render in renders:
        for manifest in render.manifests if render is not None else ():
            names |= {manifest.key.name, manifest.key.namespace}
    return mask.scrub_env(env, mask.without_names(secrets, names))


def _secrets(objs: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every spelling of every Secret value in `objs`."""
    return set(mask.collect_secret_values(objs))


def live_diff(
    kube: Kube,
    base: Render,
    head: Render,
    *,
    mask_key: bytes,
    secrets: set[str],
    ignore_fields: Sequence[ignore.Rule] = (),
) -> tuple[tuple[ResourceChange, ...], tuple[Drift, ...], list[str]]:
    """Live -> head (what applying would do), drift apart from the change, errors.
    Fields the cluster owns (core.objects.ignore) are neither sent to the dry-run of an
    existing object nor compared."""
    base_by_key, head_by_key = base.by_key(), head.by_key()
    removed = [m for k, m in base_by_key.items() if k not in head_by_key]
    fields, errors = _owned_fields(head, ignore_fields)
    observed = observe.observe(
        kube,
        head.manifests,
        also=removed,
        view=lambda m, live: m.obj if live is None else ignore.strip(m.obj, fields.get(m.key, ())),
    )
    secrets |= _secrets(
        o
        for ob in observed.values()
        for o in (ob.live, ob.dry_run if ob.dry_run is not ob.live else None)
        if o is not None
    )

    changes: list[ResourceChange] = []
    drift: list[Drift] = []
    for manifest in head.manifests:
        seen = observed[manifest.key]
        if seen.error:
            errors.append(seen.error)
            continue
        change, drifted = _live_change(
            manifest,
            seen,
            fields.get(manifest.key, ()),
            base_by_key.get(manifest.key),
            mask_key=mask_key,
        )
        changes.append(change)
        drift += drifted
    for manifest in removed:  # what the puller would prune
        live_obj = observed[manifest.key].live
        if live_obj is not None:
            changes.append(
                diff.compare(
                    manifest.key, live_obj, None, mask_key=mask_key, origin=manifest.origin
                )
            )
    changes.sort(key=lambda c: c.key)
    return tuple(changes), tuple(drift), errors


def _owned_fields(
    head: Render, rules: Sequence[ignore.Rule]
) -> tuple[dict[Key, tuple[ignore.Field, ...]], list[str]]:
    """The fields the cluster owns of each head object, and the rules that could
    not be applied."""
    fields: dict[Key, tuple[ignore.Field, ...]] = {}
    errors: list[str] = []
    for m in head.manifests:
        try:
            fields[m.key] = ignore.fields_for(m.obj, rules, where=f"{m.key} ({m.origin})")
        except ConfigError as err:
            errors.append(str(err))
    return fields, errors


def _live_change(
    manifest: Manifest,
    seen: observe.Observed,
    fields: tuple[ignore.Field, ...],
    base: Manifest | None,
    *,
    mask_key: bytes,
) -> tuple[ResourceChange, list[Drift]]:
    """What applying `manifest` would do to what the cluster holds, and its drift."""
    after = seen.dry_run if seen.dry_run is not None else dict(manifest.obj)
    if seen.live is not None and fields:
        seen = observe.Observed(
            seen.key,
            live=ignore.strip(seen.live, fields),
            dry_run=ignore.strip(after, fields),
            note=seen.note,
        )
        after = seen.dry_run or after
    change = diff.compare(manifest.key, seen.live, after, mask_key=mask_key, origin=manifest.origin)
    if seen.note:
        change = _with_note(change, seen.note)
    if seen.live is None or seen.dry_run is None:
        return change, []
    drift = _drift(manifest.key, seen.live, seen.dry_run, base, manifest, mask_key=mask_key)
    return change, drift


def _with_note(change: ResourceChange, note: str) -> ResourceChange:
    return ResourceChange(
        key=change.key,
        action=change.action,
        diff=change.diff,
        secret_keys=change.secret_keys,
        origin=change.origin,
        note=note,
    )


def _drift(
    key: Key,
    live: Mapping[str, Any],
    dry_run: Mapping[str, Any],
    base: Manifest | None,
    head: Manifest,
    *,
    mask_key: bytes,
) -> list[Drift]:
    """Fields where the cluster differs from what applying would make, that this
    change does not touch: someone changed them in the cluster."""
    if live is dry_run:  # an apply would change nothing (observe proved it): no drift
        return []
    touched: set[tuple[Any, ...]] | None = None  # only when the cluster differs at all
    found = []
    have, want = normalize.for_diff(live), normalize.for_diff(dry_run)
    masked_have, masked_want = None, None  # only when something drifted
    for path, _before, _after in diff.field_changes(have, want):
        if touched is None:
            touched = {
                p
                for p, _, _ in diff.field_changes(
                    normalize.for_diff(base.obj) if base else {}, normalize.for_diff(head.obj)
                )
            }
        if any(path[: len(t)] == t or t[: len(path)] == path for t in touched):
            continue
        if masked_have is None or masked_want is None:
            masked_have = mask.mask_object(have, key=mask_key)
            masked_want = mask.mask_object(want, key=mask_key)
        owners = fieldsv1.owners(live, path)
        live_part = _at(masked_have, path)
        want_part = _at(masked_want, path)
        found.append(
            Drift(
                key=key,
                path=path,
                manager=owners[0] if owners else None,
                diff=diff.unified(_wrap(path, live_part), _wrap(path, want_part), label=str(key)),
            )
        )
    return found


def _at(obj: Any, path: tuple[Any, ...]) -> Any:
    for segment in path:
        if isinstance(segment, tuple) and isinstance(obj, list):
            wanted = dict(segment)
            obj = next(
                (
                    i
                    for i in obj
                    if isinstance(i, dict) and all(i.get(k) == v for k, v in wanted.items())
                ),
                None,
            )
        elif isinstance(segment, int) and isinstance(obj, list):
            obj = obj[segment] if segment < len(obj) else None
        elif isinstance(obj, dict):
            obj = obj.get(segment)
        else:
            return None
    return obj


def _wrap(path: tuple[Any, ...], value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    return {diff.path_text(path): value}
