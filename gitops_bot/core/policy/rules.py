"""The `policy` of an environment in `.gitops.yaml`: schema and parsing.

Owns: the policy values (`Policy`, `DiffRule`, `KindMatch`, `Destructive`),
their keys (`KEYS`, relative to `environments.<name>.policy`; core.repo.config
lists them under that prefix) and `parse`, which reads one environment's
policy node, raising ConfigError as `{file}:{line}: {dotted.key}: {what}`.
Refuses: deciding anything (core.policy.verdict does) and reading the file, which
the caller takes from the base branch, so that a change cannot loosen the
rules that judge it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from gitops_bot.core.objects.model import Key
from gitops_bot.core.policy import codeowners, windows
from gitops_bot.core.yamldoc import nodes
from gitops_bot.errors import ConfigError

# Relative to environments.<name>.policy; `rules[]` is an item of the list.
KEYS: tuple[str, ...] = (
    "approvals",
    "owners",
    "codeowners",
    "checks",
    "windows",
    "destructive",
    "rules",
    "rules[].kinds",
    "rules[].namespaces",
    "rules[].owners",
    "lock",
    "require-live",
    "floating-sources",
)
_POLICY_KEYS = tuple(k for k in KEYS if "." not in k)
_RULE_KEYS = tuple(k.removeprefix("rules[].") for k in KEYS if k.startswith("rules[]."))
_OWN_CONTEXT = "gitops/policy/"
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_GROUP = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
BOOL = "tag:yaml.org,2002:bool"


class Destructive(enum.Enum):
    """What destructive changes need. Deleting a Namespace, CRD, PV or PVC
    needs a confirmation even under ALLOW."""

    ALLOW = "allow"
    REQUIRE_CONFIRM = "require-confirm"


@dataclass(frozen=True)
class KindMatch:
    """`ClusterRole` (any group), `rbac.authorization.k8s.io/ClusterRole` or
    `ClusterRole.rbac.authorization.k8s.io` (that group only)."""

    kind: str
    group: str | None = None  # None: any group

    def matches(self, key: Key) -> bool:
        return key.kind == self.kind and (self.group is None or key.group == self.group)

    def __str__(self) -> str:
        return self.kind if self.group is None else f"{self.group}/{self.kind}"


@dataclass(frozen=True)
class DiffRule:
    """Changes to objects of these kinds (in these namespaces, when given)
    need an approval from one of the owners."""

    kinds: tuple[KindMatch, ...]
    owners: tuple[str, ...]
    namespaces: tuple[str, ...] = ()  # empty: any namespace, and cluster-scoped objects
    line: int = 0

    def matches(self, key: Key) -> bool:
        if self.namespaces and key.namespace not in self.namespaces:
            return False
        return any(k.matches(key) for k in self.kinds)


@dataclass(frozen=True)
class Policy:
    approvals: int = 0
    owners: tuple[str, ...] = ()  # "@user", "@org/team", "@group/subgroup"
    codeowners: str | None = None  # repository path of a CODEOWNERS-syntax file
    checks: tuple[str, ...] = ()  # other status contexts that must be success
    windows: tuple[windows.Window, ...] = ()  # empty: always open
    destructive: Destructive | None = None  # None: see destructive_gate
    rules: tuple[DiffRule, ...] = ()
    lock: bool | None = None  # None: see lock_gate
    # The gate waits for a plan against the live cluster: an offline plan (the
    # puller unreachable, or a run without live) cannot pass it.
    require_live: bool = False
    # Remote sources may float (a git branch, the default branch): the plan
    # shows what they resolved to, but a later render may resolve them anew.
    floating_sources: bool = False

    @property
    def needs_review(self) -> bool:
        """Whether any approval can matter to this environment's gate."""
        return self.approvals > 0 or bool(self.owners or self.codeowners or self.rules)

    @property
    def lock_gate(self) -> bool:
        """`lock` as set, else on when an approval is needed: a change that waits for
        reviews is the one another pull request could race past; an environment
        that needs none (dev) should not serialize everyone's work."""
        if self.lock is not None:
            return self.lock
        return self.approvals > 0 or bool(self.owners)

    @property
    def destructive_gate(self) -> Destructive:
        """`destructive` as set, else require-confirm when an approval is needed
        (approvals > 0 or owners): an environment important enough for reviews is
        important enough to confirm what a change destroys."""
        if self.destructive is not None:
            return self.destructive
        needs_review = self.approvals > 0 or bool(self.owners)
        return Destructive.REQUIRE_CONFIRM if needs_review else Destructive.ALLOW


def _kind(text: str) -> KindMatch | None:
    group, slash, kind = text.rpartition("/")
    if not slash:
        kind, dot, group = text.partition(".")
        if not dot:
            group = ""
    if not _KIND.fullmatch(kind) or (group and not _GROUP.fullmatch(group)):
        return None
    if slash and not group:
        return None
    return KindMatch(kind=kind, group=group or None)


def _strings(r: nodes.Reader, node: yaml.Node, key: str) -> list[tuple[str, int]]:
    if not isinstance(node, yaml.SequenceNode) or node.tag != nodes.SEQ:
        hint = " (write a list: [...])" if node.tag == nodes.STR else ""
        raise r.error(nodes.line_of(node), key, f"expected a list, got {nodes.what(node)}{hint}")
    return [
        (r.string(item, f"{key}[{i}]"), nodes.line_of(item)) for i, item in enumerate(node.value)
    ]


