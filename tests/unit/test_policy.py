"""The policy gate: one table row per rule, the lookups it asks for, and
properties (more approvals never hurt; the author alone never passes)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_bot.core.objects.model import Key, Render
from gitops_bot.core.policy import codeowners, verdict, windows
from gitops_bot.core.policy.destructive import Confirmation
from gitops_bot.core.policy.rules import Destructive, DiffRule, KindMatch, Policy
from gitops_bot.core.policy.verdict import Inputs, Verdict
from gitops_bot.core.pr.model import Permission, Review, ReviewState, StatusState
from gitops_bot.core.report.plan import Action, EnvPlan, ResourceChange

HEAD, OLD, OTHER = "a" * 40, "b" * 40, "c" * 40
R_HEAD, R_OLD = "1" * 64, "0" * 64
MONDAY_10_UTC = dt.datetime(2024, 3, 4, 10, 0, tzinfo=dt.UTC)
WEB = Key("apps", "Deployment", "shop", "web")
OLD_CM = Key("", "ConfigMap", "shop", "old")
NS = Key("", "Namespace", "", "shop")
ADMIN_ROLE = Key("rbac.authorization.k8s.io", "ClusterRole", "", "admin")
PERMISSIONS = {
    "author": Permission.ADMIN,
    "alice": Permission.WRITE,
    "bob": Permission.MAINTAIN,
    "carol": Permission.WRITE,
    "reader": Permission.READ,
}
SRE = "@acme/sre"


def change(key: Key, action: Action = Action.UPDATE) -> ResourceChange:
    return ResourceChange(key=key, action=action)


def plan(*changes: ResourceChange, live: tuple[ResourceChange, ...] | None = None) -> EnvPlan:
    return EnvPlan(env="prod", render_hash=R_HEAD, changes=changes or (change(WEB),), live=live)


def approve(user: str, commit: str = HEAD, minute: int = 0) -> Review:
    return Review(user, ReviewState.APPROVED, commit, f"2024-03-04T09:{minute:02d}:00Z")


def review(user: str, state: ReviewState, minute: int, commit: str = HEAD) -> Review:
    return Review(user, state, commit, f"2024-03-04T09:{minute:02d}:00Z")


def inputs(**overrides: Any) -> Inputs:
    values: dict[str, Any] = {
        "env": "prod",
        "policy": Policy(approvals=1),
        "pull": 7,
        "author": "author",
        "head_sha": HEAD,
        "render_hash": R_HEAD,
        "plan": plan(),
        "now": MONDAY_10_UTC,
        "permissions": PERMISSIONS,
        "render_hashes": {OLD: R_HEAD, OTHER: R_OLD},
    }
    values.update(overrides)
    return Inputs(**values)


CODEOWNERS = codeowners.parse("* @nobody-in-particular\ndeploy/prod/ @carol\n")
SECURITY_RULE = DiffRule(kinds=(KindMatch("ClusterRole"),), owners=("@acme/security",))
CONFIRMED = Confirmation("alice", R_HEAD)
BERLIN = windows.parse("Mon-Thu 09:00-16:00 Europe/Berlin")

CASES: list[Any] = [
    # -- approvals
    ("no-approval-needed", {"policy": Policy()}, Verdict.SUCCESS, [], ()),
    ("one-needed-none-given", {}, Verdict.PENDING, ["needs 1 more approval"], ()),
    ("approved-at-head", {"reviews": (approve("alice"),)}, Verdict.SUCCESS, [], ("alice",)),
    (
        "two-needed-none-given",
        {"policy": Policy(approvals=2)},
        Verdict.PENDING,
        ["needs 2 more approvals"],
        (),
    ),
    (
        "two-needed-one-given",
        {"policy": Policy(approvals=2), "reviews": (approve("alice"),)},
        Verdict.PENDING,
        ["needs 1 more approval"],
        ("alice",),
    ),
    (
        "the-author-never-counts",
        {"reviews": (approve("author"),)},
        Verdict.PENDING,
        ["needs 1 more approval"],
        (),
    ),
    (
        "a-reader-does-not-count",
        {"reviews": (approve("reader"),)},
        Verdict.PENDING,
        ["needs 1 more approval"],
        (),
    ),
    (
        "an-unknown-user-does-not-count",
        {"reviews": (approve("stranger"),)},
        Verdict.PENDING,
        ["needs 1 more approval"],
        (),
    ),
    (
        "logins-compare-without-case",
        {"reviews": (approve("Alice"),)},
        Verdict.SUCCESS,
        [],
        ("alice",),
    ),
    (
        "older-commit-same-render-keeps-the-approval",
        {"reviews": (approve("alice", OLD),)},
        Verdict.SUCCESS,
        [],
        ("alice",),
    ),
    (
        "older-commit-other-render-revokes-it",
        {"reviews": (approve("alice", OTHER),)},
        Verdict.PENDING,
        ["needs 1 more approval"],
        (),
    ),
    (
        "a-commit-the-bot-never-planned-does-not-count",
        {"reviews": (approve("alice", "d" * 40),)},
        Verdict.PENDING,
        ["needs 1 more approval"],
        (),
    ),
    (
        "changes-requested-later-cancels",
        {
            "reviews": (
                approve("alice", minute=1),
                review("alice", ReviewState.CHANGES_REQUESTED, 2),
            )
        },
        Verdict.PENDING,
        ["needs 1 more approval", "changes requested by @alice"],
        (),
    ),
    (
        "a-dismissal-cancels",
        {"reviews": (approve("alice", minute=1), review("alice", ReviewState.DISMISSED, 2))},
        Verdict.PENDING,
        ["needs 1 more approval"],
        (),
    ),
    (
        "a-comment-changes-nothing",
        {"reviews": (approve("alice", minute=1), review("alice", ReviewState.COMMENTED, 2))},
        Verdict.SUCCESS,
        [],
        ("alice",),
    ),
    (
        "approval-after-changes-requested",
        {
            "reviews": (
                review("alice", ReviewState.CHANGES_REQUESTED, 1),
                approve("alice", minute=2),
            )
        },
        Verdict.SUCCESS,
        [],
        ("alice",),
    ),
    (
        "order-is-by-time-not-by-list",
        {
            "reviews": (
                approve("alice", minute=5),
                review("alice", ReviewState.CHANGES_REQUESTED, 1),
            )
        },
        Verdict.SUCCESS,
        [],
        ("alice",),
    ),
    (
        "a-reader-requesting-changes-does-not-block",
        {"reviews": (approve("alice"), review("reader", ReviewState.CHANGES_REQUESTED, 1))},
        Verdict.SUCCESS,
        [],
        ("alice",),
    ),
    # -- owners
    (
        "owner-team-needed",
        {"policy": Policy(approvals=1, owners=(SRE,)), "reviews": (approve("alice"),)},
        Verdict.PENDING,
        ["needs 1 more approval from @acme/sre"],
        ("alice",),
    ),
    (
        "owner-team-member-approves",
        {
            "policy": Policy(approvals=1, owners=(SRE,)),
            "reviews": (approve("alice"),),
            "memberships": {("alice", SRE): True},
        },
        Verdict.SUCCESS,
        [],
        ("alice",),
    ),
    (
        "owners-with-no-approvals-still-need-one",
        {"policy": Policy(owners=("@bob", SRE))},
        Verdict.PENDING,
        ["needs 1 more approval from @bob or @acme/sre"],
        (),
    ),
    (
        "owner-user-approves",
        {"policy": Policy(owners=("@bob", SRE)), "reviews": (approve("bob"),)},
        Verdict.SUCCESS,
        [],
        ("bob",),
    ),
    (
        "two-needed-one-from-owners",
        {"policy": Policy(approvals=2, owners=(SRE,))},
        Verdict.PENDING,
        ["needs 2 more approvals, at least one from @acme/sre"],
        (),
    ),
    (
        "an-owner-author-does-not-count",
        {"policy": Policy(owners=("@author",)), "reviews": (approve("author"),)},
        Verdict.PENDING,
        ["needs 1 more approval from @author"],
        (),
    ),
    # -- CODEOWNERS
    (
        "codeowners-need-their-files",
        {
            "policy": Policy(approvals=1, codeowners=".github/CODEOWNERS"),
            "codeowners": CODEOWNERS,
            "changed_files": ("deploy/prod/web.yaml", "deploy/prod/kustomization.yaml"),
            "reviews": (approve("alice"),),
        },
        Verdict.PENDING,
        ["needs an approval from @carol for deploy/prod/web.yaml (+1 more) (CODEOWNERS)"],
        ("alice",),
    ),
    (
        "codeowners-approve",
        {
            "policy": Policy(approvals=1, codeowners=".github/CODEOWNERS"),
            "codeowners": CODEOWNERS,
            "changed_files": ("deploy/prod/web.yaml",),
            "reviews": (approve("carol"),),
        },
        Verdict.SUCCESS,
        [],
        ("carol",),
    ),
    (
        "codeowners-file-missing-on-the-base",
        {"policy": Policy(codeowners=".github/CODEOWNERS")},
        Verdict.FAILURE,
        [
            "the policy of prod names .github/CODEOWNERS as CODEOWNERS, which the base "
            "branch does not have"
        ],
        (),
    ),
    # -- rules on the rendered diff
    (
        "rbac-change-needs-security",
        {
            "policy": Policy(approvals=1, rules=(SECURITY_RULE,)),
            "plan": plan(change(WEB), change(ADMIN_ROLE, Action.CREATE)),
            "reviews": (approve("alice"),),
        },
        Verdict.PENDING,
        ["changes to ClusterRole admin need an approval from @acme/security"],
        ("alice",),
    ),
    (
        "rbac-change-approved-by-security",
        {
            "policy": Policy(approvals=1, rules=(SECURITY_RULE,)),
            "plan": plan(change(ADMIN_ROLE, Action.CREATE)),
            "reviews": (approve("alice"),),
            "memberships": {("alice", "@acme/security"): True},
        },
        Verdict.SUCCESS,
        [],
        ("alice",),
    ),
    (
        "a-rule-whose-kinds-did-not-change",
        {
            "policy": Policy(approvals=1, rules=(SECURITY_RULE,)),
            "plan": plan(change(WEB), change(ADMIN_ROLE, Action.UNCHANGED)),
            "reviews": (approve("alice"),),
        },
        Verdict.SUCCESS,
        [],
        ("alice",),
    ),
    (
        "a-rule-sees-the-live-diff-too",
        {
            "policy": Policy(rules=(SECURITY_RULE,)),
            "plan": plan(change(WEB), live=(change(ADMIN_ROLE),)),
        },
        Verdict.PENDING,
        ["changes to ClusterRole admin need an approval from @acme/security"],
        (),
    ),
    # -- destructive changes
    (
        "a-deletion-awaits-confirmation",
        {"plan": plan(change(OLD_CM, Action.DELETE)), "reviews": (approve("alice"),)},
        Verdict.PENDING,
        ["1 deletion (ConfigMap shop/old) awaits `/gitops approve-destroy prod`"],
        ("alice",),
    ),
    (
        "a-deletion-confirmed",
        {
            "plan": plan(change(OLD_CM, Action.DELETE)),
            "reviews": (approve("alice"),),
            "confirmations": (CONFIRMED,),
        },
        Verdict.SUCCESS,
        [],
        ("alice",),
    ),
    (
        "a-confirmation-for-another-render",
        {
            "plan": plan(change(OLD_CM, Action.DELETE)),
            "reviews": (approve("alice"),),
            "confirmations": (Confirmation("alice", R_OLD),),
        },
        Verdict.PENDING,
        ["1 deletion (ConfigMap shop/old) awaits `/gitops approve-destroy prod`"],
        ("alice",),
    ),
    (
        "a-confirmation-by-a-non-owner",
        {
            "policy": Policy(owners=("@bob",), destructive=Destructive.REQUIRE_CONFIRM),
            "plan": plan(change(OLD_CM, Action.DELETE), change(WEB, Action.DELETE)),
            "reviews": (approve("bob"),),
            "confirmations": (CONFIRMED,),
        },
        Verdict.PENDING,
        [
            "2 deletions (ConfigMap shop/old, Deployment shop/web) await "
            "`/gitops approve-destroy prod` from @bob"
        ],
        ("bob",),
    ),
    (
        "a-confirmation-by-a-reader",
        {
            "policy": Policy(destructive=Destructive.REQUIRE_CONFIRM),
            "plan": plan(change(OLD_CM, Action.DELETE)),
            "confirmations": (Confirmation("reader", R_HEAD),),
        },
        Verdict.PENDING,
        ["1 deletion (ConfigMap shop/old) awaits `/gitops approve-destroy prod`"],
        (),
    ),
    (
        "allow-lets-ordinary-deletions-pass",
        {"policy": Policy(), "plan": plan(change(OLD_CM, Action.DELETE))},
        Verdict.SUCCESS,
        [],
        (),
    ),
    (
        "allow-still-gates-a-namespace",
        {
            "policy": Policy(),
            "plan": plan(change(OLD_CM, Action.DELETE), change(NS, Action.DELETE)),
        },
        Verdict.PENDING,
        ["1 deletion (Namespace shop) awaits `/gitops approve-destroy prod`"],
        (),
    ),
    (
        "a-prune-seen-only-live",
        {"policy": Policy(), "plan": plan(change(WEB), live=(change(NS, Action.DELETE),))},
        Verdict.PENDING,
        ["1 deletion (Namespace shop) awaits `/gitops approve-destroy prod`"],
        (),
    ),
    (
        "a-recreation",
        {
            "policy": Policy(destructive=Destructive.REQUIRE_CONFIRM),
            "recreates": (WEB,),
            "plan": plan(change(WEB), change(OLD_CM, Action.DELETE)),
        },
        Verdict.PENDING,
        [
            "1 deletion and 1 recreation (ConfigMap shop/old, Deployment shop/web) await "
            "`/gitops approve-destroy prod`"
        ],
        (),
    ),
    # -- checks, windows, holds, locks, errors
    (
        "a-required-check-missing",
        {"policy": Policy(checks=("ci/test",))},
        Verdict.PENDING,
        ["waits for required check ci/test"],
        (),
    ),
    (
        "a-required-check-pending",
        {"policy": Policy(checks=("ci/test",)), "checks": {"ci/test": StatusState.PENDING}},
        Verdict.PENDING,
        ["waits for required check ci/test"],
        (),
    ),
    (
        "a-required-check-failed",
        {"policy": Policy(checks=("ci/test",)), "checks": {"ci/test": StatusState.FAILURE}},
        Verdict.FAILURE,
        ["required check ci/test is failure"],
        (),
    ),
    (
        "a-required-check-passed",
        {"policy": Policy(checks=("ci/test",)), "checks": {"ci/test": StatusState.SUCCESS}},
        Verdict.SUCCESS,
        [],
        (),
    ),
    (
        "inside-the-window",
        {"policy": Policy(windows=(BERLIN,))},
        Verdict.SUCCESS,
        [],
        (),
    ),
    (
        "outside-the-window",
        {"policy": Policy(windows=(BERLIN,)), "now": MONDAY_10_UTC + dt.timedelta(hours=6)},
        Verdict.PENDING,
        ["outside deploy window; next opens Tue 09:00 Europe/Berlin"],
        (),
    ),
    (
        "held",
        {"policy": Policy(), "held_by": "bob"},
        Verdict.PENDING,
        ["held by @bob: `/gitops unhold` to release"],
        (),
    ),
    (
        "locked-by-another-pull-request",
        {"policy": Policy(lock=True), "lock_holder": 12},
        Verdict.PENDING,
        ["locked by #12"],
        (),
    ),
    (
        "locked-by-this-one",
        {"policy": Policy(lock=True), "lock_holder": 7},
        Verdict.SUCCESS,
        [],
        (),
    ),
    # Without approvals the lock is off unless asked for.
    (
        "no-lock-by-default-without-approvals",
        {"policy": Policy(), "lock_holder": 12},
        Verdict.SUCCESS,
        [],
        (),
    ),
    (
        "locks-off-in-the-policy",
        {"policy": Policy(lock=False), "lock_holder": 12},
        Verdict.SUCCESS,
        [],
        (),
    ),
    # A live plan the policy requires: pending while it is missing (transient:
    # a run that reaches the puller clears it), never failure.
    (
        "live-required-and-had",
        {"policy": Policy(require_live=True), "plan": plan(live=(change(WEB),))},
        Verdict.SUCCESS,
        [],
        (),
    ),
    (
        "live-required-but-planned-offline",
        {"policy": Policy(require_live=True)},
        Verdict.PENDING,
        ["a live plan is required: this run planned offline"],
        (),
    ),
    (
        "live-required-but-the-puller-was-unreachable",
        {
            "policy": Policy(require_live=True),
            "plan": EnvPlan(
                "prod",
                render_hash=R_HEAD,
                changes=(change(WEB),),
                live_missing="the puller at https://puller.example did not answer",
            ),
        },
        Verdict.PENDING,
        ["a live plan is required: the puller at https://puller.example did not answer"],
        (),
    ),
    (
        "live-not-required-by-default",
        {"policy": Policy(), "plan": EnvPlan("prod", render_hash=R_HEAD, live_missing="down")},
        Verdict.SUCCESS,
        [],
        (),
    ),
    (
        "the-plan-failed",
        {"policy": Policy(), "plan": EnvPlan("prod", error="helm template: boom")},
        Verdict.FAILURE,
        ["the plan of prod failed; see its comment, fix it and push"],
        (),
    ),
    (
        "failures-come-first",
        {
            "policy": Policy(approvals=1, checks=("ci/test",)),
            "checks": {"ci/test": StatusState.ERROR},
            "held_by": "bob",
        },
        Verdict.FAILURE,
        [
            "required check ci/test is error",
            "needs 1 more approval",
            "held by @bob: `/gitops unhold` to release",
        ],
        (),
    ),
]


@pytest.mark.parametrize(
    ("overrides", "state", "reasons", "approved_by"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_rules(
    overrides: dict[str, Any], state: Verdict, reasons: list[str], approved_by: tuple[str, ...]
) -> None:
    decision = verdict.evaluate(inputs(**overrides))
    assert decision.state is state
    assert list(decision.reasons) == reasons
    assert decision.approved_by == approved_by
    assert decision.context == "gitops/policy/prod"
    assert len(decision.description) <= verdict.DESCRIPTION_LIMIT
    assert "\n" not in decision.description
    if reasons:
        assert decision.description.startswith(reasons[0][:100])
    assert StatusState(decision.state.value)  # spelled as the forge's statuses


@pytest.mark.parametrize(
    ("overrides", "note"),
    [
        (
            {"reviews": (approve("author"),)},
            "approval by @author does not count: authors cannot approve their own change",
        ),
        (
            {"reviews": (approve("reader"),)},
            "approval by @reader does not count: @reader has read permission, write is needed",
        ),
        (
            {"reviews": (approve("alice", OTHER),)},
            "approval by @alice was for a different render "
            "of prod (at ccccccc); it needs a new approval",
        ),
        (
            {
                "plan": plan(change(OLD_CM, Action.DELETE)),
                "confirmations": (Confirmation("alice", R_OLD),),
            },
            "destroy confirmation by @alice was for a different render of prod; confirm again",
        ),
        (
            {
                "policy": Policy(owners=("@bob",)),
                "plan": plan(change(NS, Action.DELETE)),
                "confirmations": (CONFIRMED,),
            },
            "destroy confirmation by @alice does not count: not an owner of prod (@bob)",
        ),
        (
            {
                "plan": plan(change(NS, Action.DELETE)),
                "confirmations": (Confirmation("reader", R_HEAD),),
            },
            "destroy confirmation by @reader does not count: write is needed",
        ),
        (
            {
                "policy": Policy(codeowners="CODEOWNERS"),
                "codeowners": codeowners.parse("!x @a\n"),
            },
            "CODEOWNERS:1: negation ('!') is not supported in CODEOWNERS; the line is skipped",
        ),
    ],
)
def test_notes_say_what_did_not_count(overrides: dict[str, Any], note: str) -> None:
    assert note in verdict.evaluate(inputs(**overrides)).notes


def test_descriptions() -> None:
    assert verdict.evaluate(inputs(reviews=(approve("alice"), approve("bob")))).description == (
        "approved by @alice, @bob"
    )
    assert verdict.evaluate(inputs(policy=Policy())).description == "the policy needs no approval"
    decision = verdict.evaluate(inputs(held_by="bob", lock_holder=3))
    assert decision.description == "needs 1 more approval; +2 more"
    long = verdict.evaluate(inputs(policy=Policy(checks=("x" * 300,))))
    assert len(long.description) == verdict.DESCRIPTION_LIMIT
    assert long.description.endswith("…")


def test_a_confirmation_is_reported_only_when_something_needed_it() -> None:
    confirmed = verdict.evaluate(
        inputs(plan=plan(change(OLD_CM, Action.DELETE)), confirmations=(CONFIRMED,))
    )
    assert confirmed.confirmed_by == "alice"
    assert verdict.evaluate(inputs(confirmations=(CONFIRMED,))).confirmed_by is None


def test_needed_lookups_names_only_what_matters() -> None:
    lookups = verdict.needed_lookups(
        inputs(
            policy=Policy(
                owners=(SRE, "@bob"),
                rules=(
                    SECURITY_RULE,
                    DiffRule(kinds=(KindMatch("Secret"),), owners=("@acme/secrets",)),
                ),
                codeowners="CODEOWNERS",
            ),
            plan=plan(change(ADMIN_ROLE)),
            codeowners=codeowners.parse("deploy/ @acme/deployers\nother/ @acme/other\n"),
            changed_files=("deploy/prod/x.yaml",),
            reviews=(
                approve("Alice"),
                review("bob", ReviewState.CHANGES_REQUESTED, 1),
                review("dave", ReviewState.COMMENTED, 2),
                approve("author"),
            ),
            confirmations=(Confirmation("carol", R_HEAD),),
            permissions={},
        )
    )
    assert lookups.users == ("alice", "bob", "carol")
    teams = ("@acme/deployers", "@acme/security", SRE)
    assert lookups.memberships == tuple((u, t) for u in lookups.users for t in teams)


def test_lookups_are_enough_to_decide() -> None:
    """Answering exactly the lookups gives the same decision as knowing everything."""
    full = inputs(
        policy=Policy(approvals=1, owners=(SRE,)),
        reviews=(approve("alice"),),
        memberships={("alice", SRE): True, ("zed", SRE): True},
    )
    lookups = verdict.needed_lookups(dataclasses.replace(full, permissions={}, memberships={}))
    answered = dataclasses.replace(
        full,
        permissions={u: PERMISSIONS.get(u, Permission.NONE) for u in lookups.users},
        memberships={pair: full.memberships.get(pair, False) for pair in lookups.memberships},
    )
    assert verdict.evaluate(answered) == verdict.evaluate(full)
    assert verdict.evaluate(full).state is Verdict.SUCCESS


# -- properties ---------------------------------------------------------------

USERS = ["author", "alice", "bob", "carol", "reader", "stranger"]
_reviews = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        st.sampled_from(list(ReviewState)),
        st.sampled_from([HEAD, OLD, OTHER, "e" * 40]),
    ),
    max_size=8,
).map(
    lambda items: tuple(
        Review(u, s, c, f"2024-03-04T08:{i:02d}:00Z") for i, (u, s, c) in enumerate(items)
    )
)
_policies = st.builds(
    Policy,
    approvals=st.integers(0, 3),
    owners=st.lists(
        st.sampled_from(["@alice", "@bob", SRE, "@author"]), max_size=2, unique=True
    ).map(tuple),
    destructive=st.sampled_from(list(Destructive)),
    rules=st.sampled_from([(), (SECURITY_RULE,)]),
    lock=st.booleans(),
)
_inputs = st.builds(
    inputs,
    policy=_policies,
    reviews=_reviews,
    plan=st.sampled_from(
        [
            plan(),
            plan(change(ADMIN_ROLE)),
            plan(change(OLD_CM, Action.DELETE)),
            plan(change(NS, Action.DELETE)),
        ]
    ),
    memberships=st.dictionaries(
        st.tuples(st.sampled_from(USERS), st.sampled_from([SRE, "@acme/security"])), st.booleans()
    ),
    confirmations=st.lists(
        st.builds(
            Confirmation, by=st.sampled_from(USERS), render_hash=st.sampled_from([R_HEAD, R_OLD])
        ),
        max_size=2,
    ).map(tuple),
    held_by=st.none() | st.just("bob"),
    lock_holder=st.sampled_from([None, 7, 12]),
)


@settings(max_examples=400, deadline=None)
@given(_inputs, st.sampled_from(USERS), st.sampled_from([HEAD, OLD, OTHER]))
def test_adding_an_approval_never_makes_the_state_worse(
    base: Inputs, user: str, commit: str
) -> None:
    more = dataclasses.replace(
        base,
        reviews=(*base.reviews, Review(user, ReviewState.APPROVED, commit, "2024-03-04T09:59:00Z")),
    )
    before, after = verdict.evaluate(base), verdict.evaluate(more)
    assert after.state.rank >= before.state.rank
    assert set(before.approved_by) <= set(after.approved_by)


@settings(max_examples=300, deadline=None)
@given(_inputs, st.integers(1, 3))
def test_the_author_alone_never_passes_an_approval_rule(base: Inputs, approvals: int) -> None:
    alone = dataclasses.replace(
        base,
        policy=dataclasses.replace(base.policy, approvals=approvals),
        reviews=tuple(dataclasses.replace(r, user="author") for r in base.reviews),
    )
    decision = verdict.evaluate(alone)
    assert decision.state is not Verdict.SUCCESS
    assert decision.approved_by == ()


@settings(max_examples=300, deadline=None)
@given(_inputs)
def test_success_exactly_when_nothing_is_missing(base: Inputs) -> None:
    decision = verdict.evaluate(base)
    assert (decision.state is Verdict.SUCCESS) == (not decision.reasons)
    assert len(decision.description) <= verdict.DESCRIPTION_LIMIT


@settings(max_examples=300, deadline=None)
@given(
    _inputs, st.lists(st.sampled_from(["reading the members of group acme/sre: 404"]), min_size=1)
)
def test_a_failed_lookup_fails_the_gate_and_is_named_first(base: Inputs, failed: list[str]) -> None:
    """Whatever else holds, a lookup the forge would not answer leaves the gate
    unknown: failure, and the status names the lookup (what must be fixed)."""
    decision = verdict.evaluate(dataclasses.replace(base, failed_lookups=tuple(failed)))
    assert decision.state is Verdict.FAILURE
    assert decision.reasons[0] == failed[0]
    assert decision.description.startswith(failed[0][:100])


@settings(max_examples=300, deadline=None)
@given(_inputs)
def test_success_names_approvals_only_when_the_policy_asked_for_one(base: Inputs) -> None:
    """ "approved by" is true only where an approval was needed; an environment
    whose policy needs none says so, whoever approved."""
    decision = verdict.evaluate(base)
    if decision.state is not Verdict.SUCCESS:
        return
    loose = dataclasses.replace(base, policy=Policy(lock=base.policy.lock))
    assert verdict.evaluate(loose).description == "the policy needs no approval"
    asked = base.policy.approvals > 0 or bool(base.policy.owners)
    if asked:
        assert decision.description.startswith("approved by @")


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        (
            {"policy": Policy(), "reviews": (approve("alice"), approve("bob"))},
            "the policy needs no approval",
        ),
        (
            {"policy": Policy(rules=(SECURITY_RULE,)), "reviews": (approve("bob"),)},
            "the policy needs no approval",  # the rule matches nothing this change touches
        ),
        (
            {
                "policy": Policy(rules=(SECURITY_RULE,)),
                "plan": plan(change(ADMIN_ROLE)),
                "reviews": (approve("bob"),),
                "memberships": {("bob", "@acme/security"): True},
            },
            "approved by @bob",
        ),
        ({"reviews": (approve("bob"),)}, "approved by @bob"),
    ],
)
def test_success_descriptions(overrides: dict[str, Any], description: str) -> None:
    decision = verdict.evaluate(inputs(**overrides))
    assert (decision.state, decision.description) == (Verdict.SUCCESS, description)


EMPTY_RENDER = Render.of("prod", ()).hash


@pytest.mark.parametrize(
    "hashes",
    [
        {},
        {OLD: R_HEAD},
        # An earlier head whose render failed or was empty must not stand in
        # for this one: a failed render has no hash, not the empty render's.
        {OLD: EMPTY_RENDER},
    ],
)
@pytest.mark.parametrize("at", [HEAD, OLD])
def test_no_approval_or_confirmation_binds_to_a_render_that_failed(
    hashes: dict[str, str], at: str
) -> None:
    failed = EnvPlan(env="prod", render_hash=None, error="rendering prod: helm failed")
    decision = verdict.evaluate(
        inputs(
            render_hash=None,
            plan=failed,
            render_hashes=hashes,
            reviews=(approve("alice", at), approve("bob", at)),
            confirmations=(Confirmation("alice", EMPTY_RENDER),),
        )
    )
    assert decision.state is Verdict.FAILURE
    assert decision.approved_by == ()
    assert decision.confirmed_by is None
    assert any("did not render" in n for n in decision.notes)
