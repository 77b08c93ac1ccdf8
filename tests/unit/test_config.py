from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from gitops_bot.core.repo import config
from gitops_bot.core.repo.config import Config, Environment, Source, SourceKind
from gitops_bot.errors import ConfigError


def _text(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


FULL = _text(
    """
    version: 1
    environments:
      dev:
        kustomize: deploy/overlays/dev
        namespace: shop-dev
        cluster: dev
      legacy:
        plain: manifests/legacy
      auto:
        path: deploy/whatever
      prod:
        helm:
          chart: charts/shop
          release: shop
          values: [envs/prod/values.yaml, envs/prod/secrets.yaml]
        namespace: shop
    """
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            FULL,
            Config(
                version=1,
                environments=(
                    Environment(
                        "dev",
                        Source(SourceKind.KUSTOMIZE, "deploy/overlays/dev"),
                        namespace="shop-dev",
                        cluster="dev",
                        line=3,
                    ),
                    Environment("legacy", Source(SourceKind.PLAIN, "manifests/legacy"), line=7),
                    Environment("auto", Source(SourceKind.AUTO, "deploy/whatever"), line=9),
                    Environment(
                        "prod",
                        Source(
                            SourceKind.HELM,
                            "charts/shop",
                            release="shop",
                            values=("envs/prod/values.yaml", "envs/prod/secrets.yaml"),
                        ),
                        namespace="shop",
                        line=11,
                    ),
                ),
            ),
            id="every-source-kind",
        ),
        pytest.param(
            "version: 1\nenvironments: {dev: {path: ./deploy//dev/./}}\n",
            Config(1, (Environment("dev", Source(SourceKind.AUTO, "deploy/dev"), line=2),)),
            id="path-normalized",
        ),
        pytest.param(
            "version: 1\nenvironments: {dev: {plain: a/../b}}\n",
            Config(1, (Environment("dev", Source(SourceKind.PLAIN, "b"), line=2),)),
            id="dotdot-inside-the-repository",
        ),
        pytest.param(
            "version: 1\nenvironments: {root: {kustomize: .}}\n",
            Config(1, (Environment("root", Source(SourceKind.KUSTOMIZE, "."), line=2),)),
            id="repository-root",
        ),
        pytest.param(
            "version: 1\nenvironments:\n  prod:\n    helm: {chart: c}\n",
            Config(1, (Environment("prod", Source(SourceKind.HELM, "c", release="prod"), line=3),)),
            id="helm-release-defaults-to-the-name",
        ),
        pytest.param(
            "version: 1\nenvironments:\n  p:\n    helm: {chart: c, release: a.b-1, values: []}\n",
            Config(1, (Environment("p", Source(SourceKind.HELM, "c", release="a.b-1"), line=3),)),
            id="helm-dotted-release-no-values",
        ),
        pytest.param(
            "# comment\nversion: 0x1\nenvironments:\n  '1':\n    path: \"x\"\n",
            Config(1, (Environment("1", Source(SourceKind.AUTO, "x"), line=4),)),
            id="quoted-numeric-name-hex-version",
        ),
    ],
)
def test_valid(text: str, expected: Config) -> None:
    assert config.parse(text) == expected


def test_environments_keep_file_order_and_the_file_name() -> None:
    text = "version: 1\nenvironments:\n  zeta: {path: z}\n  alpha: {path: a}\n  mid: {path: m}\n"
    parsed = config.parse(text, file="ops/.gitops.yaml")
    assert [e.name for e in parsed.environments] == ["zeta", "alpha", "mid"]
    assert parsed.file == "ops/.gitops.yaml"


def _env(body: str) -> str:
    """A config whose only environment `e` (line 3) has `body` (from line 4)."""
    return "version: 1\nenvironments:\n  e:\n" + textwrap.indent(_text(body), "    ")


