"""What the demo prints: headings, the outcome tables, the next steps.

Owns: the demo's text layout (plain text, readable in a terminal): a
heading per step, a table of the objects one puller sync applied with their
outcome and health, the request counts that prove a no-op, and the closing
pointers. Refuses: deciding anything (the story in demo/__init__.py does).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from tabulate import tabulate

from gitops_bot.core.objects.outcome import ApplyResult

MUTATING = ("apply", "delete")  # kinds of call in ApplyResult.requests that change the cluster
DOCS = (
    ("docs/quickstart-github.md", "install the bot on a GitHub repository"),
    ("docs/quickstart-gitlab.md", "the same for GitLab merge requests"),
    ("docs/policy.md", "approvals, owners, locks and destructive changes"),
    ("docs/chatops.md", "the /gitops commands in PR comments"),
    ("docs/puller.md", "the in-cluster agent that applied the change"),
)


def step(out: TextIO, number: int, title: str) -> None:
    rule = "=" * 72
    out.write(f"\n{rule}\n{number}. {title}\n{rule}\n\n")
    out.flush()


def mutating(result: ApplyResult) -> int:
    return sum(result.requests.get(kind, 0) for kind in MUTATING)


def requests(result: ApplyResult) -> str:
    counts = ", ".join(f"{k} {n}" for k, n in sorted(result.requests.items())) or "none"
    return f"requests: {counts}; {mutating(result)} mutating"


def applied(out: TextIO, results: Mapping[str, ApplyResult], commit: str) -> None:
    """One row per object: what the puller did to it and how healthy it is."""
    rows = []
    for env, result in results.items():
        for obj in result.objects:
            key = obj.key
            rows.append(
                (
                    env,
                    key.kind,
                    key.namespace or "",
                    key.name,
                    obj.outcome.name.lower().replace("_", " "),
                    obj.health.status.value if obj.health else "-",
                    obj.health.message if obj.health else obj.message,
                )
            )
    headers = ("ENV", "KIND", "NAMESPACE", "NAME", "OUTCOME", "HEALTH", "DETAIL")
    out.write(tabulate(rows, headers=headers) + "\n\n")
    for env, result in results.items():
        verdict = "applied" if result.ok else f"FAILED: {result.error}"
        out.write(f"{env} at {commit[:12]}: {verdict}; {requests(result)}\n")


def next_steps(out: TextIO, *, kept: tuple[Path, Path] | None, kubectl: str) -> None:
    out.write("What to look at next:\n\n")
    for path, what in DOCS:
        out.write(f"  {path:28} {what}\n")
    out.write(
        "\n  gitops-bot plan --help       plan a change of your own repository\n"
        "  gitops-bot demo --keep       run this again and keep the cluster and the repository\n"
    )
    if kept is not None:
        kubeconfig, repo = kept
        out.write(
            "\nThe cluster and the repository stay until Ctrl-C:\n"
            f"  export KUBECONFIG={kubeconfig}\n"
            f"  {kubectl} -n shop-prod get deploy,svc,secret,widgets\n"
            f"  {kubectl} -n gitops-bot get configmaps  # the ApplySet parents and status\n"
            f"  cd {repo} && git log --oneline --all\n"
        )
    out.flush()
