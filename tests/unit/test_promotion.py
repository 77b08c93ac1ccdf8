"""core.promotion.change: what a promotion or a rollback pull request carries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gitops_bot.core.promotion import change
from gitops_bot.core.promotion.routes import Copy, Rule
from gitops_bot.core.repo import config
from gitops_bot.errors import ConfigError

SHA = "a" * 40
BASE = "b" * 40
RULE = Rule("dev", "prod", ("deploy/{env}/version.yaml", "deploy/{env}/values.yaml"), line=9)
DEV_V, DEV_VALUES = "deploy/dev/version.yaml", "deploy/dev/values.yaml"
PROD_V, PROD_VALUES = "deploy/prod/version.yaml", "deploy/prod/values.yaml"


@pytest.mark.parametrize(
    ("source", "target", "files"),
    [
        # Both differ: both copied, under prod's paths.
        (
            {DEV_V: "v2\n", DEV_VALUES: "x: 2\n"},
            {PROD_V: "v1\n", PROD_VALUES: "x: 1\n"},
            ((PROD_VALUES, "x: 2\n"), (PROD_V, "v2\n")),
        ),
        # Only what differs is written.
        (
            {DEV_V: "v2\n", DEV_VALUES: "x: 1\n"},
            {PROD_V: "v1\n", PROD_VALUES: "x: 1\n"},
            ((PROD_V, "v2\n"),),
        ),
        # A file prod lacks is created.
        (
            {DEV_V: "v2\n", DEV_VALUES: "x: 1\n"},
            {PROD_V: None, PROD_VALUES: "x: 1\n"},
            ((PROD_V, "v2\n"),),
        ),
    ],
)
def test_a_promotion_copies_what_differs_onto_the_targets_paths(
    source: dict[str, str | None],
    target: dict[str, str | None],
    files: tuple[tuple[str, str], ...],
) -> None:
    proposal = change.promotion(RULE, source_sha=SHA, source=source, target=target)
    assert isinstance(proposal, change.Proposal)
    assert proposal.files == files
    assert proposal.branch == "gitops-bot/promote/dev-to-prod"
    assert proposal.title == f"Promote dev to prod ({SHA[:12]})"
    assert proposal.body.startswith(
        f"<!-- gitops-bot:promotion source=dev target=prod sha={SHA} -->\n"
    )
    for path, _ in files:
        assert f"`{path}`" in proposal.body
        assert path in proposal.message


def test_the_branch_is_the_same_whatever_the_commit() -> None:
    def proposal(sha: str) -> change.Proposal | change.Nothing:
        return change.promotion(
            RULE,
            source_sha=sha,
            source={DEV_V: sha, DEV_VALUES: ""},
            target={PROD_V: "", PROD_VALUES: ""},
        )

    first, second = proposal(SHA), proposal(BASE)
    assert isinstance(first, change.Proposal)
    assert isinstance(second, change.Proposal)
    assert first.branch == second.branch
    assert first.title != second.title


def test_nothing_to_promote_when_the_target_already_has_the_files() -> None:
    same = {"v": "v2\n", "x": "x: 1\n"}
    result = change.promotion(
        RULE,
        source_sha=SHA,
        source={DEV_V: same["v"], DEV_VALUES: same["x"]},
        target={PROD_V: same["v"], PROD_VALUES: same["x"]},
    )
    assert result == change.Nothing(
        f"`prod` already has `dev`'s files at {SHA[:12]}: nothing to promote"
    )


def test_a_missing_source_file_names_the_file_commit_and_rule() -> None:
    with pytest.raises(ConfigError) as info:
        change.promotion(RULE, source_sha=SHA, source={DEV_V: None, DEV_VALUES: "x"}, target={})
    assert str(info.value) == (
        f"promoting dev to prod: deploy/dev/version.yaml does not exist at {SHA[:12]} "
        "(a copy path of the promotion rule on line 9)"
    )


@pytest.mark.parametrize(
    ("kwargs", "shown", "absent"),
    [
        (
            {"commit_url": "https://github.com/acme/shop/commit/{sha}"},
            [f"[`{SHA[:12]}`](https://github.com/acme/shop/commit/{SHA})", "asked for by hand"],
            ["Requested by"],
        ),
        (
            {"requested_by": "bob", "requested_in": 7},
            [f"`{SHA[:12]}`", "Requested by @bob in #7."],
            ["](http"],
        ),
        (
            {"healthy_since": datetime(2026, 1, 2, 3, 4, tzinfo=UTC)},
            ["`dev` has been healthy since 2026-01-02T03:04:00+00:00."],
            ["asked for by hand"],
        ),
    ],
)
def test_the_body_says_which_commit_when_and_who(
    kwargs: dict[str, object], shown: list[str], absent: list[str]
) -> None:
    proposal = change.promotion(
        RULE,
        source_sha=SHA,
        source={DEV_V: "v2", DEV_VALUES: "x"},
        target={PROD_V: "v1", PROD_VALUES: "x"},
        **kwargs,  # type: ignore[arg-type]
    )
    assert isinstance(proposal, change.Proposal)
    for text in shown:
        assert text in proposal.body
    for text in absent:
        assert text not in proposal.body


CFG = config.parse(
    """version: 1