LONG = "a" * 54
RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # The file as a whole.
        (
            "[",
            "1: not valid YAML: while parsing a flow node; expected the node content, "
            "but found '<stream end>'",
        ),
        (
            "version: 1\n  environments: x\n",
            "2: not valid YAML: mapping values are not allowed here",
        ),
        ("a: \x01\n", "1: not valid YAML: special characters are not allowed"),
        (
            "version: 1\n---\nversion: 1\n",
            "2: not valid YAML: expected a single document in the stream; "
            "but found another document",
        ),
        ("", "1: the file is empty; it needs 'version' and 'environments'"),
        ("# only a comment\n", "1: the file is empty; it needs 'version' and 'environments'"),
        ("- a\n", "1: expected a mapping at the top level, got a list"),
        ("just text\n", "1: expected a mapping at the top level, got a string"),
        (
            "base: &b {path: x}\n",
            "1: YAML anchors and aliases are not allowed here (&b); write the values out",
        ),
        (
            "version: 1\nenvironments:\n  e: *b\n",
            "3: YAML anchors and aliases are not allowed here (*b); write the values out",
        ),
        ("a: " + "[" * 40 + "]" * 40 + "\n", "1: nested deeper than 32 levels"),
        # Keys.
        ("version: 1\nversion: 1\n", "2: version: duplicate key (first at line 1)"),
        (
            _env("path: a\nnamespace: x\nnamespace: y\n"),
            "6: environments.e.namespace: duplicate key (first at line 5)",
        ),
        (
            "version: 1\nenvironments:\n  e: {path: a}\n  e: {path: b}\n",
            "4: environments.e: duplicate key (first at line 3)",
        ),
        (
            _env("helm:\n  chart: c\n  chart: d\n"),
            "6: environments.e.helm.chart: duplicate key (first at line 5)",
        ),
        (
            "version: 1\nenvironments: {e: {path: a}}\nenviroments: {}\n",
            "3: enviroments: unknown key (did you mean 'environments'?)",
        ),
        (
            "version: 1\nenvironments: {e: {path: a}}\npolicy: {approvals: 2}\n",
            "3: policy: unknown key (known keys: version, environments, promotion, sources)",
        ),
        (
            "version: 1\nenvironments: {e: {path: a}}\npromotion: {}\n",
            "3: promotion: expected a list, got a mapping",
        ),
        (
            _env("kustomise: x\n"),
            "4: environments.e.kustomise: unknown key (did you mean 'kustomize'?)",
        ),
        (
            _env("path: a\npolicy: {aprovals: 1}\n"),
            "5: environments.e.policy.aprovals: unknown key (did you mean 'approvals'?)",
        ),
        (
            _env("path: a\npolicies: {approvals: 1}\n"),
            "5: environments.e.policies: unknown key (did you mean 'policy'?)",
        ),
        (
            _env("helm: {chart: c, value: [a]}\n"),
            "4: environments.e.helm.value: unknown key (did you mean 'values'?)",
        ),
        (
            "version: 1\nenvironments:\n  on: {path: a}\n",
            "3: environments: key 'on' reads as a boolean; quote it",
        ),
        (
            "version: 1\nenvironments:\n  [a]: {path: a}\n",
            "3: environments: expected a string as key, got a list",
        ),
        # Required keys and versions.
        ("environments: {e: {path: a}}\n", "1: missing required key 'version'"),
        ("version: 1\n", "1: missing required key 'environments'"),
        (
            "version: 2\nenvironments: {e: {path: a}}\n",
            "1: version: unsupported version 2; this gitops-bot knows 1",
        ),
        (
            "version: '1'\nenvironments: {e: {path: a}}\n",
            "1: version: expected an integer, got a string",
        ),
        (
            "version: 1.0\nenvironments: {e: {path: a}}\n",
            "1: version: expected an integer, got a number",
        ),
        (
            "version: !!int ''\nenvironments: {e: {path: a}}\n",
            "1: version: '' is not a usable integer",
        ),
        (
            "version: 1\nenvironments: {}\n",
            "2: environments: no environment; at least one is needed",
        ),
        ("version: 1\nenvironments: [dev]\n", "2: environments: expected a mapping, got a list"),
        ("version: 1\nenvironments:\n", "2: environments: expected a mapping, got null"),
        # Environment names and sources.
        (
            "version: 1\nenvironments:\n  Dev: {path: a}\n",
            f"3: environments.Dev: 'Dev' is not a valid environment name: {RULE}, at most 63 "
            "characters",
        ),
        (
            "version: 1\nenvironments:\n  -dev: {path: a}\n",
            f"3: environments.-dev: '-dev' is not a valid environment name: {RULE}, at most 63 "
            "characters",
        ),
        (
            f"version: 1\nenvironments:\n  {'a' * 64}: {{path: a}}\n",
            f"3: environments.{'a' * 64}: '{'a' * 64}' is not a valid environment name: {RULE}, "
            "at most 63 characters",
        ),
        ("version: 1\nenvironments:\n  e:\n", "3: environments.e: expected a mapping, got null"),
        (
            _env("namespace: x\n"),
            "3: environments.e: no source; set exactly one of path, kustomize, plain, helm",
        ),
        (
            _env("path: a\nhelm: {chart: c}\n"),
            "5: environments.e.helm: 'path' is set too (line 4); "
            "set exactly one of path, kustomize, plain, helm",
        ),
        (
            _env("kustomize: a\nplain: b\npath: c\n"),
            "5: environments.e.plain: 'kustomize' is set too (line 4); "
            "set exactly one of path, kustomize, plain, helm",
        ),
        # Types and empty strings.
        (_env("path: [a]\n"), "4: environments.e.path: expected a string, got a list"),
        (_env("plain: {a: b}\n"), "4: environments.e.plain: expected a string, got a mapping"),
        (_env("kustomize: 3\n"), "4: environments.e.kustomize: expected a string, got an integer"),
        (_env("path: true\n"), "4: environments.e.path: expected a string, got a boolean"),
        (_env("path: 2024-01-01\n"), "4: environments.e.path: expected a string, got a date"),
        (
            _env("path: !secret x\n"),
            "4: environments.e.path: expected a string, got a value tagged '!secret'",
        ),
        (_env("path: ''\n"), "4: environments.e.path: must not be empty"),
        (_env("path: '  '\n"), "4: environments.e.path: must not be empty"),
        (_env("path: a\ncluster: ''\n"), "5: environments.e.cluster: must not be empty"),
        (_env("path: a\ncluster:\n"), "5: environments.e.cluster: expected a string, got null"),
        (
            _env("path: a\nnamespace: Shop\n"),
            f"5: environments.e.namespace: 'Shop' is not a valid namespace name: {RULE}, at most "
            "63 characters",
        ),
        # Paths.
        (
            _env("path: /deploy/dev\n"),
            "4: environments.e.path: '/deploy/dev' must be relative to the repository root",
        ),
        (
            _env("path: 'deploy\\dev'\n"),
            "4: environments.e.path: 'deploy\\\\dev' must separate folders with '/', not '\\'",
        ),
        (
            _env("path: a/../../b\n"),
            "4: environments.e.path: 'a/../../b' leads outside the repository",
        ),
        (_env("path: ..\n"), "4: environments.e.path: '..' leads outside the repository"),
        (_env('path: "a\\tb"\n'), "4: environments.e.path: 'a\\tb' contains a control character"),
        # Helm.
        (
            _env("helm: charts/shop\n"),
            "4: environments.e.helm: expected a mapping, got a string "
            "(write helm: {chart: <folder>})",
        ),
        (_env("helm: {release: x}\n"), "4: environments.e.helm: missing required key 'chart'"),
        (_env("helm:\n  release: x\n"), "4: environments.e.helm: missing required key 'chart'"),
        (
            _env("helm: {chart: ../c}\n"),
            "4: environments.e.helm.chart: '../c' leads outside the repository",
        ),
        (
            _env("helm: {chart: c, release: Shop}\n"),
            f"4: environments.e.helm.release: 'Shop' is not a valid helm release name: {RULE}, "
            "in parts joined by '.', at most 53 characters",
        ),
        (
            _env(f"helm: {{chart: c, release: {LONG}}}\n"),
            f"4: environments.e.helm.release: '{LONG}' is not a valid helm release name: {RULE}, "
            "in parts joined by '.', at most 53 characters",
        ),
        (
            f"version: 1\nenvironments:\n  {LONG}:\n    helm: {{chart: c}}\n",
            f"3: environments.{LONG}: the helm release name defaults to the environment name, "
            "which is longer than 53 characters; set helm.release",
        ),
        (
            _env("helm: {chart: c, values: v.yaml}\n"),
            "4: environments.e.helm.values: expected a list, got a string "
            "(write a list: [file.yaml])",
        ),
        (
            _env("helm:\n  chart: c\n  values:\n    - a.yaml\n    - ./\n"),
            "8: environments.e.helm.values[1]: './' names the repository root, not a file",
        ),
        (
            _env("helm:\n  chart: c\n  values:\n    - [a]\n"),
            "7: environments.e.helm.values[0]: expected a string, got a list",
        ),
        (
            _env("helm:\n  chart: c\n  values:\n    - /etc/passwd\n"),
            "7: environments.e.helm.values[0]: '/etc/passwd' must be relative to the repository "
            "root",
        ),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(text)
    assert str(info.value) == f".gitops.yaml:{message}"


