"""Use case: plan a change (what `gitops-bot plan` and the PR job do).

Owns: the glue from two commits to a core.plan.Plan: the merge base, the
configuration at both ends, which environments the change affects, their
renders at both ends, the offline diff, and (when asked) the live diff and
the drift, with every error scrubbed of secret values. Refuses: formatting
(core.report) and reading flags or the environment (the CLI does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_bot.cluster import observe as observe_mod
from gitops_bot.cluster.kube import Kube
from gitops_bot.core import affected, config, diff, fieldsv1, mask, normalize
from gitops_bot.core.bounds import Bounds, Meter
from gitops_bot.core.model import Key, Manifest, Render
from gitops_bot.core.plan import Drift, EnvPlan, Plan, ResourceChange, Skipped
from gitops_bot.errors import BotError, ConfigError, RenderError
from gitops_bot.render import inputs as inputs_mod
from gitops_bot.render import render as render_mod
from gitops_bot.render.sandbox import Limits
from gitops_bot.vcs.git import Git

ClusterFor = Callable[[config.Environment], Kube]


@dataclass(frozen=True)
class Request:
    base: str  # ref of the target branch
    head: str  # ref of the change
    envs: tuple[str, ...] = ()  # plan only these (always, affected or not)
    live: bool = False
    config_file: str = ".gitops.yaml"


def _config_at(repo: Git, commit: str, file: str, *, required: bool) -> config.Config | None:
    text = repo.read(commit, file)
    if text is None:
        if required:
            raise ConfigError(f"{file}: not found at {commit[:12]}")
        return None
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
) -> Plan:
    limits = limits or Limits()
    bounds = bounds or Bounds()
    head = repo.resolve(request.head)
    base = repo.merge_base(repo.resolve(request.base), head)
    head_cfg = _config_at(repo, head, request.config_file, required=True)
    if head_cfg is None:  # required=True raised already; this tells the type checker
        raise ConfigError(f"{request.config_file}: not found at {head[:12]}")
    base_cfg = _config_at(repo, base, request.config_file, required=False)
    base_envs = {e.name: e for e in base_cfg.environments} if base_cfg else {}
    wanted = [head_cfg.env(name) for name in request.envs] or list(head_cfg.environments)
    changed = repo.changed_files(base, head)

    with repo.checkout(base) as base_tree, repo.checkout(head) as head_tree:
        reads = {
            env.name: inputs_mod.inputs(env, root=head_tree).union(
                inputs_mod.inputs(base_envs[env.name], root=base_tree)
                if env.name in base_envs
                else affected.Inputs()
            )
            for env in wanted
        }
        verdicts = affected.decide(reads, changed, config_file=request.config_file)
        envs, skipped = [], []
        for env, verdict in zip(wanted, verdicts, strict=True):
            if not verdict.affected and not request.envs:
                skipped.append(Skipped(env.name, verdict.reason))
                continue
            envs.append(
                _plan_env(
                    env,
                    base_env=base_envs.get(env.name),
                    trees=(base_tree, head_tree),
                    tools=tools,
                    limits=limits,
                    meter=bounds.meter(env.name),
                    kube=cluster_for(env) if request.live and cluster_for else None,
                    mask_key=mask_key,
                )
            )
    return Plan(base=base, head=head, envs=tuple(envs), skipped=tuple(skipped))


def _plan_env(
    env: config.Environment,
    *,
    base_env: config.Environment | None,
    trees: tuple[Path, Path],
    tools: render_mod.Tools,
    limits: Limits,
    meter: Meter,
    kube: Kube | None,
    mask_key: bytes,
) -> EnvPlan:
    secrets: set[str] = set()
    head_render = Render.of(env.name, ())
    try:
        head_render = render_mod.render(env, root=trees[1], tools=tools, limits=limits, meter=meter)
        try:
            base_render = (
                render_mod.render(base_env, root=trees[0], tools=tools, limits=limits, meter=meter)
                if base_env is not None
                else Render.of(env.name, ())
            )
        except RenderError as err:
            raise RenderError(f"at the merge base, not in this change: {err}") from err
        secrets |= _secrets(m.obj for m in (*base_render.manifests, *head_render.manifests))
        changes = diff.compute(
            base_render.by_key(), head_render.by_key(), mask_key=mask_key, meter=meter
        )
        if kube is None:
            return EnvPlan(env=env.name, render_hash=head_render.hash, changes=changes)
        live, drift, errors = live_diff(
            kube, base_render, head_render, mask_key=mask_key, secrets=secrets
        )
    except BotError as err:
        return EnvPlan(
            env=env.name, render_hash=head_render.hash, error=mask.scrub(str(err), secrets)
        )
    return EnvPlan(
        env=env.name,
        render_hash=head_render.hash,
        changes=changes,
        live=live,
        drift=drift,
        error=mask.scrub("; ".join(errors), secrets) if errors else None,
    )


def _secrets(objs: Iterable[Mapping[str, Any]]) -> set[str]:
    return set(mask.collect_secret_values(objs))


def live_diff(
    kube: Kube,
    base: Render,
    head: Render,
    *,
    mask_key: bytes,
    secrets: set[str],
) -> tuple[tuple[ResourceChange, ...], tuple[Drift, ...], list[str]]:
    """Live -> head (what applying would do), drift apart from the change, errors."""
    base_by_key, head_by_key = base.by_key(), head.by_key()
    removed = [m for k, m in base_by_key.items() if k not in head_by_key]
    observed = observe_mod.observe(kube, head.manifests, also=removed)
    secrets |= _secrets(
        o for ob in observed.values() for o in (ob.live, ob.dry_run) if o is not None
    )

    changes: list[ResourceChange] = []
    errors: list[str] = []
    drift: list[Drift] = []
    for manifest in head.manifests:
        seen = observed[manifest.key]
        if seen.error:
            errors.append(seen.error)
            continue
        after = seen.dry_run if seen.dry_run is not None else dict(manifest.obj)
        change = diff.compare(
            manifest.key, seen.live, after, mask_key=mask_key, origin=manifest.origin
        )
        if seen.note:
            change = _with_note(change, seen.note)
        changes.append(change)
        if seen.live is not None and seen.dry_run is not None:
            drift += _drift(
                manifest.key,
                seen.live,
                seen.dry_run,
                base_by_key.get(manifest.key),
                manifest,
                mask_key=mask_key,
            )
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
    touched = {
        p
        for p, _, _ in diff.field_changes(
            normalize.for_diff(base.obj) if base else {}, normalize.for_diff(head.obj)
        )
    }
    found = []
    have, want = normalize.for_diff(live), normalize.for_diff(dry_run)
    masked_have, masked_want = None, None  # only when something drifted
    for path, _before, _after in diff.field_changes(have, want):
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
