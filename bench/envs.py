"""How long does a change to a shared base take to plan across many environments?

Run: .venv/bin/python bench/envs.py [--envs 100] [--apps 20] [--rounds 3] [--keep DIR]

Generates a platform repository in a temporary git repository, the way real
ones are laid out: one shared base (`--apps` Deployments with their Services
and a ConfigMap of settings) under base/, and one overlay per environment under
envs/<region>-<tenant>/ (regions x tenants, `--envs` of them) with a
namePrefix, its own namespace, common labels, a strategic-merge patch of the
resources and a JSON patch of the settings; one in five pins its own image
tag (so the base's image change does not reach it), one in seven scales its
replicas, one in eleven adds a ConfigMap of its own, so not all of them
render alike. The change under test (branch `change`) bumps the image of one
base Deployment: every environment reads the base, so all of them are
affected and planned.

Each round runs `gitops-bot plan --format json` (the CLI, as a user or the
PR job runs it, a fresh process) for main..change and times it, and reads
the process' own peak RSS (os.wait4). With `--workers
1,2` (the default: one by one, and the cores this machine gives), each round
runs every setting in turn (alternating, so a busy neighbour slows both alike).
Prints, per setting, the median with the spread (min-max) of the rounds, the
peak RSS, the environments planned and how many changed. The kustomize and helm binaries
are the test environment's ($GITOPS_BOT_TESTENV_BIN, as the tests use).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from gitops_bot.testing.binaries import locate

REGIONS = ("eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-east", "sa-east")
TENANTS = tuple(f"t{i:02d}" for i in range(1, 100))


def names(count: int) -> list[str]:
    """`count` environment names, <region>-<tenant>, spread over the regions."""
    return [f"{REGIONS[i % len(REGIONS)]}-{TENANTS[i // len(REGIONS)]}" for i in range(count)]


def _dump(*docs: object) -> str:
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def base_files(apps: int, image_tag: str) -> dict[str, str]:
    """The shared base: `apps` Deployments and Services, and a settings ConfigMap."""
    files: dict[str, str] = {}
    resources = []
    for a in range(apps):
        app = f"app{a:02d}"
        labels = {"app": app}
        tag = image_tag if a == 0 else "1.0.0"
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": app, "labels": labels},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": app,
                                "image": f"registry.example.com/{app}:{tag}",
                                "ports": [{"containerPort": 8080}],
                                "envFrom": [{"configMapRef": {"name": "settings"}}],
                                "resources": {
                                    "requests": {"cpu": "100m", "memory": "128Mi"},
                                    "limits": {"memory": "256Mi"},
                                },
                                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                            }
                        ]
                    },
                },
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": app, "labels": labels},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        }
        files[f"base/{app}.yaml"] = _dump(deployment, service)
        resources.append(f"{app}.yaml")
    settings = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"LOG_LEVEL": "info", "REGION": "unset", "FEATURE_X": "false"},
    }
    files["base/settings.yaml"] = _dump(settings)
    files["base/kustomization.yaml"] = _dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [*resources, "settings.yaml"],
        }
    )
    return files


def overlay_files(index: int, name: str) -> dict[str, str]:
    """envs/<name>/: prefix, namespace, labels, patches; some differ further."""
    region = name.rsplit("-", 1)[0]
    folder = f"envs/{name}"
    kustomization: dict[str, object] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": f"tenant-{name}",
        "namePrefix": f"{name.rsplit('-', 1)[1]}-",
        "labels": [{"pairs": {"region": region, "env": name}, "includeSelectors": False}],
        "resources": ["../../base"],
        "patches": [
            {"path": "resources.yaml", "target": {"kind": "Deployment"}},
            {
                "target": {"kind": "ConfigMap", "name": "settings"},
                "patch": _dump([{"op": "replace", "path": "/data/REGION", "value": region}]),
            },
        ],
    }
    files = {
        f"{folder}/resources.yaml": _dump(
            [
                {
                    "op": "add",
                    "path": "/metadata/annotations",
                    "value": {"example.com/owner": f"team-{name}"},
                }
            ]
        )
    }
    if index % 5 == 4:  # pins its own tag of app00: the base's bump does not reach it
        kustomization["images"] = [{"name": "registry.example.com/app00", "newTag": f"0.9.{index}"}]
    if index % 7 == 3:
        kustomization["replicas"] = [{"name": "app01", "count": 3 + index % 4}]
    if index % 11 == 5:
        kustomization["resources"] = ["../../base", "extra.yaml"]
        files[f"{folder}/extra.yaml"] = _dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "extra"},
                "data": {"tenant": name},
            }
        )
    files[f"{folder}/kustomization.yaml"] = _dump(kustomization)
    return files


def _git(work: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(work), *args], check=True, capture_output=True, text=True
    )
    return done.stdout


def _write(work: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def generate(work: Path, *, envs: int, apps: int) -> list[str]:
    """The repository at `work`: main with the base and the overlays, and
    `change`, which bumps app00's image in the base. The environments' names."""
    work.mkdir(parents=True, exist_ok=True)
    _git(work, "init", "-q", "-b", "main")
    _git(work, "config", "user.email", "bench@example.com")
    _git(work, "config", "user.name", "bench")
    envs_named = names(envs)
    files = base_files(apps, "1.0.0")
    config = {
        "version": 1,
        "environments": {n: {"kustomize": f"envs/{n}"} for n in envs_named},
    }
    files[".gitops.yaml"] = yaml.safe_dump(config, sort_keys=False)
    for i, n in enumerate(envs_named):
        files |= overlay_files(i, n)
    _write(work, files)
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "platform repository")
    _git(work, "checkout", "-q", "-b", "change")
    _write(work, {"base/app00.yaml": base_files(apps, "1.1.0")["base/app00.yaml"]})
    _git(work, "commit", "-q", "-am", "app00 1.1.0")
    _git(work, "checkout", "-q", "main")
    return envs_named


def plan_once(work: Path, env: dict[str, str], *args: str) -> tuple[float, float, dict[str, Any]]:
    """One `gitops-bot plan ARGS` of main..change: seconds, peak RSS (MiB), its JSON."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gitops_bot",
                "plan",
                *("--repo", str(work), "--base", "main", "--head", "change"),
                *("--format", "json", *args),
            ],
            stdout=out,
            stderr=err,
            env=env,
        )
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS
        took = time.monotonic() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode not in (0, 1):  # 1: there are changes
            tail = err.read().decode()[-4000:]
            raise SystemExit(f"gitops-bot plan failed ({process.returncode}):\n{tail}")
        return took, usage.ru_maxrss / 1024, json.loads(out.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=100)
    parser.add_argument("--apps", type=int, default=20, help="Deployments (+Services) in the base")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate the repository here and keep it")
    parser.add_argument(
        "--workers",
        default=f"1,{len(os.sched_getaffinity(0))}",
        help="comma-separated --workers settings to time, alternating",
    )
    args = parser.parse_args()

    binaries = locate()
    env = dict(os.environ)
    env["GITOPS_BOT_KUSTOMIZE"] = binaries.path("kustomize")
    env["GITOPS_BOT_HELM"] = binaries.path("helm")
    with tempfile.TemporaryDirectory(prefix="bench-envs-") as tmp:
        work = args.keep or Path(tmp) / "repo"
        started = time.monotonic()
        generate(work, envs=args.envs, apps=args.apps)
        print(
            f"generated {args.envs} environments x {2 * args.apps + 1} objects "
            f"in {time.monotonic() - started:.1f} s; cpus: {len(os.sched_getaffinity(0))}",
            flush=True,
        )
        settings = [int(w) for w in args.workers.split(",")]
        times: dict[int, list[float]] = {w: [] for w in settings}
        rss: dict[int, float] = dict.fromkeys(settings, 0.0)
        result: dict[str, object] = {}
        for r in range(args.rounds):
            for workers in settings:
                took, peak, result = plan_once(work, env, "--workers", str(workers))
                rss[workers] = max(rss[workers], peak)
                times[workers].append(took)
                print(f"round {r + 1}, --workers {workers}: {took:.2f} s", flush=True)
        planned = result.get("environments")
        assert isinstance(planned, list)
        changed = sum(
            1 for e in planned if any(c["action"] != "unchanged" for c in e.get("changes") or ())
        )
        errors = [e["name"] for e in planned if e.get("error")]
        print(f"plan of {len(planned)} environments ({changed} changed, {len(errors)} errors):")
        for workers, took in times.items():
            print(
                f"  --workers {workers}: median {statistics.median(took):.2f} s "
                f"(min {min(took):.2f}, max {max(took):.2f}, {args.rounds} rounds); "
                f"peak RSS {rss[workers]:.0f} MiB"
            )
        if errors:
            raise SystemExit(f"errors in {errors[:5]}")


if __name__ == "__main__":
    main()