def test_the_file_name_is_in_every_message() -> None:
    with pytest.raises(ConfigError, match=r"^deploy/gitops\.yaml:1: version: "):
        config.parse("version: 3\nenvironments: {e: {path: a}}\n", file="deploy/gitops.yaml")


def test_size_is_capped() -> None:
    text = "version: 1\nenvironments: {e: {path: a}}\n" + "#" * config.MAX_BYTES
    with pytest.raises(ConfigError) as info:
        config.parse(text)
    assert str(info.value) == (
        f".gitops.yaml:1: the file has {len(text)} bytes; a configuration may have at most 256 KiB"
    )


def test_env_lookup() -> None:
    parsed = config.parse(FULL)
    assert parsed.env("legacy") is parsed.environments[1]
    assert parsed.env("prod").source.release == "shop"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "prd",
            "looking up environment 'prd': .gitops.yaml defines no such environment "
            "(did you mean 'prod'?)",
        ),
        (
            "qa",
            "looking up environment 'qa': .gitops.yaml defines no such environment "
            "(it defines: dev, legacy, auto, prod)",
        ),
    ],
)
def test_env_lookup_of_an_unknown_name(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(FULL).env(name)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("a/b", "a/b"),
        ("./a/./b/", "a/b"),
        ("a//b", "a/b"),
        ("a/../b", "b"),
        (".", "."),
        ("a/..", "."),
        ("..", None),
        ("a/../../b", None),
    ],
)
def test_normalize_path(raw: str, normal: str | None) -> None:
    assert config.normalize_path(raw) == normal