def _owners(r: nodes.Reader, node: yaml.Node, key: str) -> tuple[str, ...]:
    found = []
    for i, (owner, line) in enumerate(_strings(r, node, key)):
        if not owner.startswith("@") or not codeowners.is_owner_spelling(owner):
            raise r.error(
                line,
                f"{key}[{i}]",
                f"{owner!r} is not an owner; write @user, or @org/team for a GitHub team "
                "or @group/subgroup for a GitLab group",
            )
        found.append(owner)
    return tuple(found)


def _boolean(r: nodes.Reader, node: yaml.Node, key: str) -> bool:
    if not isinstance(node, yaml.ScalarNode) or node.tag != BOOL:
        raise r.error(nodes.line_of(node), key, f"expected true or false, got {nodes.what(node)}")
    return node.value.lower() in ("true", "yes", "on")


def _rule(r: nodes.Reader, node: yaml.Node, key: str) -> DiffRule:
    entries = r.mapping(node, key)
    r.known(entries, key, _RULE_KEYS)
    for required in ("kinds", "owners"):
        if required not in entries:
            raise r.error(nodes.line_of(node), key, f"missing required key {required!r}")
    kinds = []
    for i, (text, line) in enumerate(_strings(r, entries["kinds"][0], f"{key}.kinds")):
        match = _kind(text)
        if match is None:
            raise r.error(
                line,
                f"{key}.kinds[{i}]",
                f"{text!r} is not a kind; write Kind, group/Kind or Kind.group, "
                "e.g. rbac.authorization.k8s.io/ClusterRole",
            )
        kinds.append(match)
    if not kinds:
        raise r.error(entries["kinds"][1], f"{key}.kinds", "no kind; at least one is needed")
    owners = _owners(r, entries["owners"][0], f"{key}.owners")
    if not owners:
        raise r.error(entries["owners"][1], f"{key}.owners", "no owner; at least one is needed")
    namespaces = []
    if "namespaces" in entries:
        for i, (ns, line) in enumerate(_strings(r, entries["namespaces"][0], f"{key}.namespaces")):
            if not _NAMESPACE.fullmatch(ns) or len(ns) > 63:
                raise r.error(line, f"{key}.namespaces[{i}]", f"{ns!r} is not a namespace name")
            namespaces.append(ns)
    return DiffRule(
        kinds=tuple(kinds),
        owners=owners,
        namespaces=tuple(namespaces),
        line=nodes.line_of(node),
    )


def parse(
    r: nodes.Reader, node: yaml.Node, key: str, *, path: Callable[[yaml.Node, str], str]
) -> Policy:
    """The policy at `node` (the value of `key`); `path` reads a repository path."""
    entries = r.mapping(node, key)
    r.known(entries, key, _POLICY_KEYS)

    def node_of(name: str) -> yaml.Node | None:
        return entries[name][0] if name in entries else None

    approvals = 0
    if (n := node_of("approvals")) is not None:
        approvals = r.integer(n, f"{key}.approvals")
        if approvals < 0:
            raise r.error(nodes.line_of(n), f"{key}.approvals", "must be 0 or more")
    owners = _owners(r, n, f"{key}.owners") if (n := node_of("owners")) is not None else ()
    file = path(n, f"{key}.codeowners") if (n := node_of("codeowners")) is not None else None
    checks: list[str] = []
    if (n := node_of("checks")) is not None:
        for i, (context, line) in enumerate(_strings(r, n, f"{key}.checks")):
            if context.startswith(_OWN_CONTEXT):
                raise r.error(
                    line,
                    f"{key}.checks[{i}]",
                    f"{context!r} is a status this bot sets from the policy; requiring it "
                    "here would wait for itself",
                )
            checks.append(context)
    found_windows = []
    if (n := node_of("windows")) is not None:
        for i, (text, line) in enumerate(_strings(r, n, f"{key}.windows")):
            try:
                found_windows.append(windows.parse(text))
            except ConfigError as err:
                raise r.error(line, f"{key}.windows[{i}]", str(err)) from err
    destructive = None
    if (n := node_of("destructive")) is not None:
        value = r.string(n, f"{key}.destructive")
        choices = [d.value for d in Destructive]
        if value not in choices:
            raise r.error(
                nodes.line_of(n),
                f"{key}.destructive",
                f"{value!r} is not one of {', '.join(choices)}"
                f"{nodes.suggest(value, choices, known='choices')}",
            )
        destructive = Destructive(value)
    rules = []
    if (n := node_of("rules")) is not None:
        if not isinstance(n, yaml.SequenceNode) or n.tag != nodes.SEQ:
            raise r.error(nodes.line_of(n), f"{key}.rules", f"expected a list, got {nodes.what(n)}")
        rules = [_rule(r, item, f"{key}.rules[{i}]") for i, item in enumerate(n.value)]
    lock = _boolean(r, n, f"{key}.lock") if (n := node_of("lock")) is not None else None
    n = node_of("require-live")
    require_live = _boolean(r, n, f"{key}.require-live") if n is not None else False
    n = node_of("floating-sources")
    floating = _boolean(r, n, f"{key}.floating-sources") if n is not None else False
    return Policy(
        approvals=approvals,
        owners=owners,
        codeowners=file,
        checks=tuple(checks),
        windows=tuple(found_windows),
        destructive=destructive,
        rules=tuple(rules),
        lock=lock,
        require_live=require_live,
        floating_sources=floating,
    )