environments:
  dev: {kustomize: deploy/overlays/dev}
  prod: {kustomize: deploy/overlays/prod}
  cache:
    helm: {chart: charts/cache, values: [envs/prod/cache.yaml]}
promotion:
  - {from: dev, to: prod, copy: ["versions/{env}.yaml"]}
"""
)


@pytest.mark.parametrize(
    ("env", "path", "inside"),
    [
        ("dev", "deploy/overlays/dev/kustomization.yaml", True),
        ("dev", "deploy/overlays/dev/sub/patch.yaml", True),
        ("dev", "deploy/overlays/development/x.yaml", False),
        ("dev", "deploy/overlays/prod/kustomization.yaml", False),
        ("dev", "deploy/base/deployment.yaml", False),  # shared; not dev's alone
        ("dev", "versions/dev.yaml", True),  # a path its promotion copies
        ("prod", "versions/prod.yaml", True),
        ("prod", "versions/dev.yaml", False),
        ("cache", "charts/cache/values.yaml", True),
        ("cache", "envs/prod/cache.yaml", True),
        ("cache", "envs/prod/other.yaml", False),
    ],
)
def test_the_scope_of_an_environments_sources(env: str, path: str, inside: bool) -> None:
    assert (path in change.scope(CFG, env)) is inside


def test_a_rollback_restores_the_files_that_differ() -> None:
    proposal = change.rollback(
        "dev",
        sha=SHA,
        base_sha=BASE,
        at_sha={"d/a.yaml": "old a\n", "d/b.yaml": "same\n"},
        at_base={"d/a.yaml": "new a\n", "d/b.yaml": "same\n"},
        requested_by="bob",
    )
    assert isinstance(proposal, change.Proposal)
    assert proposal.files == (("d/a.yaml", "old a\n"),)
    assert proposal.branch == f"gitops-bot/rollback/dev-{SHA[:12]}"
    assert proposal.title == f"Roll dev back to {SHA[:12]}"
    assert proposal.body.startswith(f"<!-- gitops-bot:rollback env=dev sha={SHA} base={BASE} -->\n")
    assert "Requested by @bob." in proposal.body
    assert "| `d/a.yaml` |" in proposal.body
    assert "d/b.yaml" not in proposal.body


def test_a_rollback_restores_a_file_deleted_since() -> None:
    proposal = change.rollback(
        "dev", sha=SHA, base_sha=BASE, at_sha={"d/gone.yaml": "was here\n"}, at_base={}
    )
    assert isinstance(proposal, change.Proposal)
    assert proposal.files == (("d/gone.yaml", "was here\n"),)


def test_a_rollback_deletes_a_file_added_since_and_says_so() -> None:
    proposal = change.rollback(
        "dev",
        sha=SHA,
        base_sha=BASE,
        at_sha={"d/a.yaml": "old\n", "d/new.yaml": None},
        at_base={"d/a.yaml": "new\n", "d/new.yaml": "x"},
    )
    assert isinstance(proposal, change.Proposal)
    assert proposal.files == (("d/a.yaml", "old\n"), ("d/new.yaml", None))
    assert "| `d/new.yaml` | deleted (added since) |" in proposal.body
    assert "| `d/a.yaml` | restored |" in proposal.body
    assert "  d/new.yaml (deleted)" in proposal.message


def test_nothing_to_roll_back_when_the_sources_are_the_same() -> None:
    result = change.rollback("dev", sha=SHA, base_sha=BASE, at_sha={}, at_base={})
    assert isinstance(result, change.Nothing)
    assert "nothing to roll back" in result.reason


@pytest.mark.parametrize(
    ("pull_url", "template"),
    [
        ("https://github.com/acme/shop/pull/7", "https://github.com/acme/shop/commit/{sha}"),
        (
            "https://gitlab.com/group/sub/shop/-/merge_requests/7",
            "https://gitlab.com/group/sub/shop/-/commit/{sha}",
        ),
        ("", ""),
        ("https://example.com/elsewhere/7", ""),
    ],
)
def test_the_commit_link_comes_from_the_pull_requests_page(pull_url: str, template: str) -> None:
    assert change.commit_url(pull_url) == template


KEY_RULE = Rule(
    "dev",
    "prod",
    (
        "deploy/{env}/version.yaml",
        Copy("deploy/{env}/values.yaml", ("image.tag", "containers[name=web].image")),
    ),
    line=9,
)
DEV_VALUES_TEXT = """\
image: {repository: shop, tag: 1.5.0}
replicas: 1
containers:
  - {name: web, image: "nginx:1.27"}
