from __future__ import annotations

import pytest

from gitops_bot.core.repo.affected import Inputs, Verdict, decide

READS = Inputs(
    files=frozenset({"envs/prod/values.yaml", "deploy/base/deployment.yaml"}),
    folders=frozenset({"deploy/overlays/prod"}),
    trees=frozenset({"charts/shop"}),
)


@pytest.mark.parametrize(
    ("path", "matches"),
    [
        ("envs/prod/values.yaml", True),  # an exact file
        ("envs/prod/other.yaml", False),  # its neighbour is not read
        ("envs/prod", False),
        ("deploy/base/deployment.yaml", True),
        ("deploy/overlays/prod/kustomization.yaml", True),  # directly in a folder
        ("deploy/overlays/prod/patches/p.yaml", False),  # a folder is not a tree
        ("deploy/overlays/production/kustomization.yaml", False),  # a prefix is not a parent
        ("charts/shop/Chart.yaml", True),  # anything below a tree
        ("charts/shop/templates/deep/x.yaml", True),
        ("charts/shop", True),  # the tree itself, e.g. a folder replaced by a file
        ("charts/shopping/Chart.yaml", False),
        ("charts/Chart.yaml", False),
        ("README.md", False),
    ],
)
def test_matches(path: str, matches: bool) -> None:
    assert READS.matches(path) is matches


@pytest.mark.parametrize(
    ("inputs", "path", "matches"),
    [
        (Inputs(folders=frozenset({"."})), "README.md", True),
        (Inputs(folders=frozenset({"."})), "docs/README.md", False),
        (Inputs(trees=frozenset({"."})), "docs/deep/README.md", True),
        (Inputs(), "anything", False),
    ],
)
def test_matches_at_the_repository_root(inputs: Inputs, path: str, matches: bool) -> None:
    assert inputs.matches(path) is matches


def test_union() -> None:
    one = Inputs(files=frozenset({"a"}), folders=frozenset({"f"}))
    two = Inputs(files=frozenset({"b"}), trees=frozenset({"t"}))
    assert one.union(two) == Inputs(
        files=frozenset({"a", "b"}), folders=frozenset({"f"}), trees=frozenset({"t"})
    )
    assert one.union(Inputs()) == one


DEV = Inputs(folders=frozenset({"deploy/overlays/dev", "deploy/base"}))
PROD = Inputs(
    folders=frozenset({"deploy/overlays/prod", "deploy/base"}),
    files=frozenset({"envs/prod/values.yaml"}),
)
ENVS = {"dev": DEV, "prod": PROD}


@pytest.mark.parametrize(
    ("changed", "verdicts"),
    [
        (
            ["deploy/base/deployment.yaml"],
            (
                Verdict("dev", True, "deploy/base/deployment.yaml changed"),
                Verdict("prod", True, "deploy/base/deployment.yaml changed"),
            ),
        ),
        (
            ["deploy/overlays/dev/patch.yaml", "README.md"],
            (
                Verdict("dev", True, "deploy/overlays/dev/patch.yaml changed"),
                Verdict("prod", False, "no file it reads changed"),
            ),
        ),
        (
            ["envs/prod/values.yaml", "deploy/overlays/prod/kustomization.yaml"],
            (
                Verdict("dev", False, "no file it reads changed"),
                Verdict(
                    "prod",
                    True,
                    "2 files it reads changed: deploy/overlays/prod/kustomization.yaml, "
                    "envs/prod/values.yaml",
                ),
            ),
        ),
        (
            # Four files: three are named; duplicates count once.
            [f"deploy/base/{name}.yaml" for name in ("d", "c", "b", "a", "a")],
            (
                Verdict(
                    "dev",
                    True,
                    "4 files it reads changed: deploy/base/a.yaml, deploy/base/b.yaml, "
                    "deploy/base/c.yaml and 1 more",
                ),
                Verdict(
                    "prod",
                    True,
                    "4 files it reads changed: deploy/base/a.yaml, deploy/base/b.yaml, "
                    "deploy/base/c.yaml and 1 more",
                ),
            ),
        ),
        (
            ["deploy/base/a.yaml", "deploy/base/b.yaml", "deploy/base/c.yaml"],
            (
                Verdict(
                    "dev",
                    True,
                    "3 files it reads changed: deploy/base/a.yaml, deploy/base/b.yaml, "
                    "deploy/base/c.yaml",
                ),
                Verdict(
                    "prod",
                    True,
                    "3 files it reads changed: deploy/base/a.yaml, deploy/base/b.yaml, "
                    "deploy/base/c.yaml",
                ),
            ),
        ),
        (
            [".gitops.yaml", "README.md"],
            (
                Verdict("dev", True, ".gitops.yaml changed"),
                Verdict("prod", True, ".gitops.yaml changed"),
            ),
        ),
        (
            [],
            (
                Verdict("dev", False, "no file it reads changed"),
                Verdict("prod", False, "no file it reads changed"),
            ),
        ),
    ],
)
def test_decide(changed: list[str], verdicts: tuple[Verdict, ...]) -> None:
    assert decide(ENVS, changed) == verdicts


def test_decide_keeps_the_order_of_inputs_and_reads_changes_once() -> None:
    changed = iter(["deploy/overlays/prod/a.yaml", "deploy/overlays/dev/b.yaml"])
    verdicts = decide({"prod": PROD, "dev": DEV, "none": Inputs()}, changed)
    assert [(v.env, v.affected) for v in verdicts] == [
        ("prod", True),
        ("dev", True),
        ("none", False),
    ]


def test_decide_with_another_config_file() -> None:
    verdicts = decide(ENVS, ["ops/gitops.yaml"], config_file="ops/gitops.yaml")
    assert verdicts == (
        Verdict("dev", True, "ops/gitops.yaml changed"),
        Verdict("prod", True, "ops/gitops.yaml changed"),
    )
    # The default name is then just a file nobody reads.
    assert not any(v.affected for v in decide(ENVS, [".gitops.yaml"], config_file="x.yaml"))
