"""`environments.<name>.policy` in .gitops.yaml: values, defaults, errors."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_bot.core.objects.model import Key
from gitops_bot.core.policy import windows
from gitops_bot.core.policy.rules import Destructive, DiffRule, KindMatch, Policy
from gitops_bot.core.repo import config
from gitops_bot.errors import ConfigError


def _policy(body: str) -> str:
    """A config whose environment `e` (line 3) has a policy; `body` starts at line 6."""
    return "version: 1\nenvironments:\n  e:\n    path: a\n    policy:\n" + textwrap.indent(
        textwrap.dedent(body).lstrip("\n"), "      "
    )


def _parsed(body: str) -> Policy:
    return config.parse(_policy(body)).environments[0].policy


BERLIN = windows.parse("Mon-Thu 09:00-16:00 Europe/Berlin")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("{}\n", Policy(), id="empty-is-the-default"),
        pytest.param(
            "approvals: 2\n",
            Policy(approvals=2),
            id="approvals-without-destructive",
        ),
        pytest.param(
            "approvals: 2\ndestructive: allow\n",
            Policy(approvals=2, destructive=Destructive.ALLOW),
            id="destructive-allow-explicitly",
        ),
        pytest.param(
            "destructive: require-confirm\n",
            Policy(destructive=Destructive.REQUIRE_CONFIRM),
            id="destructive-without-approvals",
        ),
        pytest.param(
            """
            approvals: 1
            owners: ["@acme/sre", "@alice", "@group/sub/team"]
            codeowners: ./.github//CODEOWNERS
            checks: [ci/test, "security scan"]
            windows: ["Mon-Thu 09:00-16:00 Europe/Berlin"]
            lock: false
            require-live: true
            floating-sources: true
            """,
            Policy(
                approvals=1,
                owners=("@acme/sre", "@alice", "@group/sub/team"),
                codeowners=".github/CODEOWNERS",
                checks=("ci/test", "security scan"),
                windows=(BERLIN,),
                lock=False,
                require_live=True,
                floating_sources=True,
            ),
            id="everything",
        ),
        pytest.param(
            """
            rules:
              - kinds:
                  - Role
                  - rbac.authorization.k8s.io/ClusterRole
                  - RoleBinding.rbac.authorization.k8s.io
                owners: ["@acme/security"]
              - {kinds: [Secret], namespaces: [shop, kube-system], owners: ["@bob"]}
            """,
            Policy(
                rules=(
                    DiffRule(
                        kinds=(
                            KindMatch("Role"),
                            KindMatch("ClusterRole", "rbac.authorization.k8s.io"),
                            KindMatch("RoleBinding", "rbac.authorization.k8s.io"),
                        ),
                        owners=("@acme/security",),
                        line=7,
                    ),
                    DiffRule(
                        kinds=(KindMatch("Secret"),),
                        owners=("@bob",),
                        namespaces=("shop", "kube-system"),
                        line=12,
                    ),
                )
            ),
            id="diff-rules",
        ),
    ],
)
def test_valid(body: str, expected: Policy) -> None:
    assert _parsed(body) == expected


def test_an_environment_without_policy_has_the_default() -> None:
    parsed = config.parse("version: 1\nenvironments: {e: {path: a}}\n")
    assert parsed.environments[0].policy == Policy()
    assert Policy().lock is None
    assert Policy().lock_gate is False
    assert Policy(approvals=1).lock_gate is True
    assert Policy(owners=("@acme/sre",)).lock_gate is True
    assert Policy(approvals=1, lock=False).lock_gate is False


@pytest.mark.parametrize(
    ("body", "gate"),
    [
        ("{}\n", Destructive.ALLOW),
        ("approvals: 0\n", Destructive.ALLOW),
        ("approvals: 1\n", Destructive.REQUIRE_CONFIRM),
        ("owners: ['@a']\n", Destructive.REQUIRE_CONFIRM),
        ("checks: [ci]\n", Destructive.ALLOW),
        ("approvals: 2\ndestructive: allow\n", Destructive.ALLOW),
        ("destructive: require-confirm\n", Destructive.REQUIRE_CONFIRM),
    ],
)
def test_the_destructive_gate_defaults_to_confirm_where_approvals_are_needed(
    body: str, gate: Destructive
) -> None:
    assert _parsed(body).destructive_gate is gate


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("approvals: 1\napprovals: 2\n", "7: environments.e.policy.approvals: duplicate key"),
        ("approvals: -1\n", "6: environments.e.policy.approvals: must be 0 or more"),
        (
            "approvals: two\n",
            "6: environments.e.policy.approvals: expected an integer, got a string",
        ),
        (
            "approvals: true\n",
            "6: environments.e.policy.approvals: expected an integer, got a boolean",
        ),
        ("owner: ['@a']\n", "6: environments.e.policy.owner: unknown key (did you mean 'owners'?)"),
        (
            "owners: '@a'\n",
            "6: environments.e.policy.owners: expected a list, got a string (write a list: [...])",
        ),
        (
            "owners: [alice]\n",
            "6: environments.e.policy.owners[0]: 'alice' is not an owner; write @user, or "
            "@org/team for a GitHub team or @group/subgroup for a GitLab group",
        ),
        (
            "owners: [alice@example.com]\n",
            "6: environments.e.policy.owners[0]: 'alice@example.com' is not an owner; write "
            "@user, or @org/team for a GitHub team or @group/subgroup for a GitLab group",
        ),
        ("owners: ['@']\n", "6: environments.e.policy.owners[0]: '@' is not an owner"),
        ("owners:\n  - '@a'\n  - ''\n", "8: environments.e.policy.owners[1]: must not be empty"),
        (
            "codeowners: ../CODEOWNERS\n",
            "6: environments.e.policy.codeowners: '../CODEOWNERS' leads outside the repository",
        ),
        (
            "codeowners: .\n",
            "6: environments.e.policy.codeowners: '.' names the repository root, not a file",
        ),
        (
            "checks: [ci/test, gitops/policy/prod]\n",
            "6: environments.e.policy.checks[1]: 'gitops/policy/prod' is a status this bot sets "
            "from the policy; requiring it here would wait for itself",
        ),
        (
            "windows:\n  - Mon-Thu 09:00-16:00 Europe/Berlin\n  - Mon 9-10 UTC\n",
            "8: environments.e.policy.windows[1]: 'Mon 9-10 UTC': '9' is not a time; "
            "write HH:MM, 24-hour",
        ),
        (
            "windows: ['Mon 09:00-10:00 Mars/Olympus']\n",
            "6: environments.e.policy.windows[0]: 'Mon 09:00-10:00 Mars/Olympus': unknown time "
            "zone 'Mars/Olympus'; use an IANA name such as Europe/Berlin or UTC",
        ),
        (
            "destructive: alow\n",
            "6: environments.e.policy.destructive: 'alow' is not one of allow, require-confirm "
            "(did you mean 'allow'?)",
        ),
        ("lock: 'no'\n", "6: environments.e.policy.lock: expected true or false, got a string"),
        ("lock: 1\n", "6: environments.e.policy.lock: expected true or false, got an integer"),
        (
            "require-live: 'yes'\n",
            "6: environments.e.policy.require-live: expected true or false, got a string",
        ),
        (
            "require_live: true\n",
            "6: environments.e.policy.require_live: unknown key (did you mean 'require-live'?)",
        ),
        (
            "rules: {kinds: [Role]}\n",
            "6: environments.e.policy.rules: expected a list, got a mapping",
        ),
        (
            "rules:\n  - kinds: [Role]\n",
            "7: environments.e.policy.rules[0]: missing required key 'owners'",
        ),
        (
            "rules:\n  - owners: ['@a']\n",
            "7: environments.e.policy.rules[0]: missing required key 'kinds'",
        ),
        (
            "rules:\n  - {kinds: [], owners: ['@a']}\n",
            "7: environments.e.policy.rules[0].kinds: no kind; at least one is needed",
        ),
        (
            "rules:\n  - {kinds: [Role], owners: []}\n",
            "7: environments.e.policy.rules[0].owners: no owner; at least one is needed",
        ),
        (
            "rules:\n  - {kinds: [apps/v1/Deployment], owners: ['@a']}\n",
            "7: environments.e.policy.rules[0].kinds[0]: 'apps/v1/Deployment' is not a kind; "
            "write Kind, group/Kind or Kind.group, e.g. rbac.authorization.k8s.io/ClusterRole",
        ),
        (
            "rules:\n  - {kinds: [/Role], owners: ['@a']}\n",
            "7: environments.e.policy.rules[0].kinds[0]: '/Role' is not a kind",
        ),
        (
            "rules:\n  - {kinds: [Role], owners: ['@a'], namespace: [x]}\n",
            "7: environments.e.policy.rules[0].namespace: unknown key (did you mean 'namespaces'?)",
        ),
        (
            "rules:\n  - {kinds: [Role], owners: ['@a'], namespaces: [Shop]}\n",
            "7: environments.e.policy.rules[0].namespaces[0]: 'Shop' is not a namespace name",
        ),
        ("[]\n", "6: environments.e.policy: expected a mapping, got a list"),
    ],
)
def test_invalid(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(_policy(body))
    assert str(info.value).startswith(f".gitops.yaml:{message}")


@pytest.mark.parametrize(
    ("spelling", "key", "matches"),
    [
        ("ClusterRole", Key("rbac.authorization.k8s.io", "ClusterRole", "", "admin"), True),
        ("ClusterRole", Key("example.com", "ClusterRole", "", "x"), True),
        (
            "rbac.authorization.k8s.io/ClusterRole",
            Key("example.com", "ClusterRole", "", "x"),
            False,
        ),
        (
            "rbac.authorization.k8s.io/ClusterRole",
            Key("rbac.authorization.k8s.io", "ClusterRole", "", "x"),
            True,
        ),
        ("Deployment.apps", Key("apps", "Deployment", "shop", "web"), True),
        ("Deployment.apps", Key("extensions", "Deployment", "shop", "web"), False),
        ("Role", Key("rbac.authorization.k8s.io", "RoleBinding", "shop", "x"), False),
        ("Secret", Key("", "Secret", "shop", "x"), True),
    ],
)
def test_kind_spellings(spelling: str, key: Key, matches: bool) -> None:
    rule = _parsed(f"rules: [{{kinds: [{spelling}], owners: ['@a']}}]\n").rules[0]
    assert rule.matches(key) is matches


def test_a_rule_with_namespaces_skips_other_namespaces_and_cluster_scope() -> None:
    rule = _parsed("rules: [{kinds: [Role, ClusterRole], owners: ['@a'], namespaces: [shop]}]\n")
    assert rule.rules[0].matches(Key("rbac.authorization.k8s.io", "Role", "shop", "r"))
    assert not rule.rules[0].matches(Key("rbac.authorization.k8s.io", "Role", "other", "r"))
    assert not rule.rules[0].matches(Key("rbac.authorization.k8s.io", "ClusterRole", "", "r"))


# -- fuzz: policy-shaped input parses or raises ConfigError naming file, line, key

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 5),
    st.sampled_from(["@a", "@acme/sre", "a", "", "Mon 09:00-10:00 UTC", "allow", "Role"]),
    st.text(max_size=10),
)
_lists = st.lists(_values, max_size=3)
_rule = st.fixed_dictionaries(
    {}, optional={"kinds": _lists, "owners": _lists, "namespaces": _lists, "x": _values}
)
_policies = st.fixed_dictionaries(
    {},
    optional={
        "approvals": _values,
        "owners": st.one_of(_lists, _values),
        "codeowners": _values,
        "checks": _lists,
        "windows": st.one_of(
            st.lists(
                st.sampled_from(
                    ["Mon-Fri 09:00-17:00 UTC", "Fri-Mon 22:00-02:00 Europe/Berlin", "Sun 24:00"]
                ),
                max_size=2,
            ),
            _lists,
        ),
        "destructive": _values,
        "rules": st.one_of(st.lists(_rule, max_size=2), _values),
        "lock": _values,
        "require-live": _values,
    },
)


@settings(max_examples=400, deadline=None)
@given(_policies)
def test_policy_shaped_structures_parse_or_raise_config_error(policy: dict[str, Any]) -> None:
    text = yaml.safe_dump({"version": 1, "environments": {"e": {"path": "a", "policy": policy}}})
    try:
        parsed = config.parse(text).environments[0].policy
    except ConfigError as err:
        message = str(err)
    else:
        assert parsed.approvals >= 0
        assert all(o.startswith("@") for o in parsed.owners)
        return
    assert re.match(r"\.gitops\.yaml:\d+: environments\.e\.policy\S*: \S", message), message