"""
PROD_VALUES_TEXT = """\
# prod: more replicas, same image as dev once promoted
image: {repository: shop, tag: 1.4.0}  # promoted
replicas: 5
containers:
  - {name: web, image: "nginx:1.27"}
"""


def test_a_key_copy_changes_only_those_keys_of_the_targets_file() -> None:
    proposal = change.promotion(
        KEY_RULE,
        source_sha=SHA,
        source={DEV_V: "v2\n", DEV_VALUES: DEV_VALUES_TEXT},
        target={PROD_V: "v1\n", PROD_VALUES: PROD_VALUES_TEXT},
    )
    assert isinstance(proposal, change.Proposal)
    assert proposal.files == (
        (PROD_VALUES, PROD_VALUES_TEXT.replace("tag: 1.4.0", "tag: 1.5.0")),
        (PROD_V, "v2\n"),
    )
    assert (
        "| Copied from | To | Change |\n"
        "| --- | --- | --- |\n"
        "| `deploy/dev/version.yaml` | `deploy/prod/version.yaml` | whole file |\n"
        "| `deploy/dev/values.yaml` `image.tag` | `deploy/prod/values.yaml` "
        "| `1.4.0` -> `1.5.0` |\n\n"
    ) in proposal.body
    assert proposal.message == (
        f"Promote dev to prod ({SHA[:12]})\n\nCopied from dev at {SHA}:\n"
        "  deploy/dev/version.yaml -> deploy/prod/version.yaml\n"
        "  deploy/dev/values.yaml -> deploy/prod/values.yaml (keys: image.tag)"
    )


def test_a_file_the_target_lacks_is_shown_as_new() -> None:
    rule = Rule("dev", "prod", ("deploy/{env}/version.yaml",), line=9)
    proposal = change.promotion(rule, source_sha=SHA, source={DEV_V: "v2\n"}, target={PROD_V: None})
    assert isinstance(proposal, change.Proposal)
    assert "| `deploy/dev/version.yaml` | `deploy/prod/version.yaml` | new file |" in proposal.body


def test_nothing_to_promote_when_the_target_already_has_the_keys() -> None:
    rule = Rule("dev", "prod", (Copy("deploy/{env}/values.yaml", ("image.tag",)),), line=9)
    same = PROD_VALUES_TEXT.replace("1.4.0", "1.5.0")
    result = change.promotion(
        rule, source_sha=SHA, source={DEV_VALUES: DEV_VALUES_TEXT}, target={PROD_VALUES: same}
    )
    assert result == change.Nothing(
        f"`prod` already has `dev`'s keys at {SHA[:12]}: nothing to promote"
    )
    mixed = change.promotion(
        KEY_RULE,
        source_sha=SHA,
        source={DEV_V: "v1\n", DEV_VALUES: DEV_VALUES_TEXT},
        target={PROD_V: "v1\n", PROD_VALUES: same},
    )
    assert mixed == change.Nothing(
        f"`prod` already has `dev`'s files and keys at {SHA[:12]}: nothing to promote"
    )


def test_a_value_is_shown_so_that_the_table_keeps_its_shape() -> None:
    rule = Rule("dev", "prod", (Copy("deploy/{env}/values.yaml", ("image.tag",)),), line=9)
    proposal = change.promotion(
        rule,
        source_sha=SHA,
        source={DEV_VALUES: "image: {tag: 'a|`b'}\n"},
        target={PROD_VALUES: "image: {tag: ''}\n"},
    )
    assert isinstance(proposal, change.Proposal)
    assert "| (empty) -> `` a\\|`b `` |" in proposal.body
    assert proposal.files == ((PROD_VALUES, "image: {tag: 'a|`b'}\n"),)


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        (
            DEV_VALUES_TEXT,
            None,
            "promoting dev to prod: deploy/prod/values.yaml does not exist on the base; "
            "copying keys (image.tag, containers[name=web].image) needs the target's file "
            "(the promotion rule on line 9)",
        ),
        (
            "image: {repository: shop}\n",
            PROD_VALUES_TEXT,
            f"promoting dev to prod: deploy/dev/values.yaml has no key image.tag at {SHA[:12]} "
            "(a copy key of the promotion rule on line 9)",
        ),
        (
            "image: {tag: [1, 5]}\n",
            PROD_VALUES_TEXT,
            "promoting dev to prod: reading image.tag of deploy/dev/values.yaml: image.tag is "
            "a list (line 1), not a scalar; only scalars are copied (the promotion rule on "
            "line 9)",
        ),
        (
            DEV_VALUES_TEXT,
            "image: {repository: shop}\n",
            "promoting dev to prod: setting image.tag in deploy/prod/values.yaml: no key 'tag' "
            "in image (line 1); the target must already have the key (a promotion changes "
            "values, it does not add keys) (the promotion rule on line 9)",
        ),
        (
            DEV_VALUES_TEXT,
            "image: {tag: 1.4.0}\n---\nimage: {tag: 1.4.0}\n",
            "promoting dev to prod: setting image.tag in deploy/prod/values.yaml: holds more "
            "than one YAML document (another starts at line 2); keys are copied in files of "
            "one document (the promotion rule on line 9)",
        ),
    ],
)
def test_a_key_copy_that_cannot_be_made_names_the_file_key_and_rule(
    source: str, target: str | None, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        change.promotion(
            KEY_RULE,
            source_sha=SHA,
            source={DEV_V: "v2\n", DEV_VALUES: source},
            target={PROD_V: "v1\n", PROD_VALUES: target},
        )
    assert str(info.value) == message


def test_the_scope_holds_the_files_of_key_copies() -> None:
    cfg = config.parse(
        "version: 1\nenvironments:\n  dev: {path: d/dev}\n  prod: {path: d/prod}\n"
        "promotion:\n  - from: dev\n    to: prod\n    copy:\n"
        "      - {file: 'values/{env}.yaml', keys: [image.tag]}\n"
    )
    assert "values/prod.yaml" in change.scope(cfg, "prod")
