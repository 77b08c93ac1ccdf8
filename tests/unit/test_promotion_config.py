"""The `promotion` list of .gitops.yaml: what is accepted, and the file:line:key
of what is not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.promotion import routes
from gitops_bot.core.promotion.routes import Copy, Rule
from gitops_bot.core.repo import config
from gitops_bot.errors import ConfigError

HEAD = """version: 1
environments:
  dev: {path: deploy/dev}
  staging: {path: deploy/staging}
  prod: {path: deploy/prod}
promotion:
"""


def _parse(rules: str) -> tuple[Rule, ...]:
    return config.parse(HEAD + rules).promotions


def test_rules_are_parsed_in_order_with_their_defaults() -> None:
    rules = _parse(
        "  - {from: dev, to: staging, copy: ['./deploy/{env}//version.yaml']}\n"
        "  - from: staging\n"
        "    to: prod\n"
        "    copy:\n      - deploy/{env}/version.yaml\n      - deploy/{env}/values.yaml\n"
        "    soak: 1h30m\n"
        "    auto_open: true\n"
        "    auto_merge: false\n"
    )
    assert rules == (
        Rule("dev", "staging", ("deploy/{env}/version.yaml",), line=7),
        Rule(
            "staging",
            "prod",
            ("deploy/{env}/version.yaml", "deploy/{env}/values.yaml"),
            soak=timedelta(hours=1, minutes=30),
            auto_open=True,
            line=8,
        ),
    )
    assert rules[1].paths("prod") == ("deploy/prod/version.yaml", "deploy/prod/values.yaml")
    assert routes.rule_to(rules, "prod") == rules[1]
    assert routes.rule_to(rules, "dev") is None


def test_a_copy_item_may_name_keys_of_a_file() -> None:
    (rule,) = _parse(
        "  - from: dev\n"
        "    to: prod\n"
        "    copy:\n"
        "      - deploy/{env}/version.yaml\n"
        "      - file: ./deploy/{env}/values.yaml\n"
        "        keys:\n"
        "          - image.tag\n"
        "          - containers[name=web].image\n"
        "          - 'annotations.\"example.com/rev\"'\n"
    )
    assert rule.copy == (
        Copy("deploy/{env}/version.yaml"),
        Copy(
            "deploy/{env}/values.yaml",
            ("image.tag", "containers[name=web].image", 'annotations."example.com/rev"'),
        ),
    )
    assert rule.paths("prod") == ("deploy/prod/version.yaml", "deploy/prod/values.yaml")


def test_a_configuration_without_promotion_has_none() -> None:
    assert config.parse("version: 1\nenvironments: {dev: {path: a}}\n").promotions == ()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("  {from: dev}\n", ".gitops.yaml:7: promotion: expected a list, got a mapping"),
        (
            "  - {from: dev, to: prod}\n",
            ".gitops.yaml:7: promotion[0]: missing required key 'copy'",
        ),
        (
            "  - {from: dev, to: prd, copy: ['d/{env}/v.yaml']}\n",
            ".gitops.yaml:7: promotion[0].to: no environment 'prd' (did you mean 'prod'?)",
        ),
        (
            "  - {from: dev, to: dev, copy: ['d/{env}/v.yaml']}\n",
            ".gitops.yaml:7: promotion[0].to: promotes 'dev' to itself",
        ),
        (
            "  - {from: dev, to: prod, copy: ['d/{env}/v.yaml'], sok: 1m}\n",
            ".gitops.yaml:7: promotion[0].sok: unknown key (did you mean 'soak'?)",
        ),
        (
            "  - {from: dev, to: prod, copy: 'd/{env}/v.yaml'}\n",
            ".gitops.yaml:7: promotion[0].copy: expected a list, got a string "
            "(write a list: [deploy/{env}/version.yaml])",
        ),
        (
            "  - {from: dev, to: prod, copy: []}\n",
            ".gitops.yaml:7: promotion[0].copy: no path; at least one is needed",
        ),
        (
            "  - {from: dev, to: prod, copy: ['/d/{env}/v.yaml']}\n",
            ".gitops.yaml:7: promotion[0].copy[0]: '/d/{env}/v.yaml' must be relative "
            "to the repository root",
        ),
        (
            "  - {from: dev, to: prod, copy: ['../{env}/v.yaml']}\n",
            ".gitops.yaml:7: promotion[0].copy[0]: '../{env}/v.yaml' leads outside the repository",
        ),
        (
            "  - {from: dev, to: prod, copy: [d/dev/v.yaml]}\n",
            ".gitops.yaml:7: promotion[0].copy[0]: 'd/dev/v.yaml' has no {env}; a promoted "
            "path names each environment's copy, e.g. deploy/overlays/{env}/version.yaml",
        ),
        (
            "  - {from: dev, to: prod, copy: [{file: 'd/{env}/v.yaml', keys: ['image..tag']}]}\n",
            ".gitops.yaml:7: promotion[0].copy[0].keys[0]: 'image..tag' is not a key path: "
            "expected a key at character 7, got '.'",
        ),
        (
            "  - {from: dev, to: prod, copy: [{file: 'd/{env}/v.yaml', keys: [a, 'b[x]']}]}\n",
            ".gitops.yaml:7: promotion[0].copy[0].keys[1]: 'b[x]' is not a key path: "
            "expected a list index (0, 1, ...) or field=value after '[' at character 2",
        ),
        (
            "  - {from: dev, to: prod, copy: [{file: 'd/{env}/v.yaml', keys: []}]}\n",
            ".gitops.yaml:7: promotion[0].copy[0].keys: no key path; at least one is needed "
            "(to copy the whole file, write its path as an item of copy)",
        ),
        (
            "  - {from: dev, to: prod, copy: [{file: 'd/{env}/v.yaml', keys: image.tag}]}\n",
            ".gitops.yaml:7: promotion[0].copy[0].keys: expected a list, got a string "
            "(write a list: [image.tag])",
        ),
        (
            "  - {from: dev, to: prod, copy: [{file: 'd/{env}/v.yaml', keys: [a, 1]}]}\n",
            ".gitops.yaml:7: promotion[0].copy[0].keys[1]: expected a string, got an integer",
        ),
        (
            "  - {from: dev, to: prod, copy: [{file: 'd/{env}/v.yaml', keys: [a, a]}]}\n",
            ".gitops.yaml:7: promotion[0].copy[0].keys[1]: 'a' is listed twice",
        ),
        (
            "  - {from: dev, to: prod, copy: [{file: 'd/{env}/v.yaml'}]}\n",
            ".gitops.yaml:7: promotion[0].copy[0]: missing required key 'keys'",
        ),
        (
            "  - from: dev\n    to: prod\n    copy:\n      - keys: [image.tag]\n",
            ".gitops.yaml:10: promotion[0].copy[0]: missing required key 'file'",
        ),
        (
            "  - from: dev\n    to: prod\n    copy:\n"
            "      - {file: 'd/{env}/v.yaml', keys: [a], key: [b]}\n",
            ".gitops.yaml:10: promotion[0].copy[0].key: unknown key (did you mean 'keys'?)",
        ),
        (
            "  - {from: dev, to: prod, copy: [{file: d/dev/v.yaml, keys: [a]}]}\n",
            ".gitops.yaml:7: promotion[0].copy[0].file: 'd/dev/v.yaml' has no {env}; a promoted "
            "path names each environment's copy, e.g. deploy/overlays/{env}/version.yaml",
        ),
        (
            "  - {from: dev, to: prod, copy: [{file: '../{env}/v.yaml', keys: [a]}]}\n",
            ".gitops.yaml:7: promotion[0].copy[0].file: '../{env}/v.yaml' leads outside the "
            "repository",
        ),
        (
            "  - from: dev\n    to: prod\n    copy:\n      - d/{env}/v.yaml\n"
            "      - {file: './d/{env}/v.yaml', keys: [a]}\n",
            ".gitops.yaml:11: promotion[0].copy[1]: 'd/{env}/v.yaml' is already copied by "
            "promotion[0].copy[0]; name each file once",
        ),
        (
            "  - {from: dev, to: prod, copy: [7]}\n",
            ".gitops.yaml:7: promotion[0].copy[0]: expected a path or {file: <path>, keys: "
            "[...]}, got an integer",
        ),
        (
            "  - {from: dev, to: prod, copy: ['d/{env}/v.yaml'], soak: soon}\n",
            ".gitops.yaml:7: promotion[0].soak: 'soon' is not a duration; write e.g. 30m, "
            "1h30m, 2d or 90s",
        ),
        (
            "  - {from: dev, to: prod, copy: ['d/{env}/v.yaml'], auto_merge: 'yes'}\n",
            ".gitops.yaml:7: promotion[0].auto_merge: expected true or false, got a string",
        ),
        (
            "  - {from: dev, to: prod, copy: ['d/{env}/v.yaml']}\n"
            "  - {from: staging, to: prod, copy: ['d/{env}/v.yaml']}\n",
            ".gitops.yaml:8: promotion[1].to: 'prod' is already promoted to from 'dev' "
            "(line 7); an environment has one source",
        ),
        (
            "  - {from: dev, to: staging, copy: ['d/{env}/v.yaml']}\n"
            "  - {from: staging, to: prod, copy: ['d/{env}/v.yaml']}\n"
            "  - {from: prod, to: dev, copy: ['d/{env}/v.yaml']}\n",
            ".gitops.yaml:7: promotion: promotions form a cycle: staging -> prod -> dev -> staging",
        ),
    ],
)
def test_invalid_rules_name_the_file_line_and_key(rules: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(rules)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("90s", timedelta(seconds=90)),
        ("0m", timedelta(0)),
        ("", None),
        ("m", None),
        ("30", None),
        ("30m1h", None),
        ("-5m", None),
        ("1.5h", None),
    ],
)
def test_durations(text: str, expected: timedelta | None) -> None:
    assert routes.parse_duration(text) == expected


@given(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), st.integers(0, 99))
def test_every_written_duration_reads_back(d: int, h: int, m: int, s: int) -> None:
    text = f"{d}d{h}h{m}m{s}s"
    assert routes.parse_duration(text) == timedelta(days=d, hours=h, minutes=m, seconds=s)


@given(st.text(max_size=12))
def test_any_text_is_a_duration_or_none_never_an_exception(text: str) -> None:
    parsed = routes.parse_duration(text)
    assert parsed is None or parsed >= timedelta(0)