# -- no input makes the parser fail with anything but ConfigError -------------


def _parses_or_refuses(text: str) -> None:
    try:
        parsed = config.parse(text)
    except ConfigError as err:
        message = str(err)
        event("refused")
    else:
        event("parsed")
        assert parsed.version == 1
        assert parsed.environments
        return
    assert re.match(r"\.gitops\.yaml:\d+: \S", message), message


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_parses_or_raises_config_error(text: str) -> None:
    _parses_or_refuses(text)


_KEY_WORDS = [k.rpartition(".")[2] for k in config.KEYS if "<" not in k.rpartition(".")[2]]
_keys = st.one_of(
    st.sampled_from([*_KEY_WORDS, "dev", "prod", "policy", "Dev"]), st.text(max_size=8)
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.floats(allow_nan=False),
    st.sampled_from(["deploy/dev", "./a/../b", "../up", "/abs", "", "charts/shop", "a\\b"]),
    st.text(max_size=12),
)
_trees: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_trees)
def test_any_yaml_structure_parses_or_raises_config_error(tree: Any) -> None:
    _parses_or_refuses(yaml.safe_dump(tree))


_paths = st.one_of(st.sampled_from(["deploy/dev", "./a/../b", ".", "../up", "/abs", ""]), _scalars)
_names = st.one_of(st.sampled_from(["dev", "prod", "Dev", "a" * 60]), _keys)
_environments = st.fixed_dictionaries(
    {},
    optional={
        "path": _paths,
        "kustomize": _paths,
        "helm": st.one_of(
            st.fixed_dictionaries(
                {"chart": _paths},
                optional={"release": _names, "values": st.lists(_paths, max_size=3)},
            ),
            _trees,
        ),
        "namespace": _names,
        "cluster": _names,
        "policy": _trees,
    },
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_names, _environments, max_size=4), st.sampled_from([1, 2, "1"]))
def test_config_shaped_structures_parse_or_raise_config_error(
    envs: dict[str, Any], version: object
) -> None:
    _parses_or_refuses(yaml.safe_dump({"version": version, "environments": envs}))


@pytest.mark.parametrize(
    ("sources", "error"),
    [
        ("sources: {allow: https://charts.example.com/}", "3: sources.allow: expected a list"),
        ("sources: {allow: [https://charts.example.com]}", "ends at the host name"),
        ("sources: {allow: [ftp://charts.example.com/]}", "is not a URL prefix"),
        ("sources: {allow: [charts.example.com/]}", "is not a URL prefix"),
        ("sources: {deny: []}", "3: sources.deny: unknown key (known keys: allow)"),
    ],
)
def test_a_bad_source_allow_list_says_which_entry(sources: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse(f"version: 1\nenvironments: {{e: {{path: a}}}}\n{sources}\n")
    assert error in str(caught.value)


def test_the_source_allow_list_is_read_in_order() -> None:
    parsed = config.parse(
        "version: 1\nenvironments: {e: {path: a}}\n"
        "sources:\n  allow:\n    - https://charts.example.com/stable/\n    - oci://ghcr.io/org/\n"
    )
    assert parsed.allow_sources == ("https://charts.example.com/stable/", "oci://ghcr.io/org/")
